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

# The preload shim: exactly the calls of preload.map, each under the
# version Debian's library gives it (or a program's reference to, say,
# xengnttab_open@VERS_1.0 would not bind to it), and nothing of libgmap.
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
