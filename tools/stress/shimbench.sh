#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# shimbench.sh - make bench's mapcache rows: tools/stress/shimbench under
# gmap-run, against a gmap-simdom that grants it a ring of 64 writable refs
# and one of 64 read-only refs.  Run by make bench after gmap-stress
# --bench; by hand, from the build tree:
# top_builddir=. sh ../tools/stress/shimbench.sh [REQUESTS]

: "${top_builddir:=.}"
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
"$top_builddir/tools/gmap-run" --preload "$shim" -S "$S" -d $D -- \
	"$top_builddir/tools/stress/shimbench" ${1:+-n "$1"} $D 11 0 $RING \
	$RING || exit 1
# Nothing left mapped: a grant the shim kept would flatter its row.
"$simdom" -S "$S" quit >"$T/quit" 2>&1
trap 'rm -rf "$T"' EXIT
grep -q '^ok in-use 0' "$T/quit" ||
	{ echo "shimbench: grants left mapped: $(cat "$T/quit")" >&2; exit 1; }
