#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tools.sh - what every installed tool owes its user (issue 15, "Finish
# the tools"): --version with the package's version; GMAP_BACKEND
# honoured or refused with a line naming it; help texts with no printf
# leftovers ("%%") and, for gmap-xengrant, every placeholder; man -l
# rendering every page of man/ (the alias pages are symbolic links,
# installed as such: Makefile.am's man3_links); each error said once.
# The tools left out by configure (T_XEN, T_PRELOAD) are skipped, saying
# so.  By hand, from the build tree:
# top_builddir=. top_srcdir=.. sh ../tests/tools.sh

: "${top_builddir:=.}"
: "${top_srcdir:=..}"
stress="$top_builddir/tools/gmap-stress"
simdom="$top_builddir/tools/gmap-simdom"
run="$top_builddir/tools/gmap-run"
xengrant="$top_builddir/tools/gmap-xengrant"
T=$(mktemp -d)
trap '"$simdom" -S "$T/s.sock" quit >/dev/null 2>&1; rm -rf "$T"' EXIT
unset GMAP_BACKEND GMAP_LOG GMAP_MAX_MAPPED GMAP_SIM_SOCKET GMAP_DOMID

fail() {
	echo "tools.sh: FAIL: $*"
	for f in out err; do
		[ -s "$T/$f" ] && sed "s/^/  $f| /" "$T/$f"
	done
	exit 1
}
ok() { echo "ok: $*"; }
# t ARGS...: run a command; its status in $rc, its output in $T/out and
# $T/err.
t() { "$@" >"$T/out" 2>"$T/err"; rc=$?; }
# status N WHAT: the last command exited with N.
status() { [ "$rc" -eq "$1" ] || fail "$2: status $rc, expected $1"; }
# said TEXT WHAT: standard error has TEXT, on exactly one line.
said() {
	n=$(grep -c -F -e "$1" "$T/err")
	[ "$n" -eq 1 ] || fail "$2: \"$1\" on $n lines of standard error, expected 1"
}
# lines N WHAT: standard error has N lines, none twice.
lines() {
	n=$(wc -l <"$T/err")
	[ "$n" -eq "$1" ] || fail "$2: $n lines on standard error, expected $1"
	[ -z "$(sort "$T/err" | uniq -d)" ] || fail "$2: a line said twice"
}

version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' \
	"$top_builddir/config.h")
[ -n "$version" ] || fail "no PACKAGE_VERSION in $top_builddir/config.h"

tools="$stress $simdom $top_builddir/tools/gmap-top"
if [ "${T_PRELOAD:-yes}" = yes ]; then
	tools="$tools $run"
else
	echo "skipped: gmap-run is not built (configure --enable-preload)"
fi
if [ "${T_XEN:-yes}" = yes ]; then
	tools="$tools $xengrant"
else
	echo "skipped: gmap-xengrant is not built (configure --with-xen)"
fi
for p in $tools; do
	[ -x "$p" ] || fail "$p is missing: run make first"
done

# 1, 3. --version: "NAME VERSION", status 0; --help lists it, and has no
# "%%" (a usage text printed with fputs is not a format).
for p in $tools; do
	name=${p##*/}
	t "$p" --version
	status 0 "$name --version"
	[ "$(cat "$T/out")" = "$name $version" ] ||
		fail "$name --version said \"$(cat "$T/out")\", expected \"$name $version\" (config.h)"
	t "$p" --help
	status 0 "$name --help"
	grep -q -e "--version" "$T/out" || fail "$name --help does not list --version"
	! grep -q "%%" "$T/out" || fail "$name --help prints a literal %%"
done
names=$(for p in $tools; do printf ' %s' "${p##*/}"; done)
ok "--version prints \"NAME $version\" (config.h) and exits 0, --help lists it and has no %%:$names"
t "$stress" --help
grep -q "A% of accesses go to P% of pages" "$T/out" ||
	fail "gmap-stress --help: no \"A% of accesses go to P% of pages\""
ok "gmap-stress --help: --hot reads \"A% of accesses go to P% of pages\""

# 2. GMAP_BACKEND.  gmap-stress: the default of --backend; a bad value is
# refused by name, with status 2, as its other usage errors.
t env GMAP_BACKEND=bogus "$stress" -q -t 1 -p 64 -n 100
status 2 "GMAP_BACKEND=bogus gmap-stress"
said "GMAP_BACKEND 'bogus': expected sim or xen" "GMAP_BACKEND=bogus gmap-stress"
lines 1 "GMAP_BACKEND=bogus gmap-stress"
ok "gmap-stress refuses GMAP_BACKEND=bogus: status 2, \"$(cat "$T/err")\""
for b in sim SIM; do
	t env GMAP_BACKEND=$b "$stress" -q -t 1 -p 64 -n 1000
	status 0 "GMAP_BACKEND=$b gmap-stress"
	grep -q "^gmap-stress: sim backend," "$T/out" ||
		fail "GMAP_BACKEND=$b gmap-stress: not on the sim backend"
	grep -q "^failures: none$" "$T/out" ||
		fail "GMAP_BACKEND=$b gmap-stress: failures"
done
ok "gmap-stress honours GMAP_BACKEND=sim (and SIM): a clean run on sim"
# xen where there is none: what libgmap says then proves it was asked.
if [ "${T_XEN:-yes}" != yes ]; then
	want="the xen backend was not built"
elif [ ! -e /dev/xen/gntdev ]; then
	want="/dev/xen/gntdev"
else
	want=
	echo "skipped: GMAP_BACKEND=xen gmap-stress: this is a Xen host"
fi
if [ -n "$want" ]; then
	t env GMAP_BACKEND=xen "$stress" -q -t 1 -p 64 -n 100
	status 2 "GMAP_BACKEND=xen gmap-stress"
	said "$want" "GMAP_BACKEND=xen gmap-stress"
	lines 1 "GMAP_BACKEND=xen gmap-stress"
	ok "gmap-stress honours GMAP_BACKEND=xen: \"$(cat "$T/err")\""
fi
t env GMAP_BACKEND=xen "$stress" -b sim -q -t 1 -p 64 -n 1000
status 0 "GMAP_BACKEND=xen gmap-stress -b sim"
grep -q "^gmap-stress: sim backend," "$T/out" ||
	fail "GMAP_BACKEND=xen gmap-stress -b sim: not on the sim backend"
ok "gmap-stress: -b sim wins over GMAP_BACKEND=xen"
t env GMAP_BACKEND=xen "$stress" --bench --bench-pages 256
status 2 "GMAP_BACKEND=xen gmap-stress --bench"
said "GMAP_BACKEND 'xen': expected sim" "GMAP_BACKEND=xen gmap-stress --bench"
ok "gmap-stress --bench (sim only) refuses GMAP_BACKEND=xen"

# gmap-simdom: its domain is mapped through the sim backend only.
for b in xen bogus; do
	t env GMAP_BACKEND=$b "$simdom" -S "$T/none.sock" info
	status 2 "GMAP_BACKEND=$b gmap-simdom"
	said "GMAP_BACKEND '$b' is not valid: expected sim" "GMAP_BACKEND=$b gmap-simdom"
	lines 1 "GMAP_BACKEND=$b gmap-simdom"
	# Bounded: a server that took the value would serve on.
	t timeout 10 env GMAP_BACKEND=$b "$simdom" serve -S "$T/s.sock"
	status 2 "GMAP_BACKEND=$b gmap-simdom serve"
	said "GMAP_BACKEND '$b' is not valid: expected sim" "GMAP_BACKEND=$b gmap-simdom serve"
	[ ! -e "$T/s.sock" ] || fail "GMAP_BACKEND=$b gmap-simdom serve: started"
done
t env GMAP_BACKEND=Sim "$simdom" serve -D -S "$T/s.sock" -d 5 --frames 16 \
	--grants 16
status 0 "GMAP_BACKEND=Sim gmap-simdom serve -D"
t env GMAP_BACKEND=sim "$simdom" -S "$T/s.sock" info
status 0 "GMAP_BACKEND=sim gmap-simdom info"
grep -q "^ok domid=5 " "$T/out" || fail "GMAP_BACKEND=sim gmap-simdom info"
t "$simdom" -S "$T/s.sock" quit
status 0 "gmap-simdom quit"
ok "gmap-simdom serves and answers with GMAP_BACKEND=sim, refuses xen and bogus, server and client"

# gmap-xengrant: real Xen grants, which the command maps on xen only.
if [ "${T_XEN:-yes}" = yes ]; then
	for b in sim bogus; do
		t env GMAP_BACKEND=$b "$xengrant" -n 1 -- true
		status 2 "GMAP_BACKEND=$b gmap-xengrant"
		said "GMAP_BACKEND '$b' is not valid: expected xen" "GMAP_BACKEND=$b gmap-xengrant"
		lines 1 "GMAP_BACKEND=$b gmap-xengrant"
	done
	t env GMAP_BACKEND=xen "$xengrant" -n 1 -- true
	! grep -q GMAP_BACKEND "$T/err" || fail "GMAP_BACKEND=xen gmap-xengrant refused"
	ok "gmap-xengrant refuses GMAP_BACKEND=sim and bogus (status 2), takes xen"
fi

# gmap-run: the shim it loads refuses a bad value, once.
if [ "${T_PRELOAD:-yes}" = yes ]; then
	GMAP_PRELOAD="$(cd "$top_builddir" && pwd)/libgmap/.libs/libgmap-preload.so"
	export GMAP_PRELOAD
	t env GMAP_BACKEND=bogus "$run" -- true
	status 2 "GMAP_BACKEND=bogus gmap-run"
	said "GMAP_BACKEND='bogus' is not valid" "GMAP_BACKEND=bogus gmap-run"
	[ -z "$(sort "$T/err" | uniq -d)" ] || fail "GMAP_BACKEND=bogus gmap-run: a line said twice"
	ok "gmap-run refuses GMAP_BACKEND=bogus, said once"
fi

# 4. gmap-xengrant's placeholders, each in --help and in its man page.
for ph in first count refs rrefs ro ended; do
	grep -q -F ".B {$ph}" "$top_srcdir/man/gmap-xengrant.1" ||
		fail "man/gmap-xengrant.1 does not list {$ph}"
	if [ "${T_XEN:-yes}" = yes ]; then
		t "$xengrant" --help
		grep -q -F "  {$ph} " "$T/out" ||
			fail "gmap-xengrant --help does not list {$ph}"
	fi
done
ok "gmap-xengrant's {first} {count} {refs} {rrefs} {ro} {ended}: each in man/gmap-xengrant.1$([ "${T_XEN:-yes}" = yes ] && echo " and in --help")"

# 7. Each error said once: one bad value, one line.
t env GMAP_MAX_MAPPED=0 "$stress" -q -t 1 -p 64 -n 100
status 2 "GMAP_MAX_MAPPED=0 gmap-stress"
said "GMAP_MAX_MAPPED='0' is not valid" "GMAP_MAX_MAPPED=0 gmap-stress"
lines 1 "GMAP_MAX_MAPPED=0 gmap-stress"
t env GMAP_MAX_MAPPED=0 "$stress" --bench --bench-pages 256
status 2 "GMAP_MAX_MAPPED=0 gmap-stress --bench"
said "GMAP_MAX_MAPPED='0' is not valid" "GMAP_MAX_MAPPED=0 gmap-stress --bench"
lines 1 "GMAP_MAX_MAPPED=0 gmap-stress --bench"
t "$stress" -t 0
status 2 "gmap-stress -t 0"
lines 1 "gmap-stress -t 0"
ok "gmap-stress: a window libgmap refuses to open (GMAP_MAX_MAPPED=0, run and --bench) and -t 0: one line each"
t "$simdom" -S "$T/none.sock" info
status 2 "gmap-simdom without a server"
said "cannot connect to $T/none.sock" "gmap-simdom without a server"
lines 1 "gmap-simdom without a server"
ok "gmap-simdom without a server: one line"
if [ "${T_XEN:-yes}" = yes ]; then
	t "$xengrant" -n 0 -- true
	status 2 "gmap-xengrant -n 0"
	said "--count '0' is not valid: expected a number from 1 to 1000" "gmap-xengrant -n 0"
	lines 1 "gmap-xengrant -n 0"
	t "$xengrant"
	status 2 "gmap-xengrant without a command"
	said "no command to run" "gmap-xengrant without a command"
	lines 1 "gmap-xengrant without a command"
	t "$xengrant" -- true {ro}
	status 2 "gmap-xengrant {ro} without --ro"
	said "{ro} needs --ro" "gmap-xengrant {ro} without --ro"
	lines 1 "gmap-xengrant {ro} without --ro"
	ok "gmap-xengrant: -n 0, no command, {ro} without --ro: one line each, status 2"
fi
if [ "${T_PRELOAD:-yes}" = yes ]; then
	t env GMAP_LOG=bogus "$run" -b xen -- true
	status 2 "GMAP_LOG=bogus gmap-run"
	said "GMAP_LOG='bogus' is not valid" "GMAP_LOG=bogus gmap-run"
	[ -z "$(sort "$T/err" | uniq -d)" ] || fail "GMAP_LOG=bogus gmap-run: a line said twice"
	t "$run" -b bogus -n 0 -- true
	status 2 "gmap-run -b bogus -n 0"
	said "GMAP_BACKEND='bogus' is not valid" "gmap-run -b bogus -n 0"
	said "GMAP_NR_REFS='0' is not valid" "gmap-run -b bogus -n 0"
	said "2 bad settings" "gmap-run -b bogus -n 0"
	[ -z "$(sort "$T/err" | uniq -d)" ] || fail "gmap-run -b bogus -n 0: a line said twice"
	ok "gmap-run: GMAP_LOG=bogus, and -b bogus -n 0: each bad setting named once"
fi

# 5. man -l renders every page of man/, the alias pages too (symbolic
# links; a .so line there would be read from the current directory and
# fail), each alias is one of Makefile.am's man3_links, which are
# installed as links, and points where that list says.
links=$(sed -n '/^man3_links = /,/[^\\]$/p' "$top_srcdir/Makefile.am" |
	tr -d '\\' | sed 's/^man3_links = //')
[ -n "$links" ] || fail "no man3_links in $top_srcdir/Makefile.am"
for f in "$top_srcdir"/man/*; do
	[ -h "$f" ] || continue
	a=${f##*/}
	want=$(for l in $links; do [ "${l%%=*}" = "$a" ] && echo "${l#*=}"; done)
	[ -n "$want" ] || fail "man/$a is a link, but not in Makefile.am's man3_links: it would not be installed"
	[ "$(readlink "$f")" = "$want" ] ||
		fail "man/$a points to $(readlink "$f"), man3_links says $want"
done
# (In a tarball, tar has stored each alias as a copy of its page.)
for l in $links; do
	a="$top_srcdir/man/${l%%=*}"
	[ -h "$a" ] || cmp -s "$a" "$top_srcdir/man/${l#*=}" ||
		fail "man3_links has ${l%%=*}, which is neither a link in man/ nor a copy of ${l#*=}"
done
ok "man/'s alias pages are links, each as Makefile.am's man3_links installs it"
if ! command -v man >/dev/null 2>&1; then
	echo "SKIP: no man: man -l of every page not checked (apt-get install man-db)"
	exit 77
fi
pages=0
for f in "$top_srcdir"/man/*.[1-8]; do
	name=${f##*/}
	MANWIDTH=80 MANPAGER=cat PAGER=cat man -l "$f" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -eq 0 ] && [ ! -s "$T/err" ] || fail "man -l man/$name: status $rc"
	grep -q "^NAME" "$T/out" && grep -q -F -e "${name%.*}" "$T/out" ||
		fail "man -l man/$name: no NAME section naming ${name%.*}"
	pages=$((pages + 1))
done
ok "man -l renders all $pages pages of man/, nothing on standard error"
echo "tools.sh: PASS"
