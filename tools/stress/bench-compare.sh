#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench-compare.sh BASE [BUILDDIR]: `make bench-compare BASE=<git rev>`.
# Did a change make any `make bench` figure worse?  Builds gmap-stress at
# BASE apart (git archive into a temp dir under BUILDDIR, configured as
# BUILDDIR was, removed at the end) and the tree BUILDDIR builds, runs the
# two `--bench` alternately BENCH_ROUNDS times (default 3), so that both
# see the same machine and the same load, and prints each row's median
# figure, BASE against current.  The figure is the row's ratio, or its
# value for rows with no baseline.  A row whose figure moved the wrong way
# for its target ("<=": up, ">=": down) by more than BENCH_NOISE percent
# (default 15) is named at the end; rows with no target are only reported.
# It parses --bench's text, which every revision prints, so that BASE
# needs nothing newer.  BENCH_ARGS: more arguments for both runs (e.g.
# --bench-pages 4096).  Exits 0 whatever the figures (it is a report);
# 1 if a build or a run fails.
set -eu

[ $# -ge 1 ] || { echo "usage: $0 BASE [BUILDDIR]" >&2; exit 2; }
base=$1
builddir=$(cd "${2:-.}" && pwd)
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${BENCH_ROUNDS:-3}
noise=${BENCH_NOISE:-15}
noise=${noise%\%}
case $rounds in ''|0|*[!0-9]*)
	echo "bench-compare: BENCH_ROUNDS=$rounds?" >&2; exit 2 ;;
esac
case $noise in ''|*[!0-9.]*)
	echo "bench-compare: BENCH_NOISE=$noise?" >&2; exit 2 ;;
esac
make=${MAKE:-make}
jobs=$(nproc 2>/dev/null || echo 2)
# Run from make, the builds below are not its sub-makes: no jobserver to
# share and none of its command-line variables (BASE=...) to inherit.
unset MAKEFLAGS MFLAGS MAKELEVEL

rev=$(git -C "$srcdir" rev-parse --verify --quiet "$base^{commit}") ||
	{ echo "bench-compare: $base is not a commit in $srcdir" >&2; exit 1; }
tmp=$(mktemp -d "$builddir/bench-compare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

fail() {
	[ ! -f "$2" ] || tail -n 30 "$2" >&2
	echo "bench-compare: $1 failed" >&2
	exit 1
}

# BASE, configured with this build's options (a sanitizer or a compiler
# changes every figure), and only what gmap-stress needs.
echo "bench-compare: building BASE $base ($rev) in $tmp" >&2
git -C "$srcdir" archive -o "$tmp/base.tar" "$rev" || fail "git archive" ""
mkdir "$tmp/src" && tar -xf "$tmp/base.tar" -C "$tmp/src"
cfg=$(cd "$builddir" && ./config.status --config)
( cd "$tmp/src" && ./autogen.sh && mkdir build && cd build &&
  eval "../configure $cfg" && $make -j"$jobs" tools/gmap-stress ) \
	>"$tmp/build.log" 2>&1 || fail "building BASE $base" "$tmp/build.log"
echo "bench-compare: building the current tree in $builddir" >&2
$make -C "$builddir" -j"$jobs" tools/gmap-stress >"$tmp/build.log" 2>&1 ||
	fail "building the current tree" "$tmp/build.log"

# One at a time, alternately: a load that comes and goes falls on both.
run() {
	# shellcheck disable=SC2086 # BENCH_ARGS is split on purpose
	"$2" --bench ${BENCH_ARGS:-} >"$tmp/$1" 2>"$tmp/err" ||
		fail "$2 --bench" "$tmp/err"
}
i=1
set --
while [ "$i" -le "$rounds" ]; do
	echo "bench-compare: round $i of $rounds: BASE, then current" >&2
	run base.$i "$tmp/src/build/tools/gmap-stress"
	run current.$i "$builddir/tools/gmap-stress"
	# Current first: the table follows the current rows' order.
	set -- "$@" side=1 "$tmp/current.$i" side=0 "$tmp/base.$i"
	i=$((i + 1))
done

echo "bench-compare: BASE $base ($(git -C "$srcdir" rev-parse --short "$rev"))" \
	"vs the current tree, median of $rounds alternating runs each"
awk -v noise="$noise" '
# A row is a line between the header and the latency line.  Its name
# fills the first column, up to where the header says "libgmap"; then
#   lib unit base unit ratio target [met|MISSED] [note]   (ratio rows)
#   value unit - - target [met|MISSED]                    (value rows)
#   not measured note
FNR == 1 { w = 0; split("", seen) }
/^benchmark / { w = index($0, "libgmap") - 2; next }
/^first-touch latency/ { w = 0 }
w <= 0 { next }
{
	name = substr($0, 1, w)
	sub(/ +$/, "", name)
	n = split(substr($0, w + 1), t, " ")
	key = name SUBSEP (++seen[name])  # some names occur twice
	if (name !~ /^ /)
		parent = name
	if (!(key in full)) {
		order[++nkeys] = key
		sub_row = name
		sub(/^ +/, "", sub_row)
		full[key] = name ~ /^ / ? parent " / " sub_row : name
	}
	if (t[1] == "not" && t[2] == "measured")
		next
	k = t[3] == "-" ? 5 : 6
	fig = t[3] == "-" ? t[1] : t[5]
	unit[key] = t[3] == "-" ? " " t[2] : "x"
	sub(/x$/, "", fig)
	target[key] = t[k]
	if (t[k] != "-")
		for (j = k + 1; j <= n && t[j] != "met" && t[j] != "MISSED"; j++)
			target[key] = target[key] " " t[j]
	v[side, key, ++nv[side, key]] = fig + 0
}
function median(s, key,   n, i, j, x, a) {
	n = nv[s, key]
	if (!n)
		return ""
	for (i = 1; i <= n; i++) {
		x = v[s, key, i]
		for (j = i - 1; j >= 1 && a[j] > x; j--)
			a[j + 1] = a[j]
		a[j + 1] = x
	}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function show(x, u) {
	if (x == "")
		return "n/a"
	return u == "x" ? sprintf("%.2fx", x) : sprintf("%.3g%s", x, u)
}
END {
	printf "%-44s %-9s %13s %13s %7s\n", "benchmark", "target", "BASE",
	       "current", "change"
	for (i = 1; i <= nkeys; i++) {
		key = order[i]
		split(key, nm, SUBSEP)
		b = median(0, key)
		c = median(1, key)
		ch = b != "" && c != "" && b != 0 ? c / b : ""
		op = substr(target[key], 1, 2)
		bad = ch != "" && (op == "<=" && ch > 1 + noise / 100 ||
				   op == ">=" && ch < 1 - noise / 100)
		if (bad)
			worse = worse (worse ? "; " : "") full[key]
		printf "%-44s %-9s %13s %13s %7s%s\n", nm[1], target[key],
		       show(b, unit[key]), show(c, unit[key]),
		       ch == "" ? "-" : sprintf("%.2f", ch), bad ? "  WORSE" : ""
	}
	printf "worse than BASE by more than %s%% (\"<=\" targets: higher, " \
	       "\">=\" targets: lower): %s\n", noise, worse ? worse : "none"
}' "$@"
