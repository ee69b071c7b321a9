/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * outside.c - what the preload shim asks of a window's backend beyond the
 * window: grants mapped as mappings of their own (where the window's pages
 * cannot be aliased: gntdev's), and grant copies as the hypervisor makes
 * them.  The shim goes through these, never through the backend's ops
 * table, so the backend boundary stays the core's (private.h).
 */
#include <errno.h>
#include <sys/mman.h>

#include "private.h"

bool gmap_can_map_outside(const struct gmap_window *w)
{
	return w->be.ops->map_extra != NULL;
}

void *gmap_map_outside(struct gmap_window *w, uint32_t count,
		       const uint32_t *refs, void *addr, bool writable,
		       uint64_t *handle, int16_t *status)
{
	if (!w->be.ops->map_extra) {
		*status = GMAP_ST_BACKEND;
		errno = EOPNOTSUPP;
		return MAP_FAILED;
	}
	return w->be.ops->map_extra(&w->be, count, refs, addr, writable,
				    handle, status);
}

void gmap_unmap_outside(struct gmap_window *w, uint64_t handle, uint32_t count)
{
	if (w->be.ops->unmap_extra)
		w->be.ops->unmap_extra(&w->be, handle, count);
}

bool gmap_can_copy(const struct gmap_window *w)
{
	return w->be.ops->copy != NULL;
}

int gmap_copy_segs(struct gmap_window *w, uint32_t count, void *segs)
{
	if (!w->be.ops->copy) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return w->be.ops->copy(&w->be, count, segs);
}
