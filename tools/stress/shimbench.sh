#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# shimbench.sh - make bench's mapcache rows: tools/stress/shimbench under
# gmap-run, against a gmap-simdom that grants it a ring of 64 writable refs
# and one of 64 read-only refs.  Run by make bench after gmap-stress
# --bench; by hand, from the build tree:
# top_builddir=. sh ../tools/stress/shimbench.sh [REQUESTS]
#
# With --instructions [DEPTH] (make bench-instr), the instructions the
# shim and libgmap run per request instead, with DEPTH requests in flight
# (default 1): callgrind over shimbench -x, counting only inside the two
# interposed calls (map and unmap), divided by the calls the shim's
# report counted.  Unlike a time, the count is the same from run to run
# and machine to machine (of one architecture), so it shows a change of
# a few percent that the timed rows, here and on the arm64 bed, cannot.

: "${top_builddir:=.}"
instr=
if [ "${1:-}" = --instructions ]; then
	instr=${2:-1}
	case $instr in
	''|*[!0-9]*) echo "shimbench: --instructions DEPTH: not a number: $instr" >&2
		exit 2 ;;
	esac
	command -v valgrind >/dev/null ||
		{ echo "shimbench: --instructions needs valgrind (apt-get install valgrind)" >&2; exit 2; }
fi
# T_PRELOAD (make bench): whether configure built the shim and gmap-run.
if [ "${T_PRELOAD:-yes}" != yes ]; then
	echo "shimbench: not measured: the preload shim is not built (configure --enable-preload)"
	exit 0
fi
simdom="$top_builddir/tools/gmap-simdom"
shim="$(cd "$top_builddir" && pwd)/libgmap/.libs/libgmap-preload.so"
D=7
RING=64
T=$(mktemp -d)
S="$T/simdom.sock"
trap '"$simdom" -S "$S" quit >/dev/null 2>&1; rm -rf "$T"' EXIT

"$simdom" serve -D -S "$S" -d $D --frames $((2 * RING)) \
	--grants $((2 * RING)) --log "$T/simdom.log" >/dev/null || exit 1
"$simdom" -S "$S" - >"$T/setup" <<SETUP || exit 1
grant 0-$((RING - 1)) 0 0 rw
grant $RING-$((2 * RING - 1)) $RING 0 ro
fill 0-$((2 * RING - 1)) 11
SETUP
if grep -q '^error' "$T/setup"; then
	cat "$T/setup" >&2
	exit 1
fi
if [ -n "$instr" ]; then
	# The shim preloaded by hand, as gmap-run would set it up, with a
	# window of 4096 refs: valgrind cannot reserve the default 64 GiB
	# (then the shim's maps fail with EINVAL, and the count is of
	# nothing).
	GMAP_REPORT="$T/report" GMAP_SIM_SOCKET="$S" GMAP_DOMID=$D \
	GMAP_NR_REFS=4096 GMAP_PUBLISH=no LD_PRELOAD="$shim" \
	valgrind -q --tool=callgrind \
		--callgrind-out-file="$T/cg.out" \
		--toggle-collect=xengnttab_map_domain_grant_refs \
		--toggle-collect=xengnttab_unmap \
		"$top_builddir/tools/stress/shimbench" -x -D "$instr" -n 1000 \
		$D 11 0 $RING $RING $RING >"$T/out" 2>&1 ||
		{ cat "$T/out" >&2; exit 1; }
	ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$T/cg.out")
	calls=$(sed -n 's/.*xengnttab_map_domain_grant_refs calls=\([0-9]*\).*/\1/p' \
		"$T/report" | head -n 1)
	[ -n "$ir" ] && [ "${calls:-0}" -gt 0 ] ||
		{ echo "shimbench: no count: callgrind summary '$ir', calls '$calls'" >&2; exit 1; }
	echo "shimbench: $((ir / calls)) instructions a request in the shim and libgmap (the map and the unmap of 1 grant, $instr in flight; $ir in $calls requests, callgrind)"
else
	"$top_builddir/tools/gmap-run" --preload "$shim" -S "$S" -d $D -- \
		"$top_builddir/tools/stress/shimbench" ${1:+-n "$1"} $D 11 0 \
		$RING $RING || exit 1
fi
# Nothing left mapped: a grant the shim kept would flatter its row.
"$simdom" -S "$S" quit >"$T/quit" 2>&1
trap 'rm -rf "$T"' EXIT
grep -q '^ok in-use 0' "$T/quit" ||
	{ echo "shimbench: grants left mapped: $(cat "$T/quit")" >&2; exit 1; }
