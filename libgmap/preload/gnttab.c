/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gnttab.c - the xengnttab family, served from the windows.
 *
 * Every call that takes a xengnttab_handle is ours: the handle is ours,
 * and the real library must never see it.  Maps pin their grants (one
 * mapping per grant, however many maps); xengnttab_unmap() takes exactly
 * the start and page count of a live map of that handle, as gntdev's
 * lookup does, and fails with EINVAL otherwise; close unmaps what the
 * handle still has.  The grant-sharing side (xengntshr_*, gntalloc) has
 * its own handles and is not touched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xengnttab.h>

#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

struct gnt {
	struct shim_handle h;
	uint64_t max_grants;  /* xengnttab_set_max_grants; 0: no limit */
};

static struct gnt *ours(xengnttab_handle *xgt, const char *call)
{
	struct gnt *g;

	if (!shim_handle_is(xgt, SHIM_GNT_MAGIC)) {
		SHIM_ERR("%s: %p is not a xengnttab handle", call, (void *)xgt);
		errno = EBADF;
		return NULL;
	}
	g = (struct gnt *)xgt;
	if (shim_handle_inherited(&g->h, call))
		return NULL;
	return g;
}

EXPORT xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger,
					unsigned open_flags)
{
	struct gnt *g;

	(void)logger;  /* ours is configured by GMAP_LOG */
	(void)open_flags;
	if (!shim_config())
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	shim_handle_init(&g->h, SHIM_GNT_MAGIC);
	if (shim_handle_register(&g->h) < 0) {
		free(g);
		return NULL;
	}
	return (xengnttab_handle *)g;
}

EXPORT int xengnttab_close(xengnttab_handle *xgt)
{
	struct gnt *g = (struct gnt *)xgt;

	if (!xgt)
		return 0;
	if (!shim_handle_is(xgt, SHIM_GNT_MAGIC)) {
		errno = EBADF;
		return -1;
	}
	shim_handle_unregister(&g->h);
	if (!shim_handle_inherited(&g->h, "xengnttab_close"))
		shim_unmap_all(&g->h);
	shim_handle_fini(&g->h);
	free(g);
	return 0;
}

static void *map(struct gnt *g, uint32_t count, const uint32_t *domids,
		 const uint32_t *refs, int prot, int notify_off)
{
	if (count == 0 || !refs || !domids) {
		errno = EINVAL;
		return NULL;
	}
	if (g->max_grants && g->h.nr_mapped + count > g->max_grants) {
		SHIM_ERR("map of %u grants: the handle's limit is %llu "
			 "(xengnttab_set_max_grants)", count,
			 (unsigned long long)g->max_grants);
		errno = ENOSPC;
		return NULL;
	}
	/* All or nothing, as one gntdev map. */
	return shim_map_grants(&g->h, count, domids, refs, prot & PROT_WRITE,
			       NULL, NULL, notify_off);
}

/* map() as call @c, counted for the report. */
static void *map_counted(enum shim_call c, struct gnt *g, uint32_t count,
			 const uint32_t *domids, const uint32_t *refs, int prot,
			 int notify_off)
{
	uint64_t t0 = shim_now_ns();
	void *p = g ? map(g, count, domids, refs, prot, notify_off) : NULL;

	shim_count(c, count, !p, t0);
	return p;
}

EXPORT void *xengnttab_map_grant_refs(xengnttab_handle *xgt, uint32_t count,
				      uint32_t *domids, uint32_t *refs,
				      int prot)
{
	return map_counted(SC_GNT_MAP_GRANT_REFS,
			   ours(xgt, "xengnttab_map_grant_refs"), count,
			   domids, refs, prot, -1);
}

EXPORT void *xengnttab_map_domain_grant_refs(xengnttab_handle *xgt,
					     uint32_t count, uint32_t domid,
					     uint32_t *refs, int prot)
{
	struct gnt *g = ours(xgt, "xengnttab_map_domain_grant_refs");
	uint32_t few[16], *domids = few, i;
	void *p;

	if (!g)
		return NULL;
	if (count == 0) {
		errno = EINVAL;
		return NULL;
	}
	/* QEMU's mapcache maps most requests one grant at a time: no
	 * allocation for those. */
	if (count > sizeof(few) / sizeof(few[0]))
		domids = malloc((size_t)count * sizeof(*domids));
	if (!domids)
		return NULL;
	for (i = 0; i < count; i++)
		domids[i] = domid;
	p = map_counted(SC_GNT_MAP_DOMAIN_GRANT_REFS, g, count, domids, refs,
			prot, -1);
	if (domids != few)
		free(domids);
	return p;
}

EXPORT void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid,
				     uint32_t ref, int prot)
{
	return map_counted(SC_GNT_MAP_GRANT_REF,
			   ours(xgt, "xengnttab_map_grant_ref"), 1, &domid,
			   &ref, prot, -1);
}

/*
 * The byte at @notify_offset is cleared when this map is unmapped (or its
 * handle closed), as gntdev's UNMAP_NOTIFY_CLEAR_BYTE does.  Event-channel
 * notification cannot be set up here (the shim has no event channels):
 * as the call's contract says for a notification that cannot be set up,
 * it fails and maps nothing.  A process that dies does not clear the
 * byte (gntdev would).
 */
EXPORT void *xengnttab_map_grant_ref_notify(xengnttab_handle *xgt,
					    uint32_t domid, uint32_t ref,
					    int prot, uint32_t notify_offset,
					    evtchn_port_t notify_port)
{
	struct gnt *g = ours(xgt, "xengnttab_map_grant_ref_notify");

	if (!g)
		return NULL;
	if (notify_port != (evtchn_port_t)-1) {
		SHIM_ERR("d%u ref %u: unmap notification by event channel %u "
			 "is not supported by the preload shim", domid, ref,
			 notify_port);
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (notify_offset != (uint32_t)-1 &&
	    (notify_offset >= GMAP_PAGE_SIZE || !(prot & PROT_WRITE))) {
		SHIM_ERR("d%u ref %u: notify offset %u needs a writable map "
			 "and an offset below %lu", domid, ref, notify_offset,
			 GMAP_PAGE_SIZE);
		errno = EINVAL;
		return NULL;
	}
	return map_counted(SC_GNT_MAP_NOTIFY, g, 1, &domid, &ref, prot,
			   notify_offset == (uint32_t)-1 ? -1 :
			   (int)notify_offset);
}

EXPORT int xengnttab_unmap(xengnttab_handle *xgt, void *start_address,
			   uint32_t count)
{
	struct gnt *g = ours(xgt, "xengnttab_unmap");
	uint64_t t0 = shim_now_ns();
	int rc;

	if (!g)
		return -1;
	if (!start_address || count == 0) {
		errno = EINVAL;
		return -1;
	}
	rc = shim_unmap(&g->h, start_address, count, false);
	shim_count(SC_GNT_UNMAP, count, rc != 0, t0);
	return rc;
}

EXPORT int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants)
{
	struct gnt *g = ours(xgt, "xengnttab_set_max_grants");

	if (!g)
		return -1;
	g->max_grants = nr_grants;
	return 0;
}

/* The handle has no gntdev file behind it. */
EXPORT int xengnttab_fd(xengnttab_handle *xgt)
{
	if (ours(xgt, "xengnttab_fd"))
		SHIM_ERR("xengnttab_fd: the preload shim's handles have no "
			 "gntdev file descriptor");
	errno = EOPNOTSUPP;
	return -1;
}

/*
 * Grant copy.  Where the backend copies itself (xen), the segments go to
 * the hypervisor in one call, as from libxengnttab (GNTTABOP_copy, batched
 * by gntdev): no mapping, no page-table change.  A segment whose grant this
 * process holds mapped already (pinned in its window by a live map: a
 * ring, a persistent grant) is a memcpy from the window instead, with no
 * system call at all.  On sim every segment goes through the window: pin
 * (which checks what Xen checks), copy, unpin.  Each segment gets its own
 * GNTST_* status, as from Xen; the call fails only for a bad handle or a
 * failed hypervisor call.
 */

/* The grant side of a segment that has one grant side: its window, ref,
 * offset and direction; the segment's status if it cannot be served. */
static int16_t copy_side(xengnttab_grant_copy_segment_t *s,
			 struct gmap_window **w, uint32_t *ref, uint16_t *off,
			 bool *to_grant)
{
	bool from = s->flags & GNTCOPY_source_gref;

	*to_grant = s->flags & GNTCOPY_dest_gref;
	if (from == *to_grant)
		return GNTST_bad_copy_arg;  /* both or neither a grant */
	*ref = *to_grant ? s->dest.foreign.ref : s->source.foreign.ref;
	*off = *to_grant ? s->dest.foreign.offset : s->source.foreign.offset;
	if ((uint32_t)*off + s->len > GMAP_PAGE_SIZE)
		return GNTST_bad_copy_arg;
	*w = shim_window(*to_grant ? s->dest.foreign.domid :
			 s->source.foreign.domid);
	if (!*w)
		return GNTST_bad_domain;
	if (*ref >= gmap_nr_refs(*w))
		return GNTST_bad_gntref;
	return GNTST_okay;
}

/* memcpy between the window page of @ref and the segment's buffer. */
static void copy_page(xengnttab_grant_copy_segment_t *s, struct gmap_window *w,
		      uint32_t ref, uint16_t off, bool to_grant)
{
	uint8_t *page = gmap_ref_ptr(w, ref);

	if (to_grant)
		memcpy(page + off, s->source.virt, s->len);
	else
		memcpy(s->dest.virt, page + off, s->len);
}

/* Through the window (sim): pin, copy, unpin. */
static int16_t copy_pinned(xengnttab_grant_copy_segment_t *s,
			   struct gmap_window *w, uint32_t ref, uint16_t off,
			   bool to_grant)
{
	struct gmap_error ge;

	if (gmap_pin(w, ref, 1, to_grant ? GMAP_PIN_WRITE : GMAP_PIN_READ,
		     &ge) < 0)
		return ge.status ? ge.status : GNTST_general_error;
	copy_page(s, w, ref, off, to_grant);
	gmap_unpin(w, ref, 1);
	return GNTST_okay;
}

#define COPY_BATCH 32

struct copy_batch {
	struct gmap_window *w;     /* whose backend copies the batch    */
	uint32_t n, idx[COPY_BATCH];
	xengnttab_grant_copy_segment_t seg[COPY_BATCH];
	int err;                   /* errno of a failed hypervisor call */
};

static void copy_flush(struct copy_batch *b,
		       xengnttab_grant_copy_segment_t *segs)
{
	uint32_t i;

	if (!b->n)
		return;
	if (gmap_copy_segs(b->w, b->n, b->seg) < 0) {
		b->err = errno;
		for (i = 0; i < b->n; i++)
			b->seg[i].status = GNTST_general_error;
	}
	for (i = 0; i < b->n; i++)
		segs[b->idx[i]].status = b->seg[i].status;
	b->n = 0;
}

EXPORT int xengnttab_grant_copy(xengnttab_handle *xgt, uint32_t count,
				xengnttab_grant_copy_segment_t *segs)
{
	struct gnt *g = ours(xgt, "xengnttab_grant_copy");
	struct copy_batch b = { .n = 0, .err = 0 };
	uint64_t window = 0, hv = 0, t0 = shim_now_ns();
	uint32_t i, failed = 0;

	if (!g)
		return -1;
	for (i = 0; i < count; i++) {
		xengnttab_grant_copy_segment_t *s = &segs[i];
		struct gmap_window *w;
		uint32_t ref;
		uint16_t off;
		bool to_grant;
		int16_t st = copy_side(s, &w, &ref, &off, &to_grant);

		if (st == GNTST_okay && !gmap_can_copy(w)) {
			st = copy_pinned(s, w, ref, off, to_grant);
			window++;
		} else if (st == GNTST_okay &&
			   gmap_pin_held(w, ref, to_grant) == 0) {
			copy_page(s, w, ref, off, to_grant);
			gmap_unpin(w, ref, 1);
			window++;
		} else if (st == GNTST_okay) {
			if (b.n == COPY_BATCH || (b.n && b.w != w))
				copy_flush(&b, segs);
			b.w = w;
			b.idx[b.n] = i;
			b.seg[b.n++] = *s;
			hv++;
			continue;
		}
		s->status = st;
	}
	copy_flush(&b, segs);
	for (i = 0; i < count; i++)
		failed += segs[i].status != GNTST_okay;
	shim_count(SC_GNT_COPY, count, failed || b.err, t0);
	shim_count_copy(hv, window);
	if (b.err) {
		SHIM_ERR("xengnttab_grant_copy: the hypervisor's copy failed: %s",
			 strerror(b.err));
		errno = b.err;
		return -1;
	}
	return 0;
}

/* dma-bufs need gntdev in the kernel; the shim has none to offer. */
#define NO_DMABUF(call) do {						\
	if (ours(xgt, call))						\
		SHIM_ERR("%s: dma-buf export and import are not "	\
			 "supported by the preload shim", call);	\
	errno = EOPNOTSUPP;						\
	return -1;							\
} while (0)

EXPORT int xengnttab_dmabuf_exp_from_refs(xengnttab_handle *xgt, uint32_t domid,
					  uint32_t flags, uint32_t count,
					  const uint32_t *refs, uint32_t *fd)
{
	(void)domid; (void)flags; (void)count; (void)refs; (void)fd;
	NO_DMABUF("xengnttab_dmabuf_exp_from_refs");
}

EXPORT int xengnttab_dmabuf_exp_wait_released(xengnttab_handle *xgt,
					      uint32_t fd, uint32_t wait_to_ms)
{
	(void)fd; (void)wait_to_ms;
	NO_DMABUF("xengnttab_dmabuf_exp_wait_released");
}

EXPORT int xengnttab_dmabuf_imp_to_refs(xengnttab_handle *xgt, uint32_t domid,
					uint32_t fd, uint32_t count,
					uint32_t *refs)
{
	(void)domid; (void)fd; (void)count; (void)refs;
	NO_DMABUF("xengnttab_dmabuf_imp_to_refs");
}

EXPORT int xengnttab_dmabuf_imp_release(xengnttab_handle *xgt, uint32_t fd)
{
	(void)fd;
	NO_DMABUF("xengnttab_dmabuf_imp_release");
}
