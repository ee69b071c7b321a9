/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * report.c - what a run prints: the live progress line (terminals only),
 * the final report for people (with the first-touch latency histogram) or
 * as JSON, and the verdict.
 */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "stress.h"

uint64_t st_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t failures_total(struct st_run *r)
{
	struct st_failures *f = &r->fail;

	return atomic_load(&f->double_maps) + atomic_load(&f->lost_writes) +
	       atomic_load(&f->zero_reads) + atomic_load(&f->wrong_data) +
	       atomic_load(&f->unexpected_signals) +
	       atomic_load(&f->hung_threads) + atomic_load(&f->kernel_errors) +
	       atomic_load(&f->api_errors) + atomic_load(&f->left_mapped) +
	       atomic_load(&f->end_access_busy) + atomic_load(&f->over_budget);
}

/*
 * libgmap's messages, through a logger that shows the first 20 (a run that
 * goes wrong can produce one per access) and counts the rest.  A line said
 * before, word for word, is counted and not shown again: --bench opens
 * the same kind of window round after round, and each says the same.
 */
static _Atomic unsigned int log_lines, log_errors;
#define SEEN_MAX 32
static uint64_t seen[SEEN_MAX];       /* hashes of the lines shown     */
static unsigned int nr_seen;          /* under flockfile(stderr)       */

static uint64_t hash_line(const char *s)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void log_vmessage(xentoollog_logger *l, xentoollog_level level,
			 int errnoval, const char *ctx, const char *fmt,
			 va_list al)
{
	char line[1024];
	uint64_t h;
	unsigned int i;

	(void)l;
	(void)ctx;
	if (level >= XTL_ERROR)
		atomic_fetch_add(&log_errors, 1);
	if (level < XTL_WARN)
		return;
	vsnprintf(line, sizeof(line), fmt, al);
	h = hash_line(line);
	flockfile(stderr);
	for (i = 0; i < nr_seen && seen[i] != h; i++)
		;
	if (i == nr_seen && atomic_fetch_add(&log_lines, 1) < 20) {
		if (nr_seen < SEEN_MAX)
			seen[nr_seen++] = h;
		fprintf(stderr, "gmap-stress: libgmap: %s", line);
		if (errnoval >= 0)
			fprintf(stderr, ": %s", strerror(errnoval));
		fputc('\n', stderr);
	}
	funlockfile(stderr);
}

static xentoollog_logger the_logger = { .vmessage = log_vmessage };

xentoollog_logger *st_logger(void)
{
	return &the_logger;
}

unsigned int st_log_lines(void)
{
	return atomic_load(&log_lines);
}

unsigned int st_log_errors(void)
{
	return atomic_load(&log_errors);
}

/* Called about 10 times a second by the main thread while workers run. */
void st_progress(struct st_run *r, double t, bool final)
{
	static uint64_t last_acc, last_faults;
	static double last_t;
	struct gmap_stats st;
	uint64_t acc = 0;
	double dt = t - last_t;

	if (!r->cfg.progress)
		return;
	for (unsigned int i = 0; i < r->cfg.threads; i++) {
		uint64_t h = atomic_load_explicit(&r->workers[i].heartbeat,
						  memory_order_relaxed);
		acc += h == UINT64_MAX ? 0 : h;
	}
	gmap_stats(r->w, &st, sizeof(st));
	if (dt > 0 && acc >= last_acc)
		fprintf(stderr, "\r[%6.1fs] %8.2f M acc/s %9.1f k faults/s  "
			"mapped %-8llu failures %llu   ", t,
			(double)(acc - last_acc) / dt / 1e6,
			(double)(st.faults - last_faults) / dt / 1e3,
			(unsigned long long)st.mapped_now,
			(unsigned long long)failures_total(r));
	last_acc = acc;
	last_faults = st.faults;
	last_t = t;
	if (final)
		fputs("\r\033[K", stderr);
}

struct totals {
	uint64_t accesses, reads, writes, kernel, first, skipped;
	uint64_t pins, pinned_refs, releases, released, regrants, revokes,
		ro_grants;
	struct st_hist hist;
};

static void sum(struct st_run *r, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned int i = 0; i < r->cfg.threads; i++) {
		struct st_worker *w = &r->workers[i];

		t->accesses += w->accesses;
		t->reads += w->reads;
		t->writes += w->writes;
		t->kernel += w->kernel_ops;
		t->first += w->first_touches;
		t->skipped += w->skipped;
		st_hist_merge(&t->hist, &w->hist);
	}
	for (unsigned int i = 0; i < r->cfg.churn; i++) {
		struct st_churner *c = &r->churners[i];

		t->pins += c->pins;
		t->pinned_refs += c->pinned_refs;
		t->releases += c->releases;
		t->released += c->released_pages;
		t->regrants += c->regrants;
		t->revokes += c->revokes;
		t->ro_grants += c->ro_grants;
	}
}

static const char *const pattern_names[] = { "seq", "random", "stride", "hot", "runs", "shuffle" };
static const char *const mix_names[] = { "read", "write", "mixed" };
static const char *const dir_names[] = { "fwd", "back", "both" };
static const char *const inject_names[] = { "none", "wrong-frame", "revoke-pinned", "stall" };

#define FAIL_KINDS(X) X(double_maps) X(lost_writes) X(zero_reads) \
	X(wrong_data) X(unexpected_signals) X(hung_threads) X(kernel_errors) \
	X(api_errors) X(left_mapped) X(end_access_busy) X(over_budget)

static void report_json(struct st_run *r, const struct totals *t,
			const struct gmap_stats *st,
			const struct gmap_sim_domain_info *di, uint32_t peak)
{
	const struct st_config *c = &r->cfg;
	static const double pcts[] = { 50, 90, 99, 99.9 };
	static const char *const pct_keys[] = { "p50", "p90", "p99", "p99_9" };
	const char *sep = "";

	printf("{\"config\":{\"backend\":\"%s\",\"threads\":%u,\"churn\":%u,"
	       "\"handlers\":%u,\"spin_us\":%u,\"pages\":%u,\"first_ref\":%u,\"window\":%llu,"
	       "\"pattern\":\"%s\",\"mix\":\"%s\",\"write_pct\":%u,"
	       "\"kernel_pct\":%u,\"ro_pct\":%u,\"keep\":%s,\"verify\":%s,"
	       "\"seed\":%llu,\"inject\":\"%s\",\"spread\":%u,"
	       "\"max_mapped\":%llu,\"max_vmas\":%llu,\"max_meta\":%llu,"
	       "\"fault_around\":%u,"
	       "\"around_dir\":\"%s\"},",
	       c->backend == GMAP_BACKEND_XEN ? "xen" : "sim", c->threads,
	       c->churn, c->handlers, c->spin_us, c->pages, c->first_ref,
	       (unsigned long long)c->window, pattern_names[c->pattern],
	       mix_names[c->mix], c->write_pct, c->kernel_pct, c->ro_pct,
	       c->keep ? "true" : "false", c->verify ? "true" : "false",
	       (unsigned long long)c->seed, inject_names[c->inject], c->spread,
	       (unsigned long long)c->max_mapped,
	       (unsigned long long)c->max_vmas,
	       (unsigned long long)c->max_meta, c->around,
	       dir_names[c->around_dir]);
	printf("\"seconds\":%.3f,\"accesses\":%llu,\"reads\":%llu,"
	       "\"writes\":%llu,\"kernel_accesses\":%llu,\"first_touches\":%llu,"
	       "\"skipped\":%llu,\"kernel_efault_retries\":%llu,"
	       "\"kernel_touched_first\":%llu,\"fault_mode\":\"%s\",",
	       r->elapsed,
	       (unsigned long long)t->accesses, (unsigned long long)t->reads,
	       (unsigned long long)t->writes, (unsigned long long)t->kernel,
	       (unsigned long long)t->first, (unsigned long long)t->skipped,
	       (unsigned long long)atomic_load(&r->kernel_raced),
	       (unsigned long long)atomic_load(&r->kernel_touched),
	       r->inline_faults ? "inline" : "thread");
	printf("\"gmap\":{\"faults\":%llu,\"maps\":%llu,\"map_failures\":%llu,"
	       "\"unmaps\":%llu,\"pins\":%llu,\"unpins\":%llu,"
	       "\"bad_grants\":%llu,\"rearm_waits\":%llu,\"evict_waits\":%llu,"
	       "\"mapped_now\":%llu,"
	       "\"meta_bytes\":%llu,\"evictions\":%llu,\"mapped_peak\":%llu,"
	       "\"max_mapped\":%llu,\"around_runs\":%llu,"
	       "\"around_pages\":%llu,\"window_vmas_end\":%llu,"
	       "\"window_vmas_kernel_splits\":%llu,"
	       "\"window_vmas_sampled_max\":%llu,\"vmas_now\":%llu,"
	       "\"vmas_peak\":%llu,\"max_vmas\":%llu,\"max_meta\":%llu,"
	       "\"meta_freed\":%llu},",
	       (unsigned long long)st->faults, (unsigned long long)st->maps,
	       (unsigned long long)st->map_failures,
	       (unsigned long long)st->unmaps, (unsigned long long)st->pins,
	       (unsigned long long)st->unpins,
	       (unsigned long long)st->bad_grants,
	       (unsigned long long)st->rearm_waits,
	       (unsigned long long)st->evict_waits,
	       (unsigned long long)st->mapped_now,
	       (unsigned long long)st->meta_bytes,
	       (unsigned long long)st->evictions,
	       (unsigned long long)st->mapped_peak,
	       (unsigned long long)st->max_mapped,
	       (unsigned long long)st->around_runs,
	       (unsigned long long)st->around_pages,
	       (unsigned long long)r->vmas_end,
	       (unsigned long long)r->vmas_kernel_splits,
	       (unsigned long long)r->vmas_max,
	       (unsigned long long)st->vmas_now,
	       (unsigned long long)st->vmas_peak,
	       (unsigned long long)st->max_vmas,
	       (unsigned long long)st->max_meta,
	       (unsigned long long)st->meta_freed);
	printf("\"sim\":{\"maps\":%llu,\"map_fails\":%llu,\"double_maps\":%llu,"
	       "\"peak_maps_of_a_ref\":%u,\"peak_live_maps\":%llu},",
	       (unsigned long long)di->maps_total,
	       (unsigned long long)di->map_fails,
	       (unsigned long long)di->double_maps, peak,
	       (unsigned long long)di->maps_peak);
	printf("\"churn\":{\"pins\":%llu,\"pinned_refs\":%llu,\"releases\":%llu,"
	       "\"released_pages\":%llu,\"regrants\":%llu,\"revokes\":%llu,"
	       "\"ro_grants\":%llu,\"speculative_maps\":%llu},",
	       (unsigned long long)t->pins,
	       (unsigned long long)t->pinned_refs,
	       (unsigned long long)t->releases,
	       (unsigned long long)t->released,
	       (unsigned long long)t->regrants,
	       (unsigned long long)t->revokes,
	       (unsigned long long)t->ro_grants,
	       (unsigned long long)atomic_load(&r->speculative_maps));
	printf("\"first_touch_ns\":{\"samples\":%llu",
	       (unsigned long long)t->hist.n);
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		printf(",\"%s\":%llu", pct_keys[i],
		       (unsigned long long)st_hist_pct(&t->hist, pcts[i]));
	printf(",\"max\":%llu},\"failures\":{", (unsigned long long)t->hist.max);
#define J(k) printf("%s\"" #k "\":%llu", sep, \
		    (unsigned long long)atomic_load(&r->fail.k)); sep = ",";
	FAIL_KINDS(J)
#undef J
	printf("},\"ok\":%s}\n", failures_total(r) ? "false" : "true");
}

static void report_human(struct st_run *r, const struct totals *t,
			 const struct gmap_stats *st,
			 const struct gmap_sim_domain_info *di, uint32_t peak)
{
	const struct st_config *c = &r->cfg;
	double s = r->elapsed > 0 ? r->elapsed : 1e-9;
	char serve[64];

	/* An inline window has no handler threads, whatever -H said. */
	if (r->inline_faults)
		snprintf(serve, sizeof(serve), "faults served inline");
	else
		snprintf(serve, sizeof(serve), "%u handler(s) polling %u us",
			 c->handlers, c->spin_us);
	printf("gmap-stress: %s backend, %u faulting + %u churn threads, "
	       "%s, %u pages (refs %u..%u step %u) in a %llu-ref window\n",
	       c->backend == GMAP_BACKEND_XEN ? "xen" : "sim", c->threads,
	       c->churn, serve, c->pages, c->first_ref,
	       st_ref(r, c->pages - 1), c->spread,
	       (unsigned long long)c->window);
	printf("  pattern %s, mix %s (%u%% writes), %u%% by the kernel, %u%% "
	       "read-only grants, seed %llu%s%s%s\n", pattern_names[c->pattern],
	       mix_names[c->mix], c->mix == MIX_MIXED ? c->write_pct :
	       c->mix == MIX_WRITE ? 100 : 0, c->kernel_pct, c->ro_pct,
	       (unsigned long long)c->seed, c->keep ? ", unpin keeps" : "",
	       c->inject ? ", INJECTED: " : "",
	       c->inject ? inject_names[c->inject] : "");
	if (c->max_mapped || c->max_vmas)
		printf("  budget %llu mapped, %llu VMAs (0: libgmap's), "
		       "fault-around %u %s\n", (unsigned long long)c->max_mapped,
		       (unsigned long long)c->max_vmas, c->around,
		       dir_names[c->around_dir]);
	else if (c->around > 1)
		printf("  budget: libgmap's default, fault-around %u %s\n",
		       c->around, dir_names[c->around_dir]);
	printf("ran %.2f s: %llu accesses (%.2f M/s), %s\n", r->elapsed,
	       (unsigned long long)t->accesses, (double)t->accesses / s / 1e6,
	       c->verify ? "every one verified" : "NOT verified (--no-verify)");
	printf("  reads %llu, writes %llu, by the kernel %llu, first touches "
	       "%llu, skipped while the guest reused the ref %llu\n",
	       (unsigned long long)t->reads, (unsigned long long)t->writes,
	       (unsigned long long)t->kernel, (unsigned long long)t->first,
	       (unsigned long long)t->skipped);
	if (c->kernel_pct && (c->churn || st->evictions))
		printf("  kernel accesses retried after EFAULT from a concurrent "
		       "release or eviction: %llu times\n",
		       (unsigned long long)atomic_load(&r->kernel_raced));
	if (r->inline_faults && c->kernel_pct)
		printf("  faults served inline: kernel accesses that met an "
		       "untouched page and touched it first: %llu\n",
		       (unsigned long long)atomic_load(&r->kernel_touched));
	printf("  libgmap: faults %llu, maps %llu, map failures %llu, bad "
	       "grants %llu, unmaps %llu, pins %llu, unpins %llu, re-arm "
	       "waits %llu, waits for an eviction batch %llu, metadata %llu B "
	       "(budget %llu B, %llu B freed)\n",
	       (unsigned long long)st->faults, (unsigned long long)st->maps,
	       (unsigned long long)st->map_failures,
	       (unsigned long long)st->bad_grants,
	       (unsigned long long)st->unmaps, (unsigned long long)st->pins,
	       (unsigned long long)st->unpins,
	       (unsigned long long)st->rearm_waits,
	       (unsigned long long)st->evict_waits,
	       (unsigned long long)st->meta_bytes,
	       (unsigned long long)st->max_meta,
	       (unsigned long long)st->meta_freed);
	printf("  budget: %llu mapped grants, peak %llu (the guest saw %llu), "
	       "evictions %llu; %llu VMAs: %llu at the end (%llu by the "
	       "window's count, peak %llu; %llu unmerged placeholder borders), "
	       "sampled up to %llu while running; "
	       "fault-around: %llu runs, %llu more pages\n",
	       (unsigned long long)st->max_mapped,
	       (unsigned long long)st->mapped_peak,
	       (unsigned long long)di->maps_peak,
	       (unsigned long long)st->evictions,
	       (unsigned long long)st->max_vmas,
	       (unsigned long long)r->vmas_end,
	       (unsigned long long)st->vmas_now,
	       (unsigned long long)st->vmas_peak,
	       (unsigned long long)r->vmas_kernel_splits,
	       (unsigned long long)r->vmas_max,
	       (unsigned long long)st->around_runs,
	       (unsigned long long)st->around_pages);
	if (r->cfg.backend == GMAP_BACKEND_XEN)
		printf("  guest (xen, gntalloc): every grant ended after the "
		       "close; %llu could still be mapped (0 expected)\n",
		       (unsigned long long)atomic_load(&r->fail.end_access_busy));
	else
		printf("  guest (sim): maps %llu, refused %llu, double maps "
		       "%llu, most live maps of one ref %u\n",
		       (unsigned long long)di->maps_total,
		       (unsigned long long)di->map_fails,
		       (unsigned long long)di->double_maps, peak);
	if (c->churn)
		printf("  churn: %llu pins (%llu refs), %llu releases (%llu "
		       "pages unmapped), %llu re-grants (%llu read-only, %llu "
		       "by revoke, %llu released again after a speculative "
		       "map)\n", (unsigned long long)t->pins,
		       (unsigned long long)t->pinned_refs,
		       (unsigned long long)t->releases,
		       (unsigned long long)t->released,
		       (unsigned long long)t->regrants,
		       (unsigned long long)t->ro_grants,
		       (unsigned long long)t->revokes,
		       (unsigned long long)atomic_load(&r->speculative_maps));
	printf("first-touch latency, %llu samples: p50 %llu ns, p90 %llu ns, "
	       "p99 %llu ns, p99.9 %llu ns, max %llu ns\n",
	       (unsigned long long)t->hist.n,
	       (unsigned long long)st_hist_pct(&t->hist, 50),
	       (unsigned long long)st_hist_pct(&t->hist, 90),
	       (unsigned long long)st_hist_pct(&t->hist, 99),
	       (unsigned long long)st_hist_pct(&t->hist, 99.9),
	       (unsigned long long)t->hist.max);
	st_hist_draw(stdout, &t->hist);
	if (!failures_total(r)) {
		printf("failures: none\n");
		return;
	}
	printf("failures:");
#define H(k) if (atomic_load(&r->fail.k)) \
		printf(" " #k " %llu", (unsigned long long)atomic_load(&r->fail.k));
	FAIL_KINDS(H)
#undef H
	printf("\n");
}

/* Print the report; returns the number of failures. */
int st_report(struct st_run *r, const struct gmap_stats *st,
	      const struct gmap_sim_domain_info *di, uint32_t peak)
{
	struct totals t;

	sum(r, &t);
	if (r->cfg.json)
		report_json(r, &t, st, di, peak);
	else
		report_human(r, &t, st, di, peak);
	fflush(stdout);
	return failures_total(r) ? 1 : 0;
}
