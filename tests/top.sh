#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# top.sh - gmap-top against running programs (issue 15):
#  - gmap-top -b -n 2 --json lists the window of a running gmap-stress,
#    with counters that grow between the two samples, and the table lists
#    it too;
#  - a window whose process was killed is stale: not listed, its file
#    left by --keep-stale and removed otherwise; a program that exits
#    cleanly leaves no file;
#  - files that are not windows are neither shown nor removed;
#  - on a terminal (tmux), the live view shows the window, redraws, and
#    quits on q with the terminal given back;
#  - bad arguments are refused, one line each.
# Needs jq and tmux (setup.sh installs them).  By hand, from the build
# tree: top_builddir=. top_srcdir=.. sh ../tests/top.sh

: "${top_builddir:=.}"
: "${top_srcdir:=..}"
stress="$top_builddir/tools/gmap-stress"
top="$top_builddir/tools/gmap-top"
T=$(mktemp -d)
# Windows publish only in memory (tmpfs): /tmp may be on disk.
R=$(mktemp -d /dev/shm/gmap-top-test.XXXXXX) || { echo "top.sh: SKIP: no /dev/shm"; exit 77; }
sock="gmap-top-test-$$" zsock="gmap-top-testz-$$"
pids=""
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	tmux -L "$sock" kill-server 2>/dev/null
	tmux -L "$zsock" kill-server 2>/dev/null
	rm -rf "$T" "$R"
}
trap cleanup EXIT
unset GMAP_BACKEND GMAP_LOG GMAP_MAX_MAPPED GMAP_SIM_SOCKET GMAP_PUBLISH
export GMAP_RUNTIME_DIR="$R/run"

for tool in jq tmux; do
	if ! command -v $tool >/dev/null; then
		echo "top.sh: SKIP: $tool is not installed (./setup.sh deps)"
		exit 77
	fi
done

fail() {
	echo "top.sh: FAIL: $*"
	for f in out err; do
		[ -s "$T/$f" ] && sed "s/^/  $f| /" "$T/$f"
	done
	exit 1
}
ok() { echo "ok: $*"; }

# wait_for SECONDS WHAT COMMAND...: run COMMAND until it succeeds; past
# the bound, fail saying so and after how long.
wait_for() {
	bound=$1 what=$2
	shift 2
	start=$(date +%s)
	until "$@"; do
		if [ $(( $(date +%s) - start )) -ge "$bound" ]; then
			fail "timed out after $(( $(date +%s) - start )) s waiting for $what"
		fi
		sleep 0.1
	done
}
files() { ls "$GMAP_RUNTIME_DIR" 2>/dev/null | grep -c '\.gmap$'; }
has_file() { [ "$(files)" -eq "$1" ]; }

# A gmap-stress that keeps faulting: a quarter of its pages fit the
# budget, so the evictor makes room all along.
"$stress" -t 2 -p 4096 --max-mapped 1024 -k 0 -d 300 -q >"$T/stress.out" 2>&1 &
sp=$!
pids="$sp"
wait_for 20 "gmap-stress's window file" has_file 1

# --- batch JSON: two samples, counters growing ---------------------------
"$top" -b -n 2 -d 0.5 --json >"$T/out" 2>"$T/err" || fail "gmap-top --json: status $?"
[ "$(wc -l <"$T/out")" -eq 2 ] || fail "--json -n 2: $(wc -l <"$T/out") lines, expected 2"
jq -e . "$T/out" >/dev/null 2>"$T/err" || fail "--json: not JSON"
for n in 1 2; do
	sed -n "${n}p" "$T/out" | jq -e --argjson p "$sp" \
		'[.windows[] | select(.pid == $p and .comm == "gmap-stress" and .backend == "sim" and .domid == 1 and .max_mapped == 1024)] | length == 1' \
		>/dev/null || fail "sample $n does not list gmap-stress (pid $sp) once"
done
f1=$(sed -n 1p "$T/out" | jq --argjson p "$sp" '.windows[] | select(.pid == $p) | .counters.faults')
f2=$(sed -n 2p "$T/out" | jq --argjson p "$sp" '.windows[] | select(.pid == $p) | .counters.faults')
m1=$(sed -n 1p "$T/out" | jq --argjson p "$sp" '.windows[] | select(.pid == $p) | .counters.maps')
m2=$(sed -n 2p "$T/out" | jq --argjson p "$sp" '.windows[] | select(.pid == $p) | .counters.maps')
e2=$(sed -n 2p "$T/out" | jq --argjson p "$sp" '.windows[] | select(.pid == $p) | .counters.evictions')
[ "$f2" -gt "$f1" ] || fail "faults did not grow between the samples: $f1 then $f2"
[ "$m2" -gt "$m1" ] || fail "maps did not grow between the samples: $m1 then $m2"
[ "$e2" -gt 0 ] || fail "no evictions with a budget of a quarter of the pages"
rate=$(sed -n 2p "$T/out" | jq --argjson p "$sp" '.windows[] | select(.pid == $p) | .faults_per_s > 0 and .serve_samples > 0 and .serve_p99_ns >= .serve_p50_ns and (.span_s > 0.3 and .span_s < 5)')
[ "$rate" = true ] || fail "second sample: rates or serve times missing"
ok "--json -n 2: gmap-stress (pid $sp) listed in both; faults $f1 -> $f2, maps $m1 -> $m2, evictions $e2"

# --- the table, and -p --------------------------------------------------
"$top" -b -n 1 -p "$sp" >"$T/out" 2>"$T/err" || fail "gmap-top -b: status $?"
grep -q "PID COMMAND" "$T/out" || fail "-b: no column header"
grep -Eq "^ *$sp gmap-stress +1 sim .*/1024 " "$T/out" || fail "-b: no row for pid $sp with its budget"
"$top" -b -n 1 -p 1 >"$T/out" 2>"$T/err" || fail "gmap-top -p 1: status $?"
grep -q "^ *$sp " "$T/out" && fail "-p 1 lists pid $sp"
ok "table: pid $sp's row with its budget; -p filters it out"

# --- live, on a terminal ---------------------------------------------------
tmux -L "$sock" new-session -d -x 180 -y 20 \
	-e GMAP_RUNTIME_DIR="$GMAP_RUNTIME_DIR" \
	"'$top' -d 0.2; echo \$? >'$T/live.rc'; sleep 60" ||
	fail "tmux cannot start a session"
pane() { tmux -L "$sock" capture-pane -p >"$T/pane" 2>/dev/null; }
shows_row() { pane && grep -Eq "^ *$sp gmap-stress " "$T/pane"; }
wait_for 10 "the live view to show pid $sp" shows_row
grep -q "^gmap-top .*q quits" "$T/pane" || fail "live: no title line"
stamp1=$(grep -Eo '^[0-9]{4}-[0-9-]+T[0-9:.]+Z' "$T/pane")
redrawn() { pane && s=$(grep -Eo '^[0-9]{4}-[0-9-]+T[0-9:.]+Z' "$T/pane") && [ -n "$s" ] && [ "$s" != "$stamp1" ]; }
wait_for 10 "the live view to redraw" redrawn
[ "$(grep -c 'PID COMMAND' "$T/pane")" -eq 1 ] || fail "live: the screen is not redrawn in place"
tmux -L "$sock" send-keys q
quit() { [ -s "$T/live.rc" ]; }
wait_for 10 "gmap-top to quit on q" quit
[ "$(cat "$T/live.rc")" = 0 ] || fail "live: status $(cat "$T/live.rc") after q"
# The alternate screen is left: the table is gone from the pane.
pane
grep -q "PID COMMAND" "$T/pane" && fail "live: the table stays on the screen after q"
tmux -L "$sock" kill-server 2>/dev/null
ok "live (tmux): pid $sp shown, redrawn in place, q quits with status 0 and the screen given back"

# ^Z in a shell with job control: the terminal is given back (table
# gone, echo on), and fg takes it again.  A server of its own: a new
# session on the socket of a server still going away fails ("server
# exited unexpectedly").
tmux -L "$zsock" new-session -d -x 180 -y 20 \
	-e GMAP_RUNTIME_DIR="$GMAP_RUNTIME_DIR" "bash --norc --noprofile -i" ||
	fail "tmux cannot start a shell"
zpane() { tmux -L "$zsock" capture-pane -p >"$T/pane" 2>/dev/null; }
prompt() { zpane && grep -q '[$#] *$' "$T/pane"; }
wait_for 10 "the shell's prompt" prompt
tmux -L "$zsock" send-keys "'$top' -d 0.2" Enter
zshows_row() { zpane && grep -Eq "^ *$sp gmap-stress " "$T/pane"; }
wait_for 10 "the live view in the shell" zshows_row
tmux -L "$zsock" send-keys C-z
stopped() { zpane && grep -q 'Stopped' "$T/pane" && ! grep -q 'PID COMMAND' "$T/pane"; }
wait_for 10 "^Z to give the terminal back" stopped
tmux -L "$zsock" send-keys "stty -a | grep -c ' echo '" Enter
echo_on() { zpane && grep -qx 1 "$T/pane"; }
wait_for 10 "echo to be on again after ^Z" echo_on
tmux -L "$zsock" send-keys "fg" Enter
wait_for 10 "fg to show the live view again" zshows_row
tmux -L "$zsock" send-keys q
back() { zpane && ! grep -q 'PID COMMAND' "$T/pane"; }
wait_for 10 "q after fg" back
tmux -L "$zsock" kill-server 2>/dev/null
ok "live (tmux): ^Z gives the terminal back (echo on), fg takes it again, q quits"

# --- stale files -------------------------------------------------------------
kill -9 "$sp"
wait "$sp" 2>/dev/null
pids=""
has_file 1 || fail "the killed gmap-stress's file is gone already"
"$top" -b -n 1 --json --keep-stale >"$T/out" 2>"$T/err" || fail "--keep-stale: status $?"
[ "$(jq '.windows | length' "$T/out")" -eq 0 ] || fail "a killed process's window is listed"
has_file 1 || fail "--keep-stale removed the stale file"
"$top" -b -n 1 --json >"$T/out" 2>"$T/err" || fail "gmap-top: status $?"
[ "$(jq '.stale_removed' "$T/out")" -eq 1 ] || fail "stale_removed is not 1"
has_file 0 || fail "the stale file was not removed"
ok "killed process: not listed, its file kept with --keep-stale, then removed"

"$stress" -t 2 -p 256 -n 2000 -q >"$T/stress.out" 2>&1 || fail "short gmap-stress failed"
has_file 0 || fail "a cleanly ended gmap-stress left its file"
ok "a cleanly ended gmap-stress leaves no file"

# --- files that are not windows ----------------------------------------------
# Root's gmap-top reads every user's files: none of these may be shown,
# removed or crash it.
mkdir -p "$R/odd" && chmod 700 "$R/odd"
printf '!GMPTOP1\143\0\0\0' >"$T/layout99"                 # another layout
truncate -s 4096 "$T/layout99"
cp "$T/layout99" "$R/odd/1-2-3.gmap"                       # ... held by a live process
flock -s "$R/odd/1-2-3.gmap" sleep 300 &
lp=$!
pids="$pids $lp"
cp "$T/layout99" "$R/odd/2-3-4.gmap"                       # ... held by nobody
printf '!GMPTOP1' >"$R/odd/4-5-6.gmap"                     # cut short
ln -s /etc/passwd "$R/odd/7-8-9.gmap"                      # a link
mkfifo "$R/odd/10-11-12.gmap"                              # a FIFO
wait_for 10 "flock to hold 1-2-3.gmap" sh -c "! flock -n -x '$R/odd/1-2-3.gmap' true"
"$top" -b -n 1 --json --dir "$R/odd" >"$T/out" 2>"$T/err" || fail "odd files: status $?"
[ "$(jq '.windows | length' "$T/out")" -eq 0 ] || fail "odd files listed as windows"
[ "$(jq '.skipped' "$T/out")" -eq 1 ] || fail "the live file of another layout is not counted as skipped"
[ "$(jq '.stale_removed' "$T/out")" -eq 1 ] || fail "the unlocked file of another layout is not removed as stale"
[ -e "$R/odd/1-2-3.gmap" ] && [ ! -e "$R/odd/2-3-4.gmap" ] || fail "the wrong file of another layout was removed"
[ "$(ls "$R/odd" | wc -l)" -eq 4 ] || fail "gmap-top removed a file that is not a stale window"
kill "$lp"
cp "$T/layout99" "$R/odd/13-14-15.gmap"
chmod 777 "$R/odd"
"$top" -b -n 1 --json --dir "$R/odd" >"$T/out" 2>"$T/err" || fail "open dir: status $?"
[ "$(jq '.skipped + .stale_removed' "$T/out")" -eq 0 ] || fail "a directory others may write to is read"
ok "odd files: another layout skipped while held and removed once stale; cut short, a link, a FIFO left alone; a directory others may write to is not read"

# An owner rewriting its file's offsets and truncating it while gmap-top
# reads: every sample must come out, none may crash it.
mkdir -m 700 "$R/hostile"
"$top_builddir/tests/top-hostile" "$R/hostile" 3 >"$T/hostile.out" 2>&1 &
hp=$!
pids="$pids $hp"
wait_for 10 "the hostile file" test -s "$R/hostile/1-1-1.gmap"
"$top" -b -n 300 -d 0.01 --json --dir "$R/hostile" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] || fail "gmap-top against a file rewritten under it: status $rc"
[ "$(wc -l <"$T/out")" -eq 300 ] || fail "against a rewritten file: $(wc -l <"$T/out") samples of 300"
wait "$hp" || fail "top-hostile failed: $(cat "$T/hostile.out")"
ok "a file rewritten and truncated under gmap-top: 300 samples, no crash ($(cat "$T/hostile.out"))"

# A full file system: the window opens, unpublished, never SIGBUS
# (root, with a mount namespace of its own).
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
	unshare -m sh -c '
		mkdir -p "$1/full" && mount -t tmpfs -o size=8k,mode=700 none "$1/full" &&
		dd if=/dev/zero of="$1/full/fill" bs=4k count=8 2>/dev/null
		GMAP_RUNTIME_DIR="$1/full" GMAP_LOG=notice "$2" -t 1 -p 64 -n 1000 -q' \
		sh "$R" "$stress" >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc -eq 0 ] || fail "gmap-stress with a full runtime directory: status $rc"
	grep -q "cannot allocate, lock or map a file in it" "$T/err" ||
		fail "a full runtime directory is not said"
	ok "a full runtime directory: the run passes, the window unpublished, said once"
else
	echo "skipped: a full runtime directory (needs root and unshare)"
fi

# --- bad arguments -------------------------------------------------------------
for args in "-d 0" "-d x" "-n 0" "-n 5x" "-p 0" "--dir=" "extra"; do
	# shellcheck disable=SC2086
	"$top" -b $args >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc -eq 2 ] || fail "gmap-top $args: status $rc, expected 2"
	[ "$(grep -c "gmap-top" "$T/err")" -ge 1 ] || fail "gmap-top $args: no message naming gmap-top"
done
ok "bad arguments: status 2 with a message"
echo "top.sh: PASS"
