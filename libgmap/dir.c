/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dir.c - where the grant state words live: a directory reserved for the
 * whole window and populated lazily, pointing at leaves of GMAP_LEAF_REFS
 * words (grant.h) made at a ref's first use.  reclaim.c frees leaves whose
 * refs are all idle again.  Leaves come from a slab (slab.c), not malloc:
 * a fault served inline makes them in a signal handler.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "private.h"

int gmap_dir_init(struct gmap_window *w)
{
	size_t n = (size_t)((w->nr_refs + GMAP_LEAF_REFS - 1) >> GMAP_LEAF_SHIFT);

	w->dir.len = (n * sizeof(w->dir.slots[0]) + 4095) & ~(size_t)4095;
	/* 255 leaves (16320 refs) per 64 KiB chunk, touched as used. */
	gmap_slab_init(&w->dir.leaves, GMAP_LEAF_BYTES, 64 * 1024);
	/* Reserved, not committed: only directory pages that point at a
	 * leaf are ever touched, so a 16 TiB window costs what it uses. */
	w->dir.slots = gmap_mem_map(w->dir.len);
	if (!w->dir.slots)
		return -1;
	return 0;
}

void gmap_dir_teardown(struct gmap_window *w, bool unmap)
{
	size_t i, n = w->dir.len / sizeof(w->dir.slots[0]);
	unsigned char vec[256];
	uint32_t j;

	if (!w->dir.slots)
		return;
	for (i = 0; unmap && i < n; i += GMAP_DIR_PAGE_SLOTS) {
		/* Skip directory pages never touched (mincore says absent)
		 * instead of reading 512 MiB of zeros; asked 256 pages at a
		 * time. */
		size_t pg = i / GMAP_DIR_PAGE_SLOTS;

		if (pg % 256 == 0) {
			size_t left = w->dir.len / 4096 - pg;

			if (mincore((char *)w->dir.slots + pg * 4096,
				    (left < 256 ? left : 256) * 4096, vec) < 0)
				memset(vec, 1, sizeof(vec));
		}
		if (!(vec[pg % 256] & 1))
			continue;
		for (size_t k = i; k < i + GMAP_DIR_PAGE_SLOTS && k < n; k++) {
			struct gmap_grant *leaf = atomic_load(&w->dir.slots[k]);

			if (!leaf)
				continue;
			for (j = 0; j < GMAP_LEAF_REFS; j++) {
				uint32_t s = atomic_load(&leaf[j].state);

				if (unmap && gs_state(s) == GS_MAPPED)
					w->be.ops->unmap(&w->be, (uint32_t)((k << GMAP_LEAF_SHIFT) + j),
						     1, !(s & GS_RO));
			}
		}
	}
	gmap_slab_destroy(&w->dir.leaves);
	gmap_mem_unmap(w->dir.slots, w->dir.len);
	w->dir.slots = NULL;
}

struct gmap_grant *gmap_grant_get(struct gmap_window *w, uint32_t ref,
				  bool create)
{
	size_t idx = ref >> GMAP_LEAF_SHIFT;
	struct gmap_grant *g = gmap_grant_peek(w->dir.slots, ref), *leaf;

	if (g || !create)
		return g;
	window_assert_locked(w);
	leaf = gmap_slab_alloc(&w->dir.leaves);
	if (!leaf)
		return NULL;
	atomic_fetch_add(&w->c->meta_bytes, GMAP_LEAF_BYTES +
			 (gmap_dir_page_empty(w, idx) ? 4096 : 0));
	atomic_store(&w->dir.slots[idx], leaf);
	/* Over the budget of metadata: the evictor frees idle leaves
	 * (reclaim.c). */
	if (atomic_load(&w->c->meta_bytes) >= w->ev.mhigh)
		gmap_evict_kick(w);
	return &leaf[ref & (GMAP_LEAF_REFS - 1)];
}
