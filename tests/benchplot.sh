#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# benchplot.sh - make bench-plot's path (issue 15, "Pictures"):
# gmap-stress --bench --csv (and --bench-rows) refuses what it cannot do
# in one line with status 2; --bench-rows runs only the rows it names; the
# CSV of a small --bench (--bench-pages 256, about 7 s on 2
# CPUs) has its header, a line per row of the text table with the same
# names, every line as many fields as the header, and both histograms;
# tools/stress/bench-plot.sh draws two PNGs from it, refuses a CSV that
# is not gmap-stress's, and says to install gnuplot-nox where gnuplot is
# missing.  With no gnuplot the CSV is still checked, then the test is
# skipped (77), saying so; under TSan, after the refusals.  By hand, from
# the build tree:
# top_builddir=. top_srcdir=.. sh ../tests/benchplot.sh

: "${top_builddir:=.}"
: "${top_srcdir:=..}"
stress="$top_builddir/tools/gmap-stress"
plot="$(cd "$top_srcdir" && pwd)/tools/stress/bench-plot.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset GMAP_BACKEND GMAP_LOG GMAP_MAX_MAPPED BENCH_CSV BENCH_ARGS GNUPLOT

fail() {
	echo "benchplot.sh: FAIL: $*"
	for f in out err; do
		[ -s "$T/$f" ] && sed "s/^/  $f| /" "$T/$f"
	done
	exit 1
}
ok() { echo "ok: $*"; }
t() { "$@" >"$T/out" 2>"$T/err"; rc=$?; }
status() { [ "$rc" -eq "$1" ] || fail "$2: status $rc, expected $1"; }
# one TEXT WHAT: standard error is one line, and has TEXT.
one() {
	[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q -F -e "$1" "$T/err" ||
		fail "$2: expected one line with \"$1\" on standard error"
}
# fields FILE: the number of fields of each line of FILE (RFC 4180
# quoting, as gmap-stress writes it), one a line.
fields() {
	awk '{
		n = 1; q = 0
		for (i = 1; i <= length($0); i++) {
			c = substr($0, i, 1)
			if (c == "\"") q = !q
			else if (c == "," && !q) n++
		}
		print q ? -1 : n
	}' "$1"
}

[ -x "$stress" ] || fail "$stress is missing: run make first"

# 1. Refusals, before anything is measured.
t "$stress" --csv "$T/a.csv"
status 2 "gmap-stress --csv without --bench"
one "needs --bench" "gmap-stress --csv without --bench"
[ ! -e "$T/a.csv" ] || fail "gmap-stress --csv without --bench wrote the file"
t "$stress" --bench --csv "$T/no/such/dir/b.csv"
status 2 "gmap-stress --bench --csv into a missing directory"
one "--csv $T/no/such/dir/b.csv: No such file or directory" \
	"gmap-stress --bench --csv into a missing directory"
[ ! -s "$T/out" ] || fail "gmap-stress --bench --csv into a missing directory: benchmarked anyway"
t "$stress" --bench-rows "hit path"
status 2 "gmap-stress --bench-rows without --bench"
one "needs --bench" "gmap-stress --bench-rows without --bench"
t "$stress" --bench --bench-rows "no such row" --csv "$T/c.csv"
status 2 "gmap-stress --bench --bench-rows 'no such row'"
one "no benchmark row's name contains 'no such row'" \
	"gmap-stress --bench --bench-rows 'no such row'"
[ ! -s "$T/out" ] && [ ! -e "$T/c.csv" ] ||
	fail "gmap-stress --bench --bench-rows 'no such row': benchmarked anyway"
ok "gmap-stress refuses --csv and --bench-rows without --bench, an unwritable --csv FILE and a --bench-rows TEXT no row has, one line each, status 2"
# Under TSan the benchmark cannot run: its 16 TiB window does not fit
# TSan's layout of the address space (ASan's run takes as long as a plain
# one).
if [ "${T_SANITIZER:-no}" = tsan ]; then
	echo "SKIP: gmap-stress --bench under TSan: no room for its 16 TiB window; the refusals are checked"
	exit 77
fi

# 2. The CSV of a small run, against its own text table.
csv="$T/bench.csv"
t "$stress" --bench --bench-pages 256 --csv "$csv"
status 0 "gmap-stress --bench --bench-pages 256 --csv"
cp "$T/out" "$T/table"
header="kind,name,libgmap,baseline,unit,ratio,target,verdict,limit,judged,note,low_ns,high_ns,count"
[ "$(head -n 1 "$csv")" = "$header" ] || fail "the CSV's header is not \"$header\""
nrow=$(grep -c '^row,' "$csv")
[ "$nrow" -ge 1 ] || fail "no row line in the CSV"
for s in libgmap kernel; do
	grep -q "^hist,$s," "$csv" || fail "no hist line of $s in the CSV"
done
[ "$(fields "$csv" | sort -u)" = 14 ] ||
	fail "lines of the CSV with other than the header's 14 fields: $(fields "$csv" | sort | uniq -c | tr '\n' ' ')"
[ -z "$(grep -v -e '^row,' -e '^hist,' "$csv" | sed 1d)" ] ||
	fail "lines of the CSV neither row nor hist"
# The table's lines between its header and the latency line are the rows.
tab=$(sed -n '/^benchmark /,/^first-touch latency/p' "$T/table" | sed '1d;$d' |
	cut -c1-44 | sed 's/ *$//')
names=$(grep '^row,' "$csv" | sed -e 's/^row,"\([^"]*\)",.*/\1/' \
	-e 't' -e 's/^row,\([^,]*\),.*/\1/')
[ "$tab" = "$names" ] || fail "the CSV's row names are not the table's: $(printf '%s\n' "$tab" "---" "$names")"
grep -q '^row,"first touch, 1 page/fault vs kernel fault",' "$csv" ||
	fail "a name with a comma is not quoted"
ok "the CSV: its header, $nrow rows named as the table's, both histograms, 14 fields a line"

# Only the rows asked for: the one row that holds "hit path", in the
# table and in the CSV, and no histogram (the first-touch row's).
t "$stress" --bench --bench-pages 256 --bench-rows "hit path" --csv "$T/hit.csv"
status 0 "gmap-stress --bench --bench-rows 'hit path'"
rows=$(sed -n '/^benchmark /,$p' "$T/out" | sed 1d)
[ "$(printf '%s\n' "$rows" | grep -c 'hit path')" -eq 1 ] &&
	[ "$(printf '%s\n' "$rows" | wc -l)" -eq 1 ] ||
	fail "--bench-rows 'hit path': the table is not its one row: $rows"
[ "$(grep -c '^row,' "$T/hit.csv")" -eq 1 ] &&
	[ "$(grep -c '^row,hit path' "$T/hit.csv")" -eq 1 ] &&
	! grep -q '^hist,' "$T/hit.csv" ||
	fail "--bench-rows 'hit path': the CSV is not its one row"
ok "--bench-rows 'hit path' measured its one row and nothing else"

# 3. No gnuplot: one line that says what to install.
t env GNUPLOT=/nonexistent/gnuplot sh "$plot" "$csv"
status 1 "bench-plot.sh with no gnuplot"
one "apt-get install gnuplot-nox" "bench-plot.sh with no gnuplot"
ok "bench-plot.sh without gnuplot: \"$(cat "$T/err")\""

if ! command -v gnuplot >/dev/null 2>&1; then
	echo "SKIP: gnuplot is not installed (apt-get install gnuplot-nox): the CSV is checked, the pictures are not drawn"
	exit 77
fi

# 4. The pictures, from the CSV (no second run), in a directory of their own.
mkdir "$T/plot"
t sh -c 'cd "$1" && sh "$2" "$3"' sh "$T/plot" "$plot" "$csv"
status 0 "bench-plot.sh $csv"
sig=$(printf '\211PNG\r\n\032\n' | od -An -tx1)
for p in bench.png bench-hist.png; do
	[ -s "$T/plot/$p" ] || fail "bench-plot.sh drew no $p"
	[ "$(head -c 8 "$T/plot/$p" | od -An -tx1)" = "$sig" ] ||
		fail "$p does not start with PNG's signature"
done
ok "bench-plot.sh drew bench.png ($(wc -c <"$T/plot/bench.png") bytes) and bench-hist.png ($(wc -c <"$T/plot/bench-hist.png") bytes)"

# 5. A name with quotes and commas is one field; a short line is refused.
{
	head -n 1 "$csv"
	echo 'row,"a ""quoted"", name",1,2,us,0.5,<= 1x,met,1,ratio,"x, y",,,'
	grep '^hist,' "$csv"
} >"$T/quoted.csv"
t sh -c 'cd "$1" && sh "$2" "$3"' sh "$T/plot" "$plot" "$T/quoted.csv"
status 0 "bench-plot.sh on a name with quotes and commas"
{
	cat "$csv"
	echo 'row,short,1,2'
} >"$T/short.csv"
t sh -c 'cd "$1" && sh "$2" "$3"' sh "$T/plot" "$plot" "$T/short.csv"
status 1 "bench-plot.sh on a short line"
one "4 fields, the header has 14" "bench-plot.sh on a short line"
sed 1d "$csv" >"$T/headless.csv"
t sh -c 'cd "$1" && sh "$2" "$3"' sh "$T/plot" "$plot" "$T/headless.csv"
status 1 "bench-plot.sh on a CSV with no header"
one "not written by gmap-stress --bench --csv" "bench-plot.sh on a CSV with no header"
ok "bench-plot.sh: quoted fields read whole; a short line and a missing header refused, one line each"
