#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs one test program under a hard time bound: a hang is a failure, and
# says so (automake shows only the exit status, 124 or 137).
bound=${RUN_TEST_BOUND:-300}
start=$(date +%s)
# Each test's windows publish their counters (gmap-top) in a directory
# of its own, removed after: the user's runtime directory stays clean,
# and a test that counts the files sees only its own.
# In /dev/shm: windows publish only in memory (tmpfs).
if [ -z "${GMAP_RUNTIME_DIR:-}" ] && [ -d /dev/shm ]; then
	GMAP_RUNTIME_DIR=$(mktemp -d /dev/shm/gmap-check.XXXXXX) || exit 99
	export GMAP_RUNTIME_DIR
	trap 'rm -rf "$GMAP_RUNTIME_DIR"' EXIT
fi
timeout --kill-after=10 "$bound" "$@"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
	echo "run-test.sh: TIMEOUT: $* ran past its bound of ${bound} s and was stopped after $(( $(date +%s) - start )) s" >&2
fi
exit $rc
