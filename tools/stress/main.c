/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmap-stress - a multithreaded fault generator that checks libgmap's
 * invariants while it measures them.  See gmap-stress(1) and stress.h for
 * the model.  Exit status: 0 no failure, 1 failures, 2 bad usage or setup.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "stress.h"

static int start_threads(struct st_run *r)
{
	const struct st_config *c = &r->cfg;

	r->workers = calloc(c->threads, sizeof(*r->workers));
	r->churners = calloc(c->churn ? c->churn : 1, sizeof(*r->churners));
	if (!r->workers || !r->churners)
		return -1;
	for (unsigned int i = 0; i < c->threads; i++) {
		struct st_worker *wk = &r->workers[i];

		wk->idx = i;
		wk->rng = c->seed ^ st_mix64(i + 1);
		wk->cursor = (uint64_t)c->pages * i / c->threads;
		/* Kernel-mode accesses copy through this scratch file. */
		wk->kfd = memfd_create("gmap-stress-kernel", MFD_CLOEXEC);
		if (wk->kfd < 0 || ftruncate(wk->kfd, 4096) < 0)
			return -1;
	}
	for (unsigned int i = 0; i < c->churn; i++) {
		r->churners[i].idx = i;
		r->churners[i].rng = c->seed ^ st_mix64(0x1000 + i);
	}
	for (unsigned int i = 0; i < c->threads; i++)
		if ((errno = pthread_create(&r->workers[i].th, NULL,
					    st_worker_main, &r->workers[i])))
			return -1;
	for (unsigned int i = 0; i < c->churn; i++)
		if ((errno = pthread_create(&r->churners[i].th, NULL,
					    st_churn_main, &r->churners[i])))
			return -1;
	return 0;
}

/* How many VMAs the window is split into now, from /proc/self/maps. */
/*
 * The window's VMAs in /proc/self/maps.  Also counted, at the end: the
 * borders between two placeholder VMAs of the window that touch (r->
 * vmas_kernel_splits), anonymous (poisoned pages, an inline window's
 * untouched ones) or of the placeholder file of a window with handler
 * threads.  Placeholders next to each other should be one VMA (see
 * libgmap/vmas.c), or one is a poisoned page: neither border is a grant's
 * VMA, which is what the budget bounds.
 */
static uint64_t sample_vmas(struct st_run *r, uint64_t *splits)
{
	uintptr_t lo = (uintptr_t)r->base, hi = lo + (r->cfg.window << 12);
	unsigned long prev_end = 0;
	bool prev_anon = false;
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	uint64_t n = 0;

	if (splits)
		*splits = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end, inode = 0;
		int path = 0;
		bool anon;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu %n", &start, &end,
			   &inode, &path) < 3)
			inode = 1;
		/* No path and no inode: anonymous; or the placeholder
		 * file. */
		anon = (inode == 0 && (!path || line[path] == '\n' ||
				       line[path] == 0)) ||
		       (path && strstr(line + path, "/memfd:libgmap-placeholders"));
		if (start >= lo && start < hi) {
			n++;
			if (splits && anon && prev_anon && prev_end == start)
				(*splits)++;
			prev_anon = anon;
			prev_end = end;
		}
		/* A line longer than the buffer (a long path) continues. */
		while (!strchr(line, '\n') && fgets(line, sizeof(line), f))
			;
	}
	fclose(f);
	if (n > r->vmas_max)
		r->vmas_max = n;
	r->vma_samples++;
	return n;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * The main thread's loop: progress line, end of the run, and the watchdog.
 * A thread whose heartbeat has not moved for --hang-ms is hung: a libgmap
 * fault that never completes.  Returns the number of hung threads.
 */
static unsigned int supervise(struct st_run *r, uint64_t t0)
{
	const struct st_config *c = &r->cfg;
	unsigned int n = c->threads + c->churn, hung = 0, ticks = 0;
	uint64_t *last = calloc(n, sizeof(*last)), *since = calloc(n, sizeof(*since));

	if (!last || !since)
		abort();
	for (;;) {
		uint64_t now = st_now_ns();
		unsigned int done = 0;
		double t = (double)(now - t0) / 1e9;

		for (unsigned int i = 0; i < n; i++) {
			_Atomic uint64_t *hb = i < c->threads ?
				&r->workers[i].heartbeat :
				&r->churners[i - c->threads].heartbeat;
			uint64_t h = atomic_load(hb);

			if (h == UINT64_MAX) {
				done++;
				continue;
			}
			if (h != last[i] || !since[i]) {
				last[i] = h;
				since[i] = now;
			} else if (now - since[i] > (uint64_t)c->hang_ms * 1000000) {
				hung++;
				st_fail(r, &r->fail.hung_threads, "%s thread %u made "
					"no progress for %u ms (at ref %u)",
					i < c->threads ? "faulting" : "churn",
					i < c->threads ? i : i - c->threads,
					c->hang_ms, i < c->threads ?
					atomic_load(&r->workers[i].cur_ref) : 0);
				since[i] = UINT64_MAX / 2; /* report once */
			}
		}
		if (hung || done == n)
			break;
		/* With --ops the workers end the run; churn stops with them. */
		if ((c->duration && t >= c->duration) ||
		    (c->ops && done + c->churn >= n))
			atomic_store(&r->stop, true);
		st_progress(r, t, false);
		/* About once a second: reading a large maps file is slow. */
		if (++ticks % 10 == 1)
			sample_vmas(r, NULL);
		sleep_ms(atomic_load(&r->stop) ? 5 : 100);
	}
	/* The run lasted until its last faulting thread stopped (this loop
	 * only looks every 100 ms). */
	r->elapsed = (double)(st_now_ns() - t0) / 1e9;
	if (!hung) {
		uint64_t end = 0;

		for (unsigned int i = 0; i < c->threads; i++)
			if (atomic_load(&r->workers[i].end_ns) > end)
				end = atomic_load(&r->workers[i].end_ns);
		r->elapsed = (double)(end - t0) / 1e9;
	}
	st_progress(r, r->elapsed, true);
	free(last);
	free(since);
	return hung;
}

/*
 * The faulting threads are done, so the count is nearly exact (the evictor
 * may still be at work; samples taken while the run went on are not:
 * /proc/self/maps is read in pieces).  Each slot of the budget (a mapped
 * grant, or one being unmapped) splits off at most two VMAs; borders
 * between placeholders that the kernel did not merge are not the
 * budget's (sample_vmas), and are taken off first.
 */
static void check_vmas(struct st_run *r, const struct gmap_stats *st)
{
	uint64_t own = r->vmas_end - r->vmas_kernel_splits;

	if (own > 2 * st->max_mapped + 1)
		st_fail(r, &r->fail.over_budget, "the window is split into "
			"%llu VMAs (%llu of them borders between placeholders "
			"the kernel did not merge), over 2 x budget + 1 = %llu",
			(unsigned long long)r->vmas_end,
			(unsigned long long)r->vmas_kernel_splits,
			(unsigned long long)(2 * st->max_mapped + 1));
}

/*
 * After the run: nothing may stay mapped that the library does not know
 * of, closing must unmap everything, and the guest must get every ref back
 * (end access) -- invariants 1 and 5, seen from the guest's side.
 */
static uint32_t final_checks(struct st_run *r, struct gmap_stats *st,
			     struct gmap_sim_domain_info *di)
{
	const struct st_config *c = &r->cfg;
	struct gmap_sim_ref_info ri;
	uint32_t peak = 0;

	r->vmas_end = sample_vmas(r, &r->vmas_kernel_splits);
	gmap_stats(r->w, st, sizeof(*st));
	memset(di, 0, sizeof(*di));
	if (r->xg) {
		/* Xen's counts are not visible: libgmap's peak stands for
		 * the guest's, and the guest's side is checked by ending
		 * every grant after the close (xenguest.c). */
		di->maps_peak = st->mapped_peak;
		check_vmas(r, st);
		gmap_close(r->w);
		r->w = NULL;
		st_xen_guest_end(r);
		return 0;
	}
	gmap_sim_domain_info(r->dom, di);
	/* Invariant 6: within the budget.  Each mapped grant may cost two
	 * VMAs, the window itself one. */
	if (di->maps_peak > st->max_mapped)
		st_fail(r, &r->fail.over_budget, "the guest saw %llu grants "
			"mapped at once, over the budget of %llu",
			(unsigned long long)di->maps_peak,
			(unsigned long long)st->max_mapped);
	check_vmas(r, st);
	for (uint32_t i = 0; i < c->pages; i++)
		if (gmap_sim_ref_info(r->dom, st_ref(r, i), &ri) == 0 &&
		    ri.maps_peak > peak)
			peak = ri.maps_peak;
	if (di->double_maps)
		st_fail(r, &r->fail.double_maps, "the guest saw %llu maps of "
			"grants that were already mapped (most live maps of "
			"one ref: %u)", (unsigned long long)di->double_maps, peak);
	if (di->maps_now != st->mapped_now)
		st_fail(r, &r->fail.left_mapped, "the guest counts %llu live "
			"maps, libgmap %llu", (unsigned long long)di->maps_now,
			(unsigned long long)st->mapped_now);
	gmap_close(r->w);
	r->w = NULL;
	gmap_sim_domain_info(r->dom, di);
	if (di->maps_now)
		st_fail(r, &r->fail.left_mapped, "%llu grants still mapped "
			"after gmap_close", (unsigned long long)di->maps_now);
	for (uint32_t i = 0; i < c->pages; i++)
		if (gmap_sim_end_access(r->dom, st_ref(r, i)) < 0)
			st_fail(r, &r->fail.end_access_busy, "after close, the "
				"guest cannot end access to ref %u: %s",
				st_ref(r, i), strerror(errno));
	return peak;
}

int main(int argc, char **argv)
{
	static struct st_run run;
	struct st_run *r = &run;
	struct gmap_open_opts o = { .size = sizeof(o) };
	struct gmap_sim_domain_info di;
	struct gmap_stats st;
	unsigned int errors;
	uint32_t peak;
	int rc;

	st_parse(&r->cfg, argc, argv);
	if (r->cfg.bench)
		return st_bench(&r->cfg);
	st_the_run = r;
	st_signals_install();
	o.backend = r->cfg.backend;
	o.nr_refs = r->cfg.window;
	o.handler_threads = r->cfg.handlers;
	o.handler_spin_us = r->cfg.spin_us;
	o.bad_policy = GMAP_BAD_SIGNAL_QUIET;
	o.logger = st_logger();
	o.self_domid = ST_SELF;
	o.unpin_policy = r->cfg.keep ? GMAP_UNPIN_KEEP : GMAP_UNPIN_UNMAP;
	o.max_mapped = r->cfg.max_mapped;
	o.max_vmas = r->cfg.max_vmas;
	o.max_meta = r->cfg.max_meta;
	o.fault_around = r->cfg.around;
	o.fault_around_dir = r->cfg.around_dir;
	errors = st_log_errors();
	if (r->cfg.backend == GMAP_BACKEND_XEN) {
		/* The guest is this domain, granting to itself.  The window
		 * first, so that libgmap says what is missing where there
		 * is no Xen (/dev/xen/gntdev). */
		r->w = gmap_open(ST_SELF, &o);
		if (!r->w || st_xen_guest_create(r) < 0)
			return 2;
	} else {
		if (st_guest_create(r) < 0)
			return 2;
		r->w = gmap_open(ST_DOMID, &o);
	}
	/* libgmap logs why a window cannot be opened (a bad GMAP_*
	 * variable, no Xen): said once, by it, unless it said nothing. */
	if (!r->w) {
		if (st_log_errors() == errors)
			fprintf(stderr, "gmap-stress: cannot open the window: "
				"%s\n", strerror(errno));
		return 2;
	}
	r->base = gmap_base(r->w);
	{
		struct gmap_stats ws;

		r->inline_faults = gmap_stats(r->w, &ws, sizeof(ws)) == 0 &&
				   ws.fault_mode == GMAP_FAULT_INLINE;
		/* What differs from a run as root, in one line: a user
		 * without /dev/userfaultfd (and vm.unprivileged_userfaultfd
		 * 0, Debian's default) cannot have kernel-mode faults
		 * served, and auto chose inline. */
		if (r->inline_faults && r->cfg.kernel_pct)
			printf("gmap-stress: faults are served inline (%s): "
			       "the kernel-mode accesses touch their page from "
			       "user mode after EFAULT, then try again\n",
			       getenv("GMAP_FAULT_MODE") ? "GMAP_FAULT_MODE" :
			       "auto: this process cannot have faults taken "
			       "in kernel mode served");
	}
	if (start_threads(r) < 0) {
		fprintf(stderr, "gmap-stress: cannot start %u threads: %s\n",
			r->cfg.threads + r->cfg.churn, strerror(errno));
		return 2;
	}
	if (supervise(r, st_now_ns())) {
		/* A hung thread cannot be joined, and the others' counters
		 * cannot be read while it might still run: say so and go. */
		unsigned long long h = atomic_load(&r->fail.hung_threads);

		if (r->cfg.json)
			printf("{\"seconds\":%.3f,\"failures\":{\"hung_threads\":"
			       "%llu},\"ok\":false}\n", r->elapsed, h);
		else
			printf("gmap-stress: run abandoned after %.2f s\n"
			       "failures: hung_threads %llu\n", r->elapsed, h);
		fflush(NULL);
		_exit(1);
	}
	for (unsigned int i = 0; i < r->cfg.threads; i++)
		pthread_join(r->workers[i].th, NULL);
	for (unsigned int i = 0; i < r->cfg.churn; i++)
		pthread_join(r->churners[i].th, NULL);
	peak = final_checks(r, &st, &di);
	rc = st_report(r, &st, &di, peak);
	if (st_log_lines() > 20)
		fprintf(stderr, "gmap-stress: %u different libgmap messages, "
			"the first 20 shown\n", st_log_lines());
	for (unsigned int i = 0; i < r->cfg.threads; i++)
		close(r->workers[i].kfd);
	if (r->dom)
		gmap_sim_domain_destroy(r->dom);
	free(r->workers);
	free(r->churners);
	free((void *)r->lease);
	free((void *)r->seen);
	free((void *)r->rel_epoch);
	return rc;
}
