#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# gmap-stress, the README's main job: short verified runs of every access
# pattern with churn, runs with injected faults that must fail, and bad
# options refused by name.  Sizes are small so that it also runs under the
# sanitizers in seconds.
set -e
stress="$top_builddir/tools/gmap-stress"

# expect_ok NAME ARGS...: exit 0, "failures: none", no double map.
expect_ok() {
	name=$1; shift
	out=$("$stress" -q "$@") || { echo "$out"; echo "FAIL: $name: status $?"; exit 1; }
	echo "$out" | grep -q "^failures: none$" || { echo "$out"; echo "FAIL: $name"; exit 1; }
	echo "$out" | grep -q "double maps 0, most live maps of one ref 1$" ||
		{ echo "$out"; echo "FAIL: $name: double maps"; exit 1; }
	echo "ok: $name: $(echo "$out" | grep '^ran')"
}

expect_ok "random, churn, read-only grants" -t 4 -c 2 --ro-pct 10 -p 2048 -d 2
expect_ok "seq, 2 handlers" -t 3 -P seq -p 1024 -n 50000 -H 2
expect_ok "stride, writes only" -t 2 -P stride --stride 33 -m write -p 1024 -n 30000
expect_ok "hot set, churn" -t 2 -c 1 -P hot --hot 5:95 -p 1024 -d 1
expect_ok "runs, all by the kernel" -t 2 -P runs --run 8 -k 100 -p 512 -n 20000
expect_ok "churn and eviction: budget 256, fault-around 8" -t 4 -c 2 --ro-pct 10 -p 2048 --max-mapped 256 --fault-around 8 -d 2
expect_ok "random order over a spread window, budget 128" -t 2 -P shuffle --spread 3 -p 4096 --max-mapped 128 -n 20000
expect_ok "unpin keeps, polling handler" -t 2 -c 1 --keep --spin 50 -p 512 -d 1

# Every access was verified and counted: accesses = reads + writes.
out=$("$stress" -q -t 2 -p 256 -n 5000 --json)
echo "$out" | grep -q '"accesses":5000,' || { echo "$out"; echo "FAIL: -n 5000"; exit 1; }
echo "$out" | grep -q '"ok":true}$' || { echo "$out"; echo "FAIL: json"; exit 1; }
echo "ok: --json, -n 5000 made 5000 accesses"

# expect_fail NAME KIND ARGS...: the checker must catch an injected fault.
expect_fail() {
	name=$1; kind=$2; shift 2
	set +e
	out=$("$stress" -q "$@" 2>err.tmp)
	rc=$?
	set -e
	if [ $rc -ne 1 ] || ! echo "$out" | grep -q "^failures:.* $kind [1-9]"; then
		echo "$out"; cat err.tmp
		echo "FAIL: $name: status $rc, no $kind failure reported"
		exit 1
	fi
	echo "ok: $name caught: $(echo "$out" | grep '^failures')"
	rm -f err.tmp
}
expect_fail "wrong frame" wrong_data -t 2 -p 512 -n 20000 --inject wrong-frame:16
# The misbehaving guest rewrites a page that the backend's checks are
# reading: a race by design, which ThreadSanitizer must not turn into its
# own exit status (the run fails by its checks, status 1).
( TSAN_OPTIONS="${TSAN_OPTIONS:-} report_bugs=0"; export TSAN_OPTIONS
  expect_fail "guest reuses a pinned page" wrong_data -t 2 -c 1 -p 512 -d 1 \
	--inject revoke-pinned ) || exit 1
expect_fail "stuck backend" hung_threads -t 2 -p 64 -d 5 --hang-ms 300 --inject stall

# Bad options are refused by name, with what was expected, and status 2.
bad() {
	set +e
	"$stress" "$@" >/dev/null 2>err.tmp
	rc=$?
	set -e
	if [ $rc -ne 2 ] || ! grep -q -e "$expect" err.tmp; then
		echo "gmap-stress $*: status $rc, said: $(cat err.tmp)"
		exit 1
	fi
	rm -f err.tmp
}
expect="--threads '0': expected a number from 1 to 240" bad -t 0
expect="--pages '1k': expected a number" bad -p 1k
expect="--pattern 'zigzag': expected one of: seq random stride hot runs shuffle" bad -P zigzag
expect="--duration '-1': expected seconds" bad -d -1
expect="--hot '10': expected PAGES%:ACCESSES%" bad --hot 10
expect="--inject 'everything': expected wrong-frame" bad --inject everything
expect="--window 100 is smaller than --first-ref + (--pages - 1) \* --spread + 1 = 4104" bad -w 100
expect="argument 'extra': expected options only" bad extra
echo "ok: bad options refused by name"
# A misspelt GMAP_ variable in a program linked with libgmap: the run goes
# on, and the library names the variable it took it for, once.
out=$(GMAP_FAULT_ARUOND=4 "$stress" -q -t 1 -p 64 -n 1000 2>&1) ||
	{ echo "$out"; echo "FAIL: a run with a misspelt variable"; exit 1; }
n=$(echo "$out" | grep -c "GMAP_FAULT_ARUOND is not a libgmap variable; did you mean GMAP_FAULT_AROUND?") || true
[ "$n" -eq 1 ] || { echo "$out"; echo "FAIL: GMAP_FAULT_ARUOND: $n warnings, expected 1"; exit 1; }
echo "ok: a misspelt GMAP_FAULT_ARUOND is warned of once, with the name it is near"
# Asked for Xen where there is none, or in a build without the xen
# backend (T_XEN, from make check): libgmap says what is missing.
if [ "${T_XEN:-yes}" != yes ]; then
	expect="the xen backend was not built (configure --with-xen)" bad -b xen
	echo "ok: --backend xen in a build without it refused, naming --with-xen"
elif [ ! -e /dev/xen/gntdev ]; then
	expect="/dev/xen/gntdev" bad -b xen
	echo "ok: --backend xen without Xen refused, naming /dev/xen/gntdev"
fi
# The benchmark runs (make bench is not part of the suite): every row is
# printed with a ratio, at a small size.  Its timings are not checked, and
# it is left out under the sanitizers, whose slowdown is all it would show.
if [ -z "$T_SANITIZER" ] || [ "$T_SANITIZER" = no ]; then
	out=$("$stress" --bench --bench-pages 512) ||
		{ echo "$out"; echo "FAIL: --bench: status $?"; exit 1; }
	rows=$(echo "$out" | grep -c '[0-9]x  ')
	[ "$rows" -ge 14 ] ||
		{ echo "$out"; echo "FAIL: --bench printed $rows rows"; exit 1; }
	echo "ok: --bench at 512 pages: $rows rows with a ratio"
fi
