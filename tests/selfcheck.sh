#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's main job runs and passes its own checks.
set -e
# A 64 Ki-ref window: TSan cannot run beside a 16 TiB mapping.
out=$("$top_builddir/tools/gmap-selfcheck" -p 2048 -t 4 -w 65536)
echo "$out"
echo "$out" | grep -q "one map per grant (counted by the sim) *ok"
echo "$out" | grep -q "gmap-selfcheck: all checks passed"
# Bad options are refused with a clear message and status 2.
if "$top_builddir/tools/gmap-selfcheck" -p 3 2>err.tmp; then
	echo "gmap-selfcheck accepted -p 3"; exit 1
fi
grep -q "must be 16..1048576" err.tmp && rm -f err.tmp
