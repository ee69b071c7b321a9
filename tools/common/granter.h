/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * granter.h - a real granting side on Xen: this domain's own pages granted
 * through /dev/xen/gntalloc, the counterpart of the sim's guest.  Used by
 * the real-Xen tests (tests/test-xenbed.c) and by gmap-xengrant.
 *
 * Each grant is allocated on its own (one gntalloc index per ref), so it
 * can be ended on its own.  The kernel picks the ref numbers.
 */
#ifndef GMAP_XEN_GRANTER_H
#define GMAP_XEN_GRANTER_H

#include <stdbool.h>
#include <stdint.h>

struct xg_grant {
	uint32_t ref;
	uint64_t index;   /* gntalloc's mmap offset for it */
	uint8_t *page;    /* our own mapping of the granted page */
	bool writable;
};

struct xg {
	int fd;
	struct xg_grant *g;
	uint32_t n, cap;
};

/* Open /dev/xen/gntalloc for up to @max grants; -1 and errno if there is
 * none.  The grants live in one array: pointers to them stay valid. */
int xg_open(struct xg *x, uint32_t max);
void xg_close(struct xg *x);
/* Grant a fresh page of ours to @domid; the new grant, or NULL/errno. */
struct xg_grant *xg_grant(struct xg *x, uint16_t domid, bool writable);
/* End access: unmap our view and deallocate.  If the grantee still maps
 * it, the kernel defers the end until it is unmapped. */
int xg_end(struct xg *x, struct xg_grant *g);
/* Sort grants [@from, @from + @n) of @x by ref: the kernel hands refs out
 * of a free list in either order. */
void xg_sort(struct xg *x, uint32_t from, uint32_t n);
/* The grant of @ref, or NULL. */
struct xg_grant *xg_find(struct xg *x, uint32_t ref);

#endif /* GMAP_XEN_GRANTER_H */
