/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * around.c - fault-around (GMAP_FAULT_AROUND): after a fault is served,
 * its untouched neighbours are mapped in the same pass, as runs
 * (gmap_map_run), so that a backend walking a buffer pays one round trip
 * to the handler for several pages.
 */
#include "private.h"

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/*
 * One side of fault-around: up to @max untouched neighbours from @start
 * going @dir, as one run; if the run's map fails (a read-only or bad grant
 * among them), ref by ref up to the one that fails.  Returns how many.
 */
static uint32_t around_side(struct gmap_window *w, uint32_t start,
			    uint32_t max, int dir)
{
	uint32_t done = 0, lo;
	int n;

	if (!max)
		return 0;
	n = gmap_map_run(w, start, max, dir, 1, true, &lo);
	if (n >= 0)
		return (uint32_t)n;
	while (done < max &&
	       gmap_map_run(w, start + (uint32_t)dir * done, 1, dir, 1, true,
			    &lo) == 1)
		done++;
	return done;
}

/*
 * Fault-around: after the fault on @ref was served, map up to
 * w->around - 1 of its neighbours that are untouched (EMPTY), writable, in
 * this handler's pass: one round trip for the whole run instead of one per
 * page, and one backend map per side (on xen one gntdev map and one VMA).
 * Forward takes the refs after @ref, backward those before, both half
 * each way.  Always writable, even next to a read-only grant: a writable
 * grant mapped read-only would refuse the writes it allows.  A side stops
 * at the first neighbour that is not EMPTY, cannot be mapped writable (not
 * granted, read-only, ...) or does not fit the budget without waiting;
 * nothing is poisoned or logged for it.
 */
void gmap_fault_around(struct gmap_window *w, uint32_t ref)
{
	uint32_t want = w->around - 1, room_fwd = (uint32_t)(w->nr_refs - 1 - ref);
	uint32_t fwd, got_f = 0, got_b = 0;

	switch (w->around_dir) {
	case GMAP_AROUND_FORWARD:
		got_f = around_side(w, ref + 1, min_u32(want, room_fwd), 1);
		break;
	case GMAP_AROUND_BACKWARD:
		got_b = around_side(w, ref - 1, min_u32(want, ref), -1);
		break;
	default:
		/* Half each way; what one side cannot take (the window's
		 * edge, a hole, a grant that does not map) goes to the
		 * other, as if they took turns. */
		fwd = min_u32(want - min_u32(want / 2, ref), room_fwd);
		got_f = around_side(w, ref + 1, fwd, 1);
		got_b = around_side(w, ref - 1, min_u32(want - got_f, ref), -1);
		if (got_f == fwd && got_f + got_b < want)
			got_f += around_side(w, ref + 1 + got_f,
					     min_u32(want - got_f - got_b,
						     room_fwd - fwd), 1);
		break;
	}
	if (got_f + got_b) {
		atomic_fetch_add(&w->c->around_runs, 1);
		atomic_fetch_add(&w->c->around_pages, got_f + got_b);
	}
}
