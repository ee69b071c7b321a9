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
 *  - armed placeholders next to each other are one VMA, unless the kernel
 *    did not merge them (GS_PSPLIT).  It may not: a write fault on a
 *    placeholder gives its VMA an anon_vma before userfaultfd sees the
 *    fault, and a placeholder re-armed between two placeholder VMAs with
 *    different anon_vmas merges with the one before it only.  Only the
 *    kernel knows, so after each re-arm the page's VMA is looked up with
 *    PROCMAP_QUERY (Linux 6.11; gstate.c asks once per re-armed run, and
 *    keeps the answer in GS_PSPLIT); without it such splits are not seen and
 *    the count can fall short of /proc/self/maps by them;
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
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
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

/* An inline window's file for unarmed pages (placeholder.c); a window
 * with handler threads opens /proc/self/maps for PROCMAP_QUERY if the
 * kernel answers it.  An inline window never asks: its placeholders are
 * never faulted in, and the kernel always merges them. */
void gmap_vmas_open(struct gmap_window *w)
{
	struct gmap_procmap_query q = { .size = sizeof(q) };

	if (w->h.inline_mode) {
		w->unarmed_fd = memfd_create(GMAP_UNARMED_NAME, MFD_CLOEXEC);
		if (w->unarmed_fd < 0)
			GMAP_LOG(w, XTL_INFO, errno, "d%u: no memfd for unarmed "
				 "pages: unpins re-arm their pages", w->domid);
		return;
	}

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
	if (w->unarmed_fd >= 0)
		close(w->unarmed_fd);
	w->maps_fd = w->unarmed_fd = -1;
}

void gmap_vmas_add(struct gmap_window *w, int delta)
{
	uint64_t now = atomic_fetch_add(&w->c->vmas, (uint64_t)(int64_t)delta) +
		       (uint64_t)(int64_t)delta;

	window_assert_locked(w);
	if (now > atomic_load(&w->c->vmas_peak))
		atomic_store(&w->c->vmas_peak, now);
}

int gmap_vmas_query(struct gmap_window *w, uintptr_t addr, uintptr_t *start,
		    uintptr_t *end)
{
	struct gmap_procmap_query q = { .size = sizeof(q), .query_addr = addr };

	if (w->maps_fd < 0 || ioctl(w->maps_fd, GMAP_PROCMAP_QUERY, &q) < 0)
		return -1;
	*start = (uintptr_t)q.vma_start;
	*end = (uintptr_t)q.vma_end;
	return 0;
}
