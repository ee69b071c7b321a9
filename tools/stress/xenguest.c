/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xenguest.c - the guest of a gmap-stress run on real Xen (-b xen): this
 * domain grants its own pages to itself with gntalloc (tools/common/granter.c),
 * signs them as the sim guest does, and gets them back at the end.
 *
 * The kernel chooses the refs.  A fresh domain hands them out of its free
 * list, one run in some order: sorted, they must be contiguous, so that
 * the run's layout (page i at first_ref + i) holds as on sim.  The xen
 * guest does not reuse refs (a new gntalloc grant gets a new ref): its
 * churn pins and releases only.  The hypervisor's map counts are not
 * visible from here, so instead of the sim's double-map and live-map
 * counts, every grant is ended after the window closes and tried again
 * through a fresh window: a grant that still maps was still mapped by us
 * when it was ended (the kernel defers the end).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stress.h"
#include "granter.h"

int st_xen_guest_create(struct st_run *r)
{
	struct st_config *c = &r->cfg;
	uint64_t rng = c->seed ^ 0x6775657374ULL;
	struct xg *xg = calloc(1, sizeof(*xg));
	uint32_t i;

	if (!xg || xg_open(xg, c->pages) < 0) {
		fprintf(stderr, "gmap-stress: -b xen: /dev/xen/gntalloc: %s (this "
			"must run in a Xen domain with xen-gntalloc loaded)\n",
			strerror(errno));
		return -1;
	}
	r->xg = xg;
	for (i = 0; i < c->pages; i++) {
		bool ro = st_rand(&rng) % 100 < c->ro_pct;

		if (!xg_grant(xg, ST_SELF, !ro)) {
			fprintf(stderr, "gmap-stress: -b xen: grant %u of %u: %s "
				"(gntalloc's limit is in /sys/module/xen_gntalloc/"
				"parameters/limit)\n", i + 1, c->pages,
				strerror(errno));
			return -1;
		}
	}
	xg_sort(xg, 0, xg->n);
	for (i = 1; i < c->pages; i++)
		if (xg->g[i].ref != xg->g[0].ref + i) {
			fprintf(stderr, "gmap-stress: -b xen: the kernel gave "
				"refs that are not one run (%u then %u): run on a "
				"fresh domain\n", xg->g[i - 1].ref, xg->g[i].ref);
			return -1;
		}
	c->first_ref = xg->g[0].ref;
	if ((uint64_t)c->first_ref + c->pages > c->window) {
		fprintf(stderr, "gmap-stress: -b xen: refs %u..%u do not fit a "
			"window of %llu refs (--window)\n", c->first_ref,
			c->first_ref + c->pages - 1,
			(unsigned long long)c->window);
		return -1;
	}
	if (st_guest_tables(r) < 0)
		return -1;
	for (i = 0; i < c->pages; i++) {
		st_guest_sign(r, i, 0);
		atomic_init(&r->lease[i], xg->g[i].writable ? 0 : LEASE_RO);
	}
	return 0;
}

void st_xen_guest_write(struct st_run *r, uint32_t idx, size_t off,
			const void *buf, size_t len)
{
	memcpy(r->xg->g[idx].page + off, buf, len);
}

void st_xen_guest_read(struct st_run *r, uint32_t idx, size_t off, void *buf,
		       size_t len)
{
	memcpy(buf, r->xg->g[idx].page + off, len);
}

/*
 * After the window closed: end every grant, then try each again through a
 * fresh window; none may map.  The window logs each refusal: to a quiet
 * logger.
 */
void st_xen_guest_end(struct st_run *r)
{
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_XEN,
		.nr_refs = r->cfg.window,
	};
	xentoollog_logger *quiet;
	struct gmap_window *w;
	FILE *devnull = fopen("/dev/null", "w");
	uint32_t i, alive = 0;

	quiet = devnull ? (xentoollog_logger *)xtl_createlogger_stdiostream(
				devnull, XTL_NUM_LEVELS, 0) : NULL;
	o.logger = quiet;
	for (i = 0; i < r->cfg.pages; i++)
		if (xg_end(r->xg, &r->xg->g[i]) < 0)
			st_fail(r, &r->fail.end_access_busy, "gntalloc cannot "
				"end the grant of ref %u: %s", r->xg->g[i].ref,
				strerror(errno));
	w = gmap_open(0, &o);
	if (!w) {
		st_fail(r, &r->fail.api_errors, "cannot open a window to check "
			"the ended grants: %s", strerror(errno));
	} else {
		for (i = 0; i < r->cfg.pages; i++) {
			if (gmap_prefault(w, r->xg->g[i].ref, 1, GMAP_PIN_READ,
					  NULL) < 0)
				continue;
			if (alive++ < 5)
				st_fail(r, &r->fail.end_access_busy, "ref %u "
					"still granted after the window closed "
					"and the guest ended it: it was still "
					"mapped", r->xg->g[i].ref);
			else
				atomic_fetch_add(&r->fail.end_access_busy, 1);
		}
		gmap_close(w);
	}
	if (quiet)
		xtl_logger_destroy(quiet);
	if (devnull)
		fclose(devnull);
	xg_close(r->xg);
	free(r->xg);
	r->xg = NULL;
}
