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
 * mremap fails with EFAULT, and only after it has unmapped the
 * destination).  On the xen backend such a map is one gntdev map of all
 * its refs, placed where the kernel chooses (or at the caller's fixed
 * address), as libxengnttab itself maps them: one hypercall batch and one
 * VMA, and a refused map touches nothing of ours.  Its grants are then
 * mapped in the area for as long as the map lives (and in the window only
 * if something else holds them there).  A foreign-memory map that may
 * fail page by page is laid out page by page instead.  Contiguous runs,
 * the case of grant DMA buffers, are served from the window on every
 * backend.
 *
 * No step may leave a hole in an area we own: another thread's mmap can be
 * handed it at once, and our next MAP_FIXED would land on that thread's
 * memory.  Areas carry MADV_DONTFORK from birth, so that after a failed
 * placement gmap_fill_holes() can tell our pages from a thief's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "shim.h"

static void map_free(struct shim_map *m)
{
	free(m->lost);
	free(m->extra);
	if (m->count > 1) {
		free(m->domids);
		free(m->refs);
		free(m->pinned);
	}
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
		gmap_unmap_outside(w, m->extra[i] - 1, 1);
	m->extra[i] = 0;
}

/* Unmap @m's area at @area, but never a page another mapping took. */
static void area_unmap(struct shim_map *m, uint8_t *area)
{
	uint32_t i, from = 0;

	for (i = 0; i <= m->count; i++) {
		if (i < m->count && !(m->lost && m->lost[i]))
			continue;
		if (i > from)
			munmap(area + ((size_t)from << GMAP_PAGE_SHIFT),
			       (size_t)(i - from) << GMAP_PAGE_SHIFT);
		from = i + 1;
	}
}

/* Record that page @i of @m's area is another mapping's now. */
static void mark_lost(struct shim_map *m, uint32_t i)
{
	if (!m->lost)
		m->lost = calloc(m->count, 1);
	if (m->lost)
		m->lost[i] = 1;
	else  /* cannot remember which: the area is leaked whole */
		m->alias = false;
}

/* After a failed placement of page @i at @dst: no hole stays behind. */
static void after_failed_place(struct shim_map *m, uint32_t i, void *dst)
{
	uint8_t fill;

	gmap_fill_holes(dst, GMAP_PAGE_SIZE, &fill);
	if (fill == GMAP_FILL_LOST) {
		SHIM_ERR("d%u ref %u: a failed placement left a hole at %p "
			 "that another mapping took; it is left alone",
			 m->domids[i], m->refs[i], dst);
		mark_lost(m, i);
	}
}

/* Unpin what @m pinned, after removing its aliases. */
static void map_release(struct shim_map *m)
{
	uint32_t i, j;

	/* gntdev's UNMAP_NOTIFY_CLEAR_BYTE, done here as the map goes. */
	if (m->notify_off >= 0 && m->writable &&
	    (m->pinned[0] || m->whole || (m->extra && m->extra[0])))
		((volatile uint8_t *)m->addr)[m->notify_off] = 0;
	if (m->alias)
		area_unmap(m, m->addr);
	if (m->whole) {
		struct gmap_window *w = shim_window(m->domids[0]);

		if (w)
			gmap_unmap_outside(w, m->whole - 1, m->count);
		m->whole = 0;
	}
	for (i = 0; i < m->count; i++)
		drop_extra(m, i);
	/* Pinned runs of contiguous refs are unpinned with one call each:
	 * their pages are unmapped together, with one placement over the
	 * backend's map of them (a gntdev map is one VMA, which page by page
	 * unmaps would split once for each page). */
	for (i = 0, j = 0; i < m->count; i = j) {
		struct gmap_window *w;

		for (j = i + 1; j < m->count && m->pinned[i] && m->pinned[j] &&
		     m->domids[j] == m->domids[i] &&
		     m->refs[j] == m->refs[j - 1] + 1; j++)
			;
		if (!m->pinned[i])
			continue;
		w = shim_window(m->domids[i]);
		if (w && gmap_unpin(w, m->refs[i], j - i) == 0)
			continue;
		for (uint32_t k = i; k < j; k++)
			if (!w || gmap_unpin(w, m->refs[k], 1) < 0)
				SHIM_ERR("d%u ref %u: unpin failed",
					 m->domids[k], m->refs[k]);
	}
}

static bool contiguous(uint32_t count, const uint32_t *domids,
		       const uint32_t *refs)
{
	uint32_t i;

	/* In 64 bits: refs {0xffffffff, 0, 1, ...} are no run (they wrap
	 * past the last ref), whatever 32-bit arithmetic says. */
	for (i = 1; i < count; i++)
		if (domids[i] != domids[0] || refs[i] != (uint64_t)refs[0] + i)
			return false;
	return true;
}

/* A ref the shim can serve from domain @domid's window: 0 and *@w, or
 * -errno. */
static int check_ref(uint32_t domid, uint32_t ref, struct gmap_window **w)
{
	if (domid == SHIM_NO_DOMID)
		return -EINVAL;
	*w = shim_window(domid);
	if (!*w)
		return -errno;
	if (ref >= gmap_nr_refs(*w)) {
		SHIM_ERR("d%u ref %u is past the window (%llu refs)", domid,
			 ref, (unsigned long long)gmap_nr_refs(*w));
		return -EINVAL;
	}
	return 0;
}

/*
 * The errno of a map that failed with @status and @err, as the real
 * libraries report it: gntdev's mmap fails with EINVAL whatever the
 * hypervisor's reason (seen on Xen 4.17 in the test bed: an ended grant
 * and a writable map of a read-only one both give "mmap failed: Invalid
 * argument").  The GNTST_* status itself is in the log.  libgmap's own
 * failures (budget, memory, a lost page) keep theirs.
 */
static int map_errno(int16_t status, int err)
{
	return status < 0 && status > -100 ? EINVAL : err;
}

static int pin_errno(const struct gmap_error *ge)
{
	return map_errno(ge->status, ge->err);
}

/*
 * How a run without PROT_WRITE is pinned.  Where the backend can map a
 * grant outside the window (xen), read-only at once, as libxengnttab maps
 * it: a writable try would be refused for every read-only grant, and each
 * refusal costs a gntdev map and a hole to fill (the arm64 bed's disk
 * writes ran 11-15x slower than plain QEMU for it).  The window then
 * holds the grant read-only, and a writable map of it while that lasts
 * gets a mapping of its own outside the window (shim_map_grants), as two
 * libxengnttab maps would.  Elsewhere (sim) there is no such mapping:
 * writable first, so that both maps share the window page.
 */
static int read_flag(struct gmap_window *w)
{
	return gmap_can_map_outside(w) ? GMAP_PIN_READONLY : GMAP_PIN_READ;
}

/* Pin refs[i]; 0 or -errno.  A ref past the window is EINVAL, as a
 * frame the hypervisor does not know. */
static int pin_one(uint32_t domid, uint32_t ref, bool writable)
{
	struct gmap_window *w;
	struct gmap_error ge;
	int r = check_ref(domid, ref, &w);

	if (r < 0)
		return r;
	if (gmap_pin(w, ref, 1, writable ? GMAP_PIN_WRITE : GMAP_PIN_READ,
		     &ge) < 0)
		return -pin_errno(&ge);
	return 0;
}

/* Pin a run of @count refs in one call; its window, or NULL and *@e. */
static struct gmap_window *pin_run(uint32_t domid, uint32_t ref,
				   uint32_t count, bool writable, int *e)
{
	struct gmap_window *w = shim_window(domid);
	struct gmap_error ge;

	if (!w) {
		*e = errno;
		return NULL;
	}
	if ((uint64_t)ref + count > gmap_nr_refs(w)) {
		SHIM_ERR("d%u refs %u+%u are past the window (%llu refs)",
			 domid, ref, count, (unsigned long long)gmap_nr_refs(w));
		*e = EINVAL;
		return NULL;
	}
	if (gmap_pin(w, ref, count, writable ? GMAP_PIN_WRITE : read_flag(w),
		     &ge) < 0) {
		*e = pin_errno(&ge);
		return NULL;
	}
	return w;
}

/*
 * Page @i of @m's area at @dst, mapped on its own by the backend where the
 * window page cannot be aliased; its window pin is then dropped.  0, or
 * -1 with errno.
 */
static int map_extra(struct shim_map *m, uint32_t i, void *dst)
{
	struct gmap_window *w = shim_window(m->domids[i]);
	uint64_t handle;
	int16_t st;

	if (!m->extra) {
		m->extra = calloc(m->count, sizeof(*m->extra));
		if (!m->extra)
			return -1;
	}
	if (gmap_map_outside(w, 1, &m->refs[i], dst, m->writable, &handle,
			     &st) == MAP_FAILED) {
		int e = errno;

		SHIM_ERR("d%u ref %u: cannot map it for a non-contiguous map: "
			 "%s (status %d)", m->domids[i], m->refs[i],
			 gmap_status_str(st), st);
		if (st == GMAP_ST_LOST)
			mark_lost(m, i);
		errno = e;
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
	/* Before any placement: our mark (see the top of this file), and
	 * the window pages' own MADV_DONTFORK for every page. */
	madvise(area, len, MADV_DONTFORK);
	for (i = 0; i < m->count; i++) {
		void *src, *dst = area + ((size_t)i << GMAP_PAGE_SHIFT);
		struct gmap_window *w;
		int e;

		if (!m->pinned[i])
			continue;
		w = shim_window(m->domids[i]);
		if (gmap_can_map_outside(w)) {
			/* Never an mremap here: on gntdev's pages it fails,
			 * after it has unmapped @dst. */
			if (map_extra(m, i, dst) == 0)
				continue;
			e = errno;
		} else {
			src = gmap_ref_ptr(w, m->refs[i]);
			if (mremap(src, 0, GMAP_PAGE_SIZE,
				   MREMAP_MAYMOVE | MREMAP_FIXED, dst) != MAP_FAILED)
				continue;
			e = errno;
			after_failed_place(m, i, dst);
			SHIM_ERR("d%u ref %u: cannot alias the window page for "
				 "a non-contiguous map (backend %s): %s",
				 m->domids[i], m->refs[i], gmap_backend_name(w),
				 strerror(e));
		}
		area_unmap(m, area);
		/* The pages mapped on their own so far go too. */
		for (uint32_t j = 0; j < i; j++)
			drop_extra(m, j);
		errno = e;
		return NULL;
	}
	return area;
}

/*
 * The whole map as one backend map of its refs outside the window (xen:
 * see the top of this file), at the caller's @fixed place (reserved
 * first, so that a refusal leaves a reservation, not a hole) or where the
 * kernel chooses.  The address, or NULL with errno.
 */
static void *map_whole(struct shim_map *m, void *fixed)
{
	struct gmap_window *w = shim_window(m->domids[0]);
	size_t len = (size_t)m->count << GMAP_PAGE_SHIFT;
	uint64_t handle;
	int16_t st;
	void *p;
	int e;

	if (fixed && (mmap(fixed, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			   MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED ||
		      madvise(fixed, len, MADV_DONTFORK) < 0))
		return NULL;
	p = gmap_map_outside(w, m->count, m->refs, fixed, m->writable,
			     &handle, &st);
	if (p == MAP_FAILED) {
		e = map_errno(st, errno);
		SHIM_ERR("d%u: cannot map %u grants from ref %u: %s (status %d)",
			 m->domids[0], m->count, m->refs[0],
			 gmap_status_str(st), st);
		errno = e;
		return NULL;
	}
	if (!fixed)
		madvise(p, len, MADV_DONTFORK);
	m->whole = handle + 1;
	return p;
}

/* Whether a map of these refs is served by map_whole(): all-or-nothing,
 * one domain, on a backend whose window pages cannot be aliased. */
static bool whole_map(uint32_t count, const uint32_t *domids,
		      const uint32_t *refs, void *fixed, int *err)
{
	struct gmap_window *w;

	if (err || (!fixed && contiguous(count, domids, refs)))
		return false;
	for (uint32_t i = 1; i < count; i++)
		if (domids[i] != domids[0])
			return false;
	w = shim_window(domids[0]);
	return w && gmap_can_map_outside(w);
}

/* ---- a handle's live maps (shim.h) ---------------------------------------
 *
 * A hash table on the address handed out, chained through shim_map.next,
 * with as many buckets as live maps at most (it doubles past that).  A
 * table that cannot grow stays as it is, with longer chains: adding a map
 * never fails.  All under the handle's lock.
 */
static size_t bucket(const struct shim_handle *h, const void *addr)
{
	/* Fibonacci hashing of the page number: window runs and the
	 * kernel's placements are consecutive pages. */
	uint64_t k = ((uintptr_t)addr >> GMAP_PAGE_SHIFT) * 0x9e3779b97f4a7c15ull;

	return (size_t)(k >> 32) & h->tab_mask;
}

static void maps_grow(struct shim_handle *h)
{
	size_t n = (h->tab_mask + 1) * 2;
	struct shim_map **tab = calloc(n, sizeof(*tab)), **old = h->tab, *m;
	size_t old_n = h->tab_mask + 1;

	if (!tab)
		return;
	h->tab = tab;
	h->tab_mask = n - 1;
	for (size_t b = 0; b < old_n; b++)
		while ((m = old[b])) {
			size_t nb = bucket(h, m->addr);

			old[b] = m->next;
			m->next = tab[nb];
			tab[nb] = m;
		}
	if (old != h->tab_min)
		free(old);
}

static void maps_add(struct shim_handle *h, struct shim_map *m)
{
	size_t b;

	if (h->nr_maps > h->tab_mask)
		maps_grow(h);
	b = bucket(h, m->addr);
	m->next = h->tab[b];
	h->tab[b] = m;
	h->nr_maps++;
}

/* The live map at @addr of @count pages, removed from the table; or NULL. */
static struct shim_map *maps_take(struct shim_handle *h, const void *addr,
				  uint32_t count)
{
	struct shim_map **pp, *m;

	for (pp = &h->tab[bucket(h, addr)]; (m = *pp); pp = &m->next)
		if (m->addr == addr && m->count == count) {
			*pp = m->next;
			h->nr_maps--;
			return m;
		}
	return NULL;
}

void *shim_map_grants(struct shim_handle *h, uint32_t count,
		      const uint32_t *domids, const uint32_t *refs,
		      bool writable, void *fixed, int *err, int notify_off)
{
	struct gmap_window *w, *run_w = NULL;
	struct shim_map *m;
	uint32_t i, ok = 0;
	int e = 0;

	if (count == 0) {
		errno = EINVAL;
		return NULL;
	}
	/* malloc, not calloc: glibc's calloc skips the thread cache. */
	m = malloc(sizeof(*m));
	if (!m)
		return NULL;
	*m = (struct shim_map){ .count = count, .notify_off = notify_off,
				.writable = writable };
	if (count == 1) {
		m->domids = &m->one_domid;
		m->refs = &m->one_ref;
		m->pinned = &m->one_pinned;
	} else {
		m->domids = malloc(count * sizeof(*m->domids));
		m->refs = malloc(count * sizeof(*m->refs));
		m->pinned = calloc(count, 1);
	}
	if (!m->domids || !m->refs || !m->pinned) {
		map_free(m);
		errno = ENOMEM;
		return NULL;
	}
	memcpy(m->domids, domids, count * sizeof(*domids));
	memcpy(m->refs, refs, count * sizeof(*refs));

	if (whole_map(count, domids, refs, fixed, err)) {
		for (i = 0; i < count; i++)
			if ((e = -check_ref(domids[i], refs[i], &w)) != 0)
				goto undo;
		m->addr = map_whole(m, fixed);
		if (!m->addr) {
			e = errno;
			goto undo;
		}
		m->alias = true;
		goto live;
	}
	if (!err && contiguous(count, domids, refs)) {
		/* A run, all or nothing: one pin call (gmap_pin undoes
		 * its own pins if one ref fails). */
		run_w = pin_run(domids[0], refs[0], count, writable, &e);
		if (!run_w) {
			/* A grant that a read-only map holds read-only in the
			 * window (read_flag) is mapped writable on its own;
			 * if the grant itself refuses, that map says so. */
			w = shim_window(domids[0]);
			if (writable && w && gmap_can_map_outside(w)) {
				m->addr = map_whole(m, NULL);
				if (m->addr) {
					m->alias = true;
					goto live;
				}
				e = errno;
			}
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

	/* A run with pages that failed (err[]) is not handed out in the
	 * window either: its failed pages must fault, and the run may go
	 * past the window's end (refs 1020-1027 of a 1024-ref window). */
	m->alias = fixed || ok < count || !contiguous(count, domids, refs);
	if (m->alias) {
		m->addr = make_aliases(m, fixed);
		if (!m->addr) {
			e = errno;
			goto undo;
		}
	} else {
		/* (Pinned ref by ref, with @err, all of them: a run too.) */
		m->addr = gmap_ref_ptr(run_w ? run_w : shim_window(domids[0]),
				       refs[0]);
	}
live:
	pthread_mutex_lock(&h->lock);
	maps_add(h, m);
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
	struct shim_map *m;

	pthread_mutex_lock(&h->lock);
	m = maps_take(h, addr, count);
	if (m)
		h->nr_mapped -= count;
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
	/* Bucket by bucket, the table read again after each release (the
	 * lock is dropped for it); until none is left. */
	while (h->nr_maps) {
		for (size_t b = 0; b <= h->tab_mask; b++) {
			while ((m = h->tab[b])) {
				h->tab[b] = m->next;
				h->nr_maps--;
				pthread_mutex_unlock(&h->lock);
				map_release(m);
				map_free(m);
				pthread_mutex_lock(&h->lock);
			}
		}
	}
	h->nr_mapped = 0;
	pthread_mutex_unlock(&h->lock);
}
