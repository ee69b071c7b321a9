/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * churn.c - threads that change the window under the faulting threads:
 * pin/unpin runs of refs (checking them while pinned), release pages that
 * others are touching (the re-arm race), and have the guest reuse refs.
 */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "stress.h"

#define CHURN_MAX_RUN 16

/* Pin a run, check every page of it while pinned, unpin it. */
static void churn_pin(struct st_run *r, struct st_churner *c)
{
	const struct st_config *cf = &r->cfg;
	/* A run of contiguous refs; single refs when pages are spread. */
	uint32_t n = cf->spread > 1 ? 1 :
		     1 + (uint32_t)(st_rand(&c->rng) % CHURN_MAX_RUN);
	uint32_t v[CHURN_MAX_RUN], idx0, got, ref0;
	unsigned int slot = ST_MAILBOX0 + ST_MAX_THREADS + c->idx;
	struct gmap_error err;
	bool ro = false;

	if (n > cf->pages)
		n = cf->pages;
	idx0 = (uint32_t)(st_rand(&c->rng) % (cf->pages - n + 1));
	ref0 = st_ref(r, idx0);
	for (got = 0; got < n; got++) {
		if (st_lease_get(r, idx0 + got, &v[got]) < 0)
			break;
		ro |= (v[got] & LEASE_RO) != 0;
	}
	if (got < n) {
		c->skipped++;
		goto out;
	}
	if (gmap_pin(r->w, ref0, n, ro ? GMAP_PIN_READ : GMAP_PIN_WRITE, &err) < 0) {
		st_fail(r, &r->fail.api_errors, "gmap_pin(ref %u, %u): %s at "
			"ref %u, status %d (%s)", ref0, n, strerror(err.err),
			err.ref, err.status, gmap_status_str(err.status));
		goto out;
	}
	c->pins++;
	c->pinned_refs += n;
	if (cf->inject == INJ_REVOKE_PINNED && !c->injected) {
		/* A misbehaving guest: takes back a page the backend holds
		 * and reuses it.  The checks below must notice. */
		gmap_sim_revoke(r->dom, ref0);
		st_guest_sign(r, idx0, lease_gen(v[0]) + 1);
		c->injected++;
	}
	for (uint32_t i = 0; i < n; i++) {
		volatile uint64_t *p = (volatile uint64_t *)(void *)
			(r->base + ((uint64_t)(ref0 + i) << 12));
		uint64_t w0 = 0, w1 = 0, tok = (uint64_t)(c->idx + 0x100) << 48 | c->pins;

		if (!ro && !st_touch(&p[slot], true, tok, NULL)) {
			st_signalled(r, ref0 + i, true, "pinned");
			continue;
		}
		if (!st_touch(&p[0], false, 0, &w0) ||
		    !st_touch(&p[1], false, 0, &w1)) {
			st_signalled(r, ref0 + i, false, "pinned");
			continue;
		}
		if (!cf->verify)
			continue;
		st_check_read(r, ref0 + i, lease_gen(v[i]), 1, w0, w1, "pinned");
		if (!ro)
			st_check_written(r, idx0 + i, slot, tok, "pinned");
	}
	/* The last unpin unmaps: to a kernel access, a release. */
	st_release_begin(r, idx0, n);
	if (gmap_unpin(r->w, ref0, n) < 0)
		st_fail(r, &r->fail.api_errors, "gmap_unpin(ref %u, %u): %s",
			ref0, n, strerror(errno));
	st_release_end(r, idx0, n);
out:
	while (got > 0)
		st_lease_put(r, idx0 + --got);
}

/* Release a range without a lease: pages that faulting threads are
 * touching this very moment are unmapped and re-armed under them. */
static void churn_release(struct st_run *r, struct st_churner *c)
{
	uint32_t n = 1 + (uint32_t)(st_rand(&c->rng) % 64), idx0;
	int done;

	if (n > r->cfg.pages)
		n = r->cfg.pages;
	idx0 = (uint32_t)(st_rand(&c->rng) % (r->cfg.pages - n + 1));
	st_release_begin(r, idx0, n);
	done = gmap_release(r->w, st_ref(r, idx0),
			    st_ref(r, idx0 + n - 1) - st_ref(r, idx0) + 1);
	st_release_end(r, idx0, n);
	if (done < 0) {
		st_fail(r, &r->fail.api_errors, "gmap_release(ref %u, %u): %s",
			st_ref(r, idx0), n, strerror(errno));
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		atomic_store_explicit(&r->seen[idx0 + i], 0, memory_order_relaxed);
	c->releases++;
	c->released_pages += (uint64_t)done;
}

void *st_churn_main(void *arg)
{
	struct st_churner *c = arg;
	struct st_run *r = st_the_run;
	uint64_t n = 0;

	/* The guest's churn is background work: at the default nice level,
	 * churn threads that never sleep would take the CPU time the
	 * handler needs to serve faults, and measure the scheduler. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) < 0)
		st_fail(r, &r->fail.api_errors, "setpriority: %s", strerror(errno));

	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		switch (st_rand(&c->rng) % 3) {
		case 0:
			churn_pin(r, c);
			break;
		case 1:
			churn_release(r, c);
			break;
		default:
			if (!st_regrant(r, c, (uint32_t)(st_rand(&c->rng) %
							 r->cfg.pages)))
				c->skipped++;
			break;
		}
		atomic_store_explicit(&c->heartbeat, ++n, memory_order_relaxed);
	}
	atomic_store(&c->heartbeat, UINT64_MAX);
	return NULL;
}
