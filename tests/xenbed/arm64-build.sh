#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# arm64-build.sh - the build half of the arm64 real-Xen bed (make
# check-xen-arm64, issue 17): the three things Debian does not ship.
#
#   xen    Xen 4.17.5's arm64 hypervisor with CONFIG_IOREQ_SERVER (Debian
#          builds it without, and a guest's first virtio access then has
#          no device model to go to).  Debian's own arm64 config, plus
#          EXPERT and IOREQ_SERVER.
#   qemu   QEMU 10.0.13's qemu-system-aarch64 with Xen (Debian builds Xen
#          support into its amd64 QEMU only): the xenpvh machine, and only
#          virtio-mmio, virtio-blk and virtio-serial; cross-built against
#          a bookworm arm64 sysroot of Xen 4.17's libraries, so that it
#          runs on the dom0 the bed boots.
#   linux  the domU's kernel, from Debian's linux-source-6.12: tinyconfig
#          plus what a Xen domU with a virtio-mmio disk, the hvc console
#          and an initramfs needs, XEN_VIRTIO=y (built-in only, and off in
#          Debian's kernels), and arm64-grant-dma.patch (why: see there).
#
# Why Xen 4.17 and not trixie's 4.20: Debian's archive serves no 4.20
# source (every xen_4.20.* source file answers 404), and the hypervisor has
# to be rebuilt; bookworm's 4.17.5+72 source is served, and so are arm64
# binaries of exactly that version for dom0.  Everything comes from Debian's
# archive through a private apt configuration ($CACHE/apt) that leaves the
# system's alone: its own sources, lists and cache, an empty dpkg status,
# arm64 as its native architecture.
#
# Usage: arm64-build.sh [xen] [qemu] [linux] [sysroot] [dom0] [libgmap]
# (none: the first three; sysroot alone only unpacks the sysroot, which
# qemu builds anyway; dom0 fetches and unpacks dom0's packages, libgmap
# cross-builds this tree: both for the boot half, arm64.sh), or
# arm64-build.sh env (the outputs' paths as shell assignments).
# Environment: XENBED_CACHE (default $top_builddir/xenbed-cache-arm64),
# XENBED_JOBS (make -j, default nproc), XENBED_NICE (niceness of the
# builds, default 0).  Each build's output goes to $CACHE/out/, under a
# name that holds its inputs' versions, and is skipped when it is there:
#
#   out/xen-<XEN_VER>-ioreq            the hypervisor (arm64 Image format)
#   out/xen-<XEN_VER>-ioreq.config
#   out/qemu-<QEMU_VER>-xen/qemu-system-aarch64
#   out/linux-<LINUX_VER>-domu/Image   (and its .config)
#   sysroot-bookworm-<XEN_VER>/        (remade when SYSROOT_PKGS change)
#   dom0-<XEN_VER>-linux-<LINUX_VER>/  (remade when DOM0_PKGS change)
#   libgmap-arm64/                     (a build tree: make runs each time)
#
# Host needs: setup.sh deps arm64 installs them (run from here when
# something is to be built).  QEMU 10
# wants meson >= 1.5 and pycotap, newer than bookworm's: they come from
# bookworm-backports through the private configuration, unpacked into the
# cache and put on PYTHONPATH, so the host's meson is left as it is.
#
# An uncached run on a bare 2-CPU machine at -j2 (its host packages
# installed by setup.sh first) took about 7 min, other builds running:
# Xen 18 s, QEMU 2 min with its source and the sysroot, Linux 4 min, dom0's
# packages 17 s, libgmap 10 s.  It fetched 340 MB (Linux's source 147 MB,
# dom0's packages 111 MB, QEMU's source 39 MB, the sysroot 31 MB) plus
# 80 MB of apt lists; a cached one does nothing, not even apt.
set -eu
BED=check-xen-arm64-build
# For die, B (the build tree); lib.sh's CACHE is the x86 beds'.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${XENBED_CACHE:-$B/xenbed-cache-arm64}
JOBS=${XENBED_JOBS:-$(nproc)}
NICE="nice -n ${XENBED_NICE:-0}"
CROSS=aarch64-linux-gnu-
MIRROR=http://deb.debian.org

# The inputs' versions.  Xen's source and its arm64 binaries (the config,
# the sysroot, later dom0's tools) must be the same version; trixie's
# point releases and security updates replace QEMU's and Linux's, and the
# mirror keeps only the current ones: bump these then.
XEN_VER=4.17.5+72-g01140da4e8-1
QEMU_VER=1:10.0.13+ds-0+deb13u1
LINUX_VER=6.12.118-1
MESON_VER=1.7.0-1~bpo12+1
PYCOTAP_VER=1.3.1-2~bpo12+1

# The arm64 sysroot QEMU is built against (bookworm: its glibc is the
# cross toolchain's, 2.36); libunwind-dev is for libgmap's own arm64
# build, which the boot half needs (the shim runs in dom0).
SYSROOT_PKGS="libxen-dev=$XEN_VER libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev \
libunwind-dev"

OUT=$CACHE/out
DL=$CACHE/dl
BLD=$CACHE/build
XEN_OUT=$OUT/xen-$XEN_VER-ioreq
QEMU_OUT=$OUT/qemu-${QEMU_VER#*:}-xen
LINUX_OUT=$OUT/linux-$LINUX_VER-domu
SYSROOT=$CACHE/sysroot-bookworm-$XEN_VER
# dom0's packages (for the boot half): the kernel's package name is its
# version's ABI name.
KVER=${LINUX_VER%-*}+deb13-arm64
DOM0_PKGS="xen-utils-4.17=$XEN_VER xen-utils-common=$XEN_VER xenstore-utils=$XEN_VER \
libxenmisc4.17=$XEN_VER busybox-static"
DOM0=$CACHE/dom0-$XEN_VER-linux-$LINUX_VER
LIBGMAP_B=$CACHE/libgmap-arm64

# Run "$@" and say how long it took (the first uncached run is about half
# an hour on 2 CPUs: which step is slow matters).
step() {
	name=$1; shift
	t0=$(date +%s)
	echo "$BED: $name ..."
	"$@"
	echo "$BED: $name: done in $(( $(date +%s) - t0 ))s"
}

# The host's packages are setup.sh's to install (PKGS_ARM64 there).
host_deps() {
	sh "$S/setup.sh" deps arm64 || die "setup.sh deps arm64 failed"
}

# ---- the private apt configuration ---------------------------------------
# bookworm (Xen 4.17 and the sysroot), bookworm-backports (meson, pycotap),
# trixie and trixie-security (QEMU's source, linux-source-6.12).  No
# bookworm-security: it carries Xen 4.17.7, whose source the mirror does
# not serve, and the Xen packages must match the source.  trixie is pinned
# below bookworm so that the sysroot stays bookworm's; its packages are
# asked for by version.
papt() { APT_CONFIG=$CACHE/apt/apt.conf "$@"; }
apt_setup() {
	A=$CACHE/apt
	mkdir -p "$A/parts" "$A/prefs" "$A/lists/partial" "$A/cache/archives/partial"
	k=/usr/share/keyrings/debian-archive-keyring.gpg
	cat >"$A/sources.list.new" <<EOF
deb [signed-by=$k] $MIRROR/debian bookworm main
deb-src [signed-by=$k] $MIRROR/debian bookworm main
deb [signed-by=$k] $MIRROR/debian bookworm-backports main
deb [signed-by=$k] $MIRROR/debian trixie main
deb-src [signed-by=$k] $MIRROR/debian trixie main
deb [signed-by=$k] $MIRROR/debian-security trixie-security main
EOF
	cat >"$A/prefs/trixie.pref" <<EOF
Package: *
Pin: release n=trixie
Pin-Priority: 100

Package: *
Pin: release n=trixie-security
Pin-Priority: 100
EOF
	cat >"$A/apt.conf" <<EOF
Dir::Etc::sourcelist "$A/sources.list";
Dir::Etc::sourceparts "$A/parts";
Dir::Etc::preferences "$A/prefs/none";
Dir::Etc::preferencesparts "$A/prefs";
Dir::State "$A";
Dir::State::Lists "$A/lists";
Dir::State::status "/dev/null";
Dir::Cache "$A/cache";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
Acquire::Languages "none";
Debug::NoLocking "true";
EOF
	# The lists are fetched again when the sources changed or they are a
	# day old (the versions above may have left the mirror by then; the
	# outputs of the builds stay cached regardless, and with all of them
	# cached apt is not run at all).  apt gives the lists the server's
	# dates: the stamp says when they were fetched.
	if ! cmp -s "$A/sources.list.new" "$A/sources.list" ||
	   [ -z "$(find "$A/updated" -mtime -1 2>/dev/null)" ]; then
		mv "$A/sources.list.new" "$A/sources.list"
		papt apt-get update -qq >"$A/update.log" 2>&1 ||
			die "apt-get update (private) failed: $(tail -3 "$A/update.log")"
		touch "$A/updated"
	fi
	rm -f "$A/sources.list.new"
}

# Download "$@" (pkg=version) into $1 unless the .debs are there already.
fetch_debs() {
	dir=$1; shift
	mkdir -p "$dir"
	(cd "$dir" && papt apt-get download "$@" >"$dir/download.log" 2>&1) ||
		die "apt-get download $* failed: $(tail -3 "$dir/download.log")"
}

# A source package, unpacked with its Debian patches applied, into $2.
fetch_source() {
	spec=$1 dst=$2
	d=$DL/src-$(echo "$spec" | tr '=:' '__')
	if ! ls "$d"/*.dsc >/dev/null 2>&1; then
		rm -rf "$d" && mkdir -p "$d"
		(cd "$d" && papt apt-get source --download-only "$spec" >"$d/download.log" 2>&1) ||
			die "apt-get source $spec failed: $(tail -3 "$d/download.log")"
	fi
	rm -rf "$dst"
	dpkg-source --no-check -x "$d"/*.dsc "$dst" >"$d/unpack.log" 2>&1 ||
		die "dpkg-source -x $spec failed: $(tail -3 "$d/unpack.log")"
	# (dpkg-source leaves links to the tarballs next to $dst.)
	find "$(dirname "$dst")" -maxdepth 1 -name '*.tar.*' -delete
}

# ---- 1. Xen --------------------------------------------------------------
build_xen() {
	hv=$DL/xen-hypervisor
	ls "$hv"/xen-hypervisor-4.17-arm64_*.deb >/dev/null 2>&1 ||
		fetch_debs "$hv" "xen-hypervisor-4.17-arm64=$XEN_VER"
	rm -rf "$hv/root" && dpkg-deb -x "$hv"/xen-hypervisor-4.17-arm64_*.deb "$hv/root"
	src=$BLD/xen
	fetch_source "xen=$XEN_VER" "$src"
	cp "$hv/root/boot/xen-4.17-arm64.config" "$src/xen/.config" ||
		die "no boot/xen-4.17-arm64.config in the hypervisor package"
	# IOREQ_SERVER's prompt is "if EXPERT && !X86".
	printf 'CONFIG_EXPERT=y\nCONFIG_IOREQ_SERVER=y\n' >>"$src/xen/.config"
	mk="make -C $src/xen XEN_TARGET_ARCH=arm64 CROSS_COMPILE=$CROSS"
	$mk olddefconfig >"$BLD/xen.log" 2>&1 || die "Xen olddefconfig failed: $(tail -5 "$BLD/xen.log")"
	grep -q '^CONFIG_IOREQ_SERVER=y' "$src/xen/.config" || die "Xen's config has no IOREQ_SERVER"
	# shellcheck disable=SC2086 # $NICE and $mk are command words
	$NICE $mk -j"$JOBS" >>"$BLD/xen.log" 2>&1 || die "Xen build failed: $(tail -15 "$BLD/xen.log")"
	mkdir -p "$OUT"
	cp "$src/xen/.config" "$XEN_OUT.config"
	cp "$src/xen/xen" "$XEN_OUT.new" && mv "$XEN_OUT.new" "$XEN_OUT"
	rm -rf "$src"
}

# ---- 2. QEMU -------------------------------------------------------------
# The sysroot: the arm64 -dev packages and everything they depend on,
# unpacked.  bookworm is not merged-/usr, and some .so links are absolute
# (libz.so -> /lib/...): those are pointed into the sysroot.
make_sysroot() {
	[ "$(cat "$SYSROOT/.done" 2>/dev/null)" = "$SYSROOT_PKGS" ] && return 0
	d=$DL/sysroot
	rm -rf "$d" && mkdir -p "$d/partial"
	# shellcheck disable=SC2086 # a list of packages
	papt apt-get install -d -y -qq --no-install-recommends \
		-o Dir::Cache::archives="$d" $SYSROOT_PKGS >"$d/download.log" 2>&1 ||
		die "sysroot download failed: $(tail -3 "$d/download.log")"
	rm -rf "$SYSROOT"
	for deb in "$d"/*.deb; do
		# The C library and kernel headers are the cross toolchain's
		# (the same glibc, 2.36): libc6-dev's libc.so and libm.so are
		# linker scripts naming /lib/aarch64-linux-gnu/..., which this
		# host does not have.
		case ${deb##*/} in
		libc6_*|libc6-dev_*|linux-libc-dev_*|libgcc-s1_*) continue ;;
		esac
		dpkg-deb -x "$deb" "$SYSROOT" || die "cannot unpack $deb"
	done
	find "$SYSROOT" -type l | while read -r l; do
		t=$(readlink "$l")
		case $t in /*) ln -sf "$SYSROOT$t" "$l" ;; esac
	done
	echo "$SYSROOT_PKGS" >"$SYSROOT/.done"
}

# meson and pycotap from bookworm-backports, unpacked (sets PYDIR).
python_deps() {
	m=$DL/meson
	PYDIR=$m/root/usr/lib/python3/dist-packages
	[ -d "$PYDIR/mesonbuild" ] && [ -f "$PYDIR/pycotap/__init__.py" ] && return 0
	fetch_debs "$m" "meson=$MESON_VER" "python3-pycotap=$PYCOTAP_VER"
	rm -rf "$m/root"
	for deb in "$m"/*.deb; do dpkg-deb -x "$deb" "$m/root" || die "cannot unpack $deb"; done
}

build_qemu() {
	make_sysroot
	python_deps
	src=$BLD/qemu
	fetch_source "qemu=$QEMU_VER" "$src"
	# Only what the bed's guest needs: configure's --with-devices-aarch64
	# takes a file of configs/devices/aarch64-softmmu/, and with
	# --without-default-devices only these and what they select are built
	# (xenpvh itself comes with CONFIG_XEN).  libfdt has no .pc file:
	# its header is found through -I, and it must be the sysroot's
	# (--disable-download: no fallback to a bundled dtc).  Debian's +ds
	# tarball has no firmware blobs, and xenpvh loads none.
	printf 'CONFIG_VIRTIO_MMIO=y\nCONFIG_VIRTIO_BLK=y\nCONFIG_VIRTIO_SERIAL=y\n' \
		>"$src/configs/devices/aarch64-softmmu/xenbed.mak"
	lib="$SYSROOT/usr/lib/aarch64-linux-gnu"
	lib2="$SYSROOT/lib/aarch64-linux-gnu"
	mkdir -p "$src/b"
	(cd "$src/b" &&
	 PYTHONPATH=$PYDIR PKG_CONFIG=pkg-config PKG_CONFIG_SYSROOT_DIR=$SYSROOT \
	 PKG_CONFIG_LIBDIR=$lib/pkgconfig:$SYSROOT/usr/share/pkgconfig \
	 ../configure --cross-prefix=$CROSS --target-list=aarch64-softmmu \
		--enable-xen --disable-tcg --disable-kvm --without-default-devices \
		--with-devices-aarch64=xenbed --disable-docs --disable-tools \
		--disable-guest-agent --disable-user --disable-download --disable-werror \
		--enable-fdt=system --disable-install-blobs --extra-cflags="-I$SYSROOT/usr/include" \
		--extra-ldflags="-L$lib -L$lib2 -Wl,-rpath-link,$lib -Wl,-rpath-link,$lib2" \
		>"$BLD/qemu-configure.log" 2>&1) ||
		die "QEMU configure failed: $(tail -15 "$BLD/qemu-configure.log")"
	(cd "$src/b" && PYTHONPATH=$PYDIR $NICE ninja -j"$JOBS" qemu-system-aarch64 \
		>"$BLD/qemu.log" 2>&1) || die "QEMU build failed: $(grep -m5 -B2 -A5 'error' "$BLD/qemu.log" | head -30)"
	# Stripped: 33 MB with its debug information, 8 MB without, and it
	# goes into dom0's initramfs.
	mkdir -p "$QEMU_OUT"
	${CROSS}strip -o "$QEMU_OUT/qemu-system-aarch64.new" "$src/b/qemu-system-aarch64"
	mv "$QEMU_OUT/qemu-system-aarch64.new" "$QEMU_OUT/qemu-system-aarch64"
	rm -rf "$src"
}

# ---- 3. the domU's kernel ------------------------------------------------
# tinyconfig plus this; each line is checked after olddefconfig, so an
# option the kernel drops (a missing dependency) fails the build here and
# not as a silent domU that never prints.
LINUX_FRAGMENT='
CONFIG_SMP=y
CONFIG_PRINTK=y
CONFIG_BUG=y
CONFIG_MULTIUSER=y
CONFIG_FUTEX=y
CONFIG_EPOLL=y
CONFIG_POSIX_TIMERS=y
CONFIG_BINFMT_ELF=y
CONFIG_BINFMT_SCRIPT=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_RD_GZIP=y
CONFIG_DEVTMPFS=y
CONFIG_PROC_FS=y
CONFIG_SYSFS=y
CONFIG_SHMEM=y
CONFIG_TMPFS=y
CONFIG_TTY=y
CONFIG_BLOCK=y
CONFIG_BLK_DEV=y
CONFIG_PARAVIRT=y
CONFIG_XEN=y
CONFIG_HVC_XEN=y
CONFIG_VIRTIO_MENU=y
CONFIG_VIRTIO_MMIO=y
CONFIG_VIRTIO_BLK=y
CONFIG_VIRTIO_CONSOLE=y
CONFIG_XEN_VIRTIO=y
CONFIG_XEN_VIRTIO_FORCE_GRANT=y
'
build_linux() {
	d=$DL/linux-source
	ls "$d"/linux-source-6.12_*.deb >/dev/null 2>&1 ||
		fetch_debs "$d" "linux-source-6.12=$LINUX_VER"
	src=$BLD/linux
	rm -rf "$src" && mkdir -p "$src"
	dpkg-deb --fsys-tarfile "$d"/linux-source-6.12_*.deb |
		tar -xO ./usr/src/linux-source-6.12.tar.xz |
		tar -xJ -C "$src" --strip-components=1 || die "cannot unpack linux-source-6.12"
	patch -d "$src" -p1 <"$HERE/arm64-grant-dma.patch" >"$BLD/linux.log" 2>&1 ||
		die "arm64-grant-dma.patch does not apply: $(cat "$BLD/linux.log")"
	mk="make -C $src ARCH=arm64 CROSS_COMPILE=$CROSS"
	echo "$LINUX_FRAGMENT" >"$BLD/domu.config"
	{ $mk tinyconfig &&
	  (cd "$src" && ARCH=arm64 scripts/kconfig/merge_config.sh -m .config "$BLD/domu.config") &&
	  $mk olddefconfig; } >>"$BLD/linux.log" 2>&1 ||
		die "kernel config failed: $(tail -5 "$BLD/linux.log")"
	for o in $LINUX_FRAGMENT; do
		grep -qx "$o" "$src/.config" || die "kernel config: $o did not stick"
	done
	# shellcheck disable=SC2086
	$NICE $mk -j"$JOBS" Image >>"$BLD/linux.log" 2>&1 ||
		die "kernel build failed: $(grep -m5 -B2 -A5 'error' "$BLD/linux.log" | head -30)"
	mkdir -p "$LINUX_OUT"
	cp "$src/.config" "$LINUX_OUT/config"
	cp "$src/arch/arm64/boot/Image" "$LINUX_OUT/Image.new" && mv "$LINUX_OUT/Image.new" "$LINUX_OUT/Image"
	rm -rf "$src"
}

# ---- 4. dom0's packages --------------------------------------------------
# Not a build: what the boot half (arm64.sh) puts into dom0, unpacked into
# $DOM0.  Debian's arm64 kernel (its Image boots as it is; trixie's, the
# domU kernel's version) and bookworm's Xen tools at the hypervisor's
# version (xen-utils wants libxenmisc at its own), with everything they
# depend on from an empty status, as the sysroot: the boot half takes
# from it only the programs it names and the libraries their NEEDED
# entries reach.  The kernel is downloaded alone: asked for by version
# through apt-get install, its dependencies would be resolved against
# bookworm.
build_dom0() {
	d=$DL/dom0
	rm -rf "$d" && mkdir -p "$d/partial"
	# shellcheck disable=SC2086 # a list of packages
	papt apt-get install -d -y -qq --no-install-recommends \
		-o Dir::Cache::archives="$d" $DOM0_PKGS >"$d/install.log" 2>&1 ||
		die "dom0 packages: download failed: $(tail -3 "$d/install.log")"
	fetch_debs "$d" "linux-image-$KVER=$LINUX_VER"
	rm -rf "$DOM0"
	for deb in "$d"/*.deb; do
		dpkg-deb -x "$deb" "$DOM0" || die "cannot unpack $deb"
	done
	echo "$DOM0_PKGS linux-image-$KVER=$LINUX_VER" >"$DOM0/.done"
}

# ---- 5. libgmap for arm64 ------------------------------------------------
# This tree, cross-built out of tree in $LIBGMAP_B against the sysroot
# (libxen-dev, libunwind-dev).  Not cached by version: it is the code
# under test; configure runs once, make then rebuilds what changed.
build_libgmap() {
	make_sysroot
	lib="$SYSROOT/usr/lib/aarch64-linux-gnu"
	lib2="$SYSROOT/lib/aarch64-linux-gnu"
	mkdir -p "$LIBGMAP_B"
	# Configured again from scratch when configure changed: its own
	# recheck would not see the sysroot (see make below).
	if [ ! -f "$LIBGMAP_B/config.status" ] ||
	   [ "$S/configure" -nt "$LIBGMAP_B/config.status" ]; then
		(cd "$LIBGMAP_B" &&
		 PKG_CONFIG_SYSROOT_DIR=$SYSROOT \
		 PKG_CONFIG_LIBDIR=$lib/pkgconfig:$SYSROOT/usr/share/pkgconfig \
		 "$S/configure" --host=aarch64-linux-gnu --disable-werror \
			CPPFLAGS="-I$SYSROOT/usr/include" \
			LDFLAGS="-L$lib -L$lib2 -Wl,-rpath-link,$lib -Wl,-rpath-link,$lib2" \
			>"$BLD/libgmap-configure.log" 2>&1) || {
			rm -f "$LIBGMAP_B/config.status"
			die "libgmap configure failed: $(tail -15 "$BLD/libgmap-configure.log")"
		}
	fi
	# The same pkg-config settings for make: when configure.ac changed,
	# make reruns configure (config.status --recheck), which keeps
	# PKG_CONFIG_LIBDIR but not PKG_CONFIG_SYSROOT_DIR; without it the
	# flags name the host's directories (no libunwind.h for arm64).
	# shellcheck disable=SC2086
	(cd "$LIBGMAP_B" && PKG_CONFIG_SYSROOT_DIR=$SYSROOT \
	 PKG_CONFIG_LIBDIR=$lib/pkgconfig:$SYSROOT/usr/share/pkgconfig \
	 $NICE make -j"$JOBS" >"$BLD/libgmap.log" 2>&1) ||
		die "libgmap build failed: $(grep -m5 -B2 -A5 'error' "$BLD/libgmap.log" | head -30)"
}

# ---- main ----------------------------------------------------------------
# "env": the outputs' paths, as shell assignments for the boot half.
if [ "${1:-}" = env ]; then
	for v in XEN_VER LINUX_VER KVER XEN_OUT QEMU_OUT LINUX_OUT SYSROOT DOM0 LIBGMAP_B; do
		val=
		eval "val=\$$v"
		printf "%s='%s'\n" "$v" "$val"
	done
	exit 0
fi
what=${*:-xen qemu linux}
mkdir -p "$CACHE" "$DL" "$BLD"
ready=
for w in $what; do
	case $w in
	xen)   out=$XEN_OUT ;;
	qemu)  out=$QEMU_OUT/qemu-system-aarch64 ;;
	linux) out=$LINUX_OUT/Image ;;
	sysroot) out= ;;
	dom0)  out=$DOM0/usr/lib/xen-4.17/bin/xl ;;
	libgmap) out=$LIBGMAP_B/libgmap/.libs/libgmap-preload.so ;;
	*) die "unknown build $w (xen, qemu, linux, sysroot, dom0 or libgmap)" ;;
	esac
	# dom0 is remade when its package list changes, libgmap whenever
	# make finds something to do.
	[ "$w" = dom0 ] && [ "$(cat "$DOM0/.done" 2>/dev/null)" != \
		"$DOM0_PKGS linux-image-$KVER=$LINUX_VER" ] && rm -f "$out"
	if [ "$w" = libgmap ]; then
		if [ "$(cat "$SYSROOT/.done" 2>/dev/null)" != "$SYSROOT_PKGS" ] && [ -z "$ready" ]; then
			step "host packages" host_deps; step "apt lists (private)" apt_setup; ready=1
		fi
		step "libgmap build (arm64)" build_libgmap
	elif [ "$w" = sysroot ]; then
		[ "$(cat "$SYSROOT/.done" 2>/dev/null)" = "$SYSROOT_PKGS" ] ||
			{ step "host packages" host_deps; step "apt lists (private)" apt_setup; ready=1; }
		step "sysroot" make_sysroot
		echo "$BED: sysroot: $SYSROOT, $(du -sm "$SYSROOT" | cut -f1) MiB"
		continue
	elif [ -f "$out" ]; then
		echo "$BED: $w: cached ($out)"
	else
		if [ -z "$ready" ]; then
			step "host packages" host_deps
			step "apt lists (private)" apt_setup
			ready=1
		fi
		step "$w build" "build_$w"
	fi
	f=$(file -b "$out")
	case $f in
	*"ARM64 boot executable Image"*|*"ARM aarch64"*) ;;
	*) die "$w: $out is not an arm64 image or program: $f" ;;
	esac
	echo "$BED: $w: $(echo "$f" | cut -d, -f1-2), $(stat -c %s "$out") bytes"
done
