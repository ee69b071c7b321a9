/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * granter.c - granting this domain's pages with gntalloc (see granter.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <stdint.h>
/* gntalloc.h uses the fixed-width types without including them. */
#include <xen/sys/gntalloc.h>

#include "granter.h"

#define PAGE 4096

int xg_open(struct xg *x, uint32_t max)
{
	memset(x, 0, sizeof(*x));
	x->g = calloc(max ? max : 1, sizeof(*x->g));
	if (!x->g)
		return -1;
	x->cap = max;
	x->fd = open("/dev/xen/gntalloc", O_RDWR | O_CLOEXEC);
	if (x->fd < 0) {
		int e = errno;

		free(x->g);
		x->g = NULL;
		errno = e;
		return -1;
	}
	return 0;
}

void xg_close(struct xg *x)
{
	uint32_t i;

	for (i = 0; i < x->n; i++)
		if (x->g[i].page)
			xg_end(x, &x->g[i]);
	free(x->g);
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
}

struct xg_grant *xg_grant(struct xg *x, uint16_t domid, bool writable)
{
	struct ioctl_gntalloc_alloc_gref op;
	struct xg_grant *g;
	void *p;

	if (x->n == x->cap) {
		errno = ENOSPC;
		return NULL;
	}
	memset(&op, 0, sizeof(op));
	op.domid = domid;
	op.flags = writable ? GNTALLOC_FLAG_WRITABLE : 0;
	op.count = 1;
	if (ioctl(x->fd, IOCTL_GNTALLOC_ALLOC_GREF, &op) < 0)
		return NULL;
	/* Our own view is always writable: we are the guest filling it. */
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, x->fd,
		 (off_t)op.index);
	if (p == MAP_FAILED) {
		int e = errno;
		struct ioctl_gntalloc_dealloc_gref d = { op.index, 1 };

		ioctl(x->fd, IOCTL_GNTALLOC_DEALLOC_GREF, &d);
		errno = e;
		return NULL;
	}
	g = &x->g[x->n++];
	g->ref = op.gref_ids[0];
	g->index = op.index;
	g->page = p;
	g->writable = writable;
	return g;
}

int xg_end(struct xg *x, struct xg_grant *g)
{
	struct ioctl_gntalloc_dealloc_gref d = { g->index, 1 };

	if (!g->page) {
		errno = EINVAL;
		return -1;
	}
	munmap(g->page, PAGE);
	g->page = NULL;
	return ioctl(x->fd, IOCTL_GNTALLOC_DEALLOC_GREF, &d);
}

static int by_ref(const void *a, const void *b)
{
	const struct xg_grant *x = a, *y = b;

	return x->ref < y->ref ? -1 : x->ref > y->ref;
}

void xg_sort(struct xg *x, uint32_t from, uint32_t n)
{
	qsort(x->g + from, n, sizeof(x->g[0]), by_ref);
}

struct xg_grant *xg_find(struct xg *x, uint32_t ref)
{
	uint32_t i;

	for (i = 0; i < x->n; i++)
		if (x->g[i].ref == ref && x->g[i].page)
			return &x->g[i];
	return NULL;
}
