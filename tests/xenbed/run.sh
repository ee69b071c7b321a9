#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run.sh - the real-Xen test bed (make check-xen).
#
# Boots Debian's Xen 4.17 with Debian's Linux as a PV dom0 under QEMU's
# software emulation, with an initramfs holding busybox, the Xen device
# modules and this build's test programs (with the shared libraries they
# need), runs them inside dom0 and reads their results off the serial
# console.  Fails on any failed program, a crash, a missing result or a
# timeout.  Packages are fetched once into $XENBED_CACHE (default
# $top_builddir/xenbed-cache) with apt-get download and unpacked there.
#
# Needs: qemu-system-x86, cpio (setup.sh deps installs both), and either
# the cache or Debian's archive.
set -u
: "${top_builddir:=.}"
: "${top_srcdir:=..}"
B=$(cd "$top_builddir" && pwd)
S=$(cd "$top_srcdir" && pwd)
CACHE=${XENBED_CACHE:-$B/xenbed-cache}
WORK=$B/xenbed
TIMEOUT=${XENBED_TIMEOUT:-420}

die() { echo "check-xen: FAIL: $*"; exit 1; }

for t in qemu-system-x86_64 cpio gzip timeout; do
	command -v $t >/dev/null || die "$t is missing (./setup.sh deps installs it)"
done

# ---- 1. packages ---------------------------------------------------------
mkdir -p "$CACHE"
if [ ! -f "$CACHE/root/boot/xen-4.17-amd64.gz" ] || ! ls "$CACHE"/root/boot/vmlinuz-* >/dev/null 2>&1 ||
   [ ! -x "$CACHE/root/bin/busybox" ]; then
	echo "check-xen: fetching Xen, Linux and busybox into $CACHE"
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

# ---- 2. the initramfs ----------------------------------------------------
rm -rf "$WORK" && mkdir -p "$WORK/root/bin" "$WORK/root/mod" "$WORK/root/t" \
	"$WORK/root/proc" "$WORK/root/sys" "$WORK/root/dev" "$WORK/root/tmp"
I=$WORK/root
cp "$R/bin/busybox" "$I/bin/"
for m in xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs/xenfs; do
	cp "$R/lib/modules/$K/kernel/drivers/xen/$m.ko" "$I/mod/" || die "module $m missing"
done

# Programs: the real binaries behind libtool's wrappers, and every shared
# library they load (from this build first: libgmap).
add_libs() {
	LD_LIBRARY_PATH="$B/libgmap/.libs" ldd "$1" | awk '/=>/ {print $3} /^\t\/lib/ {print $1}' |
	while read -r lib; do
		[ -f "$lib" ] || continue
		mkdir -p "$I$(dirname "$lib")"
		cp -L "$lib" "$I$lib"
	done
}
add_prog() {
	src=$1 name=$2
	real=$(dirname "$src")/.libs/$(basename "$src")
	[ -x "$real" ] || real=$src
	[ -x "$real" ] || die "$src is not built"
	cp "$real" "$I/t/$name"
	add_libs "$real"
}
add_prog "$B/tests/test-xenbed" test-xenbed
add_prog "$B/examples/devmodel" devmodel
add_prog "$B/tests/xenapi-client" xenapi-client
add_prog "$B/tools/gmap-run" gmap-run
add_prog "$B/tools/gmap-xengrant" gmap-xengrant
add_prog "$B/tools/gmap-stress" gmap-stress
# libgmap from this build, where the programs' run path does not reach,
# and the Xen libraries libgmap and the shim dlopen() (no ld.so.cache in
# the initramfs: LD_LIBRARY_PATH names their directory).
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

cat >"$I/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs; do
	insmod /mod/$m.ko || echo "GMAPBED: insmod $m failed"
done
# gntalloc's default limit is 1024 grants; the stress runs use more.
echo 8192 >/sys/module/xen_gntalloc/parameters/limit
export LD_LIBRARY_PATH=/usr/lib:@XENLIBDIR@ T_WATCHDOG=120
run() {
	name=$1; shift
	echo "GMAPBED: BEGIN $name"
	"$@" 2>&1
	echo "GMAPBED: END $name rc=$?"
}
cd /tmp
run test-xenbed /t/test-xenbed
run devmodel /t/devmodel
# An unmodified Debian-API backend under the preload, against dom0's own
# grants (gmap-xengrant fills them, checks the replies, ends access and
# reports grants still in use).
G="/t/gmap-xengrant"
R="/t/gmap-run --preload /usr/lib/libgmap-preload.so -b xen -d 0 --"
C=/t/xenapi-client
run preload-gnttab $G -n 16 --expect 12 -- $R $C gnttab 0 11 {first} {count}
run preload-fmem $G -n 16 --expect 12 -- $R $C fmem 0 11 {first} {count}
run preload-double $G -n 1 -- $R $C double 0 {first}
# refs last first: not one run, so the shim maps each page on its own
# (gntdev's mappings cannot be aliased); both views share the pages.
run preload-scatter $G -n 6 --expect 12 -- $R $C scatter 0 11 {rrefs}
run preload-rowrite $G -n 1 --ro 1 -- /t/gmap-run --preload /usr/lib/libgmap-preload.so -b xen -d 0 --bad-policy quiet -- $C rowrite 0 11 {ro}
run preload-bad $G -n 2 -- /t/gmap-run --preload /usr/lib/libgmap-preload.so -b xen -d 0 -n 65536 -- $C bad 0 {first} {ended}
run preload-fork $G -n 1 -- $R $C fork 0 11 {first}
# gmap-stress on the xen backend, every access verified: faulting
# threads, churn (pins, releases under the faulters); then a budget of a
# tenth of the pages with fault-around, so that the evictor unmaps real
# grant mappings all along.  Without read-only grants: a pinned run
# with one among writable ones is refused by gntdev after mmap took its
# placeholders away, and a system call meeting one of them in that moment
# gets EFAULT, which gmap-stress cannot always tell from a real failure
# (README.md); read-only grants are checked by test-xenbed and
# preload-rowrite.
run stress-xen /t/gmap-stress -b xen -t 4 -c 2 -p 1000 -d 8 -q
run stress-xen-budget /t/gmap-stress -b xen -t 4 -c 1 -p 2000 --max-mapped 200 --fault-around 4 -d 8 -q
echo "GMAPBED: DONE"
sync
reboot -f
INIT
sed -i "s|@XENLIBDIR@|$XENLIBDIR|" "$I/init"
chmod +x "$I/init"
(cd "$I" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$WORK/initrd.gz") ||
	die "cannot pack the initramfs"

# ---- 3. boot -------------------------------------------------------------
LOG=$WORK/serial.log
start=$(date +%s)
timeout "$TIMEOUT" qemu-system-x86_64 -machine pc,accel=tcg -cpu qemu64,+svm \
	-smp 1 -m 2G -display none -vga none -nodefaults -no-reboot \
	-serial "file:$LOG" -kernel "$CACHE/xen.elf" \
	-append "console=com1 com1=115200,8n1 dom0_mem=1G,max:1G dom0_max_vcpus=1 loglvl=all guest_loglvl=all" \
	-initrd "$R/boot/vmlinuz-$K console=hvc0 earlyprintk=xen rdinit=/init panic=-1,$WORK/initrd.gz"
qrc=$?
secs=$(( $(date +%s) - start ))

# ---- 4. results ----------------------------------------------------------
tr -d '\r' <"$LOG" >"$LOG.txt"
fail=0
for name in test-xenbed devmodel preload-gnttab preload-fmem preload-double preload-scatter \
	    preload-rowrite preload-bad preload-fork stress-xen stress-xen-budget; do
	echo "---- $name (in dom0) ----"
	sed -n "/GMAPBED: BEGIN $name\$/,/GMAPBED: END $name /p" "$LOG.txt" |
		grep -v '^GMAPBED:'
	rc=$(sed -n "s/^GMAPBED: END $name rc=\([0-9]*\)\$/\1/p" "$LOG.txt")
	if [ -z "$rc" ]; then
		echo "check-xen: $name: no result (crash or timeout)"; fail=1
	elif [ "$rc" -ne 0 ]; then
		echo "check-xen: $name: exit status $rc"; fail=1
	else
		echo "check-xen: $name: passed"
	fi
done
grep -q '^GMAPBED: DONE' "$LOG.txt" || { echo "check-xen: dom0 did not finish"; fail=1; }
grep -a -E 'Kernel panic|BUG:|Oops|\(XEN\) .*(FATAL|Panic)' "$LOG.txt" && fail=1
[ $qrc -eq 124 ] && { echo "check-xen: timed out after ${TIMEOUT}s"; fail=1; }
if [ $fail -ne 0 ]; then
	echo "check-xen: FAIL (serial log: $LOG.txt; last lines:)"
	tail -20 "$LOG.txt"
	exit 1
fi
echo "check-xen: PASS (Xen 4.17, Linux $K PV dom0 under QEMU TCG, ${secs}s)"
