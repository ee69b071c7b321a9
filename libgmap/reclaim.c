/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reclaim.c - the budget of metadata memory.
 *
 * Grant state lives in leaves of 64 refs, allocated at a ref's first use.
 * A window that touches scattered refs over a long time would keep a leaf
 * for every one it ever touched; the evictor thread (evict.c) frees those
 * whose refs are all back to EMPTY, from 15/16 of max_meta down to 7/8.
 * A freed ref reads as EMPTY without a leaf, which is what it is.  Only
 * leaves whose every word is plain EMPTY are freed (GS_TRIED may go):
 * GS_QUEUED still names an entry of the evictor's FIFO (compacted first),
 * and an unarmed page's colour is part of the window's count of VMAs.
 * The metadata of mapped, pinned and bad grants stays; the other budgets
 * bound those.
 *
 * Safety: grant state is read under the window lock, but for the SIGSEGV
 * handler, which reads it inside its slot's reader count.  So a leaf is
 * unpublished under the lock (its directory slot set to NULL) and freed
 * once no handler is inside (gmap_signal_quiesce); a thread that slept on
 * a BUSY grant looks it up again when it wakes (gmap_grant_wait).
 * A directory page left with no leaf is given back (MADV_DONTNEED).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "private.h"

/* Leaves freed per pass under the lock. */
#define RECLAIM_BATCH 256
/* Directory slots scanned under one hold of the window lock. */
#define RECLAIM_SCAN 32768
/* Directory pages asked of mincore() at a time. */
#define RESIDENT_PAGES 256

static bool leaf_idle(struct gmap_grant *leaf)
{
	for (unsigned int i = 0; i < GMAP_LEAF_REFS; i++)
		if (atomic_load(&leaf[i].state) & ~GS_TRIED)
			return false;
	return true;
}

/*
 * One pass: from w->dir.reclaim_at, over at most @budget slots, unpublish up
 * to RECLAIM_BATCH idle leaves into @out.  Directory pages never touched
 * (mincore says absent) are skipped whole.  Returns how many; *@bytes
 * the metadata they and any emptied directory pages held, *@scanned the
 * slots passed.
 */
static size_t unpublish(struct gmap_window *w, struct gmap_grant **out,
			size_t budget, uint64_t *bytes, size_t *scanned)
{
	size_t nslots = w->dir.len / sizeof(w->dir.slots[0]), n = 0;
	unsigned char vec[RESIDENT_PAGES];
	size_t vec_first = SIZE_MAX;

	*bytes = 0;
	*scanned = 0;
	while (n < RECLAIM_BATCH && *scanned < budget) {
		size_t i = w->dir.reclaim_at, pg = i / GMAP_DIR_PAGE_SLOTS;
		struct gmap_grant *leaf;

		if (vec_first == SIZE_MAX || pg < vec_first ||
		    pg >= vec_first + RESIDENT_PAGES) {
			size_t left = w->dir.len / 4096 - pg;

			vec_first = pg;
			if (mincore((char *)w->dir.slots + pg * 4096,
				    (left < RESIDENT_PAGES ? left : RESIDENT_PAGES) *
				    4096, vec) < 0)
				memset(vec, 1, sizeof(vec));
		}
		if (!(vec[pg - vec_first] & 1)) {
			size_t next = (pg + 1) * GMAP_DIR_PAGE_SLOTS;

			*scanned += next - i;
			w->dir.reclaim_at = next >= nslots ? 0 : next;
			continue;
		}
		leaf = atomic_load(&w->dir.slots[i]);
		if (leaf && leaf_idle(leaf)) {
			atomic_store(&w->dir.slots[i], NULL);
			out[n++] = leaf;
			*bytes += GMAP_LEAF_BYTES;
			if (gmap_dir_page_empty(w, i)) {
				madvise((char *)w->dir.slots + pg * 4096, 4096,
					MADV_DONTNEED);
				*bytes += 4096;
			}
		}
		(*scanned)++;
		w->dir.reclaim_at = i + 1 >= nslots ? 0 : i + 1;
	}
	return n;
}

uint64_t gmap_meta_reclaim(struct gmap_window *w, uint64_t target)
{
	size_t nslots = w->dir.len / sizeof(w->dir.slots[0]), scanned = 0;
	struct gmap_grant *batch[RECLAIM_BATCH];
	uint64_t freed = 0;

	/* Stale FIFO entries hold their leaves: drop them first. */
	gmap_evict_compact(w);
	while (atomic_load(&w->c->meta_bytes) > target && scanned < nslots &&
	       !atomic_load(&w->closing)) {
		uint64_t bytes;
		size_t step, n;

		/* At most RECLAIM_SCAN slots under one hold of the lock. */
		n = unpublish(w, batch, nslots - scanned < RECLAIM_SCAN ?
			      nslots - scanned : RECLAIM_SCAN, &bytes, &step);
		scanned += step;
		if (!n) {
			window_unlock(w);
			window_lock(w);
			continue;
		}
		window_unlock(w);
		gmap_signal_quiesce(w);
		window_lock(w);
		for (size_t i = 0; i < n; i++)
			gmap_slab_free(&w->dir.leaves, batch[i]);
		atomic_fetch_sub(&w->c->meta_bytes, bytes);
		atomic_fetch_add(&w->c->meta_freed, bytes);
		freed += bytes;
	}
	return freed;
}
