#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# deb.sh - the Debian packages (debian/): built from the committed tree
# with dpkg-buildpackage, checked with lintian (no error allowed; the
# warnings are listed), installed on this machine, and used as a user
# would: the installed gmap-stress's self-check, every tool's --version,
# the manual pages found by man, and examples/devmodel.c compiled against
# the installed libgmap-dev with pkg-config and run.  The packages are
# removed at the end (KEEP=1 keeps them).  Needs root, a Debian 12 and
# apt (it installs debhelper and lintian if missing).  make check-deb runs
# it; .ci/run too.
#
#   tests/deb.sh [OUTDIR]     (default: build/deb)
#
# DEB_FROM_WORKTREE=1 builds from the work tree as it is (tracked and new
# files, not ignored ones) instead of the last commit.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/deb}
say() { echo "deb.sh: $*"; }
fail() { echo "deb.sh: FAIL: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root: it installs the packages it builds"
git -C "$top" rev-parse --git-dir >/dev/null 2>&1 ||
	fail "$top is not a git tree: the packages are built from the committed tree"
need=
for p in debhelper lintian dpkg-dev fakeroot pkg-config man-db; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		need="$need $p"
done
if [ -n "$need" ]; then
	say "installing:$need"
	apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $need >/dev/null
fi

rm -rf "$out"
mkdir -p "$out/src"
if [ "${DEB_FROM_WORKTREE:-0}" = 1 ]; then
	(cd "$top" && git ls-files -co --exclude-standard -z |
		tar --null -T - -c) | tar -x -C "$out/src"
	from="the work tree"
else
	git -C "$top" archive HEAD | tar -x -C "$out/src"
	from=$(git -C "$top" rev-parse --short HEAD)
fi
say "building from $from in $out/src"
(cd "$out/src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 ||
	{ tail -40 "$out/build.log"; fail "dpkg-buildpackage failed (log: $out/build.log)"; }
ls "$out"/*.deb >/dev/null 2>&1 || fail "no package was built"
for p in libgmap0 libgmap-dev gmap-tools; do
	ls "$out/${p}_"*.deb >/dev/null 2>&1 || fail "package $p was not built"
done
say "built: $(cd "$out" && ls ./*.deb | tr '\n' ' ')"

# lintian: errors fail; warnings and info are printed, for the notes.
lintian --fail-on error --info "$out"/*.changes >"$out/lintian.txt" 2>&1 ||
	{ cat "$out/lintian.txt"; fail "lintian reports errors"; }
errors=$(grep -c "^E: " "$out/lintian.txt" || true)
warnings=$(grep -c "^W: " "$out/lintian.txt" || true)
say "lintian: $errors errors, $warnings warnings"
grep "^W: " "$out/lintian.txt" || true

cleanup() {
	[ "${KEEP:-0}" = 1 ] ||
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq \
			gmap-tools libgmap-dev libgmap0 >/dev/null 2>&1 || true
}
trap cleanup EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	"$out"/libgmap0_*.deb "$out"/libgmap-dev_*.deb "$out"/gmap-tools_*.deb \
	>"$out/install.log" 2>&1 ||
	{ cat "$out/install.log"; fail "the packages do not install"; }
version=$(sed -n 's/^libgmap (\([^)]*\)).*/\1/p;q' "$top/debian/changelog")
say "installed $version"

# The tools, from /usr/bin: their version, and the self-check.
for t in gmap-stress gmap-run gmap-simdom gmap-xengrant gmap-top; do
	[ "$(command -v $t)" = "/usr/bin/$t" ] || fail "$t is not installed in /usr/bin"
	v=$($t --version) || fail "$t --version: status $?"
	case "$v" in *"$version"*) ;; *) fail "$t --version says '$v', not $version" ;; esac
	man -w "$t" >/dev/null 2>&1 || fail "man finds no page for $t"
done
for page in gmap_open gmap_pin gmap_sim_inject gmap_pattern_diff libgmap; do
	man -w "$page" >/dev/null 2>&1 || fail "man finds no page for $page"
done
(cd / && /usr/bin/gmap-stress -d 1 -q) >"$out/stress.txt" 2>&1 ||
	{ cat "$out/stress.txt"; fail "the installed gmap-stress failed"; }
grep -q "^failures: none$" "$out/stress.txt" ||
	{ cat "$out/stress.txt"; fail "the installed gmap-stress did not end in 'failures: none'"; }
say "installed gmap-stress: $(grep '^ran' "$out/stress.txt")"
# The installed gmap-top sees the installed gmap-stress's window, published
# in the default directory (GMAP_RUNTIME_DIR unset).
(cd / && env -u GMAP_RUNTIME_DIR /usr/bin/gmap-stress -d 3 -q -p 1024 --max-mapped 256) \
	>"$out/stress-top.txt" 2>&1 &
spid=$!
n=0
until env -u GMAP_RUNTIME_DIR gmap-top -b -n 1 --json -p "$spid" >"$out/top.json" 2>&1 &&
	grep -q '"comm":"gmap-stress"' "$out/top.json"; do
	n=$((n + 1))
	[ $n -lt 50 ] || { kill "$spid"; cat "$out/top.json"; fail "timed out after 5 s: the installed gmap-top does not list the installed gmap-stress"; }
	sleep 0.1
done
wait "$spid" || { cat "$out/stress-top.txt"; fail "gmap-stress under gmap-top failed"; }
say "installed gmap-top: lists the installed gmap-stress ($(grep -o '"file":"[^"]*"' "$out/top.json"))"

# gmap-run finds the installed shim by itself, and the shim loads.
shim="$(pkg-config --variable=libdir libgmap)/libgmap/libgmap-preload.so"
[ -f "$shim" ] || fail "no preload shim at $shim"
gmap-run -b xen -v -- true >"$out/run.txt" 2>&1 ||
	{ cat "$out/run.txt"; fail "gmap-run -b xen -- true failed"; }
grep -q "LD_PRELOAD *$shim" "$out/run.txt" ||
	{ cat "$out/run.txt"; fail "gmap-run does not preload $shim"; }

# A program built against the installed libgmap-dev, with pkg-config only.
cc -std=gnu11 -Wall -Wextra -Werror $(pkg-config --cflags libgmap) \
	-o "$out/devmodel" "$top/examples/devmodel.c" \
	$(pkg-config --libs libgmap) || fail "examples/devmodel.c does not build against libgmap-dev"
lib=$(ldd "$out/devmodel" | awk '$1 == "libgmap.so.0" { print $3 }')
# /lib is /usr/lib on Debian 12 (merged /usr): ask dpkg whose file it is.
dpkg -S "$(readlink -f "$lib")" 2>/dev/null | grep -q "^libgmap0:" ||
	fail "devmodel loads $lib, not libgmap0's libgmap.so.0"
"$out/devmodel" >"$out/devmodel.txt" 2>&1 ||
	{ cat "$out/devmodel.txt"; fail "devmodel built against the packages failed"; }
grep -q "the backend's reply reached guest memory" "$out/devmodel.txt" ||
	fail "devmodel: no reply reached the guest"
say "examples/devmodel.c, built with pkg-config against libgmap-dev: passed"

# A backend of one's own, against libxengnttab and the installed
# <gmap-pattern.h> (examples/backend.c), and the installed example served
# through the installed gmap-run from the installed gmap-simdom's guest.
cc -std=gnu11 -Wall -Wextra -Werror -DPACKAGE_VERSION='"own"' \
	$(pkg-config --cflags libgmap xengnttab) -o "$out/backend" \
	"$top/examples/backend.c" $(pkg-config --libs xengnttab) ||
	fail "examples/backend.c does not build against the installed headers"
sock="$out/d5.sock"
gmap-simdom serve -D -S "$sock" -d 5 >/dev/null || fail "gmap-simdom serve"
sdq() { gmap-simdom -S "$sock" "$@" >/dev/null; }
sdq grant 0-15 0 0 rw && sdq fill 0-15 11 || fail "gmap-simdom grant/fill"
gmap-run -S "$sock" -d 5 -- gmap-example-backend 5 0 8 >"$out/example.txt" 2>&1 ||
	{ cat "$out/example.txt"; sdq quit; fail "gmap-example-backend under gmap-run"; }
gmap-run -S "$sock" -d 5 -- "$out/backend" 5 8 8 >>"$out/example.txt" 2>&1 ||
	{ cat "$out/example.txt"; sdq quit; fail "an own build of examples/backend.c under gmap-run"; }
sdq check 0-15 12 || { sdq quit; fail "the replies did not reach the guest"; }
sdq end 0-15 || { sdq quit; fail "a grant was left mapped"; }
gmap-simdom -S "$sock" quit | grep -q "^ok in-use 0" || fail "pages left in use"
say "gmap-example-backend and an own build of it, under the installed gmap-run: 16 requests served"
say "PASS"
