#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench-plot.sh [CSV]: `make bench-plot`.  Draws the table of
# `gmap-stress --bench --csv` as bench.png (each row's ratio as a bar on a
# log scale, its target marked where it judges the ratio, the verdict as
# the colour) and the first-touch latency histograms as bench-hist.png
# (libgmap's first touch against the kernel's own fault), in the current
# directory, with gnuplot (tools/stress/bench-plot.gp).
#
# With no CSV (and BENCH_CSV empty) it first runs
# "$top_builddir/tools/gmap-stress --bench --csv bench.csv $BENCH_ARGS",
# which takes minutes at the default size; with one it only redraws.
# GNUPLOT names the gnuplot to run (default: gnuplot).  The CSV is
# parsed here (awk), so gnuplot reads plain tab-separated data: a name
# may hold commas and quotes, as RFC 4180 allows; a field may not hold a
# line break (gmap-stress writes none).  Exits 1 if gnuplot is missing,
# the CSV is not gmap-stress's, or a step fails.
set -eu

me=bench-plot
here=$(cd "$(dirname "$0")" && pwd)
gnuplot=${GNUPLOT:-gnuplot}
csv=${1:-${BENCH_CSV:-}}

# First: the benchmark takes minutes, the answer a moment.
command -v "$gnuplot" >/dev/null 2>&1 || {
	echo "$me: $gnuplot is not installed: apt-get install gnuplot-nox" >&2
	exit 1
}
if [ -z "$csv" ]; then
	csv=bench.csv
	# shellcheck disable=SC2086  # BENCH_ARGS is a list of arguments
	"${top_builddir:-.}/tools/gmap-stress" --bench --csv "$csv" \
		${BENCH_ARGS:-} || exit 1
fi
[ -r "$csv" ] || { echo "$me: $csv: cannot be read" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# CSV -> $tmp/rows.tsv (one line per row, first row first: its number,
# ratio, bar from/to, the target where it judges the ratio, the colour's
# index; NaN where there is none), $tmp/tics.gp (the rows' names and
# labels, as tic labels), $tmp/libgmap.tsv and $tmp/kernel.tsv (bucket
# low, high, count) with their outlines (.line: x, y), and $tmp/vars.gp
# (the axes' ranges, the histograms' titles and percentiles).
# shellcheck disable=SC2016  # awk's $ are awk's
CSV=$csv DIR=$tmp awk '
function fail(msg) {
	printf "%s: %s: %s\n", "bench-plot", ENVIRON["CSV"], msg > "/dev/stderr"
	bad = 1
	exit 1
}
# Split one CSV line into f[1..n] (RFC 4180: "..." quotes, "" inside is a
# quote); returns n, or -1 for a quote left open.
function split_csv(line, f,    n, i, c, q, field) {
	n = 0; field = ""; q = 0
	for (i = 1; i <= length(line); i++) {
		c = substr(line, i, 1)
		if (q) {
			if (c != "\"")
				field = field c
			else if (substr(line, i + 1, 1) == "\"") {
				field = field "\""; i++
			} else
				q = 0
		} else if (c == "\"")
			q = 1
		else if (c == ",") {
			f[++n] = field; field = ""
		} else
			field = field c
	}
	f[++n] = field
	return q ? -1 : n
}
# A gnuplot string: single quotes, in which only a quote is special.
function gq(s) { gsub(/\047/, "\047\047", s); return "\047" s "\047" }
function num(s) { return s == "" ? "NaN" : s + 0 }
function log10(x) { return log(x) / log(10) }
function floor(x) { return x == int(x) || x > 0 ? int(x) : int(x) - 1 }
# The powers of ten around @x: the axes start and end on one.
function lo10(x) { return 10 ^ floor(log10(x)) }
function hi10(x) { return 10 ^ -floor(-log10(x)) }
function fmt_ns(ns) {
	return ns < 1e3 ? sprintf("%d ns", ns) : ns < 1e6 ? \
		sprintf("%.3g us", ns / 1e3) : sprintf("%.3g ms", ns / 1e6)
}
# The sample at @pct percent in series @s, as hist.c finds it: the bound
# of the bucket it falls in.
function pct(s, p,    want, seen, i) {
	want = int(p / 100 * hn[s] + 0.5)
	if (want < 1)
		want = 1
	for (i = 1; i <= hb[s]; i++) {
		seen += hc[s, i]
		if (seen >= want)
			return hh[s, i]
	}
	return hh[s, hb[s]]
}
BEGIN {
	dir = ENVIRON["DIR"]
	split("kind name libgmap baseline unit ratio target verdict limit " \
	      "judged note low_ns high_ns count", need, " ")
	xmin = xmax = 1
	floor_y = 0.7  # where the histograms start: a log axis has no 0
}
{ sub(/\r$/, "") }
NR == 1 {
	ncol = split_csv($0, f)
	for (i = 1; i <= ncol; i++)
		col[f[i]] = i
	for (i = 1; i in need; i++)
		if (!(need[i] in col))
			fail("no column \"" need[i] "\" in the header: " \
			     "not written by gmap-stress --bench --csv")
	next
}
{
	n = split_csv($0, f)
	if (n < 0)
		fail("line " NR ": a quote is left open")
	if (n != ncol)
		fail("line " NR ": " n " fields, the header has " ncol)
	kind = f[col["kind"]]
}
kind == "row" {
	r = ++rows
	name = f[col["name"]]; ratio = f[col["ratio"]]
	target = f[col["target"]]; verdict = f[col["verdict"]]
	note = f[col["note"]]
	colour = verdict == "met" ? 2 : verdict == "missed" ? 3 : 1
	if (verdict == "not measured")
		label = "not measured" (note != "" ? ": " note : "")
	else if (ratio != "") {
		label = sprintf("%.2fx", ratio)
		# "ratio: x faster": the ratio is baseline / libgmap.
		if (note ~ /^ratio: x /)
			label = label " " substr(note, 10)
	} else
		label = sprintf("%.3g %s", f[col["libgmap"]], f[col["unit"]])
	if (target != "")
		label = label "   " target " " verdict
	limit = f[col["judged"]] == "ratio" ? num(f[col["limit"]]) : "NaN"
	if (ratio == "" || ratio + 0 <= 0) {
		ratio = lo = hi = "NaN"
	} else {
		ratio += 0
		lo = ratio < 1 ? ratio : 1
		hi = ratio < 1 ? 1 : ratio
		if (ratio < xmin) xmin = ratio
		if (ratio > xmax) xmax = ratio
	}
	if (limit != "NaN" && limit > 0) {
		if (limit < xmin) xmin = limit
		if (limit > xmax) xmax = limit
	}
	printf "%d\t%s\t%s\t%s\t%s\t%d\n", r, ratio, lo, hi, limit, \
		colour > (dir "/rows.tsv")
	ytics = ytics (r > 1 ? ", " : "") gq(name) " " r
	y2tics = y2tics (r > 1 ? ", " : "") gq(label) " " r
	next
}
kind == "hist" {
	s = f[col["name"]]
	if (s != "libgmap" && s != "kernel")
		fail("line " NR ": a histogram of \"" s "\": expected " \
		     "libgmap or kernel")
	lo = f[col["low_ns"]] + 0; hi = f[col["high_ns"]] + 0
	c = f[col["count"]] + 0
	# A log axis has no 0: the first bucket, [0, 1) ns, starts at 0.5.
	if (lo <= 0)
		lo = hi / 2
	i = ++hb[s]
	hh[s, i] = hi; hc[s, i] = c; hn[s] += c
	if (!hmin || lo < hmin) hmin = lo
	if (hi > hmax) hmax = hi
	if (c > cmax) cmax = c
	printf "%s\t%s\t%s\n", lo, hi, c > (dir "/" s ".tsv")
	# Its outline too, down to the floor between buckets apart: where
	# the other series is drawn over it, the outline still shows it.
	o = dir "/" s ".line"
	if (!(s in ph))
		printf "%s\t%s\n", lo, floor_y > o
	else if (lo != ph[s])
		printf "%s\t%s\n%s\t%s\n", ph[s], floor_y, lo, floor_y > o
	printf "%s\t%s\n%s\t%s\n", lo, c, hi, c > o
	ph[s] = hi
	next
}
{ fail("line " NR ": kind \"" kind "\": expected row or hist") }
END {
	if (bad)
		exit 1
	if (!rows)
		fail("no row lines")
	if (!hn["libgmap"] || !hn["kernel"])
		fail("no hist lines of both libgmap and kernel")
	v = dir "/vars.gp"
	printf "nrows = %d\nxmin = %.6g\nxmax = %.6g\n", rows, \
		lo10(xmin * 0.8), hi10(xmax * 1.25) > v
	printf "set ytics (%s)\nset y2tics (%s)\n", ytics, \
		y2tics > (dir "/tics.gp")
	printf "hxmin = %.6g\nhxmax = %.6g\nhymax = %.6g\n", lo10(hmin), \
		hi10(hmax), hi10(cmax * 2) > v
	printf "floor_y = %s\n", floor_y > v
	for (k = 1; k <= 2; k++) {
		s = k == 1 ? "libgmap" : "kernel"
		printf "%s\t%s\n", ph[s], floor_y > (dir "/" s ".line")
		printf "%s_p50 = %d\n%s_p99 = %d\n", s, pct(s, 50), s, \
			pct(s, 99) > v
		t = sprintf("%s: %d samples, p50 %s, p99 %s", s == "libgmap" ? \
			    "libgmap, handler thread" : "kernel fault", hn[s], \
			    fmt_ns(pct(s, 50)), fmt_ns(pct(s, 99)))
		printf "%s_title = %s\n", s, gq(t) > v
	}
}
' "$csv" || exit 1

# gnuplot reads its file names from strings: a quote in one is doubled.
gstr() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }
"$gnuplot" -e "dir = $(gstr "$tmp"); out_bench = 'bench.png';
	out_hist = 'bench-hist.png'" "$here/bench-plot.gp" || exit 1
echo "$me: bench.png and bench-hist.png, from $csv"
