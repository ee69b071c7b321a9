/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * refindex.c - grant ref -> pointer, open addressing (see refindex.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "refindex.h"

/* Fibonacci hashing: refs of a run (consecutive) land far apart. */
static size_t slot_of(uint32_t ref, size_t cap)
{
	return (size_t)((ref * 2654435761u) & (cap - 1));
}

/* Tables are mmapped, not malloc'd: the xen backend grows its index on
 * the fault path, which the inline fault mode runs in a signal handler
 * (libgmap/inline.c).  256 slots are 4 KiB, a page. */
static struct gmap_refindex_slot *table_alloc(size_t cap)
{
	void *p = mmap(NULL, cap * sizeof(struct gmap_refindex_slot),
		       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void table_free(struct gmap_refindex_slot *t, size_t cap)
{
	if (t)
		munmap(t, cap * sizeof(*t));
}

static int grow(struct gmap_refindex *x, size_t *grown)
{
	size_t ncap = x->cap ? x->cap * 2 : 256, i;
	struct gmap_refindex_slot *n = table_alloc(ncap);

	if (!n) {
		errno = ENOMEM;
		return -1;
	}
	for (size_t k = 0; k < x->cap; k++) {
		if (!x->slots[k].used)
			continue;
		for (i = slot_of(x->slots[k].ref, ncap); n[i].used;
		     i = (i + 1) & (ncap - 1))
			;
		n[i] = x->slots[k];
	}
	*grown += (ncap - x->cap) * sizeof(*n);
	table_free(x->slots, x->cap);
	x->slots = n;
	x->cap = ncap;
	return 0;
}

int gmap_refindex_put(struct gmap_refindex *x, uint32_t ref, void *val,
		      size_t *grown)
{
	size_t i;

	if ((x->len + 1) * 2 > x->cap && grow(x, grown) < 0)
		return -1;
	for (i = slot_of(ref, x->cap); x->slots[i].used;
	     i = (i + 1) & (x->cap - 1))
		;
	x->slots[i] = (struct gmap_refindex_slot){ ref, 1, val };
	x->len++;
	return 0;
}

/* The slot of @ref, or the empty slot that ends its probe run. */
static size_t find_slot(const struct gmap_refindex *x, uint32_t ref)
{
	size_t i, mask = x->cap - 1;

	for (i = slot_of(ref, x->cap); x->slots[i].used; i = (i + 1) & mask)
		if (x->slots[i].ref == ref)
			break;
	return i;
}

void *gmap_refindex_find(const struct gmap_refindex *x, uint32_t ref)
{
	size_t i;

	if (!x->cap)
		return NULL;
	i = find_slot(x, ref);
	return x->slots[i].used ? x->slots[i].val : NULL;
}

int gmap_refindex_take(struct gmap_refindex *x, uint32_t ref, void **val)
{
	size_t i, j, k, mask = x->cap - 1;

	if (!x->cap)
		return -1;
	i = find_slot(x, ref);
	if (!x->slots[i].used)
		return -1;
	*val = x->slots[i].val;
	x->slots[i].used = 0;
	x->len--;
	/*
	 * Backward shift: an entry later in the probe run moves into the
	 * hole unless its home slot k lies cyclically in (i, j], where it
	 * can still be found without passing the hole.
	 */
	for (j = (i + 1) & mask; x->slots[j].used; j = (j + 1) & mask) {
		k = slot_of(x->slots[j].ref, x->cap);
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			x->slots[i] = x->slots[j];
			x->slots[j].used = 0;
			i = j;
		}
	}
	return 0;
}

void gmap_refindex_free(struct gmap_refindex *x)
{
	table_free(x->slots, x->cap);
	x->slots = NULL;
	x->cap = x->len = 0;
}
