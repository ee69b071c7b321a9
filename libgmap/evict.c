/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * evict.c - the evictor: the thread that keeps a window under its budgets
 * (budget.c) and its metadata under its own (reclaim.c), and retries the
 * unmaps the kernel refused, taking its work from the queues (queue.c).
 *
 * When a budget's use reaches its high watermark the evictor wakes and
 * unmaps the oldest unpinned grants, in batches, until it is down to the
 * low watermark: FIFO order, in the manner of UMap's FIFO evictor (a
 * backend's accesses after the map are invisible to userspace, so map
 * order is the best age there is), pinned grants going back to the tail
 * (a second chance).  Eviction is the unmap of map.c, which unpin and
 * release share: an access that meets it waits and retries, it never
 * sees a zero page.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "private.h"

#define EVICT_BATCH 64

static int thread_start(struct gmap_window *w);

/* Whether the metadata has reached its high watermark, and may have
 * leaves free to go: after a pass that found none, only once it has grown
 * by 1/16 of the budget or grants were evicted (a pass scans it all). */
static bool meta_over_high(struct gmap_window *w)
{
	uint64_t m = atomic_load(&w->c->meta_bytes);

	return m >= w->ev.mhigh &&
	       (!w->ev.meta_stuck_at ||
		m >= w->ev.meta_stuck_at + w->ev.max_meta / 16);
}

void gmap_evict_kick(struct gmap_window *w)
{
	struct gmap_evictor *ev = &w->ev;

	if (!ev->cv_ready || atomic_load(&w->closing))
		return;
	/* A fault served inline (in a signal handler) may not start a
	 * thread: inline windows start theirs at open. */
	if (!ev->running && !gmap_tls.in_fault)
		thread_start(w);
	pthread_cond_signal(&ev->cv);
}


/* Retry the due unmaps if their time has come; true if it did. */
static bool due_retry(struct gmap_window *w, uint32_t *refs)
{
	struct gmap_evictor *ev = &w->ev;
	uint64_t failed;
	size_t n;

	if (!ev->ndue || gmap_mono_ms() < ev->due_at)
		return false;
	failed = atomic_load(&w->c->unmap_failures);
	n = gmap_due_take(w, refs, EVICT_BATCH);
	if (n) {
		window_unlock(w);
		gmap_unmap_claimed(w, refs, n, GMAP_UNMAP_RETRY);
		window_lock(w);
	}
	/* Those refused again are due again (gmap_unmap_due()). */
	gmap_due_done(w);
	if (!ev->ndue) {
		ev->due_at = 0;
	} else if (atomic_load(&w->c->unmap_failures) != failed) {
		/* Still refused: back off. */
		ev->due_backoff = ev->due_backoff * 2 > GMAP_DUE_MAX_MS ?
				  GMAP_DUE_MAX_MS : ev->due_backoff * 2;
		ev->due_at = gmap_mono_ms() + ev->due_backoff;
	}
	return true;
}

/* Wait on the evictor's condition variable for at most @ms (0: until
 * woken), and no later than the next retry of a due unmap. */
static void nap(struct gmap_window *w, unsigned int ms)
{
	struct gmap_evictor *ev = &w->ev;
	struct timespec t;

	/* The loop may have dropped the lock since it looked (to write the
	 * deferred log lines, say), and gmap_evict_stop()'s broadcast may
	 * have come then: closing is set before it, so look again here,
	 * under the lock, or sleep for ever. */
	if (atomic_load(&w->closing))
		return;
	if (ev->ndue) {
		uint64_t now = gmap_mono_ms();
		unsigned int d = ev->due_at > now ?
				 (unsigned int)(ev->due_at - now) : 0;

		if (!d)
			return;
		if (!ms || d < ms)
			ms = d;
	}
	if (!ms) {
		window_wait(w, &ev->cv, NULL);
		return;
	}
	t = gmap_mono_after(ms);
	window_wait(w, &ev->cv, &t);
}

static void *evictor_main(void *arg)
{
	struct gmap_window *w = arg;
	struct gmap_evictor *ev = &w->ev;
	uint32_t refs[EVICT_BATCH];

	window_lock(w);
	while (!atomic_load(&w->closing)) {
		bool idle = false;
		size_t n;

		if (gmap_log_deferred()) {
			window_unlock(w);
			gmap_log_flush();
			window_lock(w);
		}

		if (meta_over_high(w)) {
			uint64_t m;

			gmap_meta_reclaim(w, ev->mlow);
			ev->evicted_since = 0;
			m = atomic_load(&w->c->meta_bytes);
			if (m >= ev->mhigh && !ev->meta_warned) {
				/* Once per window: it may come and go with
				 * the grants in use. */
				ev->meta_warned = true;
				GMAP_LOG(w, XTL_WARN, -1, "d%u: %llu bytes of "
					 "metadata, near or over the budget of "
					 "%llu, all of it held by grants in use "
					 "(mapped, pinned, bad or queued for "
					 "eviction; see max_meta)", w->domid,
					 (unsigned long long)m,
					 (unsigned long long)ev->max_meta);
			}
			ev->meta_stuck_at = m >= ev->mhigh ? m : 0;
			continue;
		}
		if (due_retry(w, refs))
			continue;
		if (!gmap_budget_over_high(w)) {
			if (!gmap_evict_head_idle(ev)) {
				/* With an idle timeout, look again at a
				 * quarter of it (at most every second). */
				if (ev->idle_ms)
					nap(w, ev->idle_ms / 4 < 1000 ?
					    ev->idle_ms / 4 + 1 : 1000);
				else
					nap(w, 0);
				continue;
			}
			idle = true;
		}
		n = gmap_evict_pick(w, refs, EVICT_BATCH, idle);
		if (idle && n)
			atomic_fetch_add(&w->c->idle_evictions, n);
		if (n == 0 && idle)
			continue;  /* the idle head was pinned: moved back */
		if (n == 0) {
			/* Everything mapped is pinned (or in flight): wait for
			 * an unpin, a release or a map to change that. */
			nap(w, 20);
			continue;
		}
		/*
		 * Maps wait until the batch is unmapped (gmap_evict_gated()).
		 * They would mostly wait for the process's mmap lock anyway,
		 * spinning on it; a thread that sleeps instead leaves its CPU
		 * idle, and the TLB flush of each unmap then needs no IPI to
		 * it.  With 2 CPUs, a random workload over a window at its
		 * budget ran in 0.4x the time in the inline mode, 0.6x with
		 * handler threads (tests/scale.sh's random run, 1,000,000
		 * pages).  A map waits for one batch at most: the evictor
		 * may well take the lock again before a woken map does, and
		 * gate the next batch too.
		 */
		ev->gated = true;
		window_unlock(w);
		gmap_unmap_claimed(w, refs, n, GMAP_UNMAP_EVICT);
		window_lock(w);
		ev->gated = false;
		ev->batches++;
		pthread_cond_broadcast(&w->cv);
		/* Evicted grants may have left leaves free to go: worth a
		 * new pass (which scans the whole directory) once enough of
		 * them went. */
		ev->evicted_since += n;
		if (ev->evicted_since >= (ev->max_mapped / 16 > 64 ?
					  ev->max_mapped / 16 : 64))
			ev->meta_stuck_at = 0;
	}
	window_unlock(w);
	return NULL;
}

/* Start the evictor thread (window lock held, or not yet shared). */
static int thread_start(struct gmap_window *w)
{
	struct gmap_evictor *ev = &w->ev;
	sigset_t all, old;
	char name[16];
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&ev->thread, NULL, evictor_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		GMAP_LOG(w, XTL_ERROR, rc, "d%u: cannot start the evictor "
			 "thread", w->domid);
		errno = rc;
		return -1;
	}
	ev->running = true;
	snprintf(name, sizeof(name), "gmap-d%u-evict", w->domid);
	pthread_setname_np(ev->thread, name);
	return 0;
}

int gmap_evict_start(struct gmap_window *w, uint32_t idle_ms)
{
	struct gmap_evictor *ev = &w->ev;
	pthread_condattr_t ca;

	ev->idle_ms = idle_ms;
	ev->t0_ms = gmap_mono_ms();
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->cv, &ca);
	pthread_condattr_destroy(&ca);
	ev->cv_ready = true;
	/* Most windows never come near their budget: the thread starts
	 * when first needed, unless the idle timeout needs it from now, or
	 * faults are served inline, where it cannot be started (above) and
	 * writes the log lines they defer. */
	if ((ev->idle_ms || w->h.inline_mode) && thread_start(w) < 0)
		return -1;
	return 0;
}

/* Stop the evictor (w->closing is already set) and free the FIFO. */
void gmap_evict_stop(struct gmap_window *w)
{
	struct gmap_evictor *ev = &w->ev;

	if (ev->running) {
		window_lock(w);
		pthread_cond_broadcast(&ev->cv);
		window_unlock(w);
		pthread_join(ev->thread, NULL);
		ev->running = false;
	}
	if (ev->cv_ready) {
		pthread_cond_destroy(&ev->cv);
		ev->cv_ready = false;
	}
	gmap_budget_fini(w);
	gmap_evict_ring_free(ev);
	/* What is still mapped is unmapped by gmap_close() itself. */
	free(ev->due);
	ev->due = NULL;
	ev->due_cap = ev->ndue = 0;
}
