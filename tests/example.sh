#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# example.sh - run examples/devmodel and check that it passed: exit status
# 0, and the line the guest prints only after it found the backend's reply
# in its own memory.  Run by the automake test harness with top_builddir
# set; by hand: top_builddir=. sh ../tests/example.sh (from the build tree).

: "${top_builddir:=.}"
prog="$top_builddir/examples/devmodel"
want="guest d5: the backend's reply reached guest memory"

if [ ! -x "$prog" ]; then
	echo "example.sh: FAIL: $prog is missing or not executable (build it with 'make examples/devmodel')"
	exit 1
fi

out=$("$prog" 2>&1)
rc=$?
printf '%s\n' "$out"

if [ "$rc" -ne 0 ]; then
	echo "example.sh: FAIL: $prog exited with status $rc, expected 0"
	exit 1
fi
if ! printf '%s\n' "$out" | grep -F -q -- "$want"; then
	echo "example.sh: FAIL: the output has no line containing \"$want\": the reply did not reach the guest"
	exit 1
fi
echo "example.sh: PASS"
exit 0
