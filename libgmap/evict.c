/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * evict.c - the evictor: the thread that keeps a window under its budgets
 * (budget.c), its FIFO of mapped grants, and the unmaps it must retry.
 *
 * How: a FIFO of refs in the order they were mapped (in the manner of
 * UMap's FIFO evictor: a backend's accesses after the map are invisible to
 * userspace, so map order is the best age there is).  When a budget's use
 * reaches its high watermark the evictor wakes and unmaps the oldest
 * unpinned grants, in batches, until it is down to the low watermark.
 * Pinned grants go back to the tail (a second chance).  Eviction is the
 * re-arm of map.c: an access that meets it waits and retries, it never
 * sees a zero page.  The evictor picks and claims its victims here and
 * hands them to gmap_unmap_claimed(), as unpin and release do theirs.
 *
 * The FIFO holds each ref at most once (GS_QUEUED in its state word); a
 * ref unmapped by release or unpin stays queued until the evictor meets it
 * and drops it.
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
#define RING_MIN 1024

static int thread_start(struct gmap_window *w);

/* ---- the FIFO (window lock held) -------------------------------------- */

/* Milliseconds since the window opened (wraps after 49 days, which only
 * makes an idle grant look young once). */
static uint32_t now_ms(struct gmap_evictor *ev)
{
	return (uint32_t)(gmap_mono_ms() - ev->t0_ms);
}

static int ring_push(struct gmap_window *w, uint32_t ref)
{
	struct gmap_evictor *ev = &w->ev;

	if (ev->len == ev->cap) {
		size_t ncap = ev->cap ? ev->cap * 2 : RING_MIN;
		struct gmap_fifo_entry *n = malloc(ncap * sizeof(*n));

		if (!n)
			return -1;
		for (size_t i = 0; i < ev->len; i++)
			n[i] = ev->ring[(ev->head + i) % ev->cap];
		free(ev->ring);
		atomic_fetch_add(&w->c.meta_bytes, (ncap - ev->cap) * sizeof(*n));
		ev->ring = n;
		ev->cap = ncap;
		ev->head = 0;
	}
	ev->ring[(ev->head + ev->len) % ev->cap] =
		(struct gmap_fifo_entry){ ref, ev->idle_ms ? now_ms(ev) : 0 };
	ev->len++;
	return 0;
}

static uint32_t ring_pop(struct gmap_evictor *ev)
{
	uint32_t ref = ev->ring[ev->head].ref;

	ev->head = (ev->head + 1) % ev->cap;
	ev->len--;
	return ref;
}

/* Whether the oldest entry has been mapped for idle_ms. */
static bool head_idle(struct gmap_evictor *ev)
{
	return ev->idle_ms && ev->len &&
	       now_ms(ev) - ev->ring[ev->head].when >= ev->idle_ms;
}

/* Whether the use of the budgets of grants and VMAs has reached a high
 * watermark: grants must be evicted. */
static bool over_high(struct gmap_window *w)
{
	return atomic_load(&w->ev.taken) >= w->ev.high ||
	       atomic_load(&w->c.vmas) >= w->ev.vhigh;
}

/* Whether the metadata has reached its high watermark, and may have
 * leaves free to go: after a pass that found none, only once it has grown
 * by 1/16 of the budget or grants were evicted (a pass scans it all). */
static bool meta_over_high(struct gmap_window *w)
{
	uint64_t m = atomic_load(&w->c.meta_bytes);

	return m >= w->ev.mhigh &&
	       (!w->ev.meta_stuck_at ||
		m >= w->ev.meta_stuck_at + w->ev.max_meta / 16);
}

void gmap_evict_kick(struct gmap_window *w)
{
	struct gmap_evictor *ev = &w->ev;

	if (!ev->cv_ready || atomic_load(&w->closing))
		return;
	if (!ev->running)
		thread_start(w);
	pthread_cond_signal(&ev->cv);
}

/*
 * Drop the FIFO entries of refs that are no longer mapped (released or
 * unpinned since: they stay queued until the evictor meets them), so
 * that their leaves can be freed.  Window lock held.
 */
void gmap_evict_compact(struct gmap_window *w)
{
	struct gmap_evictor *ev = &w->ev;

	for (size_t k = ev->len; k > 0; k--) {
		struct gmap_fifo_entry e = ev->ring[ev->head];
		struct gmap_grant *g = gmap_grant_get(w, e.ref, false);

		ev->head = (ev->head + 1) % ev->cap;
		ev->len--;
		/* Kept: mapped grants, and those being unmapped (an unmap
		 * that fails leaves them mapped, to be evicted later). */
		if (g && (gs_state(atomic_load(&g->state)) == GS_MAPPED ||
			  gs_state(atomic_load(&g->state)) == GS_BUSY)) {
			/* Back at the tail, in the same order, age kept. */
			ev->ring[(ev->head + ev->len) % ev->cap] = e;
			ev->len++;
		} else if (g) {
			gmap_grant_unqueue(w, g);
		}
	}
}

/* A grant was just mapped: queue it for eviction, wake the evictor when
 * a budget's use reaches its high watermark.  Window lock held. */
void gmap_evict_queue(struct gmap_window *w, uint32_t ref, struct gmap_grant *g)
{
	struct gmap_evictor *ev = &w->ev;
	uint64_t now = atomic_load(&w->c.mapped_now), peak;

	window_assert_locked(w);
	peak = atomic_load(&w->c.mapped_peak);
	while (now > peak &&
	       !atomic_compare_exchange_weak(&w->c.mapped_peak, &peak, now))
		;
	if (!(atomic_load(&g->state) & GS_QUEUED) && ring_push(w, ref) == 0)
		gmap_grant_enqueue(w, g);
	/* Without a FIFO entry (no memory) the grant is never evicted; it
	 * is still released, unpinned and closed as usual. */
	/* Unmaps to retry, and no thread to retry them: it could not start
	 * when they failed (no VMAs for its stack); a map means room now. */
	if (ev->ndue && !ev->running && !atomic_load(&w->closing))
		thread_start(w);
	if (over_high(w)) {
		/* If the thread cannot start, maps wait for a slot in vain
		 * and then fail with GMAP_ST_BUDGET: nothing hangs. */
		if (!ev->running && !atomic_load(&w->closing))
			thread_start(w);
		pthread_cond_signal(&ev->cv);
	}
}

/* ---- the evictor thread ------------------------------------------------- */

/* Whether @use is still above the watermark @mark once @freed more is
 * freed (a watermark of UINT64_MAX is never reached: no overflow). */
static bool above(uint64_t use, uint64_t mark, uint64_t freed)
{
	return use > mark && use - mark > freed;
}

/*
 * Take up to @max of the oldest unpinned mapped grants (BUSY, ours): down
 * to the low watermark, or with @idle those mapped for idle_ms.  Window
 * lock held.
 */
static size_t pick(struct gmap_window *w, uint32_t *out, size_t max,
		   bool idle)
{
	struct gmap_evictor *ev = &w->ev;
	size_t n = 0, scan = ev->len;

	window_assert_locked(w);
	/* Each grant taken frees a slot and (once it is unmapped) up to two
	 * VMAs, more if its whole map goes. */
	while (n < max && scan-- > 0 &&
	       (idle ? head_idle(ev) :
		above(atomic_load(&ev->taken), ev->low, n) ||
		above(atomic_load(&w->c.vmas), ev->vlow, 2 * n))) {
		uint32_t ref = ring_pop(ev);
		struct gmap_grant *g = gmap_grant_get(w, ref, false);
		uint32_t s;

		if (!g)
			continue;
		s = gmap_grant_unqueue(w, g);
		if (gs_state(s) != GS_MAPPED)
			continue;           /* unmapped since: drop it */
		if (gs_pins(s)) {
			/* In use: back to the tail. */
			if (ring_push(w, ref) == 0)
				gmap_grant_enqueue(w, g);
			continue;
		}
		gmap_grant_claim(w, ref, g);
		out[n++] = ref;
	}
	return n;
}

/* ---- unmaps to retry ----------------------------------------------------
 *
 * An unmap can fail: the poison that replaces a grant's page may split a
 * VMA, and at the process's limit the kernel refuses that (ENOMEM).  The
 * grant then stays mapped, and its guest cannot end access until it goes;
 * so it is remembered here, and the evictor retries, backing off from
 * DUE_MIN_MS to DUE_MAX_MS, until it is unmapped, pinned again (its last
 * unpin unmaps it), released or closed.  Window lock held throughout.
 */
#define DUE_MIN_MS 10
#define DUE_MAX_MS 1000

void gmap_unmap_due(struct gmap_window *w, uint32_t ref)
{
	struct gmap_evictor *ev = &w->ev;

	window_assert_locked(w);
	atomic_fetch_add(&w->c.unmap_failures, 1);
	if (ev->ndue == ev->due_cap) {
		size_t ncap = ev->due_cap ? ev->due_cap * 2 : 64;
		uint32_t *n = realloc(ev->due, ncap * sizeof(*n));

		if (!n) {
			/* Still mapped, still in the FIFO: the evictor or
			 * gmap_close() unmaps it later. */
			GMAP_LOG(w, XTL_ERROR, ENOMEM, "d%u ref %u: no memory "
				 "to remember the unmap to retry", w->domid, ref);
			return;
		}
		ev->due = n;
		ev->due_cap = ncap;
	}
	ev->due[ev->ndue++] = ref;
	atomic_store(&w->c.unmaps_due, ev->ndue);
	if (!ev->due_at) {
		ev->due_backoff = DUE_MIN_MS;
		ev->due_at = gmap_mono_ms() + DUE_MIN_MS;
	}
	gmap_evict_kick(w);
}

/* Take up to @max due refs that are still mapped and unpinned (BUSY,
 * ours); drop the others. */
static size_t due_take(struct gmap_window *w, uint32_t *out, size_t max)
{
	struct gmap_evictor *ev = &w->ev;
	size_t n = 0;

	window_assert_locked(w);
	while (n < max && ev->ndue) {
		uint32_t ref = ev->due[--ev->ndue];
		struct gmap_grant *g = gmap_grant_get(w, ref, false);
		uint32_t s = g ? atomic_load(&g->state) : 0;

		if (gs_state(s) != GS_MAPPED || gs_pins(s))
			continue;
		gmap_grant_claim(w, ref, g);
		out[n++] = ref;
	}
	atomic_store(&w->c.unmaps_due, ev->ndue);
	return n;
}

/* Retry the due unmaps if their time has come; true if it did. */
static bool due_retry(struct gmap_window *w, uint32_t *refs)
{
	struct gmap_evictor *ev = &w->ev;
	uint64_t failed;
	size_t n;

	if (!ev->ndue || gmap_mono_ms() < ev->due_at)
		return false;
	failed = atomic_load(&w->c.unmap_failures);
	n = due_take(w, refs, EVICT_BATCH);
	if (n) {
		window_unlock(w);
		gmap_unmap_claimed(w, refs, n, GMAP_UNMAP_RETRY);
		window_lock(w);
	}
	if (!ev->ndue) {
		ev->due_at = 0;
	} else if (atomic_load(&w->c.unmap_failures) != failed) {
		/* Still refused: back off. */
		ev->due_backoff = ev->due_backoff * 2 > DUE_MAX_MS ?
				  DUE_MAX_MS : ev->due_backoff * 2;
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

		if (meta_over_high(w)) {
			uint64_t m;

			gmap_meta_reclaim(w, ev->mlow);
			ev->evicted_since = 0;
			m = atomic_load(&w->c.meta_bytes);
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
		if (!over_high(w)) {
			if (!head_idle(ev)) {
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
		n = pick(w, refs, EVICT_BATCH, idle);
		if (idle && n)
			atomic_fetch_add(&w->c.idle_evictions, n);
		if (n == 0 && idle)
			continue;  /* the idle head was pinned: moved back */
		if (n == 0) {
			/* Everything mapped is pinned (or in flight): wait for
			 * an unpin, a release or a map to change that. */
			nap(w, 20);
			continue;
		}
		window_unlock(w);
		gmap_unmap_claimed(w, refs, n, GMAP_UNMAP_EVICT);
		window_lock(w);
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
	 * when first needed, unless the idle timeout needs it from now. */
	if (ev->idle_ms && thread_start(w) < 0)
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
	free(ev->ring);
	ev->ring = NULL;
	ev->cap = ev->len = ev->head = 0;
	/* What is still mapped is unmapped by gmap_close() itself. */
	free(ev->due);
	ev->due = NULL;
	ev->due_cap = ev->ndue = 0;
}
