# SPDX-License-Identifier: LGPL-2.1-or-later
#
# lib.sh - what the real-Xen beds share (sourced by run.sh, make
# check-xen, and qemu.sh, make check-xen-qemu): the packages fetched once
# into the cache, the initramfs (programs and the shared libraries they
# load), the boot of Xen and its PV dom0 under QEMU's software emulation,
# and the reading of results off the serial log.
#
# The sourcing script sets BED (the name its messages start with) first.
# Sets B, S (build and source trees), CACHE (the package cache).
: "${top_builddir:=.}"
: "${top_srcdir:=..}"
B=$(cd "$top_builddir" && pwd)
S=$(cd "$top_srcdir" && pwd)
CACHE=${XENBED_CACHE:-$B/xenbed-cache}

die() { echo "$BED: FAIL: $*"; exit 1; }

bed_need_tools() {
	for t in qemu-system-x86_64 cpio gzip timeout "$@"; do
		command -v $t >/dev/null || die "$t is missing (./setup.sh deps installs it)"
	done
}

# Xen, Linux and busybox, fetched once into $CACHE/root.  Sets R (that
# root), K (the kernel's version); unpacks Xen into $CACHE/xen.elf.
bed_fetch_base() {
	mkdir -p "$CACHE"
	if [ ! -f "$CACHE/root/boot/xen-4.17-amd64.gz" ] || ! ls "$CACHE"/root/boot/vmlinuz-* >/dev/null 2>&1 ||
	   [ ! -x "$CACHE/root/bin/busybox" ]; then
		echo "$BED: fetching Xen, Linux and busybox into $CACHE"
		kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		       awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
		[ -n "$kpkg" ] || die "cannot find the linux-image package (apt-get update?)"
		(cd "$CACHE" && rm -f ./*.deb &&
		 apt-get download xen-hypervisor-4.17-amd64 busybox-static "$kpkg" \
			>"$CACHE/download.log" 2>&1) || die "apt-get download failed: $(tail -3 "$CACHE/download.log")"
		rm -rf "$CACHE/root"
		for d in "$CACHE"/*.deb; do dpkg-deb -x "$d" "$CACHE/root" || die "cannot unpack $d"; done
	fi
	R=$CACHE/root
	K=$(ls "$R/lib/modules" | head -n1)
	gunzip -c "$R/boot/xen-4.17-amd64.gz" >"$CACHE/xen.elf" || die "cannot unpack Xen"
}

# A fresh initramfs tree in $WORK/root (sets I): busybox and the Xen
# device modules dom0 needs.
bed_init_root() {
	rm -rf "$WORK" && mkdir -p "$WORK/root/bin" "$WORK/root/mod" "$WORK/root/t" \
		"$WORK/root/proc" "$WORK/root/sys" "$WORK/root/dev" "$WORK/root/tmp"
	I=$WORK/root
	cp "$R/bin/busybox" "$I/bin/"
	for m in xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs/xenfs; do
		cp "$R/lib/modules/$K/kernel/drivers/xen/$m.ko" "$I/mod/" || die "module $m missing"
	done
}

# Programs: the real binaries behind libtool's wrappers, and every shared
# library they load (from this build first: libgmap; then from
# $BED_LIBPATH, a colon-separated list of extra library directories, if
# set).  A library under $BED_STRIP (an unpacked package tree, if set)
# goes where the package would install it.
add_libs() {
	LD_LIBRARY_PATH="$B/libgmap/.libs${BED_LIBPATH:+:$BED_LIBPATH}" ldd "$1" |
	awk '/=>/ {print $3} /^\t\/lib/ {print $1}' |
	while read -r lib; do
		[ -f "$lib" ] || continue
		dst=${lib#"${BED_STRIP:-}"}
		mkdir -p "$I$(dirname "$dst")"
		cp -L "$lib" "$I$dst"
	done
}
# Fail if $1 needs a library that ldd cannot find (add_libs skips it).
bed_check_libs() {
	miss=$(LD_LIBRARY_PATH="$B/libgmap/.libs${BED_LIBPATH:+:$BED_LIBPATH}" ldd "$1" 2>&1 |
	       awk '/not found/ {print $1}')
	[ -z "$miss" ] || die "$1 needs libraries that are not installed: $miss"
}
add_prog() {
	src=$1 name=$2
	real=$(dirname "$src")/.libs/$(basename "$src")
	[ -x "$real" ] || real=$src
	[ -x "$real" ] || die "$src is not built"
	cp "$real" "$I/t/$name"
	add_libs "$real"
}

# libgmap from this build, where the programs' run path does not reach,
# the shim, and the Xen libraries libgmap and the shim dlopen() (no
# ld.so.cache in the initramfs: LD_LIBRARY_PATH names their directory,
# XENLIBDIR, which this sets).
bed_add_libgmap() {
	mkdir -p "$I/usr/lib"
	cp -L "$B"/libgmap/.libs/libgmap.so.? "$I/usr/lib/"
	cp -L "$B"/libgmap/.libs/libgmap-preload.so "$I/usr/lib/"
	add_libs "$B/libgmap/.libs/libgmap-preload.so"
	for so in libxengnttab.so.1 libxenforeignmemory.so.1; do
		path=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64/ {print $NF; exit}')
		[ -n "$path" ] || die "$so is not installed (libxen-dev)"
		mkdir -p "$I$(dirname "$path")"
		cp -L "$path" "$I$path"
		add_libs "$path"
		XENLIBDIR=$(dirname "$path")
	done
}

# The dom0 init's helpers for the beds that drive domUs (qemu.sh,
# arm64.sh), written to $1/bed.sh, which their init sources: steps that
# stop after the first failure, bounded waits, what a domU said, whether
# its QEMU is gone.
bed_init_helpers() {
	cat >"$1/bed.sh" <<'EOF'
now() { cut -d' ' -f1 /proc/uptime; }
# run STEP COMMAND...: one GMAPBED block for lib.sh to read.  A step after
# a failed one is not run (it would wait its bounds out for nothing: a
# frontend waits up to 300 s for a backend that never comes).
failed=
run() {
	local step=$1 step_t0=$(now) rc
	shift
	echo "GMAPBED: BEGIN $step"
	if [ -n "$failed" ]; then
		echo "FAIL: not run: step $failed failed"
		rc=1
	else
		"$@" 2>&1
		rc=$?
	fi
	[ $rc = 0 ] || failed=${failed:-$step}
	echo "($step: $(echo "$(now) $step_t0" | awk '{printf "%.1f", $1 - $2}') s)"
	echo "GMAPBED: END $step rc=$rc"
}
# wait_for SECS WHAT COMMAND...: run COMMAND until it succeeds, at most
# SECS seconds (by the clock, not by tries).
wait_for() {
	local lim=$1 what=$2 t0=$(now)
	shift 2
	until "$@" >/dev/null 2>&1; do
		if [ "$(echo "$(now) $t0 $lim" | awk '{print ($1 - $2 > $3)}')" = 1 ]; then
			echo "FAIL: timed out after ${lim}s waiting for $what"
			return 1
		fi
		sleep 0.2
	done
}
glog() { echo /var/log/xen/console/guest-$1.log; }
domu_said() { grep -q "^DOMU: $2" "$(glog $1)"; }
# The domU said it is done or failed, or its QEMU is gone (and will not
# serve it).
domu_ended() { grep -q '^DOMU: \(DONE\|FAIL\)' "$(glog $1)" || qemu_gone $1; }
# Only Domain-0 left: no domain of ours, and none dying.
only_dom0() { [ "$(xl list | awk 'NR > 1' | wc -l)" = 1 ] && xl list | grep -q '^Domain-0 '; }
qemu_gone() { ! kill -0 "$(cat /tmp/qemu-$1.pid)" 2>/dev/null; }
EOF
}

# Pack the tree $1 into the gzipped cpio $2.
bed_pack() {
	(cd "$1" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$2") ||
		die "cannot pack the initramfs"
}

# Boot Xen and dom0 with the initramfs $1 under QEMU, the serial console
# in $LOG, for at most $TIMEOUT seconds.  $BED_SMP (1), $BED_MEM (2G),
# and $BED_XEN_ARGS (dom0_mem=1G,max:1G dom0_max_vcpus=1) change the
# machine and Xen's command line.  Sets qrc (QEMU's exit status, 124 on
# the timeout) and secs; leaves the log with CRs dropped in $LOG.txt.
bed_boot() {
	start=$(date +%s)
	timeout "$TIMEOUT" qemu-system-x86_64 -machine pc,accel=tcg -cpu qemu64,+svm \
		-smp "${BED_SMP:-1}" -m "${BED_MEM:-2G}" -display none -vga none -nodefaults -no-reboot \
		-serial "file:$LOG" -kernel "$CACHE/xen.elf" \
		-append "console=com1 com1=115200,8n1 ${BED_XEN_ARGS:-dom0_mem=1G,max:1G dom0_max_vcpus=1} loglvl=all guest_loglvl=all" \
		-initrd "$R/boot/vmlinuz-$K console=hvc0 earlyprintk=xen rdinit=/init panic=-1,$1"
	qrc=$?
	secs=$(( $(date +%s) - start ))
	tr -d '\r' <"$LOG" >"$LOG.txt"
}

# The result of the program run as $1 in dom0: its output, and whether it
# ran and passed.  Sets fail=1 if not.
bed_result() {
	echo "---- $1 (in dom0) ----"
	sed -n "/GMAPBED: BEGIN $1\$/,/GMAPBED: END $1 /p" "$LOG.txt" |
		grep -v '^GMAPBED:'
	rc=$(sed -n "s/^GMAPBED: END $1 rc=\([0-9]*\)\$/\1/p" "$LOG.txt")
	if [ -z "$rc" ]; then
		echo "$BED: $1: no result (crash or timeout)"; fail=1
	elif [ "$rc" -ne 0 ]; then
		echo "$BED: $1: exit status $rc"; fail=1
	else
		echo "$BED: $1: passed"
	fi
}

# After the results: dom0 finished, nothing crashed, no timeout.  On a
# failure, prints the end of the log and exits 1.
bed_finish() {
	grep -q '^GMAPBED: DONE' "$LOG.txt" || { echo "$BED: dom0 did not finish"; fail=1; }
	grep -a -E 'Kernel panic|BUG:|Oops|\(XEN\) .*(FATAL|Panic)' "$LOG.txt" && fail=1
	[ $qrc -eq 124 ] && { echo "$BED: timed out after ${TIMEOUT}s"; fail=1; }
	if [ $fail -ne 0 ]; then
		echo "$BED: FAIL (serial log: $LOG.txt; last lines:)"
		tail -20 "$LOG.txt"
		exit 1
	fi
}
