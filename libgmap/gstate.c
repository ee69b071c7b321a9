/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gstate.c - the only writer of the grant state words (grant.h).
 *
 * A thread that maps or unmaps a grant first claims it (any state but
 * BUSY becomes BUSY, its own), drops the window lock for the system
 * calls, then commits it to the state the calls left (or restores the
 * word it had, when nothing was done).  The pin count and the evictor's
 * GS_QUEUED bit change under the lock without a claim.  Every store goes
 * through set_word(), which keeps the window's count of VMAs (vmas.c):
 * the count cannot miss a change because nobody else changes a word.
 * Three hot paths store directly what set_word() would, and say why it
 * is the same: the claims of a placeholder and of a mapped page (no
 * border moves) and the commit of a run just mapped (its borders counted
 * in one pass).
 *
 * No system call is made here: the kernel's VMAs follow from the words
 * alone (vmas.c), so the count needs no question to the kernel.
 */
#include "private.h"
#include "vmas.h"

/*
 * A state word's store.  Writers hold the window lock, whose release
 * orders the stores for the other writers; the lock-free readers (the
 * SIGSEGV handler's peek, a pin's peek before it locks) need only see a
 * word whole and, with it, what was done before it was stored: a release
 * store, a plain mov on x86, where a sequentially consistent one is an
 * xchg (about 20 cycles), two per page of a map.  No reader pairs a word
 * with another location that needs more (fork.c and reclaim.c order
 * their own counters).
 */
static inline void gs_store(struct gmap_grant *g, uint32_t word)
{
	atomic_store_explicit(&g->state, word, memory_order_release);
}

/* GS_UNARMED is an EMPTY word's bit (kept while BUSY for a map); in a
 * MAPPED word the same bit counts pins. */
static bool is_unarmed(uint32_t s)
{
	return (gs_state(s) == GS_EMPTY || gs_state(s) == GS_BUSY) &&
	       (s & GS_UNARMED);
}

/* What of a word its VMA borders depend on (gmap_vmas_borders): its
 * kind, whether it joins or is split from the ref before it, and an
 * unarmed page's colour. */
static uint32_t vma_bits(uint32_t s)
{
	return gs_vma_kind(s) | (s & GS_JOIN) |
	       (is_unarmed(s) ? s & GS_COLOUR : 0);
}

/* Store @word as @ref's state and count the VMAs it adds or removes.
 * The bits that record VMA borders (GS_JOIN, GS_UNMAPPING) are carried
 * over here from the old word. */
static void set_word(struct gmap_window *w, uint32_t ref, struct gmap_grant *g,
		     uint32_t word)
{
	uint32_t old = atomic_load(&g->state);
	struct gmap_sides sd = { 0 };
	bool counted;
	int delta = 0;

	window_assert_locked(w);
	if (gs_state(old) == GS_MAPPED && gs_state(word) == GS_BUSY)
		word |= GS_UNMAPPING | (old & GS_JOIN);
	else if (gs_state(old) == GS_BUSY && (old & GS_UNMAPPING) &&
		 gs_state(word) == GS_MAPPED)
		word |= old & GS_JOIN;  /* not unmapped after all */
	/* A claim (placeholder or mapped page to BUSY as the same) changes
	 * no border: the neighbours are not read for it. */
	counted = vma_bits(old) != vma_bits(word);
	if (counted) {
		gmap_vmas_sides(w, ref, g, &sd);
		delta = -gmap_vmas_borders(&sd, old);
	}
	gs_store(g, word);
	if (is_unarmed(old) != is_unarmed(word))
		atomic_fetch_add(&w->c->unarmed_now,
				 is_unarmed(word) ? 1 : (uint64_t)-1);
	if (gs_vma_kind(old) == GS_MAPPED && gs_vma_kind(word) != GS_MAPPED &&
	    (uint64_t)ref + 1 < w->nr_refs) {
		/* Mapped again later, ref is a map of its own: ref + 1 no
		 * longer shares a VMA with it. */
		struct gmap_grant *next = gmap_grant_get(w, ref + 1, false);

		if (next)
			atomic_fetch_and(&next->state, ~GS_JOIN);
		if (counted)  /* it is: the kind changed */
			sd.right &= ~GS_JOIN;
	}
	if (counted)
		delta += gmap_vmas_borders(&sd, word);
	if (delta)
		gmap_vmas_add(w, delta);
}

struct gmap_grant *gmap_grant_wait(struct gmap_window *w, uint32_t ref,
				   bool create)
{
	struct gmap_grant *g;
	uint64_t seen = 0;

	window_assert_locked(w);
	while ((g = gmap_grant_get(w, ref, create)) &&
	       (gs_state(atomic_load(&g->state)) == GS_BUSY ||
		(create && gs_state(atomic_load(&g->state)) == GS_EMPTY &&
		 gmap_evict_gated(w, &seen))))
		window_wait(w, &w->cv, NULL);
	return g;
}

uint32_t gmap_grant_claim(struct gmap_window *w, uint32_t ref,
			  struct gmap_grant *g)
{
	uint32_t old = atomic_load(&g->state);
	uint32_t keep = GS_QUEUED | (gs_state(old) == GS_MAPPED ? GS_RO : 0) |
			(gs_state(old) == GS_EMPTY ? GS_UNARMED | GS_COLOUR : 0);

	if (gs_state(old) == GS_EMPTY) {
		/* What set_word() would store, without its checks (a map's
		 * claims of every page of a fault-around run): BUSY counts as
		 * the placeholder or unarmed page it was (gs_vma_kind), with
		 * the same colour, so no border moves and the count of
		 * unarmed pages stands. */
		window_assert_locked(w);
		gs_store(g, GS_BUSY | (old & keep));
		return old;
	}
	if (gs_state(old) == GS_MAPPED) {
		/* Likewise for an unmap's claim (every unpin, release and
		 * eviction): BUSY with GS_UNMAPPING counts as the mapped page
		 * it still is, with its GS_JOIN, so no border moves, and a
		 * mapped page is not unarmed.  The pins (none by now) are
		 * dropped with the word's pin bits. */
		window_assert_locked(w);
		gs_store(g, GS_BUSY | GS_UNMAPPING | (old & (keep | GS_JOIN)));
		return old;
	}
	set_word(w, ref, g, GS_BUSY | (old & keep));
	return old;
}

static uint32_t commit_word(struct gmap_grant *g, unsigned int st,
			    uint32_t bits, int16_t status)
{
	return st | bits | (atomic_load(&g->state) & GS_QUEUED) |
	       ((uint32_t)(uint16_t)status << GS_STATUS_SHIFT);
}

void gmap_grant_commit(struct gmap_window *w, uint32_t ref,
		       struct gmap_grant *g, unsigned int st, uint32_t bits,
		       int16_t status)
{
	set_word(w, ref, g, commit_word(g, st, bits, status));
}

/* Commit claimed refs [@ref, @ref + @n) to @st (GS_EMPTY may carry
 * GS_UNARMED and a GS_COLOUR); with @keep, nothing was done to their
 * pages: an unarmed page stays one. */
static void commit_range(struct gmap_window *w, uint32_t ref, uint32_t n,
			 unsigned int st, int16_t status, bool keep)
{
	for (uint32_t i = 0; i < n; i++) {
		struct gmap_grant *g = gmap_grant_get(w, ref + i, false);
		uint32_t cur = atomic_load(&g->state);
		/* A failed unmap keeps its GS_RO; nothing done keeps an
		 * unarmed page's GS_UNARMED and colour. */
		uint32_t bits = (st == GS_MAPPED ? cur & GS_RO : 0) |
				(keep ? cur & (GS_UNARMED | GS_COLOUR) : 0);

		set_word(w, ref + i, g, commit_word(g, st, bits, status));
	}
}

void gmap_grant_commit_run(struct gmap_window *w, uint32_t ref, uint32_t n,
			   unsigned int st, int16_t status)
{
	commit_range(w, ref, n, st, status, false);
}

/* The grant of @ref in a pass over a run, @g being that of ref - 1 (NULL
 * at the run's start): the next one in memory inside a leaf, looked up
 * at a leaf's start (NULL past the run where no leaf holds @ref). */
static inline struct gmap_grant *run_next(struct gmap_window *w,
					  uint32_t ref, struct gmap_grant *g)
{
	return g && (ref & (GMAP_LEAF_REFS - 1)) ? g + 1 :
	       gmap_grant_get(w, ref, false);
}

/*
 * Claimed placeholders [@lo, @lo + @n), just placed by one backend map,
 * become MAPPED with @ro (GS_RO or 0), each joined to the ref before it
 * unless bit i of @split says that page i starts a VMA, and are pushed on
 * the evictor's FIFO.  One pass over the run: set_word() ref by ref would
 * look up both neighbours of every ref and count every inner border
 * twice, 32 counts for a fault-around of 16.  Of what set_word() does
 * besides, nothing applies to a placeholder that becomes MAPPED (no bit
 * to carry, no re-arm, no GS_JOIN of a neighbour to clear) but the count
 * of unarmed pages.
 */
void gmap_grant_commit_mapped_run(struct gmap_window *w, uint32_t lo,
				  uint32_t n, const uint64_t *split, uint32_t ro)
{
	struct gmap_sides sd = { .inl = w->h.inline_mode };
	struct gmap_grant *g = NULL;
	uint32_t old = 0, word = 0;
	uint64_t unarmed = 0;
	int delta = 0;

	window_assert_locked(w);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t ref = lo + i, prev_old = old;

		g = run_next(w, ref, g);
		old = atomic_load(&g->state);
		word = GS_MAPPED | ro | (old & GS_QUEUED) |
		       (split[i / 64] >> (i % 64) & 1 ? 0 : GS_JOIN);
		if (i > 0) {
			/* Between two pages of the run: one VMA now unless
			 * the map split it; one before unless unarmed pages
			 * (colours) split it.  The claims were placeholders:
			 * no other kind. */
			delta += !(word & GS_JOIN);
			if ((prev_old | old) & GS_UNARMED)
				delta -= gmap_vmas_border(&sd, prev_old, old);
		} else if (ref > 0) {
			uint32_t left = gmap_vmas_side_word(w, ref, g, -1);

			delta += gmap_vmas_border(&sd, left, word) -
				 gmap_vmas_border(&sd, left, old);
		}
		unarmed += is_unarmed(old);
		word = gmap_evict_push_word(w, ref, word);
		gs_store(g, word);
	}
	if (n && (uint64_t)lo + n < w->nr_refs) {
		uint32_t ref = lo + n;
		uint32_t right = gs_word(run_next(w, ref, g));

		delta += gmap_vmas_border(&sd, word, right) -
			 gmap_vmas_border(&sd, old, right);
	}
	if (unarmed)
		atomic_fetch_sub(&w->c->unarmed_now, unarmed);
	if (delta)
		gmap_vmas_add(w, delta);
}

/*
 * Claimed mapped pages [@lo, @lo + @n), just unmapped and left unarmed by
 * one mapping of the window's memfd (map.c, unmap_run), take @word (EMPTY,
 * GS_UNARMED and one colour for all).  One pass over the run, as for a
 * run just mapped: set_word() page by page would look up both neighbours
 * of every page and count every inner border twice.  Of what set_word()
 * does besides, only two things apply to a mapped page that becomes
 * unarmed (no bit to carry, no re-arm to ask the kernel about): the count
 * of unarmed pages, and ref @lo + @n, mapped, no longer joining the run's
 * last page.  The borders are counted by the words before and after.
 */
void gmap_grant_commit_unarmed_run(struct gmap_window *w, uint32_t lo,
				   uint32_t n, uint32_t word)
{
	struct gmap_sides sd = { .inl = w->h.inline_mode };
	struct gmap_grant *g = NULL;
	uint32_t old = 0, nw = 0;
	int64_t unarmed = 0;
	int delta = 0;

	window_assert_locked(w);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t ref = lo + i, prev_old = old, prev_nw = nw;

		g = run_next(w, ref, g);
		old = atomic_load(&g->state);
		nw = word | (old & GS_QUEUED);
		if (i > 0) {
			delta += gmap_vmas_border(&sd, prev_nw, nw) -
				 gmap_vmas_border(&sd, prev_old, old);
		} else if (ref > 0) {
			uint32_t left = gmap_vmas_side_word(w, ref, g, -1);

			delta += gmap_vmas_border(&sd, left, nw) -
				 gmap_vmas_border(&sd, left, old);
		}
		unarmed += (int64_t)is_unarmed(nw) - (int64_t)is_unarmed(old);
		gs_store(g, nw);
	}
	if (n && (uint64_t)lo + n < w->nr_refs) {
		uint32_t ref = lo + n;
		struct gmap_grant *next = run_next(w, ref, g);
		uint32_t right = gs_word(next), now = right;

		if (next && gs_vma_kind(old) == GS_MAPPED) {
			atomic_fetch_and(&next->state, ~GS_JOIN);
			now &= ~GS_JOIN;
		}
		delta += gmap_vmas_border(&sd, nw, now) -
			 gmap_vmas_border(&sd, old, right);
	}
	if (unarmed)
		atomic_fetch_add(&w->c->unarmed_now, (uint64_t)unarmed);
	if (delta)
		gmap_vmas_add(w, delta);
}

/* Claimed EMPTY, and given back with nothing done: an unarmed page keeps
 * its colour (commit_range()). */
void gmap_grant_unclaim_run(struct gmap_window *w, uint32_t ref, uint32_t n)
{
	commit_range(w, ref, n, GS_EMPTY, 0, true);
}

void gmap_grant_restore(struct gmap_window *w, uint32_t ref,
			struct gmap_grant *g, uint32_t prev)
{
	/* A failed map leaves the page armed (map.c), unarmed before or
	 * not. */
	if (gs_state(prev) == GS_EMPTY)
		prev &= ~(GS_UNARMED | GS_COLOUR);
	set_word(w, ref, g, (prev & ~GS_QUEUED) |
		 (atomic_load(&g->state) & GS_QUEUED));
}

/* The pin count and GS_QUEUED are no VMA's business: plain atomics. */
uint32_t gmap_grant_pin(struct gmap_window *w, struct gmap_grant *g)
{
	window_assert_locked(w);
	return atomic_fetch_add(&g->state, GS_PIN_ONE);
}

uint32_t gmap_grant_unpin(struct gmap_window *w, struct gmap_grant *g)
{
	window_assert_locked(w);
	return atomic_fetch_sub(&g->state, GS_PIN_ONE);
}

void gmap_grant_enqueue(struct gmap_window *w, struct gmap_grant *g)
{
	window_assert_locked(w);
	atomic_fetch_or(&g->state, GS_QUEUED);
}

uint32_t gmap_grant_unqueue(struct gmap_window *w, struct gmap_grant *g)
{
	window_assert_locked(w);
	return atomic_fetch_and(&g->state, ~GS_QUEUED);
}
