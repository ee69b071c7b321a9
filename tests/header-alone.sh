#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The public headers compile on their own, in C11 and in C++.
set -e
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#include <gmap.h>\nint main(void) { struct gmap_stats st; (void)st; return GMAP_PAGE_SIZE != 4096; }\n' > "$tmp/a.c"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -pedantic $XENTOOLLOG_CFLAGS \
	-I"$top_srcdir/libgmap" -c "$tmp/a.c" -o "$tmp/a.o"
cp "$tmp/a.c" "$tmp/a.cc"
if command -v c++ >/dev/null; then
	c++ -Wall -Wextra -Werror $XENTOOLLOG_CFLAGS -I"$top_srcdir/libgmap" \
		-c "$tmp/a.cc" -o "$tmp/b.o"
fi
# ... and so does the simulated guest's.
printf '#include <gmap-sim.h>\nint main(void) { struct gmap_sim_ref_info i; (void)i; return GMAP_SIM_INJECT_NONE; }\n' > "$tmp/s.c"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -pedantic -I"$top_srcdir/libgmap" \
	-c "$tmp/s.c" -o "$tmp/s.o"
if command -v c++ >/dev/null; then
	cp "$tmp/s.c" "$tmp/s.cc"
	c++ -Wall -Wextra -Werror -I"$top_srcdir/libgmap" -c "$tmp/s.cc" -o "$tmp/t.o"
fi
# ... and the pattern of gmap-simdom's fill and check.
printf '#include <gmap-pattern.h>\nint main(void) { unsigned char p[GMAP_PATTERN_PAGE]; gmap_pattern_fill(p, 1, 2); return gmap_pattern_diff(p, 1, 2) != GMAP_PATTERN_PAGE; }\n' > "$tmp/p.c"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -pedantic -I"$top_srcdir/libgmap" \
	-o "$tmp/p" "$tmp/p.c"
"$tmp/p" || { echo "FAIL: gmap-pattern.h: a filled page does not check"; exit 1; }
if command -v c++ >/dev/null; then
	cp "$tmp/p.c" "$tmp/p.cc"
	c++ -Wall -Wextra -Werror -I"$top_srcdir/libgmap" -c "$tmp/p.cc" -o "$tmp/q.o"
fi
echo "gmap.h, gmap-sim.h and gmap-pattern.h compile alone (C11$(command -v c++ >/dev/null && echo ', C++'))"
