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
BED=check-xen
. "$(dirname "$0")/lib.sh"
WORK=$B/xenbed
TIMEOUT=${XENBED_TIMEOUT:-420}

bed_need_tools

# ---- 1. packages ---------------------------------------------------------
bed_fetch_base

# ---- 2. the initramfs ----------------------------------------------------
bed_init_root
add_prog "$B/tests/test-xenbed" test-xenbed
add_prog "$B/examples/devmodel" devmodel
add_prog "$B/tests/xenapi-client" xenapi-client
add_prog "$B/tools/gmap-run" gmap-run
add_prog "$B/tools/gmap-xengrant" gmap-xengrant
add_prog "$B/tools/gmap-stress" gmap-stress
bed_add_libgmap

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
# refs last first: not one run, so the shim maps them as one gntdev map of
# their own (gntdev's mappings cannot be aliased); both views share the
# pages.
run preload-scatter $G -n 6 --expect 12 -- $R $C scatter 0 11 {rrefs}
# A multithreaded PV-ring style backend: 4 threads on one handle map
# batches of 11 scattered refs, check every byte, answer their own refs.
# A step that leaves a hole in a map's area (another thread's mmap takes
# it) shows here as a crash or another grant's bytes.
run preload-threads $G -n 48 --expect 12 -- $R $C threads 0 11 4 400 {refs}
run preload-rowrite $G -n 1 --ro 1 -- /t/gmap-run --preload /usr/lib/libgmap-preload.so -b xen -d 0 --bad-policy quiet -- $C rowrite 0 11 {ro}
run preload-bad $G -n 2 -- /t/gmap-run --preload /usr/lib/libgmap-preload.so -b xen -d 0 -n 65536 -- $C bad 0 {first} {ended}
run preload-fork $G -n 1 -- $R $C fork 0 11 {first}
# Grant copy as QEMU's xen-block does it: the hypervisor copies the 32
# segments of unmapped grants (and refuses the bad and the read-only one)
# in one call per batch; the ring's own grant, held mapped, is copied from
# the window (2); the shim's report says which went where.  Last of the
# preload steps: its read-only grant leaves gntalloc's free list out of
# order for {first}.
RR="/t/gmap-run --preload /usr/lib/libgmap-preload.so -b xen -d 0 --report /tmp/copy.rep --"
run preload-copy sh -c "$G -n 16 --ro 1 --expect 12 -- $RR $C copy 0 11 {first} 16 {ro} &&
	cat /tmp/copy.rep && grep -q 'grant_copy calls=2 segments=35 hypervisor=32 window=2 ' /tmp/copy.rep"
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
bed_pack "$I" "$WORK/initrd.gz"

# ---- 3. boot -------------------------------------------------------------
LOG=$WORK/serial.log
bed_boot "$WORK/initrd.gz"

# ---- 4. results ----------------------------------------------------------
fail=0
for name in test-xenbed devmodel preload-gnttab preload-fmem preload-double preload-scatter \
	    preload-threads preload-rowrite preload-bad preload-fork preload-copy stress-xen stress-xen-budget; do
	bed_result "$name"
done
bed_finish
echo "check-xen: PASS (Xen 4.17, Linux $K PV dom0 under QEMU TCG, ${secs}s)"
