#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The public header compiles on its own, in C11 and in C++.
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
echo "gmap.h compiles alone (C11$(command -v c++ >/dev/null && echo ', C++'))"
