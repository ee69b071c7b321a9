/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shim.h - the LD_PRELOAD shim's internals (libgmap-preload.so).
 *
 * The shim defines the xengnttab and xenforeignmemory calls that take a
 * handle, so a program built against Debian's libraries calls us instead.
 * Grant maps are served from one libgmap window per granting domain,
 * shared by every handle of the process, so two maps of a grant through
 * any handles are one mapping.  What the shim does not serve (foreign
 * frames, resources) goes to the real libraries, reached through dlopen()
 * and dlsym(), never through our own symbols again.
 */
#ifndef GMAP_SHIM_H
#define GMAP_SHIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "private.h"

/* ---- configuration (config.c) ------------------------------------------ */

struct shim_config {
	int domid;                  /* GMAP_DOMID, or -1: any          */
	struct gmap_open_opts opts; /* windows are opened with these   */
	bool foreign_deny;          /* GMAP_FOREIGN=deny               */
};

/* The checked configuration, or NULL (and EINVAL) if the environment was
 * bad: then every interposed call fails.  Once-only; safe from any
 * thread and before our constructor ran. */
const struct shim_config *shim_config(void);
xentoollog_logger *shim_log(void);
/* Exported for gmap-run, which dlopen()s the shim to check a setup. */
int gmap_preload_check(int verbose);
#define SHIM_ERR(...) xtl_log(shim_log(), XTL_ERROR, -1, "gmap-preload", __VA_ARGS__)
#define SHIM_DBG(...) xtl_log(shim_log(), XTL_DEBUG, -1, "gmap-preload", __VA_ARGS__)

/* ---- state (state.c) ---------------------------------------------------- */

/* The window for @domid, opened on first use; NULL with errno. */
struct gmap_window *shim_window(uint32_t domid);
/* The window whose range holds @p, or NULL. */
struct gmap_window *shim_window_at(const void *p);

/* A real library's function (dlopen of its soname, then dlsym). */
void *shim_real(const char *soname, const char *sym);

/* ---- live maps (maps.c) -------------------------------------------------- */

struct shim_map {
	struct shim_map *next;
	void *addr;                /* what the caller was given        */
	uint32_t count;
	bool alias;                /* addr is an area of aliases (ours) */
	bool writable;
	int notify_off;            /* gnttab notify: byte cleared at unmap */
	uint32_t *domids, *refs;   /* count of each                    */
	uint8_t *pinned;           /* count: whether refs[i] is pinned */
	/* count, or NULL: for pages mapped on their own where the window's
	 * page cannot be aliased (xen), the backend's handle + 1 */
	uint64_t *extra;
	/* The backend's handle + 1 of one map of all the pages (xen, a map
	 * that is not one window run: see maps.c), or 0 */
	uint64_t whole;
	/* count, or NULL: pages of the area that another mapping took after
	 * a failed placement left a hole; never unmapped by us */
	uint8_t *lost;
	/* domids, refs and pinned of a one-page map, the common case (QEMU's
	 * mapcache maps most requests' grants one by one): no allocations
	 * but the map's own. */
	uint32_t one_domid, one_ref;
	uint8_t one_pinned;
};

/* Buckets of a handle's table of live maps before it first grows. */
#define SHIM_MAPS_MIN 16

/*
 * What both families' handles have: their live maps and the fork
 * generation they were opened in.  The live maps are a hash table on the
 * address handed out (maps.c), chained through shim_map.next: every unmap
 * looks its map up, and QEMU keeps hundreds live (a list walk per unmap
 * cost more than the rest of the shim's work at 48 in flight).
 */
struct shim_handle {
	uint32_t magic;
	unsigned int gen;
	pthread_mutex_t lock;
	struct shim_map **tab;     /* tab_mask + 1 buckets: tab_min, or
				    * malloc'd once it grew           */
	size_t tab_mask, nr_maps;
	uint64_t nr_mapped;        /* pages in live maps               */
	struct shim_map *tab_min[SHIM_MAPS_MIN];
};

void shim_handle_init(struct shim_handle *h, uint32_t magic);
/* Free what @h holds beside its maps (shim_unmap_all() first, unless it
 * was inherited); @h itself is the caller's. */
void shim_handle_fini(struct shim_handle *h);
/* Whether @h was opened before a fork() (then only close is allowed):
 * true with EPERM and a message naming @call. */
bool shim_handle_inherited(struct shim_handle *h, const char *call);
/* Whether @h is one of ours of @magic. */
bool shim_handle_is(const void *h, uint32_t magic);
int shim_handle_register(struct shim_handle *h);
void shim_handle_unregister(struct shim_handle *h);

/*
 * Map @count grants (domids[i], refs[i]) for @h, pinned, writable if
 * @writable.  @fixed: the caller's placement (or NULL).  With @err, pages
 * that fail get -errno in err[i] and the rest are still mapped (foreign
 * memory's partial maps); without, any failure undoes all and returns
 * NULL with errno.  Contiguous refs of one domain come back as their
 * window address; anything else as an area of aliases (see maps.c).
 */
void *shim_map_grants(struct shim_handle *h, uint32_t count,
		      const uint32_t *domids, const uint32_t *refs,
		      bool writable, void *fixed, int *err, int notify_off);
/* Unmap a live map of @h starting at @addr with @count pages: 0, or -1
 * and EINVAL if there is none (1 if @addr is not ours at all and
 * @not_ours_ok, for pass-through). */
int shim_unmap(struct shim_handle *h, void *addr, uint32_t count,
	       bool not_ours_ok);
void shim_unmap_all(struct shim_handle *h);

/* ---- the report (report.c) ------------------------------------------------ */

enum shim_call {
	SC_GNT_MAP_GRANT_REF, SC_GNT_MAP_GRANT_REFS,
	SC_GNT_MAP_DOMAIN_GRANT_REFS, SC_GNT_MAP_NOTIFY, SC_GNT_UNMAP,
	SC_GNT_COPY, SC_FMEM_MAP_GRANTS, SC_FMEM_MAP_FOREIGN, SC_FMEM_UNMAP,
	SHIM_NR_CALLS
};
/* Count a call of @c over @pages pages (segments for a copy), begun at
 * @t0 (shim_now_ns()): the report says how long the shim spent in them. */
void shim_count(enum shim_call c, uint64_t pages, bool failed, uint64_t t0);
uint64_t shim_now_ns(void);
/* Where a grant copy's segments were served. */
void shim_count_copy(uint64_t hypervisor, uint64_t window);
/* The report's lines: the calls (report.c), then each window (state.c). */
void shim_report(FILE *f);
void shim_report_windows(FILE *f);

/* A domid for a page whose frame no one can map (a foreign-memory frame
 * whose grant ref does not fit in 32 bits): that page fails alone. */
#define SHIM_NO_DOMID UINT32_MAX

#define SHIM_FMEM_MAGIC 0x464d454du  /* "FMEM" */
#define SHIM_GNT_MAGIC  0x474e5454u  /* "GNTT" */

/* Grant frames of the foreign-memory calls: DMA address >> 12. */
#define SHIM_FRAME_GRANT_BIT (GMAP_DMA_GRANT_BIT >> GMAP_PAGE_SHIFT)

#endif /* GMAP_SHIM_H */
