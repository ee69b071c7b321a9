/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * refindex.h - a map from grant ref to a pointer, for the xen backend's
 * gntdev runs (backend_xen.c): only mapped grants have an entry, so its
 * size follows the window's budget, not its 2^32 refs.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones, so lookups stay short however many puts and takes come).
 * Not thread-safe: the caller locks.  In its own file so that a CUnit
 * test (tests/test-refindex.c) checks it in make check, against a model,
 * without Xen.
 */
#ifndef GMAP_REFINDEX_H
#define GMAP_REFINDEX_H

#include <stddef.h>
#include <stdint.h>

struct gmap_refindex_slot {
	uint32_t ref;
	uint32_t used;
	void *val;
};

struct gmap_refindex {
	struct gmap_refindex_slot *slots;
	size_t cap, len;          /* cap: a power of two, or 0 */
};

/*
 * Add @ref -> @val (@ref must not be in the index).  Grows the table to
 * keep it at most half full; *@grown is increased by the bytes the table
 * grew (metadata accounting).  0, or -1 with errno ENOMEM (the index is
 * unchanged).
 */
int gmap_refindex_put(struct gmap_refindex *x, uint32_t ref, void *val,
		      size_t *grown);
/* Remove @ref's entry and return its value in *@val; -1 if none. */
int gmap_refindex_take(struct gmap_refindex *x, uint32_t ref, void **val);
/* @ref's value, or NULL if it has no entry. */
void *gmap_refindex_find(const struct gmap_refindex *x, uint32_t ref);
void gmap_refindex_free(struct gmap_refindex *x);

#endif /* GMAP_REFINDEX_H */
