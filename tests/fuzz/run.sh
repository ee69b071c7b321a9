#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# make fuzz: build the libFuzzer targets of tests/fuzz/ with clang
# (ASan + UBSan + libFuzzer) in build-fuzz/ of the build tree, replay
# every input of tests/fuzz/regress/<target>/ (inputs that once crashed:
# each must pass), then fuzz each target for FUZZ_SECONDS, starting from
# the seeds of tests/fuzz/corpus/<target>/ and the corpus kept in
# build-fuzz/corpus/<target>/ by earlier runs.  One line per target with
# its runs; exit status 1 if any target crashed, hung or broke a check,
# with the input kept as build-fuzz/crash-<target>-* and the way to
# replay it and to keep it as a regression test.
#
# Set by the Makefile: CLANG, top_srcdir, top_builddir, FUZZ_SECONDS,
# FUZZ_TARGETS, FUZZ_CFLAGS (include paths of the dependencies, warnings),
# FUZZ_LIBS, FUZZ_CORE (the library's sources), FUZZ_SHIM (the preload
# shim's), FUZZ_FLAGS (more libFuzzer options).
set -u
CLANG=${CLANG:-clang}
src=${top_srcdir:-.}
out=${top_builddir:-.}/build-fuzz
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-env dma simdom shim}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
# The targets' windows publish nothing for gmap-top: a target killed on a
# crash or at its time limit would leave its files in the user's runtime
# directory.
export GMAP_PUBLISH=no

san="-fsanitize=address,undefined -fno-sanitize-recover=all"
cflags="-std=gnu11 -pthread -g -O1 -fno-omit-frame-pointer $san \
-fsanitize=fuzzer-no-link -I$src/libgmap -I$src/libgmap/preload \
-I$src/tools/simdom -I$src/tools/common -I$src/tests/fuzz -include ${top_builddir:-.}/config.h \
${FUZZ_CFLAGS:-}"
mkdir -p "$out/obj" || exit 1

# clang with libFuzzer (Debian: clang and libclang-rt-14-dev)?
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\n{ return 0; }\n' \
	>"$out/probe.c"
if ! "$CLANG" -fsanitize=fuzzer "$out/probe.c" -o "$out/probe" \
	>"$out/probe.log" 2>&1; then
	cat "$out/probe.log" >&2
	echo "make fuzz: $CLANG cannot link -fsanitize=fuzzer: install clang" \
		"and its runtime (Debian: libclang-rt-14-dev), or set CLANG" >&2
	exit 1
fi

# The sources of each target, besides tests/fuzz/<target>.c.
sources() {
	case $1 in
	env|dma) echo "${FUZZ_CORE:-}" ;;
	simdom) echo "${FUZZ_CORE:-} tools/simdom/cmd.c" ;;
	shim) echo "${FUZZ_CORE:-} ${FUZZ_SHIM:-}" ;;
	*) echo "make fuzz: no target '$1'" >&2; return 1 ;;
	esac
}

# ---- build: each source once, again when it or a header is newer -------
all=
for t in $targets; do
	s=$(sources "$t") || exit 1
	all="$all $s tests/fuzz/$t.c"
done
all=$(for f in $all; do case $f in *.c) echo "$f" ;; esac; done | sort -u)
# shellcheck disable=SC2012
newest=$(ls -t "$src"/libgmap/*.h "$src"/libgmap/preload/*.h \
	"$src"/tools/simdom/*.h "$src"/tools/common/*.h "$src"/tests/fuzz/*.h \
	"${top_builddir:-.}/config.h" | head -n 1)
obj() { echo "$out/obj/$(echo "$1" | tr / _ | sed 's/\.c$/.o/')"; }
stale=
for f in $all; do
	o=$(obj "$f")
	# -nt: not POSIX, but in every sh this runs under (dash, bash).
	# shellcheck disable=SC3013
	if [ ! -f "$o" ] || [ "$src/$f" -nt "$o" ] || [ "$newest" -nt "$o" ]; then
		stale="$stale $f"
	fi
done
if [ -n "$stale" ]; then
	echo "fuzz: compiling$(echo "$stale" | wc -w | sed 's/^/ /') sources with $CLANG"
	export CLANG cflags src out
	# shellcheck disable=SC2086
	# shellcheck disable=SC2016
	printf '%s\n' $stale | xargs -P "$jobs" -n 1 sh -c '
		o="$out/obj/$(echo "$1" | tr / _ | sed "s/\.c\$/.o/")"
		# shellcheck disable=SC2086
		$CLANG $cflags -c "$src/$1" -o "$o.tmp" && mv "$o.tmp" "$o"' sh ||
		{ echo "make fuzz: compiling failed" >&2; exit 1; }
fi
for t in $targets; do
	objs=
	for f in $(for g in $(sources "$t") tests/fuzz/$t.c; do echo "$g"; done |
		   sort -u); do
		case $f in *.c) objs="$objs $(obj "$f")" ;; esac
	done
	# shellcheck disable=SC2086
	if ! $CLANG $cflags -fsanitize=fuzzer $objs -o "$out/fuzz-$t.tmp" \
		${FUZZ_LIBS:-} -ldl; then
		echo "make fuzz: linking fuzz-$t failed" >&2
		exit 1
	fi
	mv "$out/fuzz-$t.tmp" "$out/fuzz-$t" || exit 1
done

# ---- run -------------------------------------------------------------------
# -timeout: an input that runs for 10 s is a hang (nothing in these
# targets waits more than the library's 1 s bounds).
opts="-timeout=10 -rss_limit_mb=4096 -print_final_stats=1 ${FUZZ_FLAGS:-}"
# FUZZ_SECONDS=0: run the seeds and the kept corpus once, no fuzzing.
budget=-max_total_time=$seconds
[ "$seconds" -gt 0 ] 2>/dev/null || budget=-runs=0
failed=
for t in $targets; do
	log=$out/$t.log
	dict=
	[ -f "$src/tests/fuzz/$t.dict" ] && dict=-dict=$src/tests/fuzz/$t.dict
	# Inputs that once crashed: each must now pass.
	regress=
	for r in "$src/tests/fuzz/regress/$t"/*; do
		[ -f "$r" ] && regress="$regress $r"
	done
	if [ -n "$regress" ]; then
		# shellcheck disable=SC2086
		if ! "$out/fuzz-$t" $opts $regress >"$out/$t-regress.log" 2>&1; then
			tail -n 40 "$out/$t-regress.log"
			echo "fuzz $t: FAIL: a regression input fails again:" \
				"$(sed -n 's/^Running: //p' "$out/$t-regress.log" |
				   tail -n 1) (log: $out/$t-regress.log)"
			failed="$failed $t"
			continue
		fi
		echo "fuzz $t: $(echo "$regress" | wc -w) regression inputs pass"
	fi
	mkdir -p "$out/corpus/$t"
	seeds=
	[ -d "$src/tests/fuzz/corpus/$t" ] && seeds=$src/tests/fuzz/corpus/$t
	start=$(date +%s)
	# shellcheck disable=SC2086
	"$out/fuzz-$t" $opts $dict $budget \
		-artifact_prefix="$out/crash-$t-" \
		"$out/corpus/$t" $seeds >"$log" 2>&1
	rc=$?
	took=$(( $(date +%s) - start ))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' "$log" | tail -n 1)
	corp=$(find "$out/corpus/$t" -type f | wc -l)
	if [ $rc -eq 0 ]; then
		echo "fuzz $t: ${runs:-0} runs in $took s ($(( ${runs:-0} / (took ? took : 1) ))/s)," \
			"coverage ${cov:-?}, corpus $corp: nothing found"
		continue
	fi
	failed="$failed $t"
	art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
	tail -n 60 "$log"
	echo "fuzz $t: FAIL after ${runs:-?} runs in $took s (exit status $rc; log: $log)"
	if [ -n "$art" ]; then
		echo "  replay:  $out/fuzz-$t $art"
		echo "  shrink:  $out/fuzz-$t -minimize_crash=1 -runs=100000 $art"
		echo "  keep it: cp $art $src/tests/fuzz/regress/$t/"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: FAIL:$failed"
	exit 1
fi
echo "fuzz: PASS ($targets; $seconds s each)"
