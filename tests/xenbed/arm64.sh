#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# arm64.sh - the boot half of the arm64 real-Xen bed (make
# check-xen-arm64, issue 17): a domU's virtio-blk disk with grant DMA,
# served by QEMU's xenpvh machine in dom0, without libgmap and under
# gmap-run, in one boot.
#
# arm64-build.sh makes what Debian does not ship (Xen 4.17 with
# IOREQ_SERVER, QEMU 10 with Xen for aarch64, the domU kernel with
# XEN_VIRTIO and the grant-DMA patch), fetches dom0's packages (Debian's
# arm64 Linux 6.12, bookworm's Xen 4.17 tools at the hypervisor's
# version, busybox-static) and cross-builds this tree's libgmap; all of
# it cached in $XENBED_CACHE (default $top_builddir/xenbed-cache-arm64).
# This script then boots, under the host's qemu-system-aarch64 (Debian
# 12's 7.2, TCG: -M virt,virtualization=on,gic-version=3 -cpu
# cortex-a57), Xen as the kernel and dom0 through QEMU's guest-loader
# device (a second one for dom0's initramfs).  Inside dom0 (each step one
# GMAPBED block, as lib.sh reads them):
#
#   setup      xenstored, xen-init-dom0, xenconsoled.
#   plain-rw   a domU (the built kernel, a busybox initramfs) whose vda is
#   gmap-rw    a virtio-mmio disk (libxl 4.17: specification=virtio,
#              backendtype=standalone, so libxl starts no device model):
#              xl create -p, then the built QEMU -M xenpvh -xen-attach for
#              it (plain, or under gmap-run -b xen --foreign deny with a
#              report), then xl unpause.  The domU reads all of vda
#              (O_DIRECT) $REPS times and reports the first pass's md5sum,
#              writes a second pattern over it $REPS times, rereads it
#              and powers off (each time said is its fastest pass);
#              dom0 checks both sums,
#              then the image file's, that the domain is gone and that
#              QEMU exited when told to (nothing else stops it: libxl did
#              not start it).  Under gmap-run the shim's report must show
#              grant maps, none failed, and every window's maps matched
#              by unmaps.
#              Both run $ROUNDS times (plain-rw1, gmap-rw1, ...), in
#              alternating order (plain first in odd rounds, gmap-run in
#              even ones), and the times are compared by their medians:
#              one pair of runs in a boot under TCG varied 5x.
#   gmap-small the same under gmap-run --max-mapped 512 (the evictions are
#              printed, not checked: QEMU unmaps each request's grants
#              when it completes, so the evictor may have nothing).
#   mapcache   QEMU's grant-mapcache pattern alone, on dom0's own grants
#              (gmap-xengrant: 64 writable, 16 read-only): shimbench -x
#              maps 1 grant per request with
#              xengnttab_map_domain_grant_refs, touches it and unmaps it,
#              one request at a time and with 32 in flight (16 on the
#              read-only ring), plainly, under gmap-run, and as the
#              window's floor (shimbench -x -F: the same gntdev ioctls and
#              mmaps as gmap-run's, made directly, no libgmap), in
#              alternating order, $ROUNDS times each; the medians of its
#              map, unmap and request times are compared.  Steadier than the domU's passes, and it
#              names which call costs.  Grants still in use afterwards
#              fail the step (gmap-xengrant).
#   destroy    a domU reading vda in a loop, its QEMU under gmap-run,
#              destroyed (xl destroy) during its reads: the domain must
#              go, not left dying, and the report show nothing mapped.
#
# libxl 4.17 waits for a standalone disk's backend to reach InitWait in
# xenstore (and Closed at destroy); a loop in dom0's init answers for it.
#
# The domU kernel uses grant DMA for vda because of arm64-grant-dma.patch
# (libxl 4.17 writes no "iommus" for a dom0 backend); its "No iommus:
# using dom0 as backend" line is checked, so that a domU that quietly fell
# back to foreign maps does not pass.
#
# Programs are arm64, so ldd cannot list their libraries: each program's
# NEEDED entries (aarch64-linux-gnu-readelf -d) are followed, transitively,
# through dom0's unpacked packages and then the sysroot, and each library
# goes where its package puts it.
#
# Environment: XENBED_CACHE, XENBED_JOBS, XENBED_NICE (as arm64-build.sh),
# XENBED_ARM64_TIMEOUT (the boot's bound, default 900 s), XENBED_ARM64_MIB
# (the disk, default 16 MiB), XENBED_ARM64_FOREIGN (gmap-run's --foreign,
# default deny), XENBED_ARM64_MAX_MAPPED (gmap-small's budget, 512),
# XENBED_ARM64_ROUNDS (the plain and gmap-run runs of each, default 3),
# XENBED_ARM64_REPS (each domU's timed reads and writes, default 5).
set -u
BED=check-xen-arm64
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$B/xenbed-arm64
TIMEOUT=${XENBED_ARM64_TIMEOUT:-900}
MIB=${XENBED_ARM64_MIB:-16}
FOREIGN=${XENBED_ARM64_FOREIGN:-deny}
# The small budget: QEMU maps each request's grants in one call and
# keeps them pinned until it completes (a 1 MiB request is 256 grants),
# so a budget under what is in flight fails the map (ENOSPC) and QEMU
# exits: with --max-mapped 8 it did, at the domU's first read.
SMALL=${XENBED_ARM64_MAX_MAPPED:-512}
ROUNDS=${XENBED_ARM64_ROUNDS:-3}
case $ROUNDS in
''|*[!0-9]*|0) die "XENBED_ARM64_ROUNDS='$ROUNDS': a number of rounds, 1 or more" ;;
esac
REPS=${XENBED_ARM64_REPS:-5}
case $REPS in
''|*[!0-9]*|0) die "XENBED_ARM64_REPS='$REPS': a number of passes, 1 or more" ;;
esac
: "${XENBED_CACHE:=$B/xenbed-cache-arm64}"
export XENBED_CACHE
CROSS=aarch64-linux-gnu-

# The host's packages (the cross toolchain, qemu-system-arm...): setup.sh
# installs what is missing, as it does for the other beds.
sh "$S/setup.sh" deps arm64 || die "setup.sh deps arm64 failed"
for t in qemu-system-aarch64 ${CROSS}readelf cpio gzip xz timeout md5sum; do
	command -v "$t" >/dev/null || die "$t is missing (./setup.sh deps arm64 installs it)"
done

# ---- 1. the builds and packages ------------------------------------------
sh "$HERE/arm64-build.sh" xen qemu linux dom0 libgmap || die "arm64-build.sh failed"
eval "$(sh "$HERE/arm64-build.sh" env)"
XB=/usr/lib/xen-4.17/bin
KMOD=$DOM0/usr/lib/modules/$KVER/kernel/drivers/xen
XENQEMU=/usr/lib/xen-4.17/bin/qemu-system-aarch64

# ---- 2. libraries by NEEDED ----------------------------------------------
# add_elf FILE: queue FILE (already in the tree $I); add_libs_arm64 then
# copies what the queue needs, and what that needs, until nothing is new.
# A library is looked up in the initramfs first (this build's libgmap is
# put there by hand), then in dom0's packages, then in the sysroot (QEMU's
# glib, pixman, libfdt...), in the directories the loader searches.
LIBROOTS="$DOM0 $SYSROOT"
LIBDIRS="lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu lib usr/lib"
add_elf() { echo "$1" >>"$WORK/elf.todo"; }
add_libs_arm64() {
	while [ -s "$WORK/elf.todo" ]; do
		f=$(head -n1 "$WORK/elf.todo")
		sed -i 1d "$WORK/elf.todo"
		# The loader, named in the program header (a link in bookworm's
		# libc6: cp -L).
		interp=$(${CROSS}readelf -l "$f" 2>/dev/null |
			 sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
		if [ -n "$interp" ] && [ ! -e "$I$interp" ]; then
			[ -e "$DOM0$interp" ] || die "$f: no loader $interp in dom0's packages"
			mkdir -p "$I$(dirname "$interp")"
			cp -L "$DOM0$interp" "$I$interp"
		fi
		for lib in $(${CROSS}readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
			have=
			for d in $LIBDIRS; do
				[ -e "$I/$d/$lib" ] && { have=1; break; }
			done
			[ -n "$have" ] && continue
			for r in $LIBROOTS; do
				for d in $LIBDIRS; do
					if [ -e "$r/$d/$lib" ]; then
						mkdir -p "$I/$d"
						cp -L "$r/$d/$lib" "$I/$d/$lib"
						add_elf "$I/$d/$lib"
						have=1
						break 2
					fi
				done
			done
			[ -n "$have" ] || die "${f#"$I"} needs $lib, which neither dom0's packages nor the sysroot have"
		done
	done
}
# add_bin PATH: the program at PATH in dom0's packages, to the same path.
add_bin() {
	[ -f "$DOM0$1" ] || die "$1 is missing from dom0's packages"
	mkdir -p "$I$(dirname "$1")"
	cp -L "$DOM0$1" "$I$1"
	add_elf "$I$1"
}

# ---- 3. the patterns -----------------------------------------------------
# Random data made here, their sums computed here: the disk's first
# content (PA, in dom0's initramfs) and what the domU writes over it (WA,
# in the domU's).  A sector out of place changes the sum.
rm -rf "$WORK" && mkdir -p "$WORK"
head -c $((MIB * 1048576)) /dev/urandom >"$WORK/PA"
head -c $((MIB * 1048576)) /dev/urandom >"$WORK/WA"
PA_MD5=$(md5sum <"$WORK/PA" | cut -d' ' -f1)
WA_MD5=$(md5sum <"$WORK/WA" | cut -d' ' -f1)

# ---- 4. the domU's initramfs ---------------------------------------------
U=$WORK/domu
mkdir -p "$U/bin" "$U/proc" "$U/sys" "$U/dev" "$U/tmp"
cp "$DOM0/bin/busybox" "$U/bin/"
mv "$WORK/WA" "$U/w"
# vda is built in (virtio-mmio, virtio-blk): nothing to load.  Prints
# DOMU: lines on hvc0 (xenconsoled's log in dom0).
cat >"$U/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
say() { echo "DOMU: $*"; }
bye() { sync; poweroff -f; sleep 10; }
up() { cut -d' ' -f1 /proc/uptime; }
n=0
while [ ! -b /dev/vda ]; do
	n=$((n + 1))
	[ $n -gt 300 ] && { say "FAIL: timed out after 30 s waiting for /dev/vda"; bye; }
	sleep 0.1
done
# Whether the disk uses grants: the patched kernel says so when it probes.
dmesg | grep -qi 'using dom0 as backend' && say "grant DMA: $(dmesg | grep -i -m1 'using dom0 as backend')"
say "vda $(cat /sys/block/vda/size) sectors"
# gq=loop on the command line: read vda over and over until destroyed.
if grep -q 'gq=loop' /proc/cmdline; then
	i=0
	while :; do
		dd if=/dev/vda of=/dev/null bs=64k iflag=direct 2>/dev/null || say "read failed"
		i=$((i + 1))
		say "pass $i"
	done
fi
# Each transfer REPS times, and the fastest pass said: under TCG on a
# busy host a pass took 1.6 s or 10 s, plain or not, so noise only adds
# and the best pass is the cost of the path.  The first read's sum is the
# one checked; every write writes the same pattern.
REPS=@REPS@
secs() { echo "$2 $1" | awk '{printf "%.2f", $1 - $2}'; }
best() { tr ' ' '\n' | grep . | sort -n | head -n 1; }
t0=$(up)
sum=$(dd if=/dev/vda bs=1M iflag=direct 2>/tmp/err | md5sum | cut -d' ' -f1)
t1=$(up)
grep -q 'records in' /tmp/err || { say "FAIL: read: $(cat /tmp/err)"; bye; }
each=$(secs $t0 $t1)
k=1
while [ $k -lt $REPS ]; do
	t0=$(up)
	dd if=/dev/vda of=/dev/null bs=1M iflag=direct 2>/tmp/err || { say "FAIL: read $k: $(cat /tmp/err)"; bye; }
	each="$each $(secs $t0 $(up))"
	k=$((k + 1))
done
say "read md5=$sum secs=$(echo "$each" | best) each=$(echo $each | tr ' ' ,)"
each=
k=0
while [ $k -lt $REPS ]; do
	t0=$(up)
	dd if=/w of=/dev/vda bs=1M oflag=direct conv=fsync 2>/tmp/err || { say "FAIL: write: $(cat /tmp/err)"; bye; }
	each="$each $(secs $t0 $(up))"
	k=$((k + 1))
done
say "write secs=$(echo "$each" | best) each=$(echo $each | tr ' ' ,)"
say "reread md5=$(dd if=/dev/vda bs=1M iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
say DONE
bye
EOF
sed -i "s|@REPS@|$REPS|" "$U/init"
chmod +x "$U/init"
bed_pack "$U" "$WORK/domu.gz"

# ---- 5. dom0's initramfs -------------------------------------------------
I=$WORK/root
mkdir -p "$I/bin" "$I/mod" "$I/t" "$I/proc" "$I/sys" "$I/dev" "$I/tmp" "$I/boot" "$I/etc/xen"
: >"$WORK/elf.todo"
cp "$DOM0/bin/busybox" "$I/bin/"
# Debian's modules are xz-compressed, which busybox's insmod may not
# read: unpacked here.  (xenfs needs xen-privcmd; the others need
# nothing: the init loads them in this order.)
for m in xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs/xenfs; do
	xz -dc "$KMOD/$m.ko.xz" >"$I/mod/${m#*/}.ko" || die "module $m missing"
done
for f in $XB/xl $XB/xenstored $XB/xenconsoled $XB/xen-init-dom0 $XB/libxl-save-helper \
	 /usr/bin/xenstore-ls /usr/bin/xenstore-read /usr/bin/xenstore-list /usr/bin/xenstore-write; do
	add_bin "$f"
done
# glibc dlopen()s libgcc_s for pthread_cancel (xl's daemon, at create):
# in no NEEDED.
add_bin /lib/aarch64-linux-gnu/libgcc_s.so.1
cp "$DOM0/etc/xen/xl.conf" "$I/etc/xen/"
# QEMU, where Debian's x86 packages put theirs.
mkdir -p "$I$(dirname "$XENQEMU")"
cp "$QEMU_OUT/qemu-system-aarch64" "$I$XENQEMU"
add_elf "$I$XENQEMU"
# libgmap (arm64): gmap-run, the shim, and the Xen libraries they
# dlopen() (not in any NEEDED).
L=$LIBGMAP_B
mkdir -p "$I/usr/lib"
cp -L "$L"/libgmap/.libs/libgmap.so.? "$L/libgmap/.libs/libgmap-preload.so" "$I/usr/lib/" ||
	die "libgmap for arm64 is not built in $L"
real=$L/tools/.libs/gmap-run
[ -x "$real" ] || real=$L/tools/gmap-run
cp "$real" "$I/t/gmap-run" || die "gmap-run for arm64 is not built in $L"
add_elf "$I/t/gmap-run"
for prog in tools/gmap-xengrant tools/stress/shimbench; do
	real=$L/$(dirname $prog)/.libs/$(basename $prog)
	[ -x "$real" ] || real=$L/$prog
	cp "$real" "$I/t/" || die "$prog for arm64 is not built in $L"
	add_elf "$I/t/$(basename $prog)"
done
add_elf "$I/usr/lib/libgmap-preload.so"
for so in libxengnttab.so.1 libxenforeignmemory.so.1; do
	add_bin "/usr/lib/aarch64-linux-gnu/$so"
done
add_libs_arm64
cp "$LINUX_OUT/Image" "$I/boot/domu-Image"
cp "$WORK/domu.gz" "$I/boot/domu.gz"
mv "$WORK/PA" "$I/t/PA"

bed_init_helpers "$I"
cat >"$I/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mkdir -p /dev/shm && mount -t tmpfs shm /dev/shm
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts  # xenconsoled's ttys
for m in xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs; do
	insmod /mod/$m.ko || echo "GMAPBED: insmod $m failed"
done
mount -t xenfs xenfs /proc/xen
mkdir -p /var/run/xen /var/run/xenstored /var/lib/xen /var/lib/xenstored \
	/var/log/xen/console /var/lock /run
export LD_LIBRARY_PATH=/usr/lib:/usr/lib/aarch64-linux-gnu:/lib/aarch64-linux-gnu
export PATH=/bin:/usr/bin:/usr/lib/xen-4.17/bin:/t
PA_MD5=@PA_MD5@ WA_MD5=@WA_MD5@ MIB=@MIB@ FOREIGN=@FOREIGN@ SMALL=@SMALL@ ROUNDS=@ROUNDS@
QEMU=@XENQEMU@
. /bed.sh  # run, wait_for, domu_said, domu_ended, qemu_gone ... (lib.sh)
# QEMU is ready for the domain: its virtio-mmio transports are made
# right after its ioreq server is registered (xenpvh writes no
# device-model state into xenstore, as x86's machines do: its trace
# event is the sign).
dm_ready() { grep -q xen_create_virtio_mmio_devices /tmp/qemu-$1.log || qemu_gone $1; }
shut_down() { ! xl domid $1; }
show() {
	echo "-- $1: xl list"; xl list
	for f in "$(glog $1)" /tmp/qemu-$1.log /tmp/xl-$1.log /var/log/xen/xl-$1.log; do
		[ -f "$f" ] && { echo "-- $1: $f"; tail -n 40 "$f"; }
	done
}

# libxl 4.17 treats a standalone disk like a xenstore backend: at create
# it waits up to 10 s for the backend's state to be InitWait (2), or
# fails the domain; at destroy it waits for Closed (6), 10 s before it
# forces.  QEMU's xenpvh does not use xenstore for its virtio devices,
# so this loop answers for it, for the whole boot (every 0.5 s: each
# round starts programs, which costs under TCG).
be_states() {
	local be=/local/domain/0/backend/virtio_disk d v s
	while :; do
		for d in $(xenstore-list $be 2>/dev/null); do
			for v in $(xenstore-list $be/$d 2>/dev/null); do
				s=$(xenstore-read $be/$d/$v/state 2>/dev/null)
				case $s in
				1) xenstore-write $be/$d/$v/state 2 ;;
				5) xenstore-write $be/$d/$v/state 6 ;;
				esac
			done
		done
		sleep 0.5
	done
}

setup() {
	xenstored --pid-file=/var/run/xenstored.pid || return 1
	wait_for 20 "xenstored's socket" test -S /var/run/xenstored/socket || return 1
	xen-init-dom0 || return 1
	xenconsoled --pid-file=/var/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console || return 1
	be_states >/dev/null 2>&1 &
	local got=$(md5sum </t/PA | cut -d' ' -f1)
	[ "$got" = "$PA_MD5" ] || { echo "FAIL: the pattern in dom0 has md5 $got, not $PA_MD5"; return 1; }
	xl info | grep -E '^(xen_version|xen_caps|total_memory|free_memory|nr_cpus)'
	xl list
}

# start NAME MODE [TASK]: a domU on a fresh copy of PA, its disk served
# by QEMU run as it is (plain), under gmap-run (gmap), or under gmap-run
# with a small budget of mapped grants (gmap-small, $SMALL); TASK goes on
# its command line (gq=loop: read until destroyed).
start() {
	local name=$1 mode=$2 id G=
	cp /t/PA /tmp/$name.img || return 1
	cat >/tmp/$name.cfg <<EOF
name = "$name"
type = "pvh"
kernel = "/boot/domu-Image"
ramdisk = "/boot/domu.gz"
extra = "console=hvc0 rdinit=/init ${3:+gq=$3}"
memory = 128
vcpus = 1
vif = []
disk = [ "format=raw,vdev=xvda,access=rw,backendtype=standalone,specification=virtio,target=/tmp/$name.img" ]
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
EOF
	rm -f /tmp/qemu-$name.pid /tmp/report-$name
	# Paused: the device model must be there (its ioreq server
	# registered) before the domU's first virtio access.
	timeout 120 xl create -p /tmp/$name.cfg >/tmp/xl-$name.log 2>&1 ||
		{ echo "FAIL: xl create -p $name failed (or timed out after 120s)"; show $name; return 1; }
	id=$(xl domid $name) || { echo "FAIL: no domid for $name"; show $name; return 1; }
	echo "$name: domain $id created paused"
	G="/t/gmap-run --preload /usr/lib/libgmap-preload.so -b xen --foreign $FOREIGN --report /tmp/report-$name"
	case $mode in
	plain) G= ;;
	gmap) G="$G --" ;;
	gmap-small) G="$G --max-mapped $SMALL --" ;;
	esac
	# The built QEMU attaches to the domain: xenpvh places its
	# virtio-mmio transports where libxl put the disk's DT node (the
	# first at GUEST_VIRTIO_MMIO_BASE, SPI 33), -m is the domain's
	# memory; the device is modern virtio (Linux's grant DMA needs
	# VIRTIO_F_ACCESS_PLATFORM: iommu_platform).
	$G $QEMU -xen-domid $id -xen-attach -M xenpvh -m 128M -nodefaults -display none \
		-trace enable=xen_create_virtio_mmio_devices \
		-global virtio-mmio.force-legacy=false \
		-drive if=none,id=d0,format=raw,file=/tmp/$name.img \
		-device virtio-blk-device,drive=d0,iommu_platform=on \
		>/tmp/qemu-$name.log 2>&1 &
	echo $! >/tmp/qemu-$name.pid
	wait_for 60 "QEMU for $name to start" dm_ready $name || { show $name; xl destroy $name; return 1; }
	qemu_gone $name && { echo "FAIL: $name: QEMU exited"; show $name; xl destroy $name; return 1; }
	# (Its VM start, which enables the ioreq server, follows at once;
	# the domU probes its disk seconds after it is unpaused.)
	sleep 1
	xl unpause $name || { echo "FAIL: xl unpause $name"; show $name; return 1; }
}

# After the domain has shut down or was destroyed: libxl did not start
# this QEMU and will not stop it; until it unmaps what it mapped of the
# domain, the domain stays dying.  So: stop it, then the domain must go.
gone() {
	wait_for 60 "domain $1 to shut down (xl domid)" shut_down $1 || { show $1; return 1; }
	kill $(cat /tmp/qemu-$1.pid) 2>/dev/null
	wait_for 30 "QEMU of $1 to exit" qemu_gone $1 || { show $1; return 1; }
	wait_for 60 "domain $1 to go, not left dying (xl list)" only_dom0 || { show $1; return 1; }
	echo "$1: domain gone, QEMU exited"
}

# rw NAME MODE: the domU reads vda, writes WA over it, rereads it.
rw() {
	local name=$1 mode=$2 got bad=0
	start $name $mode || return 1
	wait_for 300 "domU $name to finish (DOMU: DONE)" domu_ended $name || { show $name; xl destroy $name; return 1; }
	sed "s/^/$name| /" "$(glog $name)" | grep 'DOMU:'
	domu_said $name DONE || { echo "FAIL: $name did not finish (it failed, or its QEMU exited)"; show $name; xl destroy $name; return 1; }
	domu_said $name "grant DMA:" || { echo "FAIL: $name: the domU did not say it uses grant DMA for vda"; bad=1; }
	got=$(sed -n 's/^DOMU: read md5=\([0-9a-f]*\).*/\1/p' "$(glog $name)")
	[ "$got" = "$PA_MD5" ] || { echo "FAIL: $name read md5 $got, the image held $PA_MD5"; bad=1; }
	got=$(sed -n 's/^DOMU: reread md5=\([0-9a-f]*\).*/\1/p' "$(glog $name)")
	[ "$got" = "$WA_MD5" ] || { echo "FAIL: $name reread md5 $got, it wrote $WA_MD5"; bad=1; }
	gone $name || return 1
	got=$(md5sum </tmp/$name.img | cut -d' ' -f1)
	[ "$got" = "$WA_MD5" ] || { echo "FAIL: $name: the image's md5 is $got after the domU wrote $WA_MD5"; bad=1; }
	echo "TIMES: $name $(sed -n 's/^DOMU: read md5=[0-9a-f]* secs=\([0-9.]*\).*/read=\1/p' "$(glog $name)") $(sed -n 's/^DOMU: write secs=\([0-9.]*\).*/write=\1/p' "$(glog $name)")"
	[ $bad = 0 ] && echo "$name: data both ways checked"
	rm -f /tmp/$name.img
	[ $mode = plain ] || report $name || bad=1
	return $bad
}

# A domU reading in a loop, its QEMU under gmap-run, destroyed (xl
# destroy) during its reads: QEMU must exit and the domain go, not left
# dying (the hypervisor's word that nothing stays mapped).  QEMU does not
# complete the requests it has in flight when it is told to exit, so its
# report may show their grants still mapped at exit (the kernel unmaps
# them at the exit): printed, not a failure.
destroy() {
	start ad gmap loop || return 1
	wait_for 180 "domU ad to read vda twice" domu_said ad "pass 2" || { show ad; xl destroy ad; return 1; }
	timeout 60 xl destroy ad || { echo "FAIL: xl destroy ad failed (or timed out after 60s)"; show ad; return 1; }
	echo "ad: destroyed during I/O after $(grep -c '^DOMU: pass' "$(glog ad)") passes"
	gone ad || return 1
	report ad destroyed
}

# QEMU's grant-mapcache pattern without QEMU (see the top): shimbench -x
# over gmap-xengrant's grants, plain and under gmap-run, alternating.
# Each run prints "shimbench: x rw req=.. map=.. unmap=.. us ro ...".
mapcache() {
	/t/gmap-xengrant -n 64 --ro 16 -- sh -c '
		R="/t/gmap-run --preload /usr/lib/libgmap-preload.so -b xen -d 0 --"
		k=1
		while [ $k -le $1 ]; do
			order="plain gmap floor"
			[ $((k % 2)) = 0 ] && order="floor gmap plain"
			for m in $order; do
				for d in 1 32; do
					G= F=
					[ $m = gmap ] && G=$R
					[ $m = floor ] && F=-F
					$G /t/shimbench -x $F -n 1000 -D $d 0 11 $2 $3 64 16 >/tmp/mc.out || exit 1
					sed "s/^shimbench: x/MAPCACHE: $m d=$d/" /tmp/mc.out
				done
			done
			k=$((k + 1))
		done' sh $ROUNDS {first} {ro}
}

# The shim's report (as qemu.sh's): grant maps went through the shim,
# none failed, each window's maps matched by unmaps, nothing mapped
# (with $2 = destroyed, what is still mapped at exit is only printed).
report() {
	local f=/tmp/report-$1
	wait_for 10 "the report $f" test -s $f || return 1
	sed "s/^/$1 /" $f
	awk -v d=$1 -v destroyed="${2:-}" '
	{ delete v }
	/^gmap-preload: report: window / {
		w++
		for (i = 4; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		if (v["maps"] - v["unmaps"] != v["mapped"]) { print "FAIL: " d ": window " v["domid"] ": maps " v["maps"] " - unmaps " v["unmaps"] " != mapped " v["mapped"]; bad = 1 }
		if (v["mapped"] != 0 && destroyed != "")
			print d ": window " v["domid"] ": " v["mapped"] " grants of requests in flight still mapped when QEMU exited (destroyed during I/O)"
		else if (v["mapped"] != 0) { print "FAIL: " d ": window " v["domid"] ": " v["mapped"] " still mapped at exit"; bad = 1 }
		if (v["maps"] == 0) { print "FAIL: " d ": window " v["domid"] ": no maps"; bad = 1 }
		next
	}
	/^gmap-preload: report: (xengnttab|xenforeignmemory)_/ {
		fn = $3
		for (i = 4; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		if (fn ~ /_map/ && fn !~ /unmap/) maps += v["calls"]
		if (v["failed"] != 0) { print "FAIL: " d ": " fn ": " v["failed"] " failed"; bad = 1 }
		next
	}
	END {
		if (!w) { print "FAIL: " d ": no window in the report"; bad = 1 }
		if (!maps) { print "FAIL: " d ": no map call went through the shim"; bad = 1 }
		if (!bad) print "REPORT-OK: " d ": " maps " map calls through the shim, " w " window(s)" (destroyed != "" ? "" : ", nothing mapped at exit")
		exit bad
	}' $f
}

cd /tmp
run setup setup
k=1
while [ $k -le $ROUNDS ]; do
	if [ $((k % 2)) = 1 ]; then
		run plain-rw$k rw ap$k plain
		run gmap-rw$k rw ag$k gmap
	else
		run gmap-rw$k rw ag$k gmap
		run plain-rw$k rw ap$k plain
	fi
	k=$((k + 1))
done
run gmap-small rw as gmap-small
run mapcache mapcache
run destroy destroy
echo "GMAPBED: DONE"
sync
poweroff -f
INIT
sed -i -e "s|@PA_MD5@|$PA_MD5|" -e "s|@WA_MD5@|$WA_MD5|" -e "s|@MIB@|$MIB|" \
	-e "s|@FOREIGN@|$FOREIGN|" -e "s|@SMALL@|$SMALL|" -e "s|@XENQEMU@|$XENQEMU|" \
	-e "s|@ROUNDS@|$ROUNDS|" "$I/init"
chmod +x "$I/init"
bed_pack "$I" "$WORK/initrd.gz"
echo "$BED: dom0's initramfs: $(( $(stat -c %s "$WORK/initrd.gz") / 1048576 )) MiB packed"

# ---- 6. boot -------------------------------------------------------------
# Xen is the kernel (an arm64 Image: QEMU loads it as Linux, and Xen
# finds its modules in /chosen); guest-loader adds dom0's kernel and its
# initramfs there as multiboot modules, at addresses clear of Xen and the
# DTB at the start of RAM (Debian's Image is 37 MB).  Xen's console is
# the PL011 the DTB names (dtuart); dom0's is hvc0, which Xen puts on the
# same serial line.  virt's PSCI poweroff ends QEMU when Xen powers off.
LOG=$WORK/serial.log
start=$(date +%s)
timeout "$TIMEOUT" qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 \
	-cpu cortex-a57 -smp 2 -m 2G -display none -nodefaults -no-reboot \
	-serial "file:$LOG" -kernel "$XEN_OUT" \
	-append "console=dtuart dom0_mem=768M dom0_max_vcpus=1 loglvl=all guest_loglvl=all" \
	-device "guest-loader,addr=0x49000000,kernel=$DOM0/boot/vmlinuz-$KVER,bootargs=console=hvc0 earlycon=xenboot rdinit=/init panic=-1" \
	-device guest-loader,addr=0x50000000,initrd="$WORK/initrd.gz"
# shellcheck disable=SC2034 # qrc and fail are lib.sh's bed_finish's
qrc=$?
secs=$(( $(date +%s) - start ))
tr -d '\r' <"$LOG" >"$LOG.txt"

# ---- 7. results ----------------------------------------------------------
# shellcheck disable=SC2034 # read by bed_result and bed_finish (lib.sh)
fail=0
names=setup
k=1
while [ $k -le "$ROUNDS" ]; do
	names="$names plain-rw$k gmap-rw$k"
	k=$((k + 1))
done
for name in $names gmap-small mapcache destroy; do
	bed_result $name
done
bed_finish
echo "---- the shim's report ----"
grep '^a[gsd][0-9]* gmap-preload: report:' "$LOG.txt"
grep -h '^REPORT-' "$LOG.txt"
time_of() { sed -n "s/^TIMES: $1 .*$2=\([0-9.]*\).*/\1/p" "$LOG.txt"; }
# The times of every round of $1 (ap, ag) for $2 (read, write), in order.
times_of() {
	k=1
	while [ $k -le "$ROUNDS" ]; do
		printf '%s ' "$(time_of "$1$k" "$2")"
		k=$((k + 1))
	done
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END {
	if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
	else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for op in read write; do
	p=$(times_of ap $op) g=$(times_of ag $op)
	pm=$(echo "$p" | median) gm=$(echo "$g" | median)
	echo "$BED: $op $MIB MiB, median of $ROUNDS rounds (each the best of $REPS passes): plain $pm s, gmap-run $gm s ($(echo "$gm $pm" |
		awk '{ if ($2 > 0) printf "%.2fx", $1 / $2; else print "-" }')); plain ${p% }, gmap-run ${g% } s"
done
# The mapcache step: per ring (rw, ro) and part (req, map, unmap), the
# median over the rounds of plain's and gmap-run's microseconds.
ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2fx", $1 / $2; else print "-" }'; }
mc_of() { awk -v m="$1" -v d="d=$2" -v r="$3" -v p="$4" '$1 == "MAPCACHE:" && $2 == m && $3 == d {
	for (i = 4; i <= NF; i++)
		if ($i == "rw" || $i == "ro") cur = $i
		else if (cur == r && index($i, p "=") == 1) print substr($i, length(p) + 2) }' "$LOG.txt"; }
for depth in 1 32; do
	for ring in rw ro; do
		line= fl=
		for part in req map unmap; do
			pm=$(mc_of plain $depth $ring $part | median) gm=$(mc_of gmap $depth $ring $part | median)
			fm=$(mc_of floor $depth $ring $part | median)
			line="$line $part $gm/$pm us ($(ratio "$gm" "$pm"))"
			fl="$fl $part $fm us ($(ratio "$fm" "$pm") of plain; gmap-run $(ratio "$gm" "$fm") of it)"
		done
		fly=$depth
		[ $ring = ro ] && [ $fly -gt 16 ] && fly=16  # its ring's size
		echo "$BED: mapcache, $ring grants, 1 a map, $fly in flight, gmap-run/plain, median of $ROUNDS rounds:$line"
		echo "$BED:   its floor (gntdev directly, as gmap-run places):$fl"
	done
done
echo "$BED: --max-mapped $SMALL: read $(time_of as read) s, write $(time_of as write) s, $(sed -n 's/^as gmap-preload: report: window .*evictions=\([0-9]*\).*/\1/p' "$LOG.txt") evictions (QEMU unmaps each request's grants when it completes: the evictor has only what is mapped and unpinned)"
echo "$BED: PASS (QEMU $(basename "$QEMU_OUT") xenpvh serving a grant-DMA virtio-blk domU on Xen $XEN_VER arm64, plain and under gmap-run --foreign $FOREIGN: data both ways, --max-mapped $SMALL, xl destroy during I/O, the shim's reports; ${secs}s)"
