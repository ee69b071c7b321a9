/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend_xen.c - the xen backend: real grants through /dev/xen/gntdev.
 *
 * libxengnttab opens the device (and gives us its standard logging and
 * grant copy), but its map calls choose the address themselves; a window
 * needs each grant at base + ref * 4096, so the map is done with the gntdev
 * ioctls on the library's descriptor: IOCTL_GNTDEV_MAP_GRANT_REF reserves
 * an index for a run of refs, and mmap(MAP_FIXED) of that index places the
 * run.  The mmap is where the hypervisor map happens (and fails).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xengnttab.h>
#include <xen/sys/gntdev.h>

#include "private.h"
#include "refindex.h"
#include "xen_abi.h"

#define GNTDEV_PATH "/dev/xen/gntdev"

/*
 * One gntdev map: a run of @count refs mapped with one
 * IOCTL_GNTDEV_MAP_GRANT_REF and placed with one mmap, so one VMA.
 * gntdev frees a map only whole (IOCTL_GNTDEV_UNMAP_GRANT_REF takes the
 * index and the exact count), but the core unmaps grant by grant: it
 * replaces single pages of the run with placeholders, and gntdev unmaps
 * the grants of the part of its VMA that goes (its MMU notifier in a PV
 * domain; checked on Xen by test-xenbed).  So the run counts its live
 * grants, and the unmap ioctl that frees the index goes with the last.
 */
struct xen_run {
	uint64_t index;
	uint32_t count, live;
};

/* Each mapped ref's run: what the unmap needs.  Kept here, not in the
 * core's per-grant word: only mapped grants (at most the window's budget)
 * have one (refindex.c, under the backend's lock). */
struct xen_priv {
	xengnttab_handle *xgt;
	int fd;
	pthread_mutex_t lock;
	struct gmap_refindex runs;
	/* The runs themselves, from a slab (slab.c): a fault served inline
	 * maps in a signal handler, where malloc may not be called. */
	struct gmap_slab run_slab;
};

/* A map ioctl's argument for up to GMAP_RUN_MAX refs, on the stack (2 KiB)
 * for the same reason; longer maps (the shim's) allocate theirs. */
union map_op {
	struct ioctl_gntdev_map_grant_ref op;
	uint8_t bytes[sizeof(struct ioctl_gntdev_map_grant_ref) +
		      (GMAP_RUN_MAX - 1) * sizeof(struct ioctl_gntdev_grant_ref)];
};

static struct ioctl_gntdev_map_grant_ref *op_get(union map_op *few,
						 uint32_t count)
{
	struct ioctl_gntdev_map_grant_ref *op;

	if (count <= GMAP_RUN_MAX) {
		memset(&few->op, 0, sizeof(few->op));
		return &few->op;
	}
	op = calloc(1, sizeof(*op) + (count - 1) * sizeof(op->refs[0]));
	return op;
}

static void op_put(union map_op *few, struct ioctl_gntdev_map_grant_ref *op)
{
	if (op != &few->op)
		free(op);
}

/* index_put()/index_take(): the run index, counted as metadata. */
static int index_put(struct gmap_backend_ctx *b, struct xen_priv *p,
		     uint32_t ref, struct xen_run *run)
{
	size_t grown = 0;
	int rc = gmap_refindex_put(&p->runs, ref, run, &grown);

	if (grown)
		atomic_fetch_add(b->meta_bytes, grown);
	return rc;
}

static int index_take(struct xen_priv *p, uint32_t ref, struct xen_run **run)
{
	void *v;

	if (gmap_refindex_take(&p->runs, ref, &v) < 0)
		return -1;
	*run = v;
	return 0;
}

/*
 * The real libxengnttab, called through pointers taken from the library
 * itself: in a process running under the preload shim (which is built
 * from these sources too) the plain names are the shim's own xengnttab
 * calls, which would serve our maps from a window again.
 */
static struct {
	xengnttab_handle *(*open)(struct xentoollog_logger *, unsigned);
	int (*close)(xengnttab_handle *);
	int (*fd)(xengnttab_handle *);
	int (*grant_copy)(xengnttab_handle *, uint32_t,
			  xengnttab_grant_copy_segment_t *);
} gt;
static pthread_once_t gt_once = PTHREAD_ONCE_INIT;
static char gt_error[256];

static void gt_load(void)
{
	void *lib = dlopen("libxengnttab.so.1", RTLD_NOW | RTLD_LOCAL);

	if (!lib) {
		snprintf(gt_error, sizeof(gt_error), "%s", dlerror());
		return;
	}
	*(void **)&gt.open = dlsym(lib, "xengnttab_open");
	*(void **)&gt.close = dlsym(lib, "xengnttab_close");
	*(void **)&gt.fd = dlsym(lib, "xengnttab_fd");
	*(void **)&gt.grant_copy = dlsym(lib, "xengnttab_grant_copy");
	if (!gt.open || !gt.close || !gt.fd || !gt.grant_copy) {
		snprintf(gt_error, sizeof(gt_error), "libxengnttab.so.1 lacks "
			 "a call libgmap needs");
		gt.open = NULL;
	}
}

static int xen_open(struct gmap_backend_ctx *b)
{
	struct xen_priv *p;
	int e;

	pthread_once(&gt_once, gt_load);
	if (!gt.open) {
		GMAP_ERR(b, "xen backend: cannot load libxengnttab.so.1: %s "
			 "(Debian: apt-get install libxengnttab1)", gt_error);
		errno = ENOSYS;
		return -1;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -1;
	p->xgt = gt.open(b->log, 0);
	if (!p->xgt) {
		e = errno;
		GMAP_LOG(b, XTL_ERROR, -1, "xen backend: cannot open " GNTDEV_PATH
			 ": %s (no Xen here, or the xen-gntdev module is not "
			 "loaded; use the sim backend to run without Xen)",
			 strerror(e));
		free(p);
		errno = e;
		return -1;
	}
	p->fd = gt.fd(p->xgt);
	pthread_mutex_init(&p->lock, NULL);
	gmap_slab_init(&p->run_slab, sizeof(struct xen_run), 16 * 1024);
	b->priv = p;
	return 0;
}

static void xen_close(struct gmap_backend_ctx *b)
{
	struct xen_priv *p = b->priv;

	if (!p)
		return;
	gt.close(p->xgt);
	pthread_mutex_destroy(&p->lock);
	gmap_refindex_free(&p->runs);
	gmap_slab_destroy(&p->run_slab);
	free(p);
	b->priv = NULL;
}

/*
 * gntdev does not report the hypervisor's status when the mmap fails.  A
 * one-byte grant copy from the ref asks Xen the same questions (does the
 * ref exist, is it granted to us, is the frame good) and returns the
 * GNTST_* status; a failed write map of a grant that copies fine means a
 * read-only grant.
 */
static int16_t xen_probe_status(struct xen_priv *p, uint32_t domid,
				uint32_t ref, bool writable)
{
	/* gntdev's own ioctl, not libxengnttab's call: this runs on the
	 * fault path, in a signal handler for a fault served inline. */
	struct ioctl_gntdev_grant_copy_segment seg;
	struct ioctl_gntdev_grant_copy copy = { .count = 1, .segments = &seg };
	uint8_t byte;

	memset(&seg, 0, sizeof(seg));
	seg.source.foreign.ref = ref;
	seg.source.foreign.domid = (uint16_t)domid;
	seg.dest.virt = &byte;
	seg.len = 1;
	seg.flags = GNTCOPY_source_gref;
	if (ioctl(p->fd, IOCTL_GNTDEV_GRANT_COPY, &copy) < 0)
		return GMAP_ST_BACKEND;
	if (seg.status == GNTST_okay && writable)
		return GNTST_general_error; /* read-only grant, as Xen says */
	return seg.status != GNTST_okay ? seg.status : GMAP_ST_BACKEND;
}

/* Free gntdev's map @index of @count refs (its grants are unmapped once
 * its pages are gone from our address space). */
static int gntdev_free(struct xen_priv *p, uint64_t index, uint32_t count)
{
	struct ioctl_gntdev_unmap_grant_ref unop;

	memset(&unop, 0, sizeof(unop));
	unop.index = index;
	unop.count = count;
	return ioctl(p->fd, IOCTL_GNTDEV_UNMAP_GRANT_REF, &unop);
}

static int xen_map(struct gmap_backend_ctx *b, uint32_t ref, uint32_t count,
		   void *addr, bool writable, uint64_t *split, int16_t *status,
		   uint32_t *placed)
{
	struct xen_priv *p = b->priv;
	struct ioctl_gntdev_map_grant_ref *op;
	union map_op few;
	struct xen_run *run;
	uint32_t i;
	void *m;
	int e;

	op = op_get(&few, count);
	if (!op) {
		*placed = GMAP_UNTOUCHED;
		*status = GMAP_ST_NOMEM;
		return -1;
	}
	op->count = count;
	for (i = 0; i < count; i++) {
		op->refs[i].domid = b->domid;
		op->refs[i].ref = ref + i;
	}
	if (ioctl(p->fd, IOCTL_GNTDEV_MAP_GRANT_REF, op) < 0) {
		e = errno;
		op_put(&few, op);
		*placed = GMAP_UNTOUCHED;
		*status = GMAP_ST_BACKEND;
		errno = e;
		return -1;
	}
	/* A gntdev map must be mmapped whole, at its index, with its exact
	 * page count; MAP_FIXED over our placeholder is accepted. */
	m = gmap_mmap_raw(addr, (size_t)count << GMAP_PAGE_SHIFT,
		 PROT_READ | (writable ? PROT_WRITE : 0),
		 MAP_SHARED | MAP_FIXED, p->fd, (off_t)op->index);
	if (m == MAP_FAILED) {
		e = errno;
		/*
		 * gntdev refuses in its mmap handler, after mmap(MAP_FIXED)
		 * has already taken our placeholders away: the range is a
		 * hole now (seen on Xen 4.17: a writable map of a read-only
		 * grant), which another thread's mmap may be handed at any
		 * moment.  The core fills it (gmap_refill) as soon as we
		 * return, without replacing anything; a page someone else
		 * got first is lost to the window and never touched again.
		 * Until then a user access gets SIGSEGV and waits (the
		 * grants are BUSY); a system call meeting the hole fails
		 * with EFAULT.
		 */
		*status = xen_probe_status(p, b->domid, ref, writable);
		/* Frees the reserved index; nothing was mapped. */
		(void)gntdev_free(p, op->index, count);
		op_put(&few, op);
		errno = *status == GMAP_ST_BACKEND ? e : gmap_status_errno(*status);
		return -1;
	}
	gmap_mutex_lock(&p->lock);
	run = gmap_slab_alloc(&p->run_slab);
	e = run ? 0 : -1;
	for (i = 0; i < count && e == 0; i++)
		e = index_put(b, p, ref + i, run);
	if (e < 0) {
		struct xen_run *r;

		while (i-- > 0)
			index_take(p, ref + i, &r);
		gmap_slab_free(&p->run_slab, run);
	}
	gmap_mutex_unlock(&p->lock);
	if (e < 0) {
		/* Cannot remember the run: undo the map rather than leak
		 * it.  The grants' pages leave the address space first (a
		 * placement over them: no hole), then gntdev releases them;
		 * the core re-arms the range. */
		gmap_mmap_raw(addr, (size_t)count << GMAP_PAGE_SHIFT, PROT_NONE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
			      MAP_NORESERVE, -1, 0);
		*placed = count;
		(void)gntdev_free(p, op->index, count);
		op_put(&few, op);
		*status = GMAP_ST_NOMEM;
		errno = ENOMEM;
		return -1;
	}
	*run = (struct xen_run){ op->index, count, count };
	atomic_fetch_add(b->meta_bytes, sizeof(*run));
	split[0] |= 1;  /* one gntdev map, one VMA */
	*status = GNTST_okay;
	op_put(&few, op);
	return 0;
}

static int xen_unmap(struct gmap_backend_ctx *b, uint32_t ref, uint32_t count,
		     bool writable)
{
	struct xen_priv *p = b->priv;
	struct xen_run *run, *last;
	int rc = 0;

	(void)writable;
	for (uint32_t i = 0; i < count; i++) {
		gmap_mutex_lock(&p->lock);
		last = run = NULL;
		if (index_take(p, ref + i, &run) == 0 && --run->live == 0)
			last = run;
		gmap_mutex_unlock(&p->lock);
		if (!run) {
			GMAP_ERR(b, "xen backend: unmap of d%u ref %u, which has "
				 "no gntdev map", b->domid, ref + i);
			rc = -1;
			errno = EINVAL;
			continue;
		}
		if (!last)
			continue;
		/* The run's last grant: its pages are all placeholders now
		 * (the core replaced them), so the kernel has unmapped the
		 * grants; this frees the index and its grant handles. */
		if (gntdev_free(p, last->index, last->count) < 0) {
			int e = errno;

			GMAP_LOG(b, XTL_ERROR, e, "xen backend: unmap of d%u "
				 "ref %u (index %#llx, %u refs) failed", b->domid,
				 ref + i, (unsigned long long)last->index,
				 last->count);
			rc = -1;
			errno = e;
		}
		atomic_fetch_sub(b->meta_bytes, sizeof(*last));
		gmap_mutex_lock(&p->lock);
		gmap_slab_free(&p->run_slab, last);
		gmap_mutex_unlock(&p->lock);
	}
	return rc;
}

/*
 * Grants mapped outside the window (map_extra in private.h): one gntdev
 * map of the refs, in the caller's order, placed at @addr or where the
 * kernel chooses; its index is the handle.  A second mapping of grants the
 * window may map too: the shim uses it only where an alias of the window
 * pages would do, which gntdev's mappings do not allow (mremap of them
 * fails with EFAULT: VM_DONTEXPAND).
 */
static void *xen_map_extra(struct gmap_backend_ctx *b, uint32_t count,
			   const uint32_t *refs, void *addr, bool writable,
			   uint64_t *handle, int16_t *status)
{
	struct xen_priv *p = b->priv;
	struct ioctl_gntdev_map_grant_ref *op;
	size_t len = (size_t)count << GMAP_PAGE_SHIFT;
	uint8_t few[16], *fill = few;
	uint32_t i, lost = 0;
	void *m;
	int e;

	op = calloc(1, sizeof(*op) + (count - 1) * sizeof(op->refs[0]));
	if (!op) {
		*status = GMAP_ST_NOMEM;
		return MAP_FAILED;
	}
	op->count = count;
	for (i = 0; i < count; i++) {
		op->refs[i].domid = b->domid;
		op->refs[i].ref = refs[i];
	}
	if (ioctl(p->fd, IOCTL_GNTDEV_MAP_GRANT_REF, op) < 0) {
		e = errno;
		free(op);
		*status = GMAP_ST_BACKEND;
		errno = e;
		return MAP_FAILED;
	}
	m = gmap_mmap_raw(addr, len, PROT_READ | (writable ? PROT_WRITE : 0),
			  MAP_SHARED | (addr ? MAP_FIXED : 0), p->fd,
			  (off_t)op->index);
	if (m != MAP_FAILED) {
		*handle = op->index;
		*status = GNTST_okay;
		free(op);
		return m;
	}
	e = errno;
	(void)gntdev_free(p, op->index, count);
	free(op);
	/* As in xen_map(): never leave the caller's range a hole. */
	if (addr && count > sizeof(few))
		fill = malloc(count);
	if (addr && fill) {
		gmap_fill_holes(addr, len, fill);
		for (i = 0; i < count; i++)
			lost += fill[i] == GMAP_FILL_LOST;
		if (fill != few)
			free(fill);
	}
	if (lost || !fill) {
		GMAP_ERR(b, "xen backend: a refused map of %u grants of d%u "
			 "left a hole at %p that another mapping took", count,
			 b->domid, addr);
		*status = GMAP_ST_LOST;
		errno = EEXIST;
		return MAP_FAILED;
	}
	/* The first ref that Xen refuses to read names the reason; if all
	 * read fine, a writable map met a read-only grant. */
	*status = GMAP_ST_BACKEND;
	for (i = 0; i < count && *status == GMAP_ST_BACKEND; i++)
		*status = xen_probe_status(p, b->domid, refs[i], false);
	if (*status == GMAP_ST_BACKEND && writable)
		*status = GNTST_general_error;
	errno = *status == GMAP_ST_BACKEND ? e : gmap_status_errno(*status);
	return MAP_FAILED;
}

static void xen_unmap_extra(struct gmap_backend_ctx *b, uint64_t handle,
			    uint32_t count)
{
	struct xen_priv *p = b->priv;

	if (gntdev_free(p, handle, count) < 0)
		GMAP_LOG(b, XTL_ERROR, errno, "xen backend: unmap of an extra "
			 "map of %u grants of d%u (index %#llx) failed", count,
			 b->domid, (unsigned long long)handle);
}

/* Grant copy is the hypervisor's own GNTTABOP_copy, batched by gntdev's
 * IOCTL_GNTDEV_GRANT_COPY: no mapping at all. */
static int xen_copy(struct gmap_backend_ctx *b, uint32_t count, void *segs)
{
	struct xen_priv *p = b->priv;

	return gt.grant_copy(p->xgt, count, segs);
}

const struct gmap_backend_ops gmap_xen_ops = {
	.name = "xen",
	.open = xen_open,
	.close = xen_close,
	.map = xen_map,
	.unmap = xen_unmap,
	.map_extra = xen_map_extra,
	.unmap_extra = xen_unmap_extra,
	.copy = xen_copy,
};
