#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Exactly the symbols of the version script are exported, all versioned.
set -e
so=$(ls "$top_builddir"/libgmap/.libs/libgmap.so.* | head -n1)
map="$top_srcdir/libgmap/libgmap.map"
exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ {print $3}' |
	grep -v '^LIBGMAP_' | sort)
listed=$(sed -n 's/^[[:space:]]*\(gmap_[a-z0-9_]*\);.*/\1/p' "$map" | sort)
bad=0
for s in $exported; do
	case "$s" in
	gmap_*@@LIBGMAP_0.1) ;;
	*) echo "exported without the LIBGMAP_0.1 version: $s"; bad=1 ;;
	esac
done
e=$(echo "$exported" | sed 's/@.*//')
if [ "$e" != "$listed" ]; then
	echo "exported symbols differ from libgmap.map:"
	echo "$e" > exported.tmp; echo "$listed" > listed.tmp
	diff exported.tmp listed.tmp || true
	rm -f exported.tmp listed.tmp
	bad=1
fi
[ $bad -eq 0 ] && echo "$(echo "$e" | wc -l) symbols exported, all in LIBGMAP_0.1"
exit $bad
