#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's main job runs and passes its own checks.
set -e
# A 64 Ki-ref window: TSan cannot run beside a 16 TiB mapping.
out=$("$top_builddir/tools/gmap-selfcheck" -p 2048 -t 4 -w 65536)
echo "$out"
echo "$out" | grep -q "one map per grant (counted by the sim) *ok"
echo "$out" | grep -q "gmap-selfcheck: all checks passed"
# Bad options are refused by name, with what was expected, and status 2.
bad() {
	set +e
	"$top_builddir/tools/gmap-selfcheck" "$@" 2>err.tmp
	rc=$?
	set -e
	if [ $rc -ne 2 ] || ! grep -q -e "$expect" err.tmp; then
		echo "gmap-selfcheck $*: status $rc, said: $(cat err.tmp)"
		exit 1
	fi
	rm -f err.tmp
}
expect="-p '3': expected a number from 16 to 1048576" bad -p 3
expect="-p '1k': expected a number" bad -p 1k
expect="-t '0': expected a number from 1 to 64" bad -t 0
expect="-w 'abc': expected a number from 0 to 4294967296" bad -w abc
expect="-w 100 is smaller than -p 2048" bad -p 2048 -w 100
echo "bad options refused by name"
