#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Scale without failing (invariant 6): 1,000,000 distinct pages of a
# 4,194,304-page window, touched once each in sequence and in a random
# order, with the default vm.max_map_count and libgmap's default budget.
# Every access is verified; evictions must have happened and neither the
# guest's count of live maps nor the window's VMAs may exceed the budget
# (gmap-stress fails the run with over_budget otherwise).  Under the
# sanitizers, which are many times slower, the same runs use 100,000
# pages and a budget of 4096.
set -e
stress="$top_builddir/tools/gmap-stress"
if [ -n "$GMAP_SANITIZER" ] && [ "$GMAP_SANITIZER" != no ]; then
	pages=100000 extra="--max-mapped 4096"
else
	pages=1000000 extra=""
fi
echo "vm.max_map_count: $(cat /proc/sys/vm/max_map_count)"

run() {
	name=$1; shift
	# shellcheck disable=SC2086
	out=$("$stress" -q -t 2 -n $pages -w 4194304 -p $pages $extra "$@") ||
		{ echo "$out"; echo "FAIL: $name: status $?"; exit 1; }
	echo "$out" | sed -n '1,8p'
	echo "$out" | grep -q "^failures: none$" || { echo "FAIL: $name"; exit 1; }
	echo "$out" | grep -q "first touches $pages," ||
		{ echo "FAIL: $name: not every page was touched once"; exit 1; }
	ev=$(echo "$out" | sed -n 's/.*evictions \([0-9]*\);.*/\1/p')
	[ "${ev:-0}" -gt $((pages / 2)) ] ||
		{ echo "FAIL: $name: $ev evictions"; exit 1; }
	echo "ok: $name: $ev evictions"
}
# Contiguous refs, in sequence, 16 per fault.
run "sequential, fault-around 16" -P seq --fault-around 16
# Every 4th ref of the whole window, in a random order.
run "random order, spread over the window" -P shuffle --spread 4
