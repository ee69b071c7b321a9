#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# setup.sh - install what is missing, build, and run.
#
#   ./setup.sh run     install, build, run the self-check on the sim backend
#   ./setup.sh check   install, build, run the whole test suite, then again
#                      under ASan+UBSan and under TSan
#   ./setup.sh deps    only install the Debian packages
#   ./setup.sh deps arm64
#                      ... and those of the arm64 bed's cross builds and
#                      boot (make check-xen-arm64), which nothing else needs
#   ./setup.sh build   only install and build (in ./build)
#
# Works as root on a bare Debian 12; as another user it uses sudo for
# apt-get when packages are missing.
set -eu
cd "$(dirname "$0")"

# qemu-system-x86 and cpio: the real-Xen test bed (make check-xen).  The
# QEMU stage (make check-xen-qemu) runs Debian's qemu-system-xen and Xen's
# tools inside the bed: they are fetched into its cache, and the shared
# libraries they load come from this machine (the last line, with
# libxen-dev's).  libclang-rt-14-dev: libFuzzer and clang's sanitizer
# runtimes (make fuzz), only recommended by clang, so not installed with it.
# jq and tmux: tests/top.sh reads gmap-top's JSON, and drives its live view
# on a terminal.
PKGS="build-essential autoconf automake libtool pkg-config clang \
libclang-rt-14-dev libxen-dev libunwind-dev libcunit1-dev qemu-system-x86 cpio \
libfdt1 libglib2.0-0 libjpeg62-turbo libpixman-1-0 libspice-server1 \
libusb-1.0-0 libyajl2 libncurses6 jq tmux"
# The arm64 bed (tests/xenbed/arm64-build.sh, arm64.sh): the cross
# toolchain with its C library (libc6-dev-arm64-cross is only recommended
# by gcc-aarch64-linux-gnu: without it, the cross builds find the host's
# headers), what Xen's, QEMU's and Linux's builds run on the host,
# dpkg-source for Debian's source packages, and the host's
# qemu-system-aarch64 that boots the result.
PKGS_ARM64="gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu \
flex bison libelf-dev bc libssl-dev ninja-build python3-venv dpkg-dev xz-utils file \
qemu-system-arm"

deps() {
	want=$PKGS
	[ "${1:-}" = arm64 ] && want="$want $PKGS_ARM64"
	missing=
	for p in $want; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "setup.sh: installing:$missing"
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

build() {
	deps
	[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] ||
		./autogen.sh
	mkdir -p build
	[ -f build/Makefile ] || (cd build && ../configure --quiet)
	make -C build -j"$(nproc)" --no-print-directory
}

case "${1:-}" in
deps) deps "${2:-}" ;;
build) build ;;
run)
	build
	# The main job: 5 s of verified faults from every CPU (gmap-stress(1)).
	./build/tools/gmap-stress
	;;
check)
	build
	# All three suites run, whatever the first ones say, and each is
	# reported: a failure in the plain suite must not hide what the
	# sanitizers would have found.
	failed=
	make -C build -j"$(nproc)" --no-print-directory check || failed="$failed plain"
	make -C build --no-print-directory check-asan || failed="$failed asan"
	make -C build --no-print-directory check-tsan || failed="$failed tsan"
	for s in plain asan tsan; do
		case " $failed " in
		*" $s "*) echo "setup.sh check: $s suite: FAIL" ;;
		*) echo "setup.sh check: $s suite: PASS" ;;
		esac
	done
	[ -z "$failed" ]
	;;
*)
	echo "usage: ./setup.sh run|check|deps [arm64]|build" >&2
	exit 2
	;;
esac
