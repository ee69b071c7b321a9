/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pin.c - the public calls on ranges of refs: gmap_pin(), gmap_prefault(),
 * gmap_unpin() and gmap_release().  Untouched refs ahead are mapped as
 * runs first (gmap_map_run); each ref is then held or unpinned through
 * its state word (gstate.c), and the unmaps go through gmap_unmap_claimed().
 */
#include <errno.h>

#include "private.h"
#include "xen_abi.h"

/* The longest run one pin or prefault maps in one backend call. */
#define RUN_MAX 64
/* Grants unpinned or released per unmap (runs of them are unmapped with
 * one poison and one re-arm each). */
#define UNMAP_BATCH 64

static int check_range(const struct gmap_window *w, uint32_t ref,
		       uint32_t count, const char *what)
{
	if (gmap_inherited_check(w, what))
		return -1;
	if (count == 0) {
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)ref + count > w->nr_refs) {
		errno = ERANGE;
		return -1;
	}
	return 0;
}

static void fill_err(struct gmap_error *err, uint32_t ref, int16_t st, int e)
{
	if (err) {
		err->ref = ref;
		err->status = st;
		err->err = e;
	}
}

/*
 * Make @ref mapped (for a pin when @pin): the shared core of pin and
 * prefault.  Returns 0, or -1 with errno and *@st.
 */
static int hold_one(struct gmap_window *w, uint32_t ref,
		    enum gmap_access access, bool pin, int16_t *st)
{
	bool write = access == GMAP_ACCESS_WRITE;
	struct gmap_grant *g;
	uint32_t prev, ro;
	int rc;

	*st = 0;
	window_lock(w);
	g = gmap_grant_wait(w, ref, true);
	if (!g) {
		window_unlock(w);
		*st = GMAP_ST_NOMEM;
		errno = ENOMEM;
		return -1;
	}
	prev = atomic_load(&g->state);
	if (gs_state(prev) == GS_MAPPED) {
		if (write && (prev & GS_RO)) {
			window_unlock(w);
			*st = GNTST_general_error;
			errno = EACCES;
			return -1;
		}
		if (pin && gs_pins(prev) == GS_PINS_MAX) {
			window_unlock(w);
			*st = 0;
			errno = EOVERFLOW;
			return -1;
		}
		goto held;
	}
	gmap_grant_claim(w, ref, g);
	window_unlock(w);

	rc = gmap_map_claimed(w, ref, access, true, &ro, st);

	window_lock(w);
	if (rc < 0) {
		int e = errno;

		/* Nothing was placed: the page is as it was (a placeholder or
		 * a poisoned page), so the grant goes back to its old state
		 * (its place in the evictor's FIFO is evict.c's business). */
		if (*st == GMAP_ST_LOST)  /* never ours again */
			gmap_grant_commit(w, ref, g, GS_BAD, 0, GMAP_ST_LOST);
		else
			gmap_grant_restore(w, ref, g, prev);
		pthread_cond_broadcast(&w->cv);
		window_unlock(w);
		errno = e;
		return -1;
	}
	gmap_commit_mapped(w, ref, ro);
	pthread_cond_broadcast(&w->cv);
	/* Threads may be waiting on a fault here; the map did not wake
	 * them.  Their handler will, when it reads their message and finds
	 * the page mapped, unless it is busy: then we do. */
	gmap_wake_waiters(w, gmap_addr_of(w, ref), GMAP_PAGE_SIZE);
held:
	if (pin) {
		if (gs_pins(gmap_grant_pin(w, g)) == 0)
			atomic_fetch_add(&w->c->pinned_now, 1);
		atomic_fetch_add(&w->c->pins, 1);
	}
	window_unlock(w);
	return 0;
}

int gmap_pin_held(struct gmap_window *w, uint32_t ref, bool write)
{
	struct gmap_grant *g;
	uint32_t s;
	int rc = -1;

	if (ref >= w->nr_refs || gmap_inherited(w))
		return -1;
	window_lock(w);
	g = gmap_grant_get(w, ref, false);
	s = g ? atomic_load(&g->state) : 0;
	if (g && gs_state(s) == GS_MAPPED && gs_pins(s) > 0 &&
	    gs_pins(s) < GS_PINS_MAX && !(write && (s & GS_RO))) {
		gmap_grant_pin(w, g);
		atomic_fetch_add(&w->c->pins, 1);
		rc = 0;
	}
	window_unlock(w);
	return rc;
}

/* The longest range the fast path takes under one hold of the lock. */
#define FAST_MAX 256

/*
 * The fast path (the persistent-grant case): every ref of the range is
 * mapped already, as @access allows, and has room for one more pin.  Then
 * the range is pinned (with @pin) under one hold of the lock, with no
 * broadcast, since no grant changes state.  False, and nothing done, if a
 * ref is not so: the slow path then goes ref by ref.
 */
static bool hold_mapped(struct gmap_window *w, uint32_t ref, uint32_t count,
			enum gmap_access access, bool pin)
{
	uint32_t i;

	/* A lock-free look first: a first ref that is not mapped (the
	 * common case of a map through the shim) is not worth the lock. */
	if (count > FAST_MAX ||
	    gs_state(gs_word(gmap_grant_peek(w->dir.slots, ref))) != GS_MAPPED)
		return false;
	window_lock(w);
	for (i = 0; i < count; i++) {
		uint32_t s = gs_word(gmap_grant_get(w, ref + i, false));

		if (gs_state(s) != GS_MAPPED || gs_pins(s) == GS_PINS_MAX ||
		    (access == GMAP_ACCESS_WRITE && (s & GS_RO))) {
			window_unlock(w);
			return false;
		}
	}
	for (i = 0; pin && i < count; i++) {
		if (gs_pins(gmap_grant_pin(w, gmap_grant_get(w, ref + i,
							    false))) == 0)
			atomic_fetch_add(&w->c->pinned_now, 1);
	}
	if (pin)
		atomic_fetch_add(&w->c->pins, count);
	window_unlock(w);
	return true;
}

static int range_op(struct gmap_window *w, uint32_t ref, uint32_t count,
		    int flags, struct gmap_error *err, bool pin)
{
	enum gmap_access access = flags & GMAP_PIN_WRITE ? GMAP_ACCESS_WRITE :
				  flags & GMAP_PIN_READONLY ? GMAP_ACCESS_READ :
				  GMAP_ACCESS_ANY;
	uint32_t run_end = 0;
	uint32_t i;
	int16_t st;
	int e;

	if (!w || (flags & ~(GMAP_PIN_WRITE | GMAP_PIN_READONLY)) ||
	    (flags & GMAP_PIN_WRITE && flags & GMAP_PIN_READONLY)) {
		errno = EINVAL;
		fill_err(err, ref, 0, EINVAL);
		return -1;
	}
	if (check_range(w, ref, count, pin ? "gmap_pin" : "gmap_prefault") < 0) {
		fill_err(err, ref, 0, errno);
		return -1;
	}
	if (hold_mapped(w, ref, count, access, pin))
		return 0;
	for (i = 0; i < count; i++) {
		/* Untouched refs ahead: map them as runs first; hold_one()
		 * then finds them mapped and pins them.  A ref that is
		 * touched already (a lock-free look: hold_one() decides) is
		 * not worth a try, which would take the lock for nothing, nor
		 * is the last ref: a run is at least two (a one-page request
		 * would take, and give back, its claim and budget slot). */
		if (i >= run_end && count - i >= 2 &&
		    !(gs_word(gmap_grant_peek(w->dir.slots, ref + i)) &
		      ~GS_EMPTY_BITS)) {
			uint32_t left = count - i, lo;
			int n = gmap_map_run(w, ref + i, left < RUN_MAX ?
					     left : RUN_MAX, 1, 2,
					     access != GMAP_ACCESS_READ, &lo);

			/* After a failed run (a read-only or bad grant in
			 * it), the rest goes ref by ref: no run retried over
			 * the same refs again and again. */
			run_end = n < 0 ? count : i + (n > 0 ? (uint32_t)n : 1);
		}
		if (hold_one(w, ref + i, access, pin, &st) == 0)
			continue;
		e = errno;
		fill_err(err, ref + i, st, e);
		GMAP_LOG(w, XTL_ERROR, st == GMAP_ST_BACKEND || !st ? e : -1,
			 "d%u ref %u: %s failed: %s (status %d)", w->domid,
			 ref + i, pin ? "pin" : "prefault",
			 st ? gmap_status_str(st) : "not a grant status", st);
		if (pin && i > 0)
			gmap_unpin(w, ref, i);
		errno = e;
		return -1;
	}
	return 0;
}

GMAP_EXPORT int gmap_pin(struct gmap_window *w, uint32_t ref, uint32_t count,
			 int flags, struct gmap_error *err)
{
	return range_op(w, ref, count, flags, err, true);
}

GMAP_EXPORT int gmap_prefault(struct gmap_window *w, uint32_t ref,
			      uint32_t count, int flags, struct gmap_error *err)
{
	return range_op(w, ref, count, flags, err, false);
}

/*
 * Whether every ref of [@ref, @ref + @count) is pinned (window lock held),
 * waiting out refs in flight (BUSY has no pins yet, or none any more) and
 * then looking again from the start.  Stops at the first ref that is not
 * pinned (*@bad): the work is bounded by what is pinned, whatever @count
 * says, and untouched refs cost nothing.
 */
static bool range_pinned(struct gmap_window *w, uint32_t ref, uint32_t count,
			 uint32_t *bad)
{
	uint32_t i;

again:
	for (i = 0; i < count; i++) {
		struct gmap_grant *g = gmap_grant_get(w, ref + i, false);
		uint32_t s = g ? atomic_load(&g->state) : 0;

		if (g && gs_state(s) == GS_BUSY) {
			window_wait(w, &w->cv, NULL);
			goto again;
		}
		if (gs_state(s) != GS_MAPPED || gs_pins(s) == 0) {
			*bad = ref + i;
			return false;
		}
	}
	return true;
}

/*
 * GMAP_UNPIN_KEEP, said once per window as it first happens: a frontend
 * that did not negotiate persistent grants ends access to a request's
 * grants when it completes, and Linux's blkfront (5.17, XSA-396) then
 * disables the device if the backend still has one mapped.
 */
static void keep_warn(struct gmap_window *w, uint32_t ref)
{
	if (atomic_exchange(&w->keep_warned, true))
		return;
	GMAP_LOG(w, XTL_WARN, -1, "d%u ref %u stays mapped after its last "
		 "unpin (unpin policy keep): only for a frontend that agreed "
		 "to persistent grants; Linux's blkfront since 5.17 and virtio "
		 "grant DMA disable a device whose other grants stay mapped "
		 "(\"backed has not unmapped grant\")", w->domid, ref);
}

GMAP_EXPORT int gmap_unpin(struct gmap_window *w, uint32_t ref, uint32_t count)
{
	uint32_t last[UNMAP_BATCH], i;
	size_t nlast;

	if (!w) {
		errno = EINVAL;
		return -1;
	}
	if (check_range(w, ref, count, "gmap_unpin") < 0)
		return -1;
	window_lock(w);
	if (!range_pinned(w, ref, count, &i)) {
		window_unlock(w);
		GMAP_ERR(w, "d%u: unpin of ref %u, which is not pinned (range "
			 "%u+%u left unchanged)", w->domid, i, ref, count);
		errno = EINVAL;
		return -1;
	}
	/* In batches: the refs not yet unpinned keep our pins while a batch
	 * is unmapped with the lock dropped, so they are still there, mapped,
	 * when we come back for them. */
	for (i = 0; i < count;) {
		for (nlast = 0; i < count && nlast < UNMAP_BATCH; i++) {
			struct gmap_grant *g = gmap_grant_get(w, ref + i, false);

			atomic_fetch_add(&w->c->unpins, 1);
			if (gs_pins(gmap_grant_unpin(w, g)) != 1)
				continue;
			atomic_fetch_sub(&w->c->pinned_now, 1);
			if (w->unpin_keep) {
				keep_warn(w, ref + i);
				continue;  /* stays mapped, like a touch */
			}
			/* The last pin went: unmap now, so that the granter
			 * can end access. */
			gmap_grant_claim(w, ref + i, g);
			last[nlast++] = ref + i;
		}
		if (nlast) {
			window_unlock(w);
			gmap_unmap_claimed(w, last, nlast, GMAP_UNMAP_UNPIN);
			if (i == count)
				return 0;
			window_lock(w);
		}
	}
	window_unlock(w);
	return 0;
}

/* A bad page's grant, claimed: re-armed, so that the next touch tries
 * the map again.  Returns 1 if it was. */
static int release_bad(struct gmap_window *w, uint32_t ref, uint32_t s)
{
	bool ok = gmap_rearm(w, gmap_addr_of(w, ref), GMAP_PAGE_SIZE) == 0;
	struct gmap_grant *g;

	window_lock(w);
	g = gmap_grant_get(w, ref, false);
	if (ok)
		gmap_grant_commit(w, ref, g, GS_EMPTY, 0, 0);
	else
		gmap_grant_commit(w, ref, g, GS_BAD, 0, gs_status(s));
	pthread_cond_broadcast(&w->cv);
	window_unlock(w);
	return ok;
}

GMAP_EXPORT int gmap_release(struct gmap_window *w, uint32_t ref, uint32_t count)
{
	uint32_t batch[UNMAP_BATCH];
	uint64_t r, end;
	size_t n = 0;
	int done = 0;

	if (!w) {
		errno = EINVAL;
		return -1;
	}
	if (check_range(w, ref, count, "gmap_release") < 0)
		return -1;
	end = (uint64_t)ref + count;
	for (r = ref; r < end; r++) {
		struct gmap_grant *g;
		uint32_t s;

		if (!gmap_grant_peek(w->dir.slots, (uint32_t)r)) {
			/* Whole leaf untouched: skip to the next one. */
			r = ((r >> GMAP_LEAF_SHIFT) + 1) * GMAP_LEAF_REFS - 1;
			continue;
		}
		/* The refs claimed in @batch wait for their unmap while we
		 * wait here for another thread's claim: no cycle, because
		 * every claimant that waits goes up the refs as we do, and
		 * the others (maps, unmaps) wait for nobody's claim. */
		window_lock(w);
		g = gmap_grant_wait(w, (uint32_t)r, false);
		s = gs_word(g);
		if (!g || !((gs_state(s) == GS_MAPPED && gs_pins(s) == 0) ||
			    gs_state(s) == GS_BAD) || gs_status(s) == GMAP_ST_LOST) {
			window_unlock(w);
			continue;
		}
		gmap_grant_claim(w, (uint32_t)r, g);
		window_unlock(w);
		if (gs_state(s) == GS_BAD) {
			done += release_bad(w, (uint32_t)r, s);
			continue;
		}
		batch[n++] = (uint32_t)r;
		if (n == UNMAP_BATCH) {
			done += (int)gmap_unmap_claimed(w, batch, n, GMAP_UNMAP_RELEASE);
			n = 0;
		}
	}
	if (n)
		done += (int)gmap_unmap_claimed(w, batch, n, GMAP_UNMAP_RELEASE);
	return done;
}
