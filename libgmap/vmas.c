/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmas.c - the window's count of the VMAs its range is split into, kept
 * at every change of a grant's state word (by gstate.c, its only writer,
 * window lock held): what a word adds, and the kernel's word on where a
 * re-armed placeholder's VMA begins and ends.
 *
 * The count is one, plus one for each pair of neighbouring refs whose
 * pages lie in different VMAs:
 *  - a mapped grant shares a VMA only with the neighbours of its own
 *    backend map (GS_JOIN): two maps never merge (gntdev's VMAs cannot;
 *    the sim keeps them apart), and an unmap splits its map;
 *  - poisoned pages next to each other are one VMA;
 *  - unarmed pages (an inline window's unmapped pages, a mapping of its
 *    memfd: placeholder.c) next to each other are one VMA when they have
 *    the same colour (GS_COLOUR), the memfd's offset they are mapped at;
 *    an unmap gives its pages a colour that neither neighbour has, so
 *    each unmap's pages stay a VMA of their own;
 *  - armed placeholders next to each other are one VMA, always: they are
 *    shared mappings of the window's placeholder file, each at its own
 *    offset in the window (placeholder.c), which the kernel merges
 *    whenever they touch.  A shared mapping never gets an anon_vma, the
 *    one thing that kept anonymous placeholders apart (a write fault
 *    gives a placeholder one before userfaultfd sees the fault, and two
 *    VMAs with different anon_vmas do not merge), so no border between
 *    two of them is a question for the kernel;
 *  - in a window whose faults are served inline, untouched pages and
 *    poisoned ones are the same mapping (anonymous, PROT_NONE, never
 *    faulted in: uffd.c): one VMA together, never split, and never
 *    looked up.
 * A BUSY grant counts as what it was until its map or unmap is done: a
 * placeholder, or a mapped page (GS_UNMAPPING).  With no map or unmap in
 * flight the count is what /proc/self/maps shows (test-evict checks it);
 * while they are in flight it is off by at most two for each.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "private.h"

/* An inline window's file for unarmed pages (placeholder.c).  A window
 * with handler threads has its placeholder file instead (uffd.c). */
void gmap_vmas_open(struct gmap_window *w)
{
	if (!w->h.inline_mode)
		return;
	w->unarmed_fd = memfd_create(GMAP_UNARMED_NAME, MFD_CLOEXEC);
	if (w->unarmed_fd < 0)
		GMAP_LOG(w, XTL_INFO, errno, "d%u: no memfd for unarmed pages: "
			 "unpins re-arm their pages", w->domid);
}

void gmap_vmas_close(struct gmap_window *w)
{
	if (w->unarmed_fd >= 0)
		close(w->unarmed_fd);
	w->unarmed_fd = -1;
	gmap_placeholders_close(w);
}

void gmap_vmas_add(struct gmap_window *w, int delta)
{
	uint64_t now = atomic_fetch_add(&w->c->vmas, (uint64_t)(int64_t)delta) +
		       (uint64_t)(int64_t)delta;

	window_assert_locked(w);
	if (now > atomic_load(&w->c->vmas_peak))
		atomic_store(&w->c->vmas_peak, now);
}
