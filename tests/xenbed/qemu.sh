#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# qemu.sh - Debian's unmodified QEMU serving a PV domU's disk, without
# libgmap and under gmap-run, in one boot of the real-Xen bed (make
# check-xen-qemu).
#
# Boots Xen 4.17 and Debian's Linux as a PV dom0 under QEMU's software
# emulation (lib.sh, as make check-xen does), this time with Debian's
# toolstack (xenstored, xenconsoled, xl) and Debian's qemu-system-xen in
# dom0.  Each PV domU is the same Debian kernel with a small busybox
# initramfs and xen-blkfront; its disk (xvda) is a file in dom0 served by
# the QEMU libxl starts for it (backendtype=qdisk), through a
# device_model_override wrapper that runs QEMU as it is or under gmap-run.
# Inside dom0 (each step one GMAPBED block):
#
#   plain-rw, gmap-rw  a 32 MiB disk holding a known pattern: the domU
#                      reads all of xvda (O_DIRECT) and reports its
#                      md5sum, writes a second pattern (O_DIRECT, fsync),
#                      three times each, timed (/proc/uptime, the shortest
#                      counts), reads it back and powers off; dom0 checks
#                      the sums and the image file's, that the domain is
#                      gone (not left dying) and that QEMU exited.
#   gmap-two           two domUs at once, 8 MiB disks with patterns of
#                      their own, each with its own QEMU under gmap-run,
#                      one of them with --max-mapped 8 and a 4-page ring
#                      (one map of 4 grants); the same checks.

#   destroy            two domUs reading xvda in a loop, one QEMU under
#                      gmap-run, one plain, each destroyed (xl destroy)
#                      during its reads: the domains must go (none left
#                      dying) and the QEMUs must exit.
#
# Under gmap-run each QEMU writes the shim's report (gmap-run --report) at
# its exit; every run checks from it that the grant maps went through the
# shim: map calls, none failed, every window's maps matched by unmaps and
# nothing mapped at exit.  (QEMU 7.2's qdisk maps only its ring; its data
# goes by grant copy, which the shim hands to the hypervisor: so
# --max-mapped 8 leaves the evictor nothing to do, and the summary says
# how many evictions there were.)  Every wait in dom0 is bounded and says
# what timed out after how long.  Packages are fetched once into
# $XENBED_CACHE with apt-get download (about 6 MiB beyond make
# check-xen's).  The stage fails on a wrong sum, a failed or missing
# step, a bad report, a crash or the timeout; the times are printed side
# by side, not checked.
set -u
BED=check-xen-qemu
. "$(dirname "$0")/lib.sh"
WORK=$B/xenbed-qemu
TIMEOUT=${XENBED_QEMU_TIMEOUT:-600}
# The disks: 32 MiB for the timed runs, 8 MiB for the others.
MIB=32 SMIB=8

bed_need_tools

# ---- 1. packages ---------------------------------------------------------
bed_fetch_base
QC=$CACHE/qemu
QR=$QC/root
XB=/usr/lib/xen-4.17/bin
QEMU=/usr/libexec/xen-qemu-system-i386
KEYMAP=/usr/share/qemu/keymaps/en-us
if [ ! -x "$QR$XB/xl" ] || [ ! -x "$QR$QEMU" ] || [ ! -f "$QR$KEYMAP" ]; then
	echo "$BED: fetching Xen's tools and QEMU into $QC"
	# The tools at the hypervisor's version (xen-utils wants libxenmisc
	# at its own).
	v=$(dpkg-deb -f "$CACHE"/xen-hypervisor-4.17-amd64_*.deb Version 2>/dev/null | head -n1)
	[ -n "$v" ] && v="=$v"
	mkdir -p "$QC"
	(cd "$QC" && rm -f ./*.deb &&
	 apt-get download "xen-utils-4.17$v" "xen-utils-common$v" "xenstore-utils$v" \
		"libxenmisc4.17$v" qemu-system-xen qemu-system-data \
		>"$QC/download.log" 2>&1) || die "apt-get download failed: $(tail -3 "$QC/download.log")"
	rm -rf "$QR"
	for d in "$QC"/*.deb; do dpkg-deb -x "$d" "$QR" || die "cannot unpack $d"; done
fi

# ---- 2. the domU's initramfs ---------------------------------------------
# The pattern: pages of 4 KiB, each 512-byte sector stamped with a tag, its
# page and sector, so that a sector out of place changes the sum.  All are
# made here, with the bed's busybox awk: the disks' first patterns go into
# dom0's initramfs, those the domUs write into theirs, and their sums into
# dom0's init (awk takes 6-7 s a 32 MiB pattern under TCG).
# (bed_init_root makes $WORK afresh, with dom0's tree in $I.)
bed_init_root
cat >"$WORK/gen.awk" <<'EOF'
BEGIN {
	fill = "libgmap xenbed qemu pattern "
	while (length(fill) < 512)
		fill = fill fill
	for (p = 0; p < n; p++) {
		pg = ""
		for (s = 0; s < 8; s++) {
			h = tag " " p " " s " "
			pg = pg h substr(fill, 1, 511 - length(h)) "\n"
		}
		printf "%s", pg
	}
}
EOF
md5_of() {
	"$R/bin/busybox" awk -v n=$(($2 * 256)) -v tag="$1" -f "$WORK/gen.awk" | md5sum | cut -d' ' -f1
}
U=$WORK/domu
mkdir -p "$U/bin" "$U/mod" "$U/proc" "$U/sys" "$U/dev" "$U/tmp"
cp "$R/bin/busybox" "$U/bin/"
# (The patterns the domUs write come in their ramdisks, below.)
cp "$R/lib/modules/$K/kernel/drivers/block/xen-blkfront.ko" "$U/mod/" || die "xen-blkfront.ko missing"
# The domU's task is on its command line: gq=rw,WRITETAG,REPS[,ORDER]
# (read xvda, write the pattern WRITETAG in /w over it, each REPS times,
# read it back, power off; with a ring of 2^ORDER pages) or gq=loop (read
# xvda over and over until destroyed).  It prints DOMU: lines.
cat >"$U/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
say() { echo "DOMU: $*"; }
bye() { sync; poweroff -f; sleep 10; }
up() { cut -d' ' -f1 /proc/uptime; }
task=$(sed -n 's/.* gq=\([^ ]*\).*/\1/p' /proc/cmdline)
op=${task%%,*}
rest=${task#*,}
wtag=${rest%%,*}
reps=${rest#*,}
order=${reps#*,}
reps=${reps%%,*}
[ "$order" = "$reps" ] && order=0
insmod /mod/xen-blkfront.ko max_ring_page_order=$order || { say "FAIL: insmod xen-blkfront"; bye; }
[ "$order" = 0 ] || say "ring of $((1 << order)) pages"
n=0
while [ ! -b /dev/xvda ]; do
	n=$((n + 1))
	[ $n -gt 300 ] && { say "FAIL: timed out after 30 s waiting for /dev/xvda"; bye; }
	sleep 0.1
done
say "xvda $(cat /sys/block/xvda/size) sectors"
case $op in
rw)
	# Each timed pass $reps times: the shortest is the time (TCG's
	# timing is noisy), every read's sum must be the same.
	sums= secs=
	for i in $(seq $reps); do
		t0=$(up)
		dd if=/dev/xvda of=/tmp/r bs=1M iflag=direct 2>/tmp/err || { say "FAIL: read: $(cat /tmp/err)"; bye; }
		t1=$(up)
		secs="$secs $(echo "$t1 $t0" | awk '{printf "%.2f", $1 - $2}')"
		sums="$sums $(md5sum </tmp/r | cut -d' ' -f1)"
		rm -f /tmp/r
	done
	sum=$(echo $sums | tr ' ' '\n' | sort -u)
	[ "$(echo "$sum" | wc -l)" = 1 ] || sum="differ:$(echo $sums | tr ' ' ,)"
	say "read md5=$sum secs=$(echo $secs | tr ' ' '\n' | sort -n | head -n1) all=$(echo $secs | tr ' ' ,)"
	[ -f /w ] && [ $(($(stat -c %s /w) / 512)) = $(cat /sys/block/xvda/size) ] ||
		{ say "FAIL: no pattern $wtag the size of xvda in /w"; bye; }
	secs=
	for i in $(seq $reps); do
		t0=$(up)
		dd if=/w of=/dev/xvda bs=1M oflag=direct conv=fsync 2>/tmp/err || { say "FAIL: write: $(cat /tmp/err)"; bye; }
		t1=$(up)
		secs="$secs $(echo "$t1 $t0" | awk '{printf "%.2f", $1 - $2}')"
	done
	rm -f /w
	say "write secs=$(echo $secs | tr ' ' '\n' | sort -n | head -n1) all=$(echo $secs | tr ' ' ,)"
	say "reread md5=$(dd if=/dev/xvda bs=1M iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
	say DONE
	bye ;;
loop)
	i=0
	while :; do
		dd if=/dev/xvda of=/dev/null bs=64k iflag=direct 2>/dev/null || say "read failed"
		i=$((i + 1))
		say "pass $i"
	done ;;
*)
	say "FAIL: no task (gq=) on the command line"; bye ;;
esac
EOF
chmod +x "$U/init"
bed_pack "$U" "$WORK/domu.gz"
# The patterns the domUs write: /w, in a ramdisk for each.
for t in WA:$MIB WB:$SMIB WC:$SMIB; do
	"$R/bin/busybox" awk -v n=$((${t#*:} * 256)) -v tag=${t%:*} -f "$WORK/gen.awk" >"$U/w"
	bed_pack "$U" "$WORK/domu-${t%:*}.gz"
done
rm -f "$U/w"

# ---- 3. dom0's initramfs -------------------------------------------------
add_prog "$B/tools/gmap-run" gmap-run
bed_add_libgmap
# The toolstack and QEMU, from the unpacked packages, where the packages
# put them, with their libraries (from the packages first).
BED_LIBPATH=$QR/usr/lib/x86_64-linux-gnu
BED_STRIP=$QR
for f in $XB/xl $XB/xenstored $XB/xenconsoled $XB/xen-init-dom0 $XB/libxl-save-helper \
	 /usr/bin/xenstore-ls $QEMU; do
	[ -x "$QR$f" ] || die "$f is missing from the packages"
	mkdir -p "$I$(dirname "$f")"
	cp "$QR$f" "$I$f"
	bed_check_libs "$QR$f"
	add_libs "$QR$f"
done
unset BED_LIBPATH BED_STRIP
mkdir -p "$I/etc/xen" "$I$(dirname "$KEYMAP")" "$I/boot"
cp "$QR/etc/xen/xl.conf" "$I/etc/xen/"
cp "$QR$KEYMAP" "$I$KEYMAP"
cp "$R/boot/vmlinuz-$K" "$I/boot/vmlinuz"
cp "$WORK/domu.gz" "$I/boot/domu.gz"
cp "$WORK"/domu-W?.gz "$I/boot/"

# The disks' first patterns.
for t in PA:$MIB PB:$SMIB PC:$SMIB; do
	"$R/bin/busybox" awk -v n=$((${t#*:} * 256)) -v tag=${t%:*} -f "$WORK/gen.awk" >"$I/t/pat-${t%:*}"
done

# The device model libxl starts: /t/qemu-plain runs QEMU as it is,
# /t/qemu-gmap under gmap-run, /t/qemu-gmap-small with --max-mapped 8.
# Each leaves QEMU's pid (exec keeps it) in /tmp/qemu-NAME.pid.
cat >"$I/t/qemu-wrap" <<'EOF'
#!/bin/sh
name=unknown prev=
for a in "$@"; do
	[ "$prev" = -name ] && name=$a
	prev=$a
done
echo $$ >/tmp/qemu-$name.pid
echo "qemu-wrap: $0 $*"
Q=/usr/libexec/xen-qemu-system-i386
G="/t/gmap-run --preload /usr/lib/libgmap-preload.so -b xen --report /tmp/report-$name"
case ${0##*/} in
qemu-plain) exec $Q "$@" ;;
qemu-gmap) exec $G -- $Q "$@" ;;
qemu-gmap-small) exec $G --max-mapped 8 -- $Q "$@" ;;
esac
echo "qemu-wrap: unknown mode $0"
exit 1
EOF
chmod +x "$I/t/qemu-wrap"
for m in plain gmap gmap-small; do ln -s qemu-wrap "$I/t/qemu-$m"; done

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
export LD_LIBRARY_PATH=/usr/lib:/usr/lib/x86_64-linux-gnu:@XENLIBDIR@
export PATH=/bin:/usr/bin:/usr/lib/xen-4.17/bin:/t
# The patterns: tag, MiB, md5sum (computed on the build host).
PATTERNS="@PATTERNS@"
md5_of() { echo "$PATTERNS" | awk -v t=$1 '$1 == t {print $3}'; }
. /bed.sh  # run, wait_for, domu_said, domu_ended, qemu_gone ... (lib.sh)
domu_looped() { domu_said $1 "pass 2" || qemu_gone $1; }
show() {
	echo "-- $1: xl list"; xl list
	for f in "$(glog $1)" /var/log/xen/qemu-dm-$1.log /var/log/xen/xl-$1.log /tmp/xl-$1.log; do
		[ -f "$f" ] && { echo "-- $1: $f"; tail -n 40 "$f"; }
	done
	echo "-- $1: the disk backends in xenstore"
	xenstore-ls -f /local/domain/0/backend/qdisk 2>&1 | grep -E '/(state|ring-ref[0-9]*|hotplug-status|params) ' | tail -n 20
}

# start NAME WRAPPER TASK IMAGE-TAG: a domU whose xvda is a fresh copy of
# the pattern IMAGE-TAG.
start() {
	local rd=/boot/domu.gz w
	case $3 in rw,*) w=${3#rw,}; rd=/boot/domu-${w%%,*}.gz ;; esac
	cp /t/pat-$4 /tmp/$1.img || return 1
	cat >/tmp/$1.cfg <<EOF
name = "$1"
type = "pv"
kernel = "/boot/vmlinuz"
ramdisk = "$rd"
cmdline = "console=hvc0 quiet rdinit=/init gq=$3"
memory = 192
vcpus = 1
vif = []
disk = [ "format=raw,vdev=xvda,access=rw,backendtype=qdisk,target=/tmp/$1.img" ]
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
device_model_version = "qemu-xen"
device_model_override = "/t/$2"
EOF
	rm -f /tmp/qemu-$1.pid /tmp/report-$1
	if ! timeout 120 xl create /tmp/$1.cfg >/tmp/xl-$1.log 2>&1; then
		echo "FAIL: xl create $1 failed (or timed out after 120s)"
		show $1
		return 1
	fi
	[ -f /tmp/qemu-$1.pid ] || { echo "FAIL: $1: no QEMU was started through /t/$2"; show $1; return 1; }
}

# After the domain has gone: QEMU exited, the domain is not left dying.
gone() {
	wait_for 60 "domain $1 to go (xl list)" only_dom0 || { show $1; return 1; }
	wait_for 30 "QEMU of $1 to exit" qemu_gone $1 || { show $1; return 1; }
	echo "$1: domain gone, QEMU exited"
}

# The shim's report of $1's QEMU (gmap-run --report): the grant maps went
# through the shim, none failed, and every window ended with nothing
# mapped.  With $2 = destroyed, failed grant copies are only printed: a
# copy that meets the dying domain fails.
report() {
	local f=/tmp/report-$1
	wait_for 10 "the report $f" test -s $f || return 1
	sed "s/^/$1 /" $f
	awk -v d=$1 -v destroyed="${2:-}" '
	{ delete v }
	/^gmap-preload: report: window / {
		w++
		for (i = 4; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		if (v["maps"] != v["unmaps"]) { print "FAIL: " d ": window " v["domid"] ": maps " v["maps"] " != unmaps " v["unmaps"]; bad = 1 }
		if (v["mapped"] != 0) { print "FAIL: " d ": window " v["domid"] ": " v["mapped"] " still mapped at exit"; bad = 1 }
		if (v["maps"] == 0) { print "FAIL: " d ": window " v["domid"] ": no maps"; bad = 1 }
		next
	}
	/^gmap-preload: report: (xengnttab|xenforeignmemory)_/ {
		fn = $3
		for (i = 4; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		if (fn ~ /_map/ && fn !~ /unmap/) maps += v["calls"]
		if (v["failed"] != 0 && destroyed != "" && fn == "xengnttab_grant_copy")
			print d ": " v["failed"] " grant copies failed (destroyed during I/O)"
		else if (v["failed"] != 0) { print "FAIL: " d ": " fn ": " v["failed"] " failed"; bad = 1 }
		next
	}
	END {
		if (!w) { print "FAIL: " d ": no window in the report"; bad = 1 }
		if (!maps) { print "FAIL: " d ": no map call went through the shim"; bad = 1 }
		if (!bad) print "REPORT-OK: " d ": " maps " map calls through the shim, " w " window(s), nothing mapped at exit"
		exit bad
	}' $f
}

# rw NAME WRAPPER READTAG WRITETAG [REPS]: the domU reads, writes (REPS
# times each, default 1), rereads.
rw_start() { start $1 $2 "rw,$4,${5:-1}${6:+,$6}" $3; }
rw_check() {
	local name=$1 rtag=$3 wtag=$4 bad=0 rsum wsum got
	rsum=$(md5_of $rtag) wsum=$(md5_of $wtag)
	wait_for 180 "domU $name to finish (DOMU: DONE)" domu_ended $name || { show $name; return 1; }
	sed "s/^/$name| /" "$(glog $name)" | grep 'DOMU:'
	domu_said $name DONE || { echo "FAIL: $name did not finish (it failed, or its QEMU exited)"; show $name; return 1; }

	got=$(sed -n 's/^DOMU: read md5=\([0-9a-f]*\).*/\1/p' "$(glog $name)")
	[ "$got" = "$rsum" ] || { echo "FAIL: $name read md5 $got, pattern $rtag is $rsum"; bad=1; }
	got=$(sed -n 's/^DOMU: reread md5=\([0-9a-f]*\).*/\1/p' "$(glog $name)")
	[ "$got" = "$wsum" ] || { echo "FAIL: $name reread md5 $got, pattern $wtag is $wsum"; bad=1; }
	gone $name || return 1
	got=$(md5sum </tmp/$name.img | cut -d' ' -f1)
	[ "$got" = "$wsum" ] || { echo "FAIL: $name: the image's md5 is $got after the domU wrote pattern $wtag ($wsum)"; bad=1; }
	echo "TIMES: $name $(sed -n 's/^DOMU: read md5=[0-9a-f]* secs=\([0-9.]*\).*/read=\1/p' "$(glog $name)") $(sed -n 's/^DOMU: write secs=\([0-9.]*\).*/write=\1/p' "$(glog $name)")"
	[ $bad = 0 ] && echo "$name: data both ways checked (read $rtag, wrote $wtag)"
	rm -f /tmp/$name.img
	return $bad
}
rw() {
	rw_start "$@" || return 1
	rw_check "$@" || return 1
	[ $2 = qemu-plain ] || report $1
}
two() {
	local r=0
	rw_start qa qemu-gmap PB WB || return 1
	# qb's ring is 4 pages (one map of 4 grants, where QEMU 7.2 allows
	# up to 16).
	rw_start qb qemu-gmap-small PC WC 1 2 || return 1

	rw_check qa qemu-gmap PB WB || r=1
	rw_check qb qemu-gmap-small PC WC || r=1
	report qa || r=1
	report qb || r=1
	grep -q '^gmap-preload: report: xengnttab_map_domain_grant_refs .*pages=4 ' /tmp/report-qb ||
		{ echo "FAIL: qb: its 4-page ring was not one map of 4 grants through the shim"; r=1; }
	return $r
}
# Two domUs reading in a loop, qd's QEMU under gmap-run, qx's plain;
# each destroyed while it reads.
destroy() {
	local d r=0
	start qd qemu-gmap loop PB || return 1
	start qx qemu-plain loop PB || return 1
	for d in qd qx; do
		wait_for 180 "domU $d to read xvda twice" domu_looped $d || { show $d; return 1; }
		domu_said $d "pass 2" || { echo "FAIL: the QEMU of $d exited"; show $d; return 1; }

	done
	for d in qd qx; do
		timeout 60 xl destroy $d || { echo "FAIL: xl destroy $d failed (or timed out after 60s)"; show $d; return 1; }
		echo "$d: destroyed during I/O after $(grep -c '^DOMU: pass' "$(glog $d)") passes"
	done
	gone qd || r=1
	gone qx || r=1
	report qd destroyed || r=1
	return $r
}

# The toolstack: xenstored, dom0's entries, xenconsoled (the domUs'
# consoles into /var/log/xen/console).
setup() {
	xenstored --pid-file=/var/run/xenstored.pid || return 1
	wait_for 20 "xenstored's socket" test -S /var/run/xenstored/socket || return 1
	xen-init-dom0 || return 1
	xenconsoled --pid-file=/var/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console || return 1
	local t got
	for t in PA PB PC; do
		got=$(md5sum </t/pat-$t | cut -d' ' -f1)
		[ "$got" = "$(md5_of $t)" ] || { echo "FAIL: pattern $t in dom0 has md5 $got, not $(md5_of $t)"; return 1; }
	done
	xl info | grep -E '^(xen_version|total_memory|free_memory|nr_cpus)'
	xl list
}
cd /tmp
run setup setup
run plain-rw rw qp qemu-plain PA WA 3
run gmap-rw rw qg qemu-gmap PA WA 3
run gmap-two two
run destroy destroy
echo "GMAPBED: DONE"
sync
reboot -f
INIT
# The patterns, one a line: tag, MiB, md5sum.
pats=
for t in PA:$MIB WA:$MIB PB:$SMIB WB:$SMIB PC:$SMIB WC:$SMIB; do
	pats="$pats${pats:+\\n}${t%:*} ${t#*:} $(md5_of ${t%:*} ${t#*:})"
done
sed -i -e "s|@XENLIBDIR@|$XENLIBDIR|" -e "s|@PATTERNS@|$pats|" "$I/init"
chmod +x "$I/init"

bed_pack "$I" "$WORK/initrd.gz"

# ---- 4. boot -------------------------------------------------------------
LOG=$WORK/serial.log
BED_SMP=2 BED_MEM=3G BED_XEN_ARGS="dom0_mem=1G,max:1G dom0_max_vcpus=1"
bed_boot "$WORK/initrd.gz"

# ---- 5. results ----------------------------------------------------------
fail=0
for name in setup plain-rw gmap-rw gmap-two destroy; do
	bed_result $name
done
bed_finish

# The shim's reports, and the times side by side (not a gate).
echo "---- the shim's reports ----"
grep '^q[a-z] gmap-preload: report:' "$LOG.txt"
grep -h '^REPORT-' "$LOG.txt"
time_of() { sed -n "s/^TIMES: $1 .*$2=\([0-9.]*\).*/\1/p" "$LOG.txt"; }
for op in read write; do
	p=$(time_of qp $op) g=$(time_of qg $op)
	echo "$BED: $op $MIB MiB: plain $p s, gmap-run $g s ($(echo "$g $p" |
		awk '{ if ($2 > 0) printf "%.2fx", $1 / $2; else print "-" }'))"
done
echo "$BED: two domUs at once ($SMIB MiB each, gmap-run): read $(time_of qa read) s and $(time_of qb read) s (--max-mapped 8), write $(time_of qa write) s and $(time_of qb write) s"
ev=$(sed -n 's/^qb gmap-preload: report: window .*evictions=\([0-9]*\).*/\1/p' "$LOG.txt")
[ -n "$ev" ] && echo "$BED: --max-mapped 8, a 4-page ring: $ev evictions (QEMU maps only its ring through the shim; its data goes by grant copy)"
echo "$BED: PASS (Debian's QEMU 7.2 qdisk serving PV domUs, plain and under gmap-run: data both ways, two at once, --max-mapped 8, xl destroy during I/O, the shim's reports; ${secs}s)"

