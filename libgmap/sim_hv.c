/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim_hv.c - the simulated hypervisor's grant-table rules.
 *
 * This is what Xen's grant_table.c does when a grantee maps a grant of a v1
 * table (map_grant_ref -> _set_status_v1) and when it unmaps: the checks,
 * the order of the checks, the status each refusal returns and the in-use
 * flags the guest can see.  It runs in the mapping process but touches only
 * the shared control area, so a granter in another process sees exactly
 * what a guest sees on Xen.
 */
#include <errno.h>
#include <time.h>

#include "private.h"
#include "sim_abi.h"

int sim_ctl_check(struct sim_ctl *c, size_t size)
{
	uint64_t need;

	if (size < sizeof(*c) || c->magic != SIM_MAGIC ||
	    c->version != SIM_VERSION)
		return -1;
	need = c->active_off + (uint64_t)c->nr_grants * sizeof(struct sim_active);
	if (c->table_off < sizeof(*c) || c->ctl_size != size || need > size ||
	    c->table_off % 8 || c->active_off % 8 ||
	    c->table_off + (uint64_t)c->nr_grants * 8 > c->active_off)
		return -1;
	return 0;
}

/*
 * Map @ref for @grantee.  Returns GNTST_okay and the frame, or the status
 * Xen returns for the same refusal.  On success the grant's in-use flags
 * are set (GTF_reading, plus GTF_writing for a writable map) and stay set
 * until the matching sim_hv_unmap(): the guest's end-access fails until
 * then, as on Xen.
 */
int16_t sim_hv_map(struct sim_ctl *c, uint32_t ref, uint16_t grantee,
		   int writable, uint32_t *frame)
{
	struct sim_active *a;
	grant_entry_v1_t *e;
	_Atomic uint32_t *combo;
	uint32_t old, new, flags, f;
	int16_t st = GNTST_okay;
	int wrong = 0;

	if (atomic_load(&c->dead))
		return GNTST_bad_domain;
	/* Xen: "Bad ref %#x for d%d" */
	if (ref >= c->nr_grants) {
		atomic_fetch_add(&c->map_fails, 1);
		return GNTST_bad_gntref;
	}
	a = &sim_active(c)[ref];
	e = &sim_table(c)[ref];
	combo = sim_combo(e);

	sim_active_lock(a);
	if (atomic_load(&a->inject_count) > 0) {
		uint32_t what = atomic_load(&a->inject_what);

		/* A wrong frame is counted where it is served, below: a
		 * refused map (a writable map of a read-only grant) must not
		 * use it up. */
		if (what != GMAP_SIM_INJECT_WRONG_FRAME)
			atomic_fetch_sub(&a->inject_count, 1);
		if (what == GMAP_SIM_INJECT_EAGAIN) {
			atomic_fetch_add(&c->eagain, 1);
			st = GNTST_eagain;
			goto fail;
		}
		if (what == GMAP_SIM_INJECT_HOLE ||
		    what == GMAP_SIM_INJECT_HOLE_TAKEN) {
			st = what == GMAP_SIM_INJECT_HOLE ? SIM_ST_HOLE :
			     SIM_ST_HOLE_TAKEN;
			goto fail;
		}
		if (what == GMAP_SIM_INJECT_EIO) {
			/* Not a grant refusal: the mapper's own machinery
			 * fails (as an mmap of gntdev can). */
			st = GMAP_ST_BACKEND;
			goto fail;
		}
		/* GMAP_SIM_INJECT_WRONG_FRAME: a broken "hypervisor" that
		 * maps the next frame; the map itself succeeds. */
		wrong = what == GMAP_SIM_INJECT_WRONG_FRAME;
		if (what == GMAP_SIM_INJECT_STALL) {
			/* A stuck backend: until the injection is cleared
			 * (so a test can order events), at most 10 s, timed
			 * by the clock, not by counting naps, which a loaded
			 * machine stretches. */
			struct timespec ms = { 0, 1000000 }, t0, t;

			sim_active_unlock(a);
			clock_gettime(CLOCK_MONOTONIC, &t0);
			do {
				nanosleep(&ms, NULL);
				clock_gettime(CLOCK_MONOTONIC, &t);
			} while (atomic_load(&a->inject_what) == GMAP_SIM_INJECT_STALL &&
				 (t.tv_sec - t0.tv_sec) * 1000000000L +
				 (t.tv_nsec - t0.tv_nsec) < 10000000000L);
			sim_active_lock(a);
		}
	}
	old = atomic_load(combo);
	for (;;) {
		flags = old & 0xffffu;
		/* Xen: "Bad flags (%x) or dom (%d); expected d%d" */
		if ((flags & GTF_type_mask) != GTF_permit_access ||
		    (old >> 16) != grantee) {
			st = GNTST_general_error;
			goto fail;
		}
		/* Xen: "Attempt to write-pin a r/o grant entry" */
		if (writable && (flags & GTF_readonly)) {
			st = GNTST_general_error;
			goto fail;
		}
		new = old | GTF_reading | (writable ? GTF_writing : 0);
		if (atomic_compare_exchange_weak(combo, &old, new))
			break;
	}
	/* The frame is read after the flags are set, as Xen does: a guest
	 * must not change the frame of an entry that is in use. */
	f = __atomic_load_n(&e->frame, __ATOMIC_ACQUIRE);
	if (f >= c->nr_frames) {
		/* Xen: get_paged_frame() fails -> GNTST_bad_page; the flags
		 * set above are dropped again. */
		if (a->rd_pins == 0)
			atomic_fetch_and(combo, ~(uint32_t)(GTF_reading | GTF_writing));
		else if (a->wr_pins == 0)
			atomic_fetch_and(combo, ~(uint32_t)GTF_writing);
		st = GNTST_bad_page;
		goto fail;
	}
	if (a->rd_pins > 0)
		atomic_fetch_add(&c->double_maps, 1);
	a->rd_pins++;
	if (a->rd_pins > a->maps_peak)
		a->maps_peak = a->rd_pins;
	if (writable)
		a->wr_pins++;
	atomic_fetch_add(&a->maps_total, 1);
	if (wrong) {
		atomic_fetch_sub(&a->inject_count, 1);
		f = (f + 1) % c->nr_frames;
	}
	sim_active_unlock(a);
	{
		uint64_t now = atomic_fetch_add(&c->maps_now, 1) + 1;
		uint64_t peak = atomic_load(&c->maps_peak);

		while (now > peak &&
		       !atomic_compare_exchange_weak(&c->maps_peak, &peak, now))
			;
	}
	atomic_fetch_add(&c->maps_total, 1);
	*frame = f;
	return GNTST_okay;
fail:
	atomic_fetch_add(&a->map_fails, 1);
	sim_active_unlock(a);
	atomic_fetch_add(&c->map_fails, 1);
	return st;
}

/* Unmap: drop the pin; clear GTF_writing when the last writable pin goes
 * and GTF_reading when the last pin goes, so the guest can end access. */
void sim_hv_unmap(struct sim_ctl *c, uint32_t ref, int writable)
{
	struct sim_active *a;
	_Atomic uint32_t *combo;

	if (ref >= c->nr_grants)
		return;
	a = &sim_active(c)[ref];
	combo = sim_combo(&sim_table(c)[ref]);
	sim_active_lock(a);
	if (a->rd_pins > 0) {
		a->rd_pins--;
		if (writable && a->wr_pins > 0)
			a->wr_pins--;
		if (a->wr_pins == 0)
			atomic_fetch_and(combo, ~(uint32_t)GTF_writing);
		if (a->rd_pins == 0)
			atomic_fetch_and(combo, ~(uint32_t)GTF_reading);
		atomic_fetch_sub(&c->maps_now, 1);
	}
	sim_active_unlock(a);
}
