#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Exactly the symbols of the version script are exported, each under the
# version node that lists it (LIBGMAP_0.1, or LIBGMAP_0.2 for what 0.2
# added).
set -e
so=$(ls "$top_builddir"/libgmap/.libs/libgmap.so.* | head -n1)
map="$top_srcdir/libgmap/libgmap.map"
exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ {print $3}' |
	grep -v '^LIBGMAP_' | sort)
listed=$(awk '/^LIBGMAP_[0-9.]+ *[{]/ { node = $1 }
	/^[ \t]*gmap_[a-z0-9_]*;/ { sub(/^[ \t]*/, ""); sub(/;.*/, "");
		print $0 "@@" node }' "$map" | sort)
bad=0
if [ "$exported" != "$listed" ]; then
	echo "exported symbols (<) differ from libgmap.map's (>):"
	echo "$exported" > exported.tmp; echo "$listed" > listed.tmp
	diff exported.tmp listed.tmp || true
	rm -f exported.tmp listed.tmp
	bad=1
fi
[ $bad -eq 0 ] && echo "$(echo "$exported" | wc -l) symbols exported, each under its node:" \
	"$(echo "$exported" | sed 's/.*@@//' | sort | uniq -c | awk '{ printf "%s%s in %s", s, $1, $2; s = ", " }')"

# The preload shim: exactly the calls of preload.map, each under the
# version Debian's library gives it (or a program's reference to, say,
# xengnttab_open@VERS_1.0 would not bind to it), and nothing of libgmap.
if [ "${T_PRELOAD:-yes}" != yes ]; then
	echo "the preload shim is not built (configure --enable-preload): its exports not checked"
	exit $bad
fi
so="$top_builddir/libgmap/.libs/libgmap-preload.so"
map="$top_srcdir/libgmap/preload/preload.map"
shim=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ {print $3}' |
	grep -v '^VERS_\|^GMAP_PRELOAD_' | sort)
listed=$(sed -n 's/^[[:space:]]*\([a-z_0-9]*\);.*/\1/p' "$map" | sort)
if [ "$(echo "$shim" | sed 's/@.*//' | sort)" != "$listed" ]; then
	echo "libgmap-preload.so exports differ from preload.map:"
	echo "$shim"
	bad=1
fi
for lib in libxengnttab.so.1 libxenforeignmemory.so.1; do
	real=$(ls /usr/lib/*/"$lib" 2>/dev/null | head -n1)
	[ -n "$real" ] || continue
	for s in $(nm -D --defined-only "$real" | awk '$2 == "T" {print $3}' | grep -v '^xengntshr_'); do
		echo "$shim" | grep -q -x -F -- "$(echo "$s" | sed 's/@@*/@@/')" || {
			echo "libgmap-preload.so lacks $s of $lib (same name and version)"
			bad=1
		}
	done
done
[ $bad -eq 0 ] && echo "$(echo "$shim" | wc -l) shim symbols, each under Debian's version"
exit $bad
