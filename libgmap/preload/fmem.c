/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fmem.c - the xenforeignmemory family.
 *
 * A frame with the grant bit (a grant DMA address >> 12: bit 51, the ref
 * below it) is a grant: served from the window, pinned until unmap.  A
 * call with no grant frame is a foreign map of guest memory: passed to the
 * real libxenforeignmemory (GMAP_FOREIGN=allow, the default) or refused
 * with EPERM (deny: the unprivileged backend, which Xen would refuse
 * anyway).  One call mixing the two is refused with EINVAL: its pages
 * would have to come from two places into one range.  Resource mappings
 * (ioreq pages and the like) are not guest memory and always pass through.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xenforeignmemory.h>

#include "shim.h"

#define LIB "libxenforeignmemory.so.1"
#define EXPORT __attribute__((visibility("default")))

struct fmem {
	struct shim_handle h;
	/* The real library's handle, opened at the first call that needs
	 * it, so that a backend mapping only grants never touches privcmd
	 * (and is not told, on every open, that there is no Xen). */
	struct xentoollog_logger *logger;
	unsigned int open_flags;
	bool real_tried;
	xenforeignmemory_handle *real;  /* NULL: none (no Xen, or deny)  */
	int real_errno;                 /* why not                       */
	int restrict_domid;             /* -1: none                      */
};

typedef xenforeignmemory_handle *open_fn(struct xentoollog_logger *, unsigned);
typedef int close_fn(xenforeignmemory_handle *);
typedef void *map2_fn(xenforeignmemory_handle *, uint32_t, void *, int, int,
		      size_t, const xen_pfn_t *, int *);
typedef int unmap_fn(xenforeignmemory_handle *, void *, size_t);
typedef int restrict_fn(xenforeignmemory_handle *, domid_t);
typedef xenforeignmemory_resource_handle *map_resource_fn(
	xenforeignmemory_handle *, domid_t, unsigned int, unsigned int,
	unsigned long, unsigned long, void **, int, int);
typedef int unmap_resource_fn(xenforeignmemory_handle *,
			 xenforeignmemory_resource_handle *);
typedef int resource_size_fn(xenforeignmemory_handle *, domid_t, unsigned int,
			unsigned int, size_t *);

#define REAL(name) ((name##_fn *)shim_real(LIB, "xenforeignmemory_" #name))

/* Our handle, or a real one that reached us (NULL: neither). */
static struct fmem *ours(xenforeignmemory_handle *fh)
{
	return shim_handle_is(fh, SHIM_FMEM_MAGIC) ? (struct fmem *)fh : NULL;
}

EXPORT xenforeignmemory_handle *xenforeignmemory_open(
	struct xentoollog_logger *logger, unsigned open_flags)
{
	const struct shim_config *c = shim_config();
	struct fmem *f;

	if (!c)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	shim_handle_init(&f->h, SHIM_FMEM_MAGIC);
	f->restrict_domid = -1;
	f->logger = logger;
	f->open_flags = open_flags;
	if (shim_handle_register(&f->h) < 0) {
		free(f);
		return NULL;
	}
	return (xenforeignmemory_handle *)f;
}

/* The real handle, opened (with the restriction made so far) on first
 * use; NULL and errno if there is none: refused, or no privcmd. */
static xenforeignmemory_handle *real_handle(struct fmem *f)
{
	xenforeignmemory_handle *r;

	pthread_mutex_lock(&f->h.lock);
	if (!f->real_tried) {
		f->real_tried = true;
		/* Under GMAP_FOREIGN=deny too: only maps of guest frames
		 * are refused (in xenforeignmemory_map2); resources, such
		 * as an ioreq server's pages, are the device model's own. */
		open_fn *real_open = REAL(open);
		restrict_fn *real_restrict = REAL(restrict);

		f->real = real_open ? real_open(f->logger, f->open_flags) : NULL;
		if (!f->real)
			f->real_errno = real_open ? errno : ENOSYS;
		else if (f->restrict_domid >= 0 && real_restrict)
			real_restrict(f->real, (domid_t)f->restrict_domid);
	}
	r = f->real;
	pthread_mutex_unlock(&f->h.lock);
	if (!r)
		errno = f->real_errno;
	return r;
}

EXPORT int xenforeignmemory_close(xenforeignmemory_handle *fh)
{
	struct fmem *f = ours(fh);
	close_fn *real_close = REAL(close);
	int rc = 0;

	if (!fh)
		return 0;
	if (!f)  /* a real handle */
		return real_close ? real_close(fh) : -1;
	shim_handle_unregister(&f->h);
	/* In a child the maps are the parent's: leave them. */
	if (!shim_handle_inherited(&f->h, "xenforeignmemory_close"))
		shim_unmap_all(&f->h);
	if (f->real && real_close)
		rc = real_close(f->real);
	shim_handle_fini(&f->h);
	free(f);
	return rc;
}

/* Classify the frames: 1 all grants, 0 none, -1 a mix. */
static int grant_frames(size_t pages, const xen_pfn_t arr[])
{
	size_t i, n = 0;

	for (i = 0; i < pages; i++)
		n += !!(arr[i] & SHIM_FRAME_GRANT_BIT);
	return n == pages ? 1 : n == 0 ? 0 : -1;
}

static void *map_grants(struct fmem *f, uint32_t dom, void *addr, int prot,
			int flags, size_t pages, const xen_pfn_t arr[],
			int err[])
{
	uint32_t *domids, *refs;
	void *p = NULL;
	size_t i;
	int e = 0;

	if (pages > UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	domids = malloc(pages * sizeof(*domids));
	refs = malloc(pages * sizeof(*refs));
	if (!domids || !refs) {
		e = ENOMEM;
		goto out;
	}
	for (i = 0; i < pages; i++) {
		uint64_t ref = arr[i] & ~SHIM_FRAME_GRANT_BIT;

		if (ref > UINT32_MAX) {
			/* Not a 32-bit grant ref: no such frame. */
			if (!err) {
				SHIM_ERR("frame %#llx: grant ref %#llx is not a "
					 "32-bit ref", (unsigned long long)arr[i],
					 (unsigned long long)ref);
				e = EINVAL;
				goto out;
			}
			domids[i] = SHIM_NO_DOMID;  /* fails alone */
			refs[i] = 0;
			continue;
		}
		domids[i] = dom;
		refs[i] = (uint32_t)ref;
	}
	p = shim_map_grants(&f->h, (uint32_t)pages, domids, refs,
			    prot & PROT_WRITE, (flags & MAP_FIXED) ? addr : NULL,
			    err, -1);
	e = p ? 0 : errno;
out:
	free(domids);
	free(refs);
	errno = e;
	return p;
}

EXPORT void *xenforeignmemory_map2(xenforeignmemory_handle *fh, uint32_t dom,
				   void *addr, int prot, int flags,
				   size_t pages, const xen_pfn_t arr[],
				   int err[])
{
	struct fmem *f = ours(fh);
	xenforeignmemory_handle *real;
	map2_fn *real_map2;
	int kind;

	if (!f) {
		real_map2 = REAL(map2);
		return real_map2 ? real_map2(fh, dom, addr, prot, flags, pages,
					     arr, err) : NULL;
	}
	if (!shim_config() || shim_handle_inherited(&f->h, "xenforeignmemory_map"))
		return NULL;
	if (pages == 0 || !arr) {
		errno = EINVAL;
		return NULL;
	}
	if (f->restrict_domid >= 0 && dom != (uint32_t)f->restrict_domid) {
		SHIM_ERR("map of d%u through a handle restricted to d%d", dom,
			 f->restrict_domid);
		errno = EPERM;
		return NULL;
	}
	kind = grant_frames(pages, arr);
	if (kind == 1) {
		uint64_t t0 = shim_now_ns();
		void *p = map_grants(f, dom, addr, prot, flags, pages, arr, err);

		shim_count(SC_FMEM_MAP_GRANTS, pages, !p, t0);
		return p;
	}
	if (kind < 0) {
		SHIM_ERR("d%u: one map mixes grant frames and guest frames: "
			 "map them in separate calls", dom);
		errno = EINVAL;
		return NULL;
	}
	if (shim_config()->foreign_deny) {
		SHIM_ERR("d%u: foreign map of guest frames refused "
			 "(GMAP_FOREIGN=deny): only grants may be mapped", dom);
		errno = EPERM;
		return NULL;
	}
	real = real_handle(f);
	real_map2 = real ? REAL(map2) : NULL;
	/* Counted, not timed: the real library's map is not the shim's. */
	shim_count(SC_FMEM_MAP_FOREIGN, pages, !real_map2, shim_now_ns());
	return real_map2 ? real_map2(real, dom, addr, prot, flags, pages, arr,
				     err) : NULL;
}

/* The real map() calls map2() through its own PLT on some builds: going
 * straight to our map2 with NULL/0 is the same call and never re-enters
 * the real library with our handle. */
EXPORT void *xenforeignmemory_map(xenforeignmemory_handle *fh, uint32_t dom,
				  int prot, size_t pages,
				  const xen_pfn_t arr[], int err[])
{
	return xenforeignmemory_map2(fh, dom, NULL, prot, 0, pages, arr, err);
}

EXPORT int xenforeignmemory_unmap(xenforeignmemory_handle *fh, void *addr,
				  size_t pages)
{
	struct fmem *f = ours(fh);
	unmap_fn *real_unmap = REAL(unmap);
	uint64_t t0;
	int rc;

	if (!f)
		return real_unmap ? real_unmap(fh, addr, pages) : -1;
	if (shim_handle_inherited(&f->h, "xenforeignmemory_unmap"))
		return -1;
	if (!addr || pages == 0 || pages > UINT32_MAX) {
		errno = EINVAL;
		return -1;
	}
	t0 = shim_now_ns();
	rc = shim_unmap(&f->h, addr, (uint32_t)pages, f->real != NULL);
	if (rc <= 0) {
		shim_count(SC_FMEM_UNMAP, pages, rc < 0, t0);
		return rc;
	}
	/* Not ours and outside every window: a foreign map (which needed
	 * the real handle, so it is open). */
	return real_unmap ? real_unmap(f->real, addr, pages) : -1;
}

EXPORT int xenforeignmemory_restrict(xenforeignmemory_handle *fh,
				     domid_t domid)
{
	struct fmem *f = ours(fh);
	restrict_fn *real_restrict = REAL(restrict);

	if (!f)
		return real_restrict ? real_restrict(fh, domid) : -1;
	if (shim_handle_inherited(&f->h, "xenforeignmemory_restrict"))
		return -1;
	if (domid >= 0x7ff0) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&f->h.lock);
	if (f->real && real_restrict && real_restrict(f->real, domid) < 0) {
		pthread_mutex_unlock(&f->h.lock);
		return -1;
	}
	f->restrict_domid = domid;
	pthread_mutex_unlock(&f->h.lock);
	return 0;
}

/* Resources: not guest memory, never grants; the real library's. */
static xenforeignmemory_handle *real_of(xenforeignmemory_handle *fh,
					const char *call)
{
	struct fmem *f = ours(fh);

	if (!f)
		return fh;
	if (shim_handle_inherited(&f->h, call))
		return NULL;
	return real_handle(f);
}

EXPORT xenforeignmemory_resource_handle *xenforeignmemory_map_resource(
	xenforeignmemory_handle *fh, domid_t domid, unsigned int type,
	unsigned int id, unsigned long frame, unsigned long nr_frames,
	void **paddr, int prot, int flags)
{
	xenforeignmemory_handle *r = real_of(fh, "xenforeignmemory_map_resource");
	map_resource_fn *real = r ? REAL(map_resource) : NULL;

	return real ? real(r, domid, type, id, frame, nr_frames, paddr, prot,
			   flags) : NULL;
}

EXPORT int xenforeignmemory_unmap_resource(xenforeignmemory_handle *fh,
					   xenforeignmemory_resource_handle *fres)
{
	xenforeignmemory_handle *r = real_of(fh, "xenforeignmemory_unmap_resource");
	unmap_resource_fn *real = r ? REAL(unmap_resource) : NULL;

	return real ? real(r, fres) : -1;
}

EXPORT int xenforeignmemory_resource_size(xenforeignmemory_handle *fh,
					  domid_t domid, unsigned int type,
					  unsigned int id, size_t *size)
{
	xenforeignmemory_handle *r = real_of(fh, "xenforeignmemory_resource_size");
	resource_size_fn *real = r ? REAL(resource_size) : NULL;

	return real ? real(r, domid, type, id, size) : -1;
}
