/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmas.c - the window's count of the VMAs its range is split into, kept
 * at every change of a grant's state (gmap_grant_set, window lock held).
 *
 * The count is one, plus one for each pair of neighbouring refs whose
 * pages lie in different VMAs:
 *  - a mapped grant shares a VMA only with the neighbours of its own
 *    backend map (GS_JOIN): two maps never merge (gntdev's VMAs cannot;
 *    the sim keeps them apart), and an unmap splits its map;
 *  - poisoned pages next to each other are one VMA;
 *  - armed placeholders next to each other are one VMA, unless the kernel
 *    did not merge them (GS_PSPLIT).  It may not: a write fault on a
 *    placeholder gives its VMA an anon_vma before userfaultfd sees the
 *    fault, and a placeholder re-armed between two placeholder VMAs with
 *    different anon_vmas merges with the one before it only.  Only the
 *    kernel knows, so after each re-arm the page's VMA is looked up with
 *    PROCMAP_QUERY (Linux 6.11); without it such splits are not seen and
 *    the count can fall short of /proc/self/maps by them.
 * A BUSY grant counts as what it was until its map or unmap is done: a
 * placeholder, or a mapped page (GS_UNMAPPING).  With no map or unmap in
 * flight the count is what /proc/self/maps shows (test-evict checks it);
 * while they are in flight it is off by at most two for each.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "private.h"

/* <linux/fs.h> of Linux 6.11; Debian 12's headers predate it. */
struct gmap_procmap_query {
	uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags,
		 vma_page_size, vma_offset, inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
#define GMAP_PROCMAP_QUERY _IOWR('f', 17, struct gmap_procmap_query)

/* Open /proc/self/maps for PROCMAP_QUERY if the kernel answers it. */
void gmap_vmas_open(struct gmap_window *w)
{
	struct gmap_procmap_query q = { .size = sizeof(q) };

	w->maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (w->maps_fd < 0)
		return;
	q.query_addr = (uintptr_t)w->base;
	if (ioctl(w->maps_fd, GMAP_PROCMAP_QUERY, &q) < 0) {
		GMAP_LOG(w, XTL_DEBUG, errno, "d%u: no PROCMAP_QUERY: the "
			 "window's count of VMAs does not see placeholders the "
			 "kernel leaves unmerged", w->domid);
		close(w->maps_fd);
		w->maps_fd = -1;
	}
}

void gmap_vmas_close(struct gmap_window *w)
{
	if (w->maps_fd >= 0)
		close(w->maps_fd);
	w->maps_fd = -1;
}

static uint32_t word_at(struct gmap_window *w, uint32_t ref)
{
	struct gmap_grant *g = gmap_grant_get(w, ref, false);

	return g ? atomic_load(&g->state) : GS_EMPTY;
}

/* What the page of a grant in state @s is, for the count. */
static unsigned int vma_kind(uint32_t s)
{
	switch (gs_state(s)) {
	case GS_BUSY:
		return s & GS_UNMAPPING ? GS_MAPPED : GS_EMPTY;
	case GS_BAD:
		/* Not poisoned after all: still the placeholder. */
		return s & GS_NOPOISON ? GS_EMPTY : GS_BAD;
	default:
		return gs_state(s);
	}
}

static bool one_vma(uint32_t left, uint32_t right)
{
	switch (vma_kind(left) == vma_kind(right) ? vma_kind(left) : GS_BUSY) {
	case GS_MAPPED:
		return right & GS_JOIN;
	case GS_EMPTY:
		return !(right & GS_PSPLIT);
	case GS_BAD:
		return true;
	default:
		return false;
	}
}

/* How many of ref's two borders (with ref - 1, with ref + 1) split VMAs,
 * with @s as ref's state word. */
static int borders(struct gmap_window *w, uint32_t ref, uint32_t s)
{
	int n = 0;

	if (ref > 0)
		n += !one_vma(word_at(w, ref - 1), s);
	if ((uint64_t)ref + 1 < w->nr_refs)
		n += !one_vma(s, word_at(w, ref + 1));
	return n;
}

/*
 * @ref's page was just re-armed (its state goes from BUSY to EMPTY in
 * @word): ask the kernel where its placeholder VMA begins and ends, and
 * record in GS_PSPLIT of @ref and of ref + 1 whether each border is one
 * between VMAs.  Later changes at either border make their own query.
 */
static uint32_t query_splits(struct gmap_window *w, uint32_t ref, uint32_t word)
{
	struct gmap_procmap_query q = { .size = sizeof(q) };
	uintptr_t a = (uintptr_t)gmap_addr_of(w, ref);
	struct gmap_grant *next;

	q.query_addr = a;
	if (ioctl(w->maps_fd, GMAP_PROCMAP_QUERY, &q) < 0)
		return word;
	word &= ~GS_PSPLIT;
	if (ref > 0 && q.vma_start == a)
		word |= GS_PSPLIT;
	if ((uint64_t)ref + 1 < w->nr_refs) {
		bool split = q.vma_end == a + GMAP_PAGE_SIZE;

		/* Only a placeholder's word has the bit (a mapped grant's
		 * holds pins there).  A split next to an untouched ref needs
		 * its leaf. */
		next = gmap_grant_get(w, ref + 1, split);
		if (next && vma_kind(atomic_load(&next->state)) == GS_EMPTY) {
			if (split)
				atomic_fetch_or(&next->state, GS_PSPLIT);
			else
				atomic_fetch_and(&next->state, ~GS_PSPLIT);
		}
	}
	return word;
}

void gmap_grant_set(struct gmap_window *w, uint32_t ref, struct gmap_grant *g,
		    uint32_t word)
{
	uint32_t old = atomic_load(&g->state);
	int delta = -borders(w, ref, old);
	uint64_t now;

	window_assert_locked(w);
	if (gs_state(old) == GS_MAPPED && gs_state(word) == GS_BUSY)
		word |= GS_UNMAPPING | (old & GS_JOIN);
	else if (gs_state(old) == GS_BUSY && (old & GS_UNMAPPING) &&
		 gs_state(word) == GS_MAPPED)
		word |= old & GS_JOIN;  /* not unmapped after all */
	else if (vma_kind(old) == GS_EMPTY && vma_kind(word) == GS_EMPTY)
		word |= old & GS_PSPLIT;  /* the same placeholder */
	if (gs_state(old) == GS_BUSY && gs_state(word) == GS_EMPTY &&
	    w->maps_fd >= 0)
		word = query_splits(w, ref, word);
	atomic_store(&g->state, word);
	if (vma_kind(old) == GS_MAPPED && vma_kind(word) != GS_MAPPED &&
	    (uint64_t)ref + 1 < w->nr_refs) {
		/* Mapped again later, ref is a map of its own: ref + 1 no
		 * longer shares a VMA with it. */
		struct gmap_grant *next = gmap_grant_get(w, ref + 1, false);

		if (next)
			atomic_fetch_and(&next->state, ~GS_JOIN);
	}
	delta += borders(w, ref, word);
	if (!delta)
		return;
	now = atomic_fetch_add(&w->c.vmas, (uint64_t)(int64_t)delta) +
	      (uint64_t)(int64_t)delta;
	if (now > atomic_load(&w->c.vmas_peak))
		atomic_store(&w->c.vmas_peak, now);
}
