/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * maps.c - serving a map call from the windows, and its unmap.
 *
 * Every grant of a map is pinned in its domain's window (gmap_pin), so a
 * grant is mapped once however many maps, handles and threads ask, and is
 * unmapped when the last of them unmaps it.
 *
 * A run of contiguous refs of one domain is handed out as its window
 * address: no work beyond the pins.  Anything else (refs out of order,
 * several domains, or a placement the caller fixed with MAP_FIXED) needs
 * its pages side by side somewhere else.  Copying would break the shared
 * memory a backend expects, and mapping the grants a second time would
 * break "one mapping per grant".  So the area is made of aliases of the
 * window pages: mremap(old_size = 0) makes a second view of a shared
 * mapping, the same pages with no new grant map (the sim domain counts one
 * map).  An alias lives only while its grant is pinned, and is removed
 * before the unpin, so no view outlives the grant mapping.
 *
 * gntdev's own mappings cannot be duplicated this way (VM_DONTEXPAND:
 * mremap fails with EFAULT).  On the xen backend such a page is mapped at
 * its place in the area by gntdev on its own (map_extra), and its window
 * pin is dropped: the grant then has its mapping in the area for as long
 * as the map lives (and in the window only if something else holds it
 * there).  Contiguous runs, the case of grant DMA buffers, are served from
 * the window on every backend.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "shim.h"

static void map_free(struct shim_map *m)
{
	free(m->extra);
	free(m->domids);
	free(m->refs);
	free(m->pinned);
	free(m);
}

/* Drop page @i's own mapping (map_extra() below), if it has one; the
 * caller has unmapped its address. */
static void drop_extra(struct shim_map *m, uint32_t i)
{
	struct gmap_window *w;

	if (!m->extra || !m->extra[i])
		return;
	w = shim_window(m->domids[i]);
	if (w)
		w->be->unmap_extra(w, m->extra[i] - 1);
	m->extra[i] = 0;
}

/* Unpin what @m pinned, after removing its aliases. */
static void map_release(struct shim_map *m)
{
	uint32_t i;

	/* gntdev's UNMAP_NOTIFY_CLEAR_BYTE, done here as the map goes. */
	if (m->notify_off >= 0 && m->writable && m->pinned[0])
		((volatile uint8_t *)m->addr)[m->notify_off] = 0;
	if (m->alias)
		munmap(m->addr, (size_t)m->count << GMAP_PAGE_SHIFT);
	for (i = 0; i < m->count; i++) {
		struct gmap_window *w;

		drop_extra(m, i);
		if (!m->pinned[i])
			continue;
		w = shim_window(m->domids[i]);
		if (!w || gmap_unpin(w, m->refs[i], 1) < 0)
			SHIM_ERR("d%u ref %u: unpin failed", m->domids[i],
				 m->refs[i]);
	}
}

static bool contiguous(uint32_t count, const uint32_t *domids,
		       const uint32_t *refs)
{
	uint32_t i;

	for (i = 1; i < count; i++)
		if (domids[i] != domids[0] || refs[i] != refs[0] + i)
			return false;
	return true;
}

/*
 * The errno of a failed pin, as the real libraries report it: gntdev's
 * mmap fails with EINVAL whatever the hypervisor's reason (seen on Xen
 * 4.17 in the test bed: an ended grant and a writable map of a read-only
 * one both give "mmap failed: Invalid argument").  The GNTST_* status
 * itself is in the log.  libgmap's own failures (budget, memory) keep
 * theirs.
 */
static int pin_errno(const struct gmap_error *ge)
{
	return ge->status < 0 && ge->status > -100 ? EINVAL : ge->err;
}

/* Pin refs[i]; 0 or -errno.  A ref past the window is EINVAL, as a
 * frame the hypervisor does not know. */
static int pin_one(uint32_t domid, uint32_t ref, bool writable)
{
	struct gmap_window *w;
	struct gmap_error ge;

	if (domid == SHIM_NO_DOMID)
		return -EINVAL;
	w = shim_window(domid);
	if (!w)
		return -errno;
	if (ref >= gmap_nr_refs(w)) {
		SHIM_ERR("d%u ref %u is past the window (%llu refs)", domid,
			 ref, (unsigned long long)gmap_nr_refs(w));
		return -EINVAL;
	}
	if (gmap_pin(w, ref, 1, writable ? GMAP_PIN_WRITE : GMAP_PIN_READ,
		     &ge) < 0)
		return -pin_errno(&ge);
	return 0;
}

/* Pin a run of @count refs in one call; 0, or -1 and *@e. */
static int pin_run(uint32_t domid, uint32_t ref, uint32_t count,
		   bool writable, int *e)
{
	struct gmap_window *w = shim_window(domid);
	struct gmap_error ge;

	if (!w) {
		*e = errno;
		return -1;
	}
	if ((uint64_t)ref + count > gmap_nr_refs(w)) {
		SHIM_ERR("d%u refs %u+%u are past the window (%llu refs)",
			 domid, ref, count, (unsigned long long)gmap_nr_refs(w));
		*e = EINVAL;
		return -1;
	}
	if (gmap_pin(w, ref, count, writable ? GMAP_PIN_WRITE : GMAP_PIN_READ,
		     &ge) < 0) {
		*e = pin_errno(&ge);
		return -1;
	}
	return 0;
}

/*
 * Page @i of @m's area at @dst, mapped on its own by the backend where the
 * window page cannot be aliased; its window pin is then dropped.  0, or
 * -1 with errno (EFAULT where the backend has no such map).
 */
static int map_extra(struct shim_map *m, uint32_t i, void *dst)
{
	struct gmap_window *w = shim_window(m->domids[i]);
	uint64_t handle;
	int16_t st;

	if (!w || !w->be->map_extra) {
		errno = EFAULT;
		return -1;
	}
	if (!m->extra) {
		m->extra = calloc(m->count, sizeof(*m->extra));
		if (!m->extra)
			return -1;
	}
	if (w->be->map_extra(w, m->refs[i], dst, m->writable, &handle,
			     &st) < 0) {
		SHIM_ERR("d%u ref %u: cannot map it for a non-contiguous map: "
			 "%s (status %d)", m->domids[i], m->refs[i],
			 gmap_status_str(st), st);
		return -1;
	}
	m->extra[i] = handle + 1;
	gmap_unpin(w, m->refs[i], 1);
	m->pinned[i] = 0;
	return 0;
}

/* Lay out the area: an alias of each pinned page, PROT_NONE elsewhere
 * (an access to a page that failed faults, as on privcmd). */
static void *make_aliases(struct shim_map *m, void *fixed)
{
	size_t len = (size_t)m->count << GMAP_PAGE_SHIFT;
	uint8_t *area;
	uint32_t i;

	area = mmap(fixed, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		    MAP_NORESERVE | (fixed ? MAP_FIXED : 0), -1, 0);
	if (area == MAP_FAILED)
		return NULL;
	for (i = 0; i < m->count; i++) {
		void *src, *dst = area + ((size_t)i << GMAP_PAGE_SHIFT);

		if (!m->pinned[i])
			continue;
		src = gmap_ref_ptr(shim_window(m->domids[i]), m->refs[i]);
		if (mremap(src, 0, GMAP_PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED,
			   dst) == MAP_FAILED) {
			int e;

			if (errno == EFAULT && map_extra(m, i, dst) == 0)
				continue;
			e = errno;
			SHIM_ERR("d%u ref %u: cannot alias the window page "
				 "for a non-contiguous map (backend %s): %s",
				 m->domids[i], m->refs[i],
				 gmap_backend_name(shim_window(m->domids[i])),
				 strerror(e));
			munmap(area, len);
			/* The pages mapped on their own so far go too. */
			for (uint32_t j = 0; j < i; j++)
				drop_extra(m, j);
			errno = e;
			return NULL;
		}
	}
	/* The aliases came with the window pages' MADV_DONTFORK; the
	 * holes did not. */
	madvise(area, len, MADV_DONTFORK);
	return area;
}

void *shim_map_grants(struct shim_handle *h, uint32_t count,
		      const uint32_t *domids, const uint32_t *refs,
		      bool writable, void *fixed, int *err, int notify_off)
{
	struct shim_map *m;
	uint32_t i, ok = 0;
	int e = 0;

	if (count == 0) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->count = count;
	m->notify_off = notify_off;
	m->writable = writable;
	m->domids = malloc(count * sizeof(*m->domids));
	m->refs = malloc(count * sizeof(*m->refs));
	m->pinned = calloc(count, 1);
	if (!m->domids || !m->refs || !m->pinned) {
		map_free(m);
		errno = ENOMEM;
		return NULL;
	}
	memcpy(m->domids, domids, count * sizeof(*domids));
	memcpy(m->refs, refs, count * sizeof(*refs));

	if (!err && contiguous(count, domids, refs)) {
		/* A run, all or nothing: one pin call (gmap_pin undoes
		 * its own pins if one ref fails). */
		if (pin_run(domids[0], refs[0], count, writable, &e) < 0) {
			map_free(m);
			errno = e;
			return NULL;
		}
		memset(m->pinned, 1, count);
	} else {
		/* Ref by ref: with @err, each page fails on its own. */
		for (i = 0; i < count; i++) {
			int r = pin_one(domids[i], refs[i], writable);

			if (err)
				err[i] = r;
			m->pinned[i] = r == 0;
			if (r && !e) {
				e = -r;
				if (!err)
					break;
			}
		}
	}
	for (i = 0; i < count; i++)
		ok += m->pinned[i];
	if (e && !err)
		goto undo;
	if (ok == 0)
		goto undo;  /* not one page: nothing to hand out */

	m->alias = fixed || !contiguous(count, domids, refs);
	if (m->alias) {
		m->addr = make_aliases(m, fixed);
		if (!m->addr) {
			e = errno;
			goto undo;
		}
	} else {
		m->addr = gmap_ref_ptr(shim_window(domids[0]), refs[0]);
	}
	pthread_mutex_lock(&h->lock);
	m->next = h->maps;
	h->maps = m;
	h->nr_mapped += count;
	pthread_mutex_unlock(&h->lock);
	return m->addr;
undo:
	m->alias = false;
	m->notify_off = -1;
	map_release(m);
	map_free(m);
	errno = e ? e : EINVAL;
	return NULL;
}

int shim_unmap(struct shim_handle *h, void *addr, uint32_t count,
	       bool not_ours_ok)
{
	struct shim_map **pp, *m = NULL;

	pthread_mutex_lock(&h->lock);
	for (pp = &h->maps; *pp; pp = &(*pp)->next)
		if ((*pp)->addr == addr && (*pp)->count == count) {
			m = *pp;
			*pp = m->next;
			h->nr_mapped -= count;
			break;
		}
	pthread_mutex_unlock(&h->lock);
	if (!m) {
		/* Not a live map of ours.  Never unmap inside a window. */
		if (not_ours_ok && !shim_window_at(addr))
			return 1;
		SHIM_ERR("unmap of %p (%u pages): not a live map of handle %p",
			 addr, count, (void *)h);
		errno = EINVAL;
		return -1;
	}
	map_release(m);
	map_free(m);
	return 0;
}

void shim_unmap_all(struct shim_handle *h)
{
	struct shim_map *m;

	pthread_mutex_lock(&h->lock);
	while ((m = h->maps)) {
		h->maps = m->next;
		pthread_mutex_unlock(&h->lock);
		map_release(m);
		map_free(m);
		pthread_mutex_lock(&h->lock);
	}
	h->nr_mapped = 0;
	pthread_mutex_unlock(&h->lock);
}
