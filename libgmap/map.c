/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * map.c - the backend's maps and unmaps of grants the caller claimed
 * (BUSY, gstate.c): one grant, a run of untouched refs, and the unmap that
 * unpin, release and the evictor share.
 *
 * Each map takes a budget slot first (budget.c) and gives it back if the
 * map fails; each unmap gives its slot back once the page is an armed
 * placeholder again.  A failed map places nothing (the backend contract,
 * private.h), so the caller restores the grant's word and nothing else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "private.h"
#include "xen_abi.h"

/* GNTST_eagain: retry with a growing delay up to this total, as Linux's
 * gntdev retries paged-out frames (it gives up after ~32 s; a window
 * handler serves other faults, so it gives up sooner). */
#define EAGAIN_BUDGET_MS 1000
/* Words of the backend's split bitmap for the longest run
 * gmap_map_run() maps. */
#define RUN_SPLIT_WORDS (GMAP_RUN_MAX / 64)

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * After a failed map of claimed [@ref, @ref + @n): arm the pages that were
 * unarmed (GS_UNARMED, kept in their BUSY words), that is PROT_NONE and
 * unregistered, so that the failure leaves armed placeholders only, as
 * the callers commit or restore them.  Lost pages are not ours to touch.
 * Returns whether any was.
 */
static bool arm_unarmed(struct gmap_window *w, uint32_t ref, uint32_t n)
{
	bool any = false;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = gs_word(gmap_grant_peek(w->dir.slots, ref + i));
		uint8_t *p = gmap_addr_of(w, ref + i);

		if (gs_state(s) != GS_BUSY || !(s & GS_UNARMED) ||
		    gmap_ref_lost(w, ref + i))
			continue;
		any = true;
		/* A placed page was re-armed, a hole filled: poisoned again
		 * first, which is idempotent for an unarmed page. */
		if (gmap_rearm(w, p, GMAP_PAGE_SIZE) < 0)
			GMAP_LOG(w, XTL_ERROR, errno, "d%u ref %u: cannot "
				 "re-arm %p after a failed map; it stays "
				 "inaccessible", w->domid, ref + i, (void *)p);
	}
	return any;
}

/*
 * One backend map of [@ref, @ref + @n) at its place, and after a failure
 * the placeholders made whole again (the backend contract, private.h):
 * the pages the backend placed are re-armed, the holes a refused mmap left
 * are filled and re-armed.  A page another mapping of the process took in
 * the meantime is lost to the window (placeholder.c): *@st GMAP_ST_LOST,
 * errno EEXIST.  Otherwise errno and *@st are the backend's.  *@touched
 * (if not NULL): whether the failed map touched the range at all.
 * @arm: whether unarmed pages are armed after a failure; a caller that
 * tries again (map_either) arms them once, after its last try.
 */
static int be_map(struct gmap_window *w, uint32_t ref, uint32_t n,
		  bool writable, uint64_t *split, int16_t *st, bool *touched,
		  bool arm)
{
	uint8_t *addr = gmap_addr_of(w, ref);
	uint32_t placed = 0;
	int e;

	/* The map, and after a failure the range made whole again, before a
	 * fork may copy the address space (fork.c). */
	gmap_place_enter();
	if (w->be.ops->map(&w->be, ref, n, addr, writable, split, st,
			   &placed) == 0) {
		gmap_place_leave();
		return 0;
	}
	e = errno;
	if (touched)
		*touched = placed != GMAP_UNTOUCHED;
	if (placed == GMAP_UNTOUCHED) {
		/* Unarmed pages are armed now: a failed map leaves armed
		 * placeholders, whatever it met (gmap_grant_restore). */
		if (arm && arm_unarmed(w, ref, n) && touched)
			*touched = true;
		gmap_place_leave();
		errno = e;
		return -1;
	}
	if (placed > n)
		placed = n;
	if (placed && gmap_rearm(w, addr, (size_t)placed << GMAP_PAGE_SHIFT) < 0)
		GMAP_LOG(w, XTL_ERROR, errno, "d%u refs %u+%u: cannot re-arm "
			 "them after a failed map", w->domid, ref, placed);
	if (gmap_refill(w, addr + ((size_t)placed << GMAP_PAGE_SHIFT),
			(size_t)(n - placed) << GMAP_PAGE_SHIFT) < 0) {
		*st = GMAP_ST_LOST;
		e = EEXIST;
	}
	/* Pages the refusal left in place may be unarmed ones. */
	if (arm)
		arm_unarmed(w, ref, n);
	gmap_place_leave();
	errno = e;
	return -1;
}

/* One backend map, retrying GNTST_eagain within a bounded time. */
static int map_retry(struct gmap_window *w, uint32_t ref, bool writable,
		     int16_t *st)
{
	unsigned int delay = 1, spent = 0;
	int rc;

	for (;;) {
		uint64_t split = 0;

		if (gmap_ref_lost(w, ref)) {
			*st = GMAP_ST_LOST;
			errno = EEXIST;
			rc = -1;
			break;
		}
		rc = be_map(w, ref, 1, writable, &split, st, NULL, false);
		if (rc == 0 || *st != GNTST_eagain || spent >= EAGAIN_BUDGET_MS ||
		    atomic_load(&w->closing))
			break;
		sleep_ms(delay);
		spent += delay;
		if (delay < 64)
			delay *= 2;
	}
	if (rc == 0) {
		atomic_fetch_add(&w->c->maps, 1);
	} else {
		atomic_fetch_add(&w->c->map_failures, 1);
		gmap_budget_enomem(w);
	}
	return rc;
}

/*
 * GMAP_ACCESS_ANY: writable first, so a read fault on a writable grant
 * needs no second fault to write; if the grant refuses a writable map,
 * read-only: Xen says "general error" for a write map of a read-only
 * grant and gives us no other hint.  That first try costs a refused
 * gntdev map (and the hole it leaves to fill) for every read-only grant,
 * so a caller that will only read says so (GMAP_ACCESS_READ) and gets a
 * read-only map at once.
 *
 * An unarmed page (inline windows) is armed after the last try only: the
 * tries between go over it as it is.  Arming it for a read-only try that
 * replaces it at once cost a poison and a re-arm (4 system calls) for
 * every read-only grant mapped for ANY.
 */
static int map_either(struct gmap_window *w, uint32_t ref,
		      enum gmap_access access, uint32_t *ro, int16_t *st)
{
	int rc, e;

	*ro = 0;
	if (access == GMAP_ACCESS_READ) {
		rc = map_retry(w, ref, false, st);
		if (rc == 0)
			*ro = GS_RO;
		goto out;
	}
	rc = map_retry(w, ref, true, st);
	if (rc < 0 && access == GMAP_ACCESS_ANY &&
	    (*st == GNTST_general_error || *st == GNTST_permission_denied)) {
		int16_t st2;

		rc = map_retry(w, ref, false, &st2);
		if (rc == 0) {
			*ro = GS_RO;
			*st = st2;
		}
	}
out:
	if (rc < 0) {
		e = errno;
		arm_unarmed(w, ref, 1);
		errno = e;
	}
	return rc;
}

int gmap_map_claimed(struct gmap_window *w, uint32_t ref,
		     enum gmap_access access, bool wait, uint32_t *ro,
		     int16_t *st)
{
	int e;

	*ro = 0;
	if (gmap_budget_take(w, wait, st) < 0)
		return -1;
	if (map_either(w, ref, access, ro, st) == 0)
		return 0;
	e = errno;
	gmap_budget_put(w);
	errno = e;
	return -1;
}

void gmap_commit_mapped(struct gmap_window *w, uint32_t ref, uint32_t ro)
{
	uint64_t split = 1;  /* a map of its own: a VMA apart from ref - 1's */

	gmap_grant_commit_mapped_run(w, ref, 1, &split, ro);
	atomic_fetch_add(&w->c->mapped_now, 1);
	gmap_evict_mapped(w);
}

/*
 * The colour (GS_COLOUR) for unarmed pages [@ref, @ref + @n): one that
 * neither neighbour has, if unarmed, so that the kernel merges the run
 * with neither.  A later map of these pages then replaces a VMA of their
 * own, where in a larger one it would cost two splits, and its unmap a
 * merge: more than the map itself (tools/stress/shimbench, QEMU's
 * mapcache).  The cost is a VMA per unmap at most, which unarmed_cap()
 * already counts.  A neighbour's word is read lock-free in the run's own
 * leaf, which its BUSY refs keep; in another leaf, which reclaim.c may
 * free, under the lock.  A stale word costs a merge, nothing more: the
 * count of VMAs follows the words, and equal colours do merge.
 */
static uint32_t unarmed_colour(struct gmap_window *w, uint32_t ref, uint32_t n)
{
	const uint32_t leaf = GMAP_LEAF_REFS - 1;
	bool far = !(ref & leaf) || !((ref + n) & leaf);
	uint32_t side[2] = { GS_EMPTY, GS_EMPTY }, used = 0, c = 0;

	if (far)
		window_lock(w);
	if (ref > 0)
		side[0] = gs_word(far ? gmap_grant_get(w, ref - 1, false) :
				  gmap_grant_peek(w->dir.slots, ref - 1));
	if ((uint64_t)ref + n < w->nr_refs)
		side[1] = gs_word(far ? gmap_grant_get(w, ref + n, false) :
				  gmap_grant_peek(w->dir.slots, ref + n));
	if (far)
		window_unlock(w);
	for (int i = 0; i < 2; i++)
		if (gs_vma_kind(side[i]) == GS_VMA_UNARMED)
			used |= 1u << ((side[i] & GS_COLOUR) >> GS_COLOUR_SHIFT);
	while (used & (1u << c))
		c++;
	return c << GS_COLOUR_SHIFT;
}

/*
 * Unmap grants [@ref, @ref + @n) that we claimed (were MAPPED) and re-arm
 * their pages, with one poison and one re-arm for the whole run.  Returns
 * the state the grants must take: EMPTY; BAD if the pages could not be
 * re-armed (they are then inaccessible, never silently anonymous); or
 * MAPPED if they could not even be poisoned (out of VMAs or memory).
 */
static unsigned int unmap_run(struct gmap_window *w, uint32_t ref, uint32_t n,
			      bool lazy, int16_t *status)
{
	uint32_t colour = lazy ? unarmed_colour(w, ref, n) : 0;
	void *addr = gmap_addr_of(w, ref);
	size_t len = (size_t)n << GMAP_PAGE_SHIFT;
	int rc;

	*status = 0;
	if ((lazy ? gmap_poison_unarmed(w, addr, len, colour) :
		    gmap_unplace(w, addr, len)) < 0) {
		GMAP_LOG(w, XTL_ERROR, errno, "d%u refs %u+%u: cannot unmap %p",
			 w->domid, ref, n, addr);
		gmap_budget_enomem(w);
		return GS_MAPPED;
	}
	/* One backend call per piece mapped the same way (a run is mapped
	 * writable or read-only as a whole). */
	for (uint32_t i = 0, j; i < n; i = j) {
		uint32_t ro = gs_word(gmap_grant_peek(w->dir.slots, ref + i)) &
			      GS_RO;

		for (j = i + 1; j < n &&
		     (gs_word(gmap_grant_peek(w->dir.slots, ref + j)) & GS_RO) == ro;
		     j++)
			;
		w->be.ops->unmap(&w->be, ref + i, j - i, !ro);
		atomic_fetch_add(&w->c->unmaps, j - i);
		atomic_fetch_sub(&w->c->mapped_now, j - i);
	}
	/*
	 * Inline, an unpin or a release leaves its pages unarmed
	 * (GS_UNARMED): a mapping of the window's memfd, one VMA per unmap,
	 * made with one mmap and no madvise, which the next map of the same
	 * pages replaces whole instead of splitting the PROT_NONE range
	 * around them (unarmed_colour()).  A touch raises SIGSEGV and is
	 * served as any untouched page's (signal.c).  They stay so until
	 * mapped again, a bounded number (unarmed_cap).  An eviction, which
	 * is there to give VMAs back, re-arms instead: in an inline window
	 * that is the unplace alone, an inaccessible page that merges with
	 * the untouched pages around it (gmap_arm_unplaced).  With handler threads every page
	 * is armed again at once: a system call into it must wait for its
	 * fault, not fail.
	 */
	if (lazy) {
		for (uint32_t i = 0; i < n; i++)
			gmap_budget_put(w);
		return GS_EMPTY | GS_UNARMED | colour;
	}
	/* The slots are given back once the pages are armed placeholders
	 * again: until then each is a VMA of its own, and the budget bounds
	 * VMAs. */
	rc = gmap_arm_unplaced(w, addr, len);
	if (rc == 0)
		atomic_fetch_add(&w->c->rearms, n);
	for (uint32_t i = 0; i < n; i++)
		gmap_budget_put(w);
	if (rc < 0) {
		GMAP_LOG(w, XTL_ERROR, errno, "d%u refs %u+%u: cannot re-arm "
			 "%p; the pages stay inaccessible", w->domid, ref, n,
			 addr);
		*status = GMAP_ST_BACKEND;
		return GS_BAD;
	}
	return GS_EMPTY;
}

static int cmp_ref(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * How many pages an inline window's unmaps may leave unarmed (GS_UNARMED,
 * unmap_run): each is a VMA apart from the armed placeholders around it
 * (two more, at worst) and keeps its leaf from being freed, so at most a
 * sixteenth of the budgets of VMAs and of metadata go to them, and no more
 * than GMAP_UNARMED_MAX.  They stay so until mapped again; past the cap,
 * unmaps re-arm as with handler threads.
 */
static uint64_t unarmed_cap(struct gmap_window *w)
{
	uint64_t cap = GMAP_UNARMED_MAX, v = atomic_load(&w->ev.max_vmas) / 16,
		 m = w->ev.max_meta / (16 * GMAP_LEAF_BYTES);

	if (w->unarmed_fd < 0)
		return 0;  /* no file to map them (gmap_poison_unarmed) */
	if (v < cap)
		cap = v;
	return m < cap ? m : cap;
}

/*
 * Runs of contiguous refs (fault-around and runs map them together, the
 * FIFO and a multi-page unpin keep them together) are poisoned and
 * re-armed with one call each instead of one per page: the page-table and
 * TLB work of a multi-threaded process is what costs.
 */
size_t gmap_unmap_claimed(struct gmap_window *w, uint32_t *refs, size_t n,
			  enum gmap_unmap_why why)
{
	bool lazy = w->h.inline_mode &&
		    (why == GMAP_UNMAP_UNPIN || why == GMAP_UNMAP_RELEASE);
	size_t unmapped = 0;
	uint64_t cap = unarmed_cap(w);

	if (n > 1)
		qsort(refs, n, sizeof(*refs), cmp_ref);
	for (size_t i = 0, k; i < n; i = k) {
		uint32_t run;
		unsigned int ns;
		int16_t st;

		for (k = i + 1; k < n && refs[k] == refs[k - 1] + 1; k++)
			;
		run = (uint32_t)(k - i);
		if (why == GMAP_UNMAP_EVICT || why == GMAP_UNMAP_RETRY)
			atomic_fetch_add(&w->c->evicting_now, run);
		ns = unmap_run(w, refs[i], run, lazy &&
			       atomic_load(&w->c->unarmed_now) + run <= cap, &st);
		if (gs_state(ns) == GS_EMPTY)
			unmapped += run;
		window_lock(w);
		if (gs_state(ns) == GS_EMPTY && ns & GS_UNARMED)
			gmap_grant_commit_unarmed_run(w, refs[i], run, ns);
		else
			gmap_grant_commit_run(w, refs[i], run, ns, st);
		if (ns == GS_MAPPED)  /* still mapped: try again later */
			for (size_t j = i; j < k; j++)
				gmap_unmap_due(w, refs[j]);
		/* Counted only now, with the grants' words: once evicting_now
		 * is 0, the stats, the window's count of VMAs and the address
		 * space all say the same. */
		if (why == GMAP_UNMAP_EVICT && ns != GS_MAPPED)
			atomic_fetch_add(&w->c->evictions, run);
		if (why == GMAP_UNMAP_EVICT || why == GMAP_UNMAP_RETRY)
			atomic_fetch_sub(&w->c->evicting_now, run);
		/* The evictor wakes everyone once its batch is done: maps
		 * wait for the whole batch (evict.c). */
		if (why != GMAP_UNMAP_EVICT)
			pthread_cond_broadcast(&w->cv);
		window_unlock(w);
		if (why == GMAP_UNMAP_RETRY && ns != GS_MAPPED)
			GMAP_LOG(w, XTL_INFO, -1, "d%u refs %u+%u: unmapped on "
				 "retry", w->domid, refs[i], run);
	}
	return unmapped;
}

/* ---- runs ---------------------------------------------------------------- */

/* Give back what gmap_map_run() took for refs [@lo, @lo + @n): EMPTY
 * again, and @slots budget slots.  @placed: a map was tried over them
 * (be_map() has restored the placeholders), so the kernel is asked where
 * their VMAs lie now. */
static void run_abandon(struct gmap_window *w, uint32_t lo, uint32_t n,
			uint32_t slots, bool placed)
{
	while (slots-- > 0)
		gmap_budget_put(w);
	if (!n)
		return;
	window_lock(w);
	if (placed)
		gmap_grant_commit_run(w, lo, n, GS_EMPTY, 0);
	else
		gmap_grant_unclaim_run(w, lo, n);
	pthread_cond_broadcast(&w->cv);
	window_unlock(w);
}

/* Whether a page of [@ref, @ref + @n) is lost to the window (placeholder.c):
 * then nothing may be placed over the range. */
static bool run_lost(struct gmap_window *w, uint32_t ref, uint32_t n)
{
	if (!atomic_load_explicit(&w->lost.n, memory_order_relaxed))
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (gmap_ref_lost(w, ref + i))
			return true;
	return false;
}

/* After a failed map: refs of [@ref, @ref + @n) whose page is lost
 * become BAD for good, so that nothing re-arms or poisons them. */
static void mark_lost(struct gmap_window *w, uint32_t ref, uint32_t n)
{
	if (!atomic_load_explicit(&w->lost.n, memory_order_relaxed))
		return;
	window_lock(w);
	for (uint32_t i = 0; i < n; i++) {
		struct gmap_grant *g;

		if (!gmap_ref_lost(w, ref + i))
			continue;
		g = gmap_grant_get(w, ref + i, true);
		if (g && gs_state(atomic_load(&g->state)) == GS_EMPTY) {
			gmap_grant_claim(w, ref + i, g);
			gmap_grant_commit(w, ref + i, g, GS_BAD, 0, GMAP_ST_LOST);
		}
	}
	pthread_cond_broadcast(&w->cv);
	window_unlock(w);
}

/*
 * The refs taken are those EMPTY (never tried, not BAD) in a row from
 * @start, going up (@dir 1) or down (-1), up to @max, each with a budget
 * slot that is free without waiting; fewer than @min taken and nothing is
 * mapped.  Writable or read-only, all or nothing (one gntdev map).  It may
 * be unmapped in parts later (the backend keeps the run together:
 * backend_xen.c).
 */
int gmap_map_run(struct gmap_window *w, uint32_t start, uint32_t max, int dir,
		 uint32_t min, bool writable, uint32_t *lo)
{
	uint64_t split[RUN_SPLIT_WORDS];
	uint32_t n, slots;
	uint64_t seen = 0;
	bool touched = false;
	int16_t st;

	if (max > RUN_SPLIT_WORDS * 64)
		max = RUN_SPLIT_WORDS * 64;
	window_lock(w);
	while (gmap_evict_gated(w, &seen))  /* see evict.c */
		window_wait(w, &w->cv, NULL);
	for (n = 0; n < max; n++) {
		uint32_t ref = start + (uint32_t)dir * n;
		struct gmap_grant *g = gmap_grant_get(w, ref, true);

		if (!g || (atomic_load(&g->state) & ~GS_EMPTY_BITS) != GS_EMPTY)
			break;
		gmap_grant_claim(w, ref, g);
	}
	window_unlock(w);
	if (!n)  /* @start is not untouched: nothing taken, nothing to undo */
		return 0;
	slots = gmap_budget_take_some(w, n, &st);
	if (slots < n) {
		/* Keep the part next to @start that has slots. */
		uint32_t far = start + (uint32_t)dir * (n - 1);

		run_abandon(w, dir > 0 ? start + slots : far, n - slots, 0,
			    false);
		n = slots;
	}
	*lo = dir > 0 ? start : start - (n ? n - 1 : 0);
	if (n < min) {  /* @min is at least 1 */
		run_abandon(w, *lo, n, n, false);
		return 0;
	}
	memset(split, 0, sizeof(split));
	if (run_lost(w, *lo, n) ||
	    be_map(w, *lo, n, writable, split, &st, &touched, true) < 0) {
		/* A failed map places nothing (backend contract): the
		 * placeholders are as they were, and a thread waiting on a
		 * fault in the run still waits for its own. */
		atomic_fetch_add(&w->c->map_failures, 1);
		gmap_budget_enomem(w);
		run_abandon(w, *lo, n, n, touched);
		mark_lost(w, *lo, n);
		return -1;
	}
	atomic_fetch_add(&w->c->maps, n);
	window_lock(w);
	gmap_grant_commit_mapped_run(w, *lo, n, split, writable ? 0 : GS_RO);
	atomic_fetch_add(&w->c->mapped_now, n);
	gmap_evict_mapped(w);
	pthread_cond_broadcast(&w->cv);
	window_unlock(w);
	/* Threads may be waiting on faults in the run (see pin.c). */
	gmap_wake_waiters(w, gmap_addr_of(w, *lo), (size_t)n << GMAP_PAGE_SHIFT);
	return (int)n;
}
