/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * queue.c - the evictor's two queues (window lock held throughout): the
 * FIFO of mapped grants, in map order, that it evicts from, and the refs
 * whose unmap the kernel refused, which it retries.  Maps and unmaps put
 * grants on them; the thread (evict.c) takes from them.
 *
 * The FIFO holds each ref at most once (GS_QUEUED in its state word); a
 * ref unmapped by release or unpin stays queued until the evictor meets it
 * and drops it.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "private.h"

/* A power of two, as the ring's size stays (it doubles): positions wrap
 * with a mask, not a division (ring_slot). */
#define RING_MIN 1024

/* Milliseconds since the window opened (wraps after 49 days, which only
 * makes an idle grant look young once). */
static uint32_t now_ms(struct gmap_evictor *ev)
{
	return (uint32_t)(gmap_mono_ms() - ev->t0_ms);
}

/* The ring's memory is our own mmap, not malloc's: a fault served inline
 * queues its grant in a signal handler (inline.c). */
void gmap_evict_ring_free(struct gmap_evictor *ev)
{
	gmap_mem_unmap(ev->ring, ev->cap * sizeof(*ev->ring));
	ev->ring = NULL;
	ev->cap = ev->len = ev->head = 0;
}

static size_t ring_slot(const struct gmap_evictor *ev, size_t pos)
{
	return pos & (ev->cap - 1);
}

static int ring_push(struct gmap_window *w, uint32_t ref)
{
	struct gmap_evictor *ev = &w->ev;

	if (ev->len == ev->cap) {
		size_t ncap = ev->cap ? ev->cap * 2 : RING_MIN;
		struct gmap_fifo_entry *n = gmap_mem_map(ncap * sizeof(*n));

		if (!n)
			return -1;
		for (size_t i = 0; i < ev->len; i++)
			n[i] = ev->ring[ring_slot(ev, ev->head + i)];
		gmap_mem_unmap(ev->ring, ev->cap * sizeof(*n));
		atomic_fetch_add(&w->c->meta_bytes, (ncap - ev->cap) * sizeof(*n));
		ev->ring = n;
		ev->cap = ncap;
		ev->head = 0;
	}
	ev->ring[ring_slot(ev, ev->head + ev->len)] =
		(struct gmap_fifo_entry){ ref, ev->idle_ms ? now_ms(ev) : 0 };
	ev->len++;
	return 0;
}

static uint32_t ring_pop(struct gmap_evictor *ev)
{
	uint32_t ref = ev->ring[ev->head].ref;

	ev->head = ring_slot(ev, ev->head + 1);
	ev->len--;
	return ref;
}

/* Whether the oldest entry has been mapped for idle_ms. */
bool gmap_evict_head_idle(struct gmap_evictor *ev)
{
	return ev->idle_ms && ev->len &&
	       now_ms(ev) - ev->ring[ev->head].when >= ev->idle_ms;
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

		ev->head = ring_slot(ev, ev->head + 1);
		ev->len--;
		/* Kept: mapped grants, and those being unmapped (an unmap
		 * that fails leaves them mapped, to be evicted later). */
		if (g && (gs_state(atomic_load(&g->state)) == GS_MAPPED ||
			  gs_state(atomic_load(&g->state)) == GS_BUSY)) {
			/* Back at the tail, in the same order, age kept. */
			ev->ring[ring_slot(ev, ev->head + ev->len)] = e;
			ev->len++;
		} else if (g) {
			gmap_grant_unqueue(w, g);
		}
	}
}

/* A grant was just mapped: queue it for eviction.  Without a FIFO entry
 * (no memory) the grant is never evicted; it is still released, unpinned
 * and closed as usual.  Window lock held. */
/* The same for a word about to be stored (gstate.c): @word with
 * GS_QUEUED if @ref is in the FIFO now. */
uint32_t gmap_evict_push_word(struct gmap_window *w, uint32_t ref,
			      uint32_t word)
{
	window_assert_locked(w);
	if (!(word & GS_QUEUED) && ring_push(w, ref) == 0)
		word |= GS_QUEUED;
	return word;
}

/* Grants were just mapped and pushed: keep the peak, wake the evictor
 * when a budget's use reaches its high watermark.  Window lock held. */
void gmap_evict_mapped(struct gmap_window *w)
{
	struct gmap_evictor *ev = &w->ev;
	uint64_t now = atomic_load(&w->c->mapped_now), peak;

	window_assert_locked(w);
	peak = atomic_load(&w->c->mapped_peak);
	while (now > peak &&
	       !atomic_compare_exchange_weak(&w->c->mapped_peak, &peak, now))
		;
	/* Unmaps to retry, and no thread to retry them: it could not start
	 * when they failed (no VMAs for its stack); a map means room now.
	 * Over a high watermark: work.  If the thread cannot start, maps
	 * wait for a slot in vain and then fail with GMAP_ST_BUDGET:
	 * nothing hangs. */
	if ((ev->ndue && !ev->running) || gmap_budget_over_high(w))
		gmap_evict_kick(w);
}

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
size_t gmap_evict_pick(struct gmap_window *w, uint32_t *out, size_t max,
		       bool idle)
{
	struct gmap_evictor *ev = &w->ev;
	size_t n = 0, scan = ev->len;

	window_assert_locked(w);
	/* Each grant taken frees a slot and (once it is unmapped) up to two
	 * VMAs, more if its whole map goes. */
	while (n < max && scan-- > 0 &&
	       (idle ? gmap_evict_head_idle(ev) :
		above(atomic_load(&ev->taken), ev->low, n) ||
		above(atomic_load(&w->c->vmas), ev->vlow, 2 * n))) {
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

/* gmap_stats()'s unmaps_due: the refused unmaps waiting for a retry, and
 * those a retry has taken and not finished.  Window lock held. */
static void due_publish(struct gmap_window *w)
{
	atomic_store(&w->c->unmaps_due, w->ev.ndue + w->ev.due_busy);
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

void gmap_unmap_due(struct gmap_window *w, uint32_t ref)
{
	struct gmap_evictor *ev = &w->ev;

	window_assert_locked(w);
	atomic_fetch_add(&w->c->unmap_failures, 1);
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
	due_publish(w);
	if (!ev->due_at) {
		ev->due_backoff = GMAP_DUE_MIN_MS;
		ev->due_at = gmap_mono_ms() + GMAP_DUE_MIN_MS;
	}
	gmap_evict_kick(w);
}

size_t gmap_due_take(struct gmap_window *w, uint32_t *out, size_t max)
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
	/* Those taken are still due until their retry is done
	 * (gmap_due_done()): a caller that sees 0 may find them unmapped. */
	ev->due_busy = n;
	due_publish(w);
	return n;
}

void gmap_due_done(struct gmap_window *w)
{
	window_assert_locked(w);
	w->ev.due_busy = 0;
	due_publish(w);
}
