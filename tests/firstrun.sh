#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The quick start's self-check (./setup.sh run: gmap-stress with its
# defaults) passes for everyone: as root, whose windows serve kernel-mode
# faults with handler threads, and as an unprivileged user (nobody), who
# may only have a userfaultfd for user-mode faults (or none), so that
# GMAP_FAULT_MODE=auto serves faults inline and gmap-stress's accesses by
# the kernel (read(2)/write(2) into the window) meet EFAULT on untouched
# pages, touch them from user mode and try again.  Both must end in
# "failures: none" with exit status 0, every access verified, and accesses
# by the kernel made; the unprivileged run must say, in one line, how its
# kernel accesses are served.  Needs root to become nobody.
set -e
stress="$top_builddir/tools/gmap-stress"
[ -x "$top_builddir/tools/.libs/gmap-stress" ] || {
	echo "SKIP: no libtool build of gmap-stress here"; exit 77; }
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: becoming another user needs root (the run as this user is tests/stress.sh's)"
	exit 77
fi
command -v setpriv >/dev/null || { echo "SKIP: no setpriv (util-linux)"; exit 77; }
# Short runs: two seconds, as the self-check's five would add nothing.
args="-d 2"

# check WHO OUT STATUS: the self-check's verdict.
check() {
	who=$1 out=$2 st=$3
	[ "$st" -eq 0 ] || { echo "$out"; echo "FAIL: as $who: exit status $st"; exit 1; }
	echo "$out" | grep -q "^failures: none$" ||
		{ echo "$out"; echo "FAIL: as $who: no 'failures: none'"; exit 1; }
	echo "$out" | grep -q "every one verified" ||
		{ echo "$out"; echo "FAIL: as $who: not every access verified"; exit 1; }
	k=$(echo "$out" | sed -n 's/.*, by the kernel \([0-9]*\),.*/\1/p')
	[ "${k:-0}" -gt 0 ] ||
		{ echo "$out"; echo "FAIL: as $who: no access by the kernel"; exit 1; }
	fails=$(echo "$out" | grep -c "^FAIL" || true)
	[ "$fails" -eq 0 ] || { echo "$out"; echo "FAIL: as $who: $fails FAIL lines"; exit 1; }
	echo "ok: as $who: $(echo "$out" | grep '^ran'); $k by the kernel"
}

set +e
out=$("$stress" $args 2>&1); st=$?
set -e
check root "$out" $st

# nobody cannot reach a build tree in a private directory (CI's clones
# are in mktemp -d ones): the program and the library are copied into
# one it can read.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
cp "$top_builddir/tools/.libs/gmap-stress" "$dir/"
cp -P "$top_builddir"/libgmap/.libs/libgmap.so* "$dir/"
set +e
out=$(cd / && env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH="$dir" \
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$dir/gmap-stress" $args 2>&1); st=$?
set -e
check nobody "$out" $st
# What differs, said once: the kernel's accesses are served from user mode.
n=$(echo "$out" | grep -c "kernel-mode accesses" || true)
[ "$n" -eq 1 ] || { echo "$out"; echo "FAIL: as nobody: the fault mode said $n times, not once"; exit 1; }
echo "$out" | grep "kernel-mode accesses"
echo "$out" | grep "faults served inline:" ||
	{ echo "$out"; echo "FAIL: as nobody: no count of kernel accesses served inline"; exit 1; }
