# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench-plot.gp: the two pictures of `make bench-plot`, from the data
# tools/stress/bench-plot.sh made of gmap-stress's CSV.  Run by it as
#   gnuplot -e "dir = '...'; out_bench = '...'; out_hist = '...'" bench-plot.gp
# dir holds rows.tsv, tics.gp, libgmap.tsv, kernel.tsv, libgmap.line,
# kernel.line and vars.gp
# (bench-plot.sh says what each holds).

set datafile separator "\t"
load dir.'/vars.gp'
# Small pictures, for the README: libgd's PNG, a palette of few colours,
# is a third of cairo's antialiased one.  Names are shown as they are:
# GMAP_FAULT_THREAD is no subscript.
set terminal png size 900,540 font "DejaVuSans,8" noenhanced

# ---- bench.png: a bar per row, from 1x to its ratio --------------------
set output out_bench
set title "gmap-stress --bench: libgmap against the baseline, row by row\n(a bar: libgmap / baseline, unless its label says faster or fewer; no bar: a value with no baseline)"
set logscale x
set xrange [xmin:xmax]
set format x "%gx"
set xlabel "ratio (log scale)"
set grid xtics
# First row on top, its name on the left, indented as in the table (so
# left-aligned); on the right (y2tics) its figure, target and verdict.
load dir.'/tics.gp'
set yrange [nrows + 0.6:0.4]
set link y2
set lmargin 47
set ytics scale 0 nomirror left offset -46, 0
set y2tics scale 0
set border 1
set key bottom right opaque box
set linetype 11 lc rgb "#8fa8c8"
set linetype 12 lc rgb "#2e8b57"
set linetype 13 lc rgb "#d62728"
set arrow 1 from 1, graph 0 to 1, graph 1 nohead lc rgb "#404040" lw 1
plot dir.'/rows.tsv' using 2:1:3:4:($1 - 0.36):($1 + 0.36):($6 + 10) \
	with boxxyerror fs solid 0.85 noborder lc variable notitle, \
	'' using 5:($1 - 0.46):(0):(0.92) with vectors nohead lw 3 \
	lc rgb "black" title "target", \
	keyentry with boxes fs solid 0.85 lt 12 title "met", \
	keyentry with boxes fs solid 0.85 lt 13 title "missed", \
	keyentry with boxes fs solid 0.85 lt 11 title "no target"

# ---- bench-hist.png: first-touch latency, libgmap against the kernel ----
reset
set datafile separator "\t"
set terminal png size 900,500 font "DejaVuSans,9" noenhanced
set output out_hist
set title "first touch of a page: through the window (1 page a fault, a handler thread)\nagainst the kernel's own write fault on the same guest pages"
set logscale xy
set xrange [hxmin:hxmax]
set yrange [floor_y:hymax]
set xtics ("1 ns" 1, "10 ns" 10, "100 ns" 100, "1 us" 1e3, "10 us" 1e4, \
	"100 us" 1e5, "1 ms" 1e6, "10 ms" 1e7, "100 ms" 1e8, "1 s" 1e9)
set mxtics 10
set format y "%g"
# The tics name the unit; an x label would sit under the key.
set ylabel "samples per bucket (an eighth of an octave)"
set grid xtics ytics
set key below vertical
# libgd draws no dashes: a percentile is a line in its series' colour,
# named at the top.
set style fill solid 0.6 noborder
do for [a in "libgmap_p50 libgmap_p99 kernel_p50 kernel_p99"] {
	x = value(a)
	c = a[1:3] eq "lib" ? "#1f5fa8" : "#c86400"
	set arrow from x, graph 0 to x, graph 1 nohead lw 1 lc rgb c
	set label a[strstrt(a, "_") + 1:] at x, graph 0.97 offset 0.4, 0 \
		left tc rgb c
}
plot dir.'/libgmap.tsv' using (sqrt($1 * $2)):3:1:2:(floor_y):3 \
	with boxxyerror lc rgb "#1f5fa8" title libgmap_title, \
	dir.'/kernel.tsv' using (sqrt($1 * $2)):3:1:2:(floor_y):3 \
	with boxxyerror lc rgb "#c86400" title kernel_title, \
	dir.'/libgmap.line' using 1:2 with lines lc rgb "#1f5fa8" notitle, \
	dir.'/kernel.line' using 1:2 with lines lc rgb "#c86400" notitle
