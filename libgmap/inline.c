/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * inline.c - the inline fault mode (GMAP_FAULT_INLINE): the window's
 * untouched pages are PROT_NONE (uffd.c), so a touch raises SIGSEGV in the
 * thread that made it, and signal.c's SIGSEGV handler calls this, in that
 * thread: the grant is mapped (with fault-around's neighbours) by the same
 * code the handler threads run (fault.c), the handler returns and the
 * access is retried.  No handler thread, no wake-up in either direction,
 * and no userfaultfd: an evicted or refused page is made PROT_NONE again
 * and is armed by that alone, with no registration to redo.  (Until
 * 2026-12-06 this mode used a userfaultfd in SIGBUS mode: the first touch
 * cost a fault through userfaultfd, and every re-arm a registration, an
 * mprotect and a look at the VMAs.)
 *
 * Why the fault path may run in a signal handler.  The signal is
 * synchronous: this thread's own access to a window page raised it, so the
 * thread was running whatever made that access, and nothing libgmap or
 * malloc do touches a window page.  The path then stays within:
 *  - system calls (mmap, ioctl, madvise, nanosleep): async-signal-safe;
 *  - libgmap's own locks and condition variable.  A thread holds one of
 *    them only inside libgmap, and gmap_tls.locks says whether it does
 *    (raised before each lock is taken, lowered after it is released):
 *    only an application signal handler that interrupted a libgmap call
 *    and touched an untouched window page can find it raised, and that
 *    one access is reported and gets SIGSEGV instead of a deadlock;
 *  - no malloc: the grants' leaves and the xen backend's runs come from
 *    slabs of our own mmaps (slab.c), the evictor's queue and the xen
 *    run index grow by mmap, the backends' per-map arrays are on the
 *    stack (at most GMAP_RUN_MAX entries: 1 KiB on sim, 2 KiB on xen);
 *  - no logger: lines are formatted into a static ring (log.c) and the
 *    evictor thread, woken here, writes them; the budget's refresh, which
 *    reads /proc through stdio, is skipped (budget.c).
 * The SIGSEGV handler runs on the thread's own stack, which has room for
 * the map path, unless the handler it replaced asked for the alternate
 * stack (signal.c): then a thread that has one serves its faults there,
 * and needs 64 KiB of it (gmap_open(3)).
 */
#include <errno.h>
#include <stdio.h>

#include "private.h"

__thread struct gmap_tls gmap_tls __attribute__((tls_model("initial-exec")));

/* A page that keeps faulting while it is mapped is not ours to fix: after
 * this many in a row at one address, the SIGSEGV goes on to the previous
 * handler. */
#define MAX_REPEATS 1000

static __thread uintptr_t last_addr __attribute__((tls_model("initial-exec")));
static __thread unsigned int repeats __attribute__((tls_model("initial-exec")));

int gmap_inline_check(struct gmap_window *w, uintptr_t a, char *why,
		      size_t len)
{
	uint32_t ref = gmap_ref_of(w, a);
	uint32_t s = gs_word(gmap_grant_peek(w->dir.slots, ref));

	if (gs_state(s) == GS_BAD && (s & GS_NOPOISON)) {
		/* Its page could not be poisoned: it stays an untouched
		 * page, and each touch is reported. */
		snprintf(why, len, "access to a grant that could not be "
			 "mapped: %s (status %d), and its page could not be "
			 "made inaccessible either (out of VMAs or memory)",
			 gmap_status_str(gs_status(s)), gs_status(s));
		return 0;
	}
	if (gs_state(s) == GS_MAPPED) {
		/* Mapped since the fault (fault-around, a pin in another
		 * thread): the retry succeeds.  Unless it keeps failing. */
		if (last_addr == a && ++repeats >= MAX_REPEATS) {
			last_addr = 0;
			return -1;
		}
		if (last_addr != a) {
			last_addr = a;
			repeats = 0;
		}
		return 1;
	}
	last_addr = 0;
	if (gmap_tls.locks) {
		snprintf(why, len, "touch of an untouched page by a thread "
			 "inside libgmap (from a signal handler that interrupted "
			 "a libgmap call?), which the inline fault mode cannot "
			 "serve: prefault or pin the pages such handlers use");
		return 0;
	}
	return 2;
}

void gmap_inline_serve(struct gmap_window *w, uintptr_t a)
{
	uint32_t ref = gmap_ref_of(w, a);
	uint64_t t0 = gmap_mono_ns();

	atomic_fetch_add(&w->c->faults, 1);
	gmap_tls.in_fault = true;
	gmap_fault_serve(w, ref, "a fault", 0);
	gmap_tls.in_fault = false;
	gmap_serve_time(w, t0);
	/* Lines logged meanwhile wait in log.c's ring: the evictor writes
	 * them. */
	if (gmap_log_deferred())
		gmap_evict_kick(w);
	/* Mapped, poisoned (the retried access gets the SIGSEGV that reports
	 * it), or armed again after a first failure (it faults again, and a
	 * second failure poisons it). */
}
