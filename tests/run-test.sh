#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs one test program under a hard time bound: a hang is a failure, and
# says so (automake shows only the exit status, 124 or 137).
bound=${RUN_TEST_BOUND:-300}
start=$(date +%s)
timeout --kill-after=10 "$bound" "$@"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
	echo "run-test.sh: TIMEOUT: $* ran past its bound of ${bound} s and was stopped after $(( $(date +%s) - start )) s" >&2
fi
exit $rc
