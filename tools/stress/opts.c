/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * opts.c - gmap-stress's command line.  Every value is parsed whole and
 * checked against its range; a bad one is refused by name with what was
 * expected (exit status 2), never guessed at.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "stress.h"

static const char usage[] =
"usage: gmap-stress [options]\n"
"Workload\n"
"  -t, --threads N        faulting threads (1..240; default: online CPUs)\n"
"  -p, --pages N          granted pages (1..4194304; default 4096)\n"
"  -w, --window N         window size in refs (default: just enough)\n"
"      --first-ref N      first granted ref (default 8, as Linux guests)\n"
"      --spread N         grant every Nth ref of the window (default 1)\n"
"  -d, --duration S       run for S seconds (default 5)\n"
"  -n, --ops N            run N accesses in all instead of a duration\n"
"  -s, --seed N           seed of every random choice (default 1)\n"
"  -P, --pattern P        seq|random|stride|hot|runs|shuffle (default random;\n"
"                         shuffle: every page once per pass, random order)\n"
"      --stride N         stride in pages for 'stride' (default 17)\n"
"      --run N            run length in pages for 'runs' (default 16)\n"
"      --hot P:A          'hot': A% of accesses go to P% of pages (10:90)\n"
"  -m, --mix M            read|write|mixed (default mixed)\n"
"      --write-pct N      writes in 'mixed', percent (default 30)\n"
"  -k, --kernel-pct N     accesses made by the kernel, through pread/pwrite\n"
"                         on the window, percent (default 10)\n"
"  -c, --churn N          churn threads: pin/unpin, release, revoke and\n"
"                         re-grant (0..16; default 0)\n"
"      --ro-pct N         grants made read-only, percent (default 0)\n"
"  -H, --handlers N       libgmap handler threads (1..64; default 1)\n"
"      --spin US          handlers poll US microseconds before sleeping\n"
"                         (0..10000; default 0)\n"
"      --keep             open with GMAP_UNPIN_KEEP\n"
"      --max-mapped N     libgmap's budget of mapped grants (default: its own)\n"
"      --max-vmas N       libgmap's budget of the window's VMAs (default: its\n"
"                         own)\n"
"      --max-meta BYTES   libgmap's budget of metadata memory (default: its\n"
"                         own)\n"
"      --fault-around N   map up to N refs per fault (1..256; default 1)\n"
"      --around-dir D     fwd|back|both (default fwd)\n"
"  -b, --backend B        sim|xen (default: GMAP_BACKEND, else sim)\n"
"Checking and output\n"
"      --no-verify        do not check data (the default checks every access)\n"
"      --inject I         break something on purpose, to show the checker\n"
"                         fails: wrong-frame[:K] (every Kth ref's first map\n"
"                         places the wrong frame) or revoke-pinned (the guest\n"
"                         reuses a page the backend has pinned) or stall\n"
"                         (the first map of every page stalls 10 s; --hang-ms\n"
"                         defaults to 1000 so that the watchdog must fire)\n"
"      --hang-ms N        a thread with no progress for N ms is hung and\n"
"                         fails the run (default 10000)\n"
"      --json             print the final report as JSON on stdout\n"
"  -q, --quiet            no progress line\n"
"Benchmark\n"
"      --bench            run the side-by-side benchmarks instead\n"
"      --bench-pages N    pages per benchmark pass (default 16384)\n"
"      --bench-rows TEXT  with --bench: only the rows whose name holds TEXT\n"
"      --csv FILE         with --bench: also write the table and the\n"
"                         first-touch histograms to FILE as CSV\n"
"  -h, --help\n"
"      --version\n";

static void bad(const char *name, const char *arg, const char *expected)
{
	fprintf(stderr, "gmap-stress: %s '%s': expected %s\n", name, arg,
		expected);
	exit(2);
}

static uint64_t num(const char *name, const char *arg, uint64_t lo,
		    uint64_t hi)
{
	unsigned long long v;
	char *end;
	char want[96];

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < lo || v > hi) {
		snprintf(want, sizeof(want), "a number from %llu to %llu",
			 (unsigned long long)lo, (unsigned long long)hi);
		bad(name, arg, want);
	}
	return v;
}

static int pick(const char *name, const char *arg, const char *const *words)
{
	char want[160] = "one of:";

	for (int i = 0; words[i]; i++)
		if (!strcmp(arg, words[i]))
			return i;
	for (int i = 0; words[i]; i++) {
		strncat(want, " ", sizeof(want) - strlen(want) - 1);
		strncat(want, words[i], sizeof(want) - strlen(want) - 1);
	}
	bad(name, arg, want);
	return -1;
}

static void parse_inject(struct st_config *c, const char *arg)
{
	if (!strcmp(arg, "revoke-pinned")) {
		c->inject = INJ_REVOKE_PINNED;
		return;
	}
	if (!strcmp(arg, "stall")) {
		c->inject = INJ_STALL;
		c->inject_every = 1;
		return;
	}
	if (!strncmp(arg, "wrong-frame", 11) &&
	    (arg[11] == 0 || arg[11] == ':')) {
		c->inject = INJ_WRONG_FRAME;
		c->inject_every = arg[11] ? (uint32_t)num("--inject wrong-frame:K",
						arg + 12, 1, 1u << 22) : 1;
		return;
	}
	bad("--inject", arg, "wrong-frame, wrong-frame:K, revoke-pinned or stall");
}

/*
 * The backend when no --backend is given: GMAP_BACKEND, as libgmap reads
 * it for a window opened with GMAP_BACKEND_DEFAULT (a word, in any case),
 * else sim.  Read here rather than left to libgmap: the guest the run
 * plays, and the checks it can make, depend on the backend.
 */
static enum gmap_backend env_backend(const char *const *backends)
{
	const char *s = getenv("GMAP_BACKEND");

	if (!s)
		return GMAP_BACKEND_SIM;
	for (int i = 0; backends[i]; i++)
		if (!strcasecmp(s, backends[i]))
			return i ? GMAP_BACKEND_XEN : GMAP_BACKEND_SIM;
	bad("GMAP_BACKEND", s, "sim or xen (or the variable unset)");
	return GMAP_BACKEND_SIM;
}

static void version(void)
{
	/* The library's version too, when the one loaded is another. */
	if (strcmp(gmap_version(), PACKAGE_VERSION))
		printf("gmap-stress %s (libgmap %s)\n", PACKAGE_VERSION,
		       gmap_version());
	else
		printf("gmap-stress %s\n", PACKAGE_VERSION);
	exit(0);
}

static void parse_hot(struct st_config *c, const char *arg)
{
	char p[32];
	const char *colon = strchr(arg, ':');

	if (!colon || (size_t)(colon - arg) >= sizeof(p))
		bad("--hot", arg, "PAGES%:ACCESSES% such as 10:90");
	memcpy(p, arg, (size_t)(colon - arg));
	p[colon - arg] = 0;
	c->hot_pages_pct = (uint32_t)num("--hot pages%", p, 1, 99);
	c->hot_access_pct = (uint32_t)num("--hot accesses%", colon + 1, 0, 100);
}

enum { O_FIRST = 256, O_STRIDE, O_RUN, O_HOT, O_WRITE_PCT, O_RO_PCT, O_KEEP,
       O_NOVERIFY, O_INJECT, O_HANG, O_JSON, O_BENCH, O_BENCH_PAGES, O_BENCH_ROWS, O_SPIN,
       O_SPREAD, O_MAX_MAPPED, O_AROUND, O_AROUND_DIR, O_MAX_VMAS, O_MAX_META,
       O_VERSION, O_CSV };

int st_parse(struct st_config *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "threads", 1, 0, 't' }, { "pages", 1, 0, 'p' },
		{ "window", 1, 0, 'w' }, { "first-ref", 1, 0, O_FIRST },
		{ "duration", 1, 0, 'd' }, { "ops", 1, 0, 'n' },
		{ "seed", 1, 0, 's' }, { "pattern", 1, 0, 'P' },
		{ "stride", 1, 0, O_STRIDE }, { "run", 1, 0, O_RUN },
		{ "hot", 1, 0, O_HOT }, { "mix", 1, 0, 'm' },
		{ "write-pct", 1, 0, O_WRITE_PCT }, { "kernel-pct", 1, 0, 'k' },
		{ "churn", 1, 0, 'c' }, { "ro-pct", 1, 0, O_RO_PCT },
		{ "handlers", 1, 0, 'H' }, { "keep", 0, 0, O_KEEP },
		{ "spin", 1, 0, O_SPIN }, { "spread", 1, 0, O_SPREAD },
		{ "max-mapped", 1, 0, O_MAX_MAPPED },
		{ "max-vmas", 1, 0, O_MAX_VMAS },
		{ "max-meta", 1, 0, O_MAX_META },
		{ "fault-around", 1, 0, O_AROUND },
		{ "around-dir", 1, 0, O_AROUND_DIR },
		{ "backend", 1, 0, 'b' }, { "no-verify", 0, 0, O_NOVERIFY },
		{ "inject", 1, 0, O_INJECT }, { "hang-ms", 1, 0, O_HANG },
		{ "json", 0, 0, O_JSON }, { "quiet", 0, 0, 'q' },
		{ "bench", 0, 0, O_BENCH }, { "bench-pages", 1, 0, O_BENCH_PAGES },
		{ "bench-rows", 1, 0, O_BENCH_ROWS },
		{ "csv", 1, 0, O_CSV },
		{ "help", 0, 0, 'h' }, { "version", 0, 0, O_VERSION },
		{ 0, 0, 0, 0 },
	};
	static const char *const patterns[] = { "seq", "random", "stride",
						"hot", "runs", "shuffle", NULL };
	static const char *const dirs[] = { "fwd", "back", "both", NULL };
	static const char *const mixes[] = { "read", "write", "mixed", NULL };
	static const char *const backends[] = { "sim", "xen", NULL };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	bool window_set = false, hang_set = false, backend_set = false;
	uint64_t need;
	double d;
	char *end;
	int o;

	*c = (struct st_config){
		.threads = cpus > 0 ? (unsigned int)(cpus < ST_MAX_THREADS ? cpus : ST_MAX_THREADS) : 2,
		.handlers = 1, .pages = 4096, .first_ref = 8, .duration = 5,
		.seed = 1, .pattern = PAT_RANDOM, .stride = 17, .run = 16,
		.hot_pages_pct = 10, .hot_access_pct = 90, .mix = MIX_MIXED,
		.write_pct = 30, .kernel_pct = 10, .verify = true,
		.backend = GMAP_BACKEND_SIM, .hang_ms = 10000,
		.bench_pages = 16384, .spread = 1, .around = 1,
	};
	while ((o = getopt_long(argc, argv, "t:p:w:d:n:s:P:m:k:c:H:b:qh", lo,
				NULL)) != -1) {
		switch (o) {
		case 't': c->threads = (unsigned int)num("--threads", optarg, 1, ST_MAX_THREADS); break;
		case 'p': c->pages = (uint32_t)num("--pages", optarg, 1, 1u << 22); break;
		case 'w': c->window = num("--window", optarg, 1, GMAP_MAX_REFS); window_set = true; break;
		case O_FIRST: c->first_ref = (uint32_t)num("--first-ref", optarg, 0, 1u << 30); break;
		case 'd':
			errno = 0;
			d = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(d > 0 && d <= 86400))
				bad("--duration", optarg, "seconds, more than 0 and at most 86400");
			c->duration = d;
			break;
		case 'n': c->ops = num("--ops", optarg, 1, UINT64_MAX / 2); break;
		case 's': c->seed = num("--seed", optarg, 0, UINT64_MAX); break;
		case 'P': c->pattern = (enum st_pattern)pick("--pattern", optarg, patterns); break;
		case O_STRIDE: c->stride = (uint32_t)num("--stride", optarg, 1, 1u << 22); break;
		case O_RUN: c->run = (uint32_t)num("--run", optarg, 1, 4096); break;
		case O_HOT: parse_hot(c, optarg); break;
		case 'm': c->mix = (enum st_mix)pick("--mix", optarg, mixes); break;
		case O_WRITE_PCT: c->write_pct = (unsigned int)num("--write-pct", optarg, 0, 100); break;
		case 'k': c->kernel_pct = (unsigned int)num("--kernel-pct", optarg, 0, 100); break;
		case 'c': c->churn = (unsigned int)num("--churn", optarg, 0, ST_MAX_CHURN); break;
		case O_RO_PCT: c->ro_pct = (unsigned int)num("--ro-pct", optarg, 0, 100); break;
		case 'H': c->handlers = (unsigned int)num("--handlers", optarg, 1, 64); break;
		case O_KEEP: c->keep = true; break;
		case O_SPIN: c->spin_us = (unsigned int)num("--spin", optarg, 0, 10000); break;
		case O_SPREAD: c->spread = (uint32_t)num("--spread", optarg, 1, 1024); break;
		case O_MAX_MAPPED: c->max_mapped = num("--max-mapped", optarg, 1, GMAP_MAX_REFS); break;
		case O_MAX_VMAS: c->max_vmas = num("--max-vmas", optarg, 8, 1ull << 31); break;
		case O_MAX_META: c->max_meta = num("--max-meta", optarg, 65536, 1ull << 40); break;
		case O_AROUND: c->around = (unsigned int)num("--fault-around", optarg, 1, 256); break;
		case O_AROUND_DIR: c->around_dir = (enum gmap_around_dir)pick("--around-dir", optarg, dirs); break;
		case 'b':
			c->backend = pick("--backend", optarg, backends) ?
				     GMAP_BACKEND_XEN : GMAP_BACKEND_SIM;
			backend_set = true;
			break;
		case O_NOVERIFY: c->verify = false; break;
		case O_INJECT: parse_inject(c, optarg); break;
		case O_HANG: c->hang_ms = (unsigned int)num("--hang-ms", optarg, 100, 3600000); hang_set = true; break;
		case O_JSON: c->json = true; break;
		case 'q': c->quiet = true; break;
		case O_BENCH: c->bench = true; break;
		case O_BENCH_PAGES: c->bench_pages = (uint32_t)num("--bench-pages", optarg, 256, 1u << 20); break;
		case O_BENCH_ROWS:
			if (!*optarg)
				bad("--bench-rows", optarg, "part of a row's name");
			c->bench_rows = optarg;
			break;
		case O_CSV:
			if (!*optarg)
				bad("--csv", optarg, "a file name");
			c->csv = optarg;
			break;
		case 'h': fputs(usage, stdout); exit(0);
		case O_VERSION: version(); break;
		default: fputs(usage, stderr); exit(2);
		}
	}
	if (optind < argc)
		bad("argument", argv[optind], "options only");
	if (!backend_set)
		c->backend = env_backend(backends);
	if (c->bench_rows && !c->bench) {
		fprintf(stderr, "gmap-stress: --bench-rows picks benchmark rows: "
			"it needs --bench\n");
		exit(2);
	}
	/* The CSV is the benchmark table's (bench.c opens it). */
	if (c->csv && !c->bench) {
		fprintf(stderr, "gmap-stress: --csv writes the benchmark table: "
			"it needs --bench\n");
		exit(2);
	}
	/* The benchmarks' windows are sim windows (bench.c). */
	if (c->bench && c->backend == GMAP_BACKEND_XEN) {
		if (backend_set)
			bad("--bench with --backend", "xen", "sim: the "
			    "benchmarks run on the sim backend only");
		bad("--bench with GMAP_BACKEND", getenv("GMAP_BACKEND"),
		    "sim: the benchmarks run on the sim backend only (add -b "
		    "sim, or unset GMAP_BACKEND)");
	}
	if (c->ops)
		c->duration = 0;
	if (c->inject == INJ_STALL && !hang_set)
		c->hang_ms = 1000;
	if (c->backend == GMAP_BACKEND_XEN) {
		/* The guest is this domain's gntalloc (xenguest.c): the
		 * kernel picks the refs, one run, in dom0's table of 32760
		 * refs by default; refs are not reused or injected. */
		if (c->inject || c->spread != 1) {
			fprintf(stderr, "gmap-stress: the xen backend (%s) "
				"takes neither --inject nor --spread\n",
				backend_set ? "-b xen" : "GMAP_BACKEND=xen");
			exit(2);
		}
		if (!window_set)
			c->window = 1u << 16;
		window_set = true;
		c->first_ref = 0;
	}
	need = (uint64_t)c->first_ref + (uint64_t)(c->pages - 1) * c->spread + 1;
	if (!window_set)
		c->window = need;
	if (need > c->window) {
		fprintf(stderr, "gmap-stress: --window %llu is smaller than "
			"--first-ref + (--pages - 1) * --spread + 1 = %llu\n",
			(unsigned long long)c->window, (unsigned long long)need);
		exit(2);
	}
	if (c->inject == INJ_REVOKE_PINNED && !c->churn) {
		fprintf(stderr, "gmap-stress: --inject revoke-pinned needs churn "
			"threads (-c 1 or more)\n");
		exit(2);
	}
	if (c->inject && !c->verify) {
		fprintf(stderr, "gmap-stress: --inject needs verification: drop "
			"--no-verify\n");
		exit(2);
	}
	c->progress = !c->quiet && !c->json && isatty(STDERR_FILENO);
	return 0;
}
