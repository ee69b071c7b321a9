#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# preload.sh - an unmodified backend (tests/xenapi-client: Debian's
# headers and libraries only) under gmap-run, against a guest in its own
# process (gmap-simdom).  Each step checks the guest's side through
# gmap-simdom: replies in guest memory, the hypervisor's map counts, and
# whether the guest can end access.  By hand, from the build tree:
# top_builddir=. sh ../tests/preload.sh

: "${top_builddir:=.}"
# T_PRELOAD (make check): whether configure built the shim and gmap-run.
[ "${T_PRELOAD:-yes}" = yes ] ||
	{ echo "SKIP: the preload shim and gmap-run are not built (configure --enable-preload)"; exit 77; }
simdom="$top_builddir/tools/gmap-simdom"
run="$top_builddir/tools/gmap-run"
client="$top_builddir/tests/xenapi-client"
shimbench="$top_builddir/tools/stress/shimbench"
GMAP_PRELOAD="$(cd "$top_builddir" && pwd)/libgmap/.libs/libgmap-preload.so"
export GMAP_PRELOAD
# The shim is built with the sanitizer too; its runtime is in the client,
# but LD_PRELOAD puts the shim first in the list, which ASan checks.
ASAN_OPTIONS="verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export ASAN_OPTIONS
# TSan cannot live beside a 16 TiB window (see tests/helpers.h): under it
# the windows are 4 GiB.
san="$T_SANITIZER"
[ "$san" = tsan ] && { GMAP_NR_REFS=1048576; export GMAP_NR_REFS; }

D=5
T=$(mktemp -d)
S="$T/simdom.sock"
passed=0
trap 'sd quit >/dev/null 2>&1; rm -rf "$T"' EXIT

fail() {
	echo "preload.sh: FAIL: $*"
	[ -f "$T/out" ] && sed 's/^/  | /' "$T/out"
	[ -f "$T/simdom.log" ] && tail -5 "$T/simdom.log" | sed 's/^/  simdom| /'
	exit 1
}
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
sd() { "$simdom" -S "$S" "$@"; }
# gmap-run with the test's domain and socket; output in $T/out
# Bounded: a hang fails the step instead of the whole suite's time.
gr() { timeout 120 "$run" -S "$S" -d $D "$@" >"$T/out" 2>&1; }
expect_in_out() {
	grep -F -q -- "$1" "$T/out" || fail "$2: no \"$1\" in the output"
}

for p in "$simdom" "$run" "$client" "$shimbench" "$GMAP_PRELOAD"; do
	[ -e "$p" ] || fail "$p is missing: run make first"
done

"$simdom" serve -D -S "$S" -d $D --frames 512 --grants 1024 \
	--log "$T/simdom.log" >"$T/pid" || fail "gmap-simdom did not start"
sd grant 0-127 0 0 rw >/dev/null || fail "grant"
sd grant 200-203 200 0 ro >/dev/null || fail "grant ro"
sd grant 400-447 400 0 rw >/dev/null || fail "grant 400-447"
sd grant 450-497 450 0 rw >/dev/null || fail "grant 450-497"
# (Only granted refs: a fill of a ref never granted writes the frame its
# empty entry names, frame 0.)
sd fill 0-127 11 >/dev/null && sd fill 200-203 11 >/dev/null &&
	sd fill 400-447 11 >/dev/null && sd fill 450-497 11 >/dev/null ||
	fail "fill"

# 1. Without the preload the program fails as on a machine without Xen.
"$client" gnttab $D 11 0 1 >"$T/out" 2>&1
[ $? -eq 3 ] || fail "without the preload: expected exit 3 (open failed)"
expect_in_out "xengnttab_open: " "without the preload"
ok "without the preload, xengnttab_open fails as without Xen"

# 2. xengnttab: a run of refs, read and answered in guest memory.
gr -- "$client" gnttab $D 11 0 16 || fail "gnttab run"
sd check 0-15 12 >/dev/null || fail "gnttab replies: $(sd check 0-15 12)"
ok "xengnttab map of 16 refs: guest data read, replies reached the guest"

# 3. xenforeignmemory: grant frames, per-page err, replies.
gr -- "$client" fmem $D 11 16 16 || fail "fmem run"
sd check 16-31 12 >/dev/null || fail "fmem replies: $(sd check 16-31 12)"
ok "xenforeignmemory map of 16 grant frames: read and answered"

# 4. Non-contiguous arrays through both families: shared memory.
gr -- "$client" scatter $D 11 40 33 35 32 63 || fail "scatter run"
for r in 40 33 35 32 63; do
	sd check $r 12 >/dev/null || fail "scatter reply of ref $r"
done
ok "non-contiguous arrays: one memory through both maps, replies seen"

# 4b. The same from 4 threads at once on one handle: batches of 11
#     scattered refs, every byte checked, replies reach the guest.
gr -- "$client" threads $D 11 4 300 $(seq 400 447) || fail "threads run"
expect_in_out "4 threads, " "threads run"
sd check 400-447 12 >/dev/null || fail "threads replies: $(sd check 400-447 12)"
ok "4 threads mapping scattered batches: $(sed -n 's/^threads: //p' "$T/out")"
# ... and the shim's report says what it served: as many unmaps as maps,
# nothing left mapped.
maps=$(sed -n 's/^threads: 4 threads, \([0-9]*\) maps.*/\1/p' "$T/out")
rep() { sed -n "s/^gmap-preload: report: $1 .*$2=\([0-9]*\).*/\1/p" "$T/report"; }
rm -f "$T/report"
gr --report "$T/report" -- "$client" threads $D 11 2 50 $(seq 400 447) ||
	fail "threads run with a report"
maps=$(sed -n 's/^threads: 2 threads, \([0-9]*\) maps.*/\1/p' "$T/out")
[ -n "$maps" ] && [ "$(rep xengnttab_map_grant_refs calls)" = "$maps" ] &&
	[ "$(rep xengnttab_unmap calls)" = "$maps" ] &&
	[ "$(rep window mapped)" = 0 ] && [ "$(rep xengnttab_unmap failed)" = 0 ] ||
	fail "report: $maps maps by the program; the report says: $(cat "$T/report")"
ok "--report: $maps maps and unmaps counted, nothing left mapped"
# The shim's windows serve faults inline unless told otherwise, and the
# same run with handler threads serves the same maps.
grep -q "^gmap-preload: report: window .* faults_served=inline " "$T/report" ||
	fail "the shim's window does not serve faults inline: $(cat "$T/report")"
rm -f "$T/report"
gr --fault-mode thread --report "$T/report" -- "$client" threads $D 11 2 50 \
	$(seq 400 447) || fail "threads run with --fault-mode thread"
grep -q "^gmap-preload: report: window .* faults_served=by-threads " "$T/report" &&
	[ "$(rep window mapped)" = 0 ] ||
	fail "--fault-mode thread: $(cat "$T/report")"
ok "--fault-mode: inline by default, handler threads when asked"

# 4c. Grant copy, a qdisk-shaped backend: batches in and out, refused
#     segments alone; on sim every segment goes through the window:
#     16 in, 16 out, the bad ref and the read-only grant (34); the one
#     across the page end is refused before.
gr --report "$T/report2" -- "$client" copy $D 11 100 16 200 || fail "copy run"
sd check 100-115 12 >/dev/null || fail "copy replies: $(sd check 100-115 12)"
grep -q "^gmap-preload: report: xengnttab_grant_copy calls=2 segments=35 hypervisor=0 window=34 failed=1 us=[0-9]*$" "$T/report2" ||
	fail "copy: report: $(cat "$T/report2")"
ok "grant copy: $(sed -n 's/^copy: //p' "$T/out")"

# 5. Three maps of one grant are one mapping; end access only after the
#    last unmap.
cat >"$T/hook" <<HOOK
#!/bin/sh
case "\$1" in
mapped-3|unmapped-1|unmapped-2)
	# Still mapped: the guest must not be able to end access.
	if "$simdom" -S "$S" end 50 >/dev/null; then exit 1; fi
	"$simdom" -S "$S" ref-info 50 | grep -q " maps_now=1 " ;;
unmapped-3)
	"$simdom" -S "$S" end 50 >/dev/null ;;
after-bad)
	"$simdom" -S "$S" info | grep -q " maps_now=0 " ;;
esac
HOOK
chmod +x "$T/hook"
gr -- "$client" -H "$T/hook" double $D 50 || fail "double run"
sd ref-info 50 >"$T/ri"
grep -q " maps_total=1 " "$T/ri" && grep -q " maps_peak=1 " "$T/ri" ||
	fail "3 maps of ref 50 were not one mapping: $(cat "$T/ri")"
ok "3 maps of one grant: 1 hypervisor map; end access refused until the last unmap"

# 6. Bad input: the real libraries' errors, nothing left mapped.
gr -n 65536 -- "$client" -H "$T/hook" bad $D 60 300 ||
	fail "bad input run"
expect_in_out "bad: every bad call refused" "bad input"
ok "bad frames, counts, refs, addresses and handles refused; nothing left mapped"

# 7. A read-only grant: reads, and a write that never reaches the page.
gr --bad-policy quiet -- "$client" rowrite $D 11 201 || fail "rowrite run"
sd check 201 11 >/dev/null || fail "the write reached the read-only grant"
ok "read-only grant: writable map refused, a write faults, page unchanged"

# 7b. QEMU's mapcache pattern, make bench's program checking instead of
#     timing: 1 grant per request mapped, touched and unmapped, 64
#     requests on 4 writable and on 4 read-only refs, through the shim and
#     as its baseline (mmap of guest memory); every page and write
#     checked, and the pages are the guest's again after.
gr -- "$shimbench" -c -n 64 $D 11 120 200 4 || fail "shimbench -c run"
expect_in_out "shimbench: check: 64 requests" "shimbench -c"
sd check 120-123 11 >/dev/null && sd check 200-203 11 >/dev/null ||
	fail "shimbench -c: the guest's pages changed: $(sd check 120-123 11)"
ok "mapcache pattern (make bench's shimbench -c): every page and write checked"
# 7c. The same with 48 requests in flight, as QEMU has many: 48 live maps
#     of one handle at once (the shim's table of live maps grows from 16
#     buckets to 64 and every unmap finds its map), in the order they
#     were made.
gr -- "$shimbench" -c -D 48 -n 200 $D 11 450 200 48 4 ||
	fail "shimbench -c -D 48 run"
expect_in_out "shimbench: check: 200 requests on each ring, 48 then 48 in flight" \
	"shimbench -c -D 48"
sd check 450-497 11 >/dev/null ||
	fail "shimbench -c -D 48: the guest's pages changed: $(sd check 450-497 11)"
ok "mapcache pattern, 48 requests in flight: every page and write checked"

# 8. fork: the child has no window; exec starts fresh.  Not under TSan,
#    which cannot start threads in the child of a threaded process (the
#    child's own window has a handler thread); tests/test-close checks
#    the rest of fork under TSan.
# Nor under ASan: its allocator is not fork-safe in a threaded process,
# and the child (which allocates) can deadlock on a lock a parent thread
# held at fork(), as it once did in CI.
if [ "$san" = tsan ] || [ "$san" = asan ]; then
	ok "fork: skipped under $san (its runtime is not fork-safe in a threaded process)"
else
	gr -- "$client" fork $D 11 70 || fail "fork run"
	ok "fork: child refused on the inherited handle, own handle works; exec fresh"
fi

# 8b. The first call comes from another library's constructor, before
#     the shim's constructor ran (libearly.so is preloaded after the shim,
#     so its constructor runs first).
early="$(cd "$top_builddir" && pwd)/tests/.libs/libearly.so"
XENAPI_EARLY="$D 90 11" LD_PRELOAD="$early" \
	gr --log debug -- "$client" check $D 11 91 || fail "early run"
expect_in_out "early: ok: ref 90 mapped from a constructor" "early"
sed -n '/early: ok/,$p' "$T/out" | grep -q "configuration already loaded by an earlier call" ||
	fail "early: the shim's constructor did not run after the early call"
ok "first call from another library's constructor, before the shim's: served"

# 9. Foreign frames pass through (and fail without Xen), or are refused.
gr -- "$client" foreign $D 77 || fail "foreign (allow) run"
grep -q "refused errno=2 " "$T/out" ||
	fail "allow: expected ENOENT from the real library (no privcmd)"
gr --foreign deny -- "$client" foreign $D 77 || fail "foreign (deny) run"
grep -q "^foreign: refused errno=1 " "$T/out" || fail "deny: expected EPERM"
# Resources (QEMU's ioreq server pages) pass through under deny as well:
# the real library answers (ENOENT here, no privcmd), not the shim's EPERM.
grep -q "^resource: refused errno=2 " "$T/out" ||
	fail "deny: a resource map did not reach libxenforeignmemory"
ok "guest frames: passed to libxenforeignmemory (ENOENT here), or EPERM with deny; resources pass through either way"

# 10. Domains: GMAP_DOMID restricts; a domain gmap-simdom does not serve.
gr -- "$client" check 6 11 0 && fail "map of d6 under -d 5 succeeded"
expect_in_out "domain 6 is not served: GMAP_DOMID=5" "wrong domain"
# Said once, however many calls the program makes on the domain.
n=$(grep -c "domain 6 is not served" "$T/out")
[ "$n" = 1 ] || fail "wrong domain: refused $n times in the log, not once"
"$run" -S "$S" -- "$client" check 6 11 0 >"$T/out" 2>&1 &&
	fail "map of d6 from a gmap-simdom of d5 succeeded"
expect_in_out "serves domain 5, not 6" "domain not served by gmap-simdom"
n=$(grep -c "serves domain 5, not 6" "$T/out")
[ "$n" = 1 ] || fail "domain not served by gmap-simdom: said $n times, not once"
# gmap-run --log-file: the refusal goes to the file (a relative name, made
# absolute: the program may change directory), not to stderr.
abs_run=$(cd "$(dirname "$run")" && pwd)/$(basename "$run")
abs_client=$(cd "$(dirname "$client")" && pwd)/$(basename "$client")
(cd "$T" && "$abs_run" --log-file run.log -S "$S" -d 5 -- "$abs_client" check 6 11 0) \
	>"$T/out" 2>&1 && fail "map of d6 under -d 5 --log-file succeeded"
n=$(grep -c "gmap-preload: error: domain 6 is not served: GMAP_DOMID=5" "$T/run.log")
[ "$n" = 1 ] || fail "--log-file: the refusal is in the file $n times, not once"
! grep -q "not served" "$T/out" || fail "--log-file: the refusal went to stderr too"
ok "wrong domain: refused by GMAP_DOMID, and by gmap-simdom, each said once (in --log-file's file with it)"

# 11. Bad settings: gmap-run refuses to start; the bare shim fails closed.
gr -n 12abc -- "$client" check $D 11 0
[ $? -eq 2 ] || fail "gmap-run with a bad -n: expected exit 2"
expect_in_out "GMAP_NR_REFS='12abc' is not valid: expected a number" "bad -n"
GMAP_DOMAIN=5 "$run" -S "$S" -- "$client" check $D 11 0 >"$T/out" 2>&1
[ $? -eq 2 ] || fail "an unknown GMAP_ variable: expected exit 2"
expect_in_out "GMAP_DOMAIN is not a libgmap variable" "unknown variable"
GMAP_FAULT_ARUOND=4 "$run" -S "$S" -- "$client" check $D 11 0 >"$T/out" 2>&1
[ $? -eq 2 ] || fail "a misspelt GMAP_ variable: expected exit 2"
expect_in_out "GMAP_FAULT_ARUOND is not a libgmap variable; did you mean GMAP_FAULT_AROUND?" \
	"misspelt variable"
# However long the name (the shim once skipped names of 64 bytes and more).
long=GMAP_$(printf 'LONG%.0s' $(seq 20))
env "$long=1" "$run" -S "$S" -- "$client" check $D 11 0 >"$T/out" 2>&1
[ $? -eq 2 ] || fail "an unknown GMAP_ name of ${#long} bytes: expected exit 2"
expect_in_out "GMAP_LONGLONG" "long unknown variable"
expect_in_out "is not a libgmap variable" "long unknown variable"
LD_PRELOAD="$GMAP_PRELOAD" GMAP_SIM_SOCKET="$S" GMAP_UNPIN=sometimes \
	"$client" check $D 11 0 >"$T/out" 2>&1
[ $? -eq 3 ] || fail "bare preload with a bad GMAP_UNPIN: expected exit 3"
expect_in_out "GMAP_UNPIN='sometimes' is not valid: expected one of 'unmap' or 'keep'" \
	"bad GMAP_UNPIN"
# A daemon's stderr is /dev/null (QEMU's -daemonize): the shim's errors go
# to GMAP_LOG_FILE when it names one, once each, and not to stderr.
LD_PRELOAD="$GMAP_PRELOAD" GMAP_SIM_SOCKET="$S" GMAP_UNPIN=sometimes \
	GMAP_LOG_FILE="$T/shim.log" "$client" check $D 11 0 >"$T/out" 2>&1
[ $? -eq 3 ] || fail "bare preload, bad GMAP_UNPIN, GMAP_LOG_FILE: expected exit 3"
n=$(grep -c "gmap-preload: error: GMAP_UNPIN='sometimes' is not valid" "$T/shim.log")
[ "$n" = 1 ] || fail "GMAP_LOG_FILE: the bad GMAP_UNPIN logged $n times, not once"
grep -q "bad configuration: every grant" "$T/shim.log" ||
	fail "GMAP_LOG_FILE: no 'bad configuration' line"
! grep -q "GMAP_UNPIN" "$T/out" || fail "GMAP_LOG_FILE: the error went to stderr too"
"$run" --preload "$T/nonexistent.so" -S "$S" -- true >"$T/out" 2>&1
[ $? -eq 2 ] || fail "missing preload library: expected exit 2"
expect_in_out "is missing" "missing preload library"
"$run" -- true >"$T/out" 2>&1
[ $? -eq 2 ] || fail "sim without a socket: expected exit 2"
expect_in_out "needs a simulated domain" "sim without a socket"
ok "bad settings: named and refused by gmap-run; the bare shim fails closed, and says so in GMAP_LOG_FILE when set"

# 11b. The installed example backend (the README's ./my-backend), as the
# manual shows it: requests of seed 11 in, replies of seed 12 back, ended.
# A page that is not a request is said and left alone (exit 1).
example="$top_builddir/examples/gmap-example-backend"
sd grant 300-315 300 0 rw >/dev/null || fail "grant 300-315"
sd fill 300-315 11 >/dev/null || fail "fill 300-315"
sd fill 309 99 >/dev/null || fail "fill 309"
gr -- "$example" 5 300 16
[ $? -eq 1 ] || fail "example backend, one page not a request: expected exit 1"
expect_in_out "d5 ref 309 is not a request of seed 11: byte 0" "example: the odd page"
expect_in_out "15 served, 1 not requests" "example: the count"
sd check 309 99 >/dev/null || fail "example: the page that was not a request was written"
sd fill 300-315 11 >/dev/null || fail "fill 300-315 again"
gr -- "$example" 5 300 16 || fail "example backend: status $?"
expect_in_out "d5 refs 300..315: 16 served, 0 not requests" "example backend"
sd check 300-315 12 >"$T/out" || fail "example: the replies are not in guest memory"
sd end 300-315 >"$T/out" || fail "example: a grant is still mapped"
ok "gmap-example-backend under gmap-run: 16 requests served, replies in guest memory, every grant ended; a page that is not a request said and left alone"

# 12. The guest ends: nothing is left mapped.
sd quit >"$T/out" || fail "quit"
grep -q "^ok in-use 0" "$T/out" || fail "pages still in use at exit: $(cat "$T/out")"
trap 'rm -rf "$T"' EXIT
ok "gmap-simdom exit: 0 pages still in use"

echo "preload.sh: PASS ($passed checks)"
