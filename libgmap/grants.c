/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * grants.c - one state and one count per grant: the state machine that
 * faults, pins, unpins, prefaults and releases all go through.
 *
 *   EMPTY --map--> MAPPED --last unpin / release--> EMPTY
 *     |                                      (re-armed placeholder)
 *     +--map fails (fault)--> BAD --release / successful pin--> ...
 *
 * Every transition is made by the one thread that moved the grant to BUSY;
 * the backend call runs with the window lock dropped, and anyone else who
 * needs the grant waits on the condition variable until it leaves BUSY.
 * So a grant is mapped at most once per window, whatever the interleaving.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "private.h"
#include "sim_abi.h"

/* GNTST_eagain: retry with a growing delay up to this total, as Linux's
 * gntdev retries paged-out frames (it gives up after ~32 s; a window
 * handler serves other faults, so it gives up sooner). */
#define EAGAIN_BUDGET_MS 1000

int gmap_grants_init(struct gmap_window *w)
{
	size_t n = (size_t)((w->nr_refs + GMAP_LEAF_REFS - 1) >> GMAP_LEAF_SHIFT);

	w->dir_len = (n * sizeof(w->dir[0]) + 4095) & ~(size_t)4095;
	/* Reserved, not committed: only directory pages that point at a
	 * leaf are ever touched, so a 16 TiB window costs what it uses. */
	w->dir = gmap_mmap_raw(NULL, w->dir_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (w->dir == MAP_FAILED) {
		w->dir = NULL;
		return -1;
	}
	return 0;
}

/* Free the grant metadata; with @unmap, unmap what is still mapped. */
void gmap_grants_teardown(struct gmap_window *w, bool unmap)
{
	size_t i, n = w->dir_len / sizeof(w->dir[0]);
	unsigned char vec[256];
	uint32_t j;

	if (!w->dir)
		return;
	for (i = 0; i < n; i += GMAP_DIR_PAGE_SLOTS) {
		/* Skip directory pages never touched (mincore says absent)
		 * instead of reading 512 MiB of zeros; asked 256 pages at a
		 * time. */
		size_t pg = i / GMAP_DIR_PAGE_SLOTS;

		if (pg % 256 == 0) {
			size_t left = w->dir_len / 4096 - pg;

			if (mincore((char *)w->dir + pg * 4096,
				    (left < 256 ? left : 256) * 4096, vec) < 0)
				memset(vec, 1, sizeof(vec));
		}
		if (!(vec[pg % 256] & 1))
			continue;
		for (size_t k = i; k < i + GMAP_DIR_PAGE_SLOTS && k < n; k++) {
			struct gmap_grant *leaf = atomic_load(&w->dir[k]);

			if (!leaf)
				continue;
			for (j = 0; j < GMAP_LEAF_REFS; j++) {
				uint32_t s = atomic_load(&leaf[j].state);

				if (unmap && gs_state(s) == GS_MAPPED)
					w->be->unmap(w, (uint32_t)((k << GMAP_LEAF_SHIFT) + j),
						     1, !(s & GS_RO));
			}
			free(leaf);
		}
	}
	gmap_munmap_raw(w->dir, w->dir_len);
	w->dir = NULL;
}

/* The grant of @ref; with @create, allocate its leaf (window lock held). */
struct gmap_grant *gmap_grant_get(struct gmap_window *w, uint32_t ref,
				  bool create)
{
	size_t idx = ref >> GMAP_LEAF_SHIFT;
	struct gmap_grant *leaf = atomic_load(&w->dir[idx]);

	if (!leaf && create) {
		leaf = calloc(GMAP_LEAF_REFS, sizeof(*leaf));
		if (!leaf)
			return NULL;
		atomic_fetch_add(&w->c.meta_bytes, GMAP_LEAF_BYTES +
				 (gmap_dir_page_empty(w, idx) ? 4096 : 0));
		atomic_store(&w->dir[idx], leaf);
		/* Over the budget of metadata: the evictor frees idle
		 * leaves (reclaim.c). */
		if (atomic_load(&w->c.meta_bytes) >= w->ev.mhigh)
			gmap_evict_kick(w);
	}
	return leaf ? &leaf[ref & (GMAP_LEAF_REFS - 1)] : NULL;
}

/* Window lock held.  GS_QUEUED belongs to evict.c and is kept. */
static void set_state(struct gmap_window *w, uint32_t ref,
		      struct gmap_grant *g, unsigned int st, uint32_t bits,
		      int16_t status)
{
	uint32_t keep = atomic_load(&g->state) & GS_QUEUED;

	window_assert_locked(w);
	gmap_grant_set(w, ref, g, st | bits | keep |
		       ((uint32_t)(uint16_t)status << GS_STATUS_SHIFT));
}

/*
 * Wait until @ref is not BUSY (window lock held) and return its grant,
 * looked up again after every wait: while we sleep, a leaf whose refs all
 * went back to EMPTY may be reclaimed (reclaim.c).  With @create a
 * missing leaf is allocated; NULL if that fails, or without @create if
 * the ref has no state (it is EMPTY).
 */
static struct gmap_grant *wait_not_busy(struct gmap_window *w, uint32_t ref,
					bool create)
{
	struct gmap_grant *g;

	window_assert_locked(w);
	while ((g = gmap_grant_get(w, ref, create)) &&
	       gs_state(atomic_load(&g->state)) == GS_BUSY)
		window_wait(w, &w->cv, NULL);
	return g;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* After a map or unmap failed with errno ENOMEM, which for a placement is
 * the process out of VMAs: fit the budget to the room left (errno kept). */
static void enomem_refresh(struct gmap_window *w)
{
	int e = errno;

	if (e == ENOMEM)
		gmap_budget_refresh(w, true);
	errno = e;
}

/* One backend map, retrying GNTST_eagain within a bounded time. */
static int map_retry(struct gmap_window *w, uint32_t ref, bool writable,
		     int16_t *st)
{
	unsigned int delay = 1, spent = 0;
	int rc;

	for (;;) {
		uint64_t split = 0;

		if (gmap_ref_lost(w, ref)) {
			*st = GMAP_ST_LOST;
			errno = EEXIST;
			rc = -1;
			break;
		}
		rc = w->be->map(w, ref, 1, gmap_addr_of(w, ref), writable,
				&split, st);
		if (rc == 0 || *st != GNTST_eagain || spent >= EAGAIN_BUDGET_MS ||
		    atomic_load(&w->closing))
			break;
		sleep_ms(delay);
		spent += delay;
		if (delay < 64)
			delay *= 2;
	}
	if (rc == 0) {
		gmap_no_fork(w, gmap_addr_of(w, ref), GMAP_PAGE_SIZE);
		atomic_fetch_add(&w->c.maps, 1);
	} else {
		atomic_fetch_add(&w->c.map_failures, 1);
		enomem_refresh(w);
	}
	return rc;
}

/*
 * Map a grant we own (BUSY).  Writable first, so a read fault on a
 * writable grant needs no second fault to write; if the grant refuses a
 * writable map and @need_write is false, read-only: Xen says "general
 * error" for a write map of a read-only grant and gives us no other hint.
 */
static int map_owned(struct gmap_window *w, uint32_t ref, bool need_write,
		     uint32_t *ro, int16_t *st)
{
	int rc = map_retry(w, ref, true, st);

	*ro = 0;
	if (rc < 0 && !need_write &&
	    (*st == GNTST_general_error || *st == GNTST_permission_denied)) {
		int16_t st2;

		rc = map_retry(w, ref, false, &st2);
		if (rc == 0) {
			*ro = GS_RO;
			*st = st2;
		}
	}
	return rc;
}

/*
 * map_owned() within the budget: take a slot first (waiting for the
 * evictor if @wait), give it back if the map fails.
 */
static int map_budgeted(struct gmap_window *w, uint32_t ref, bool need_write,
			bool wait, uint32_t *ro, int16_t *st)
{
	int e;

	*ro = 0;
	if (gmap_budget_take(w, wait, st) < 0)
		return -1;
	if (map_owned(w, ref, need_write, ro, st) == 0)
		return 0;
	e = errno;
	gmap_budget_put(w);
	errno = e;
	return -1;
}

/* A grant we own was mapped: publish it.  Window lock held. */
static void set_mapped(struct gmap_window *w, uint32_t ref,
		       struct gmap_grant *g, uint32_t bits)
{
	set_state(w, ref, g, GS_MAPPED, bits, 0);
	atomic_fetch_add(&w->c.mapped_now, 1);
	gmap_evict_queue(w, ref, g);
}

/*
 * Unmap grants [@ref, @ref + @n) that we own (BUSY, were MAPPED) and re-arm
 * their pages, with one poison and one re-arm for the whole run.  Returns
 * the state the grants must take: EMPTY; BAD if the pages could not be
 * re-armed (they are then inaccessible, never silently anonymous); or
 * MAPPED if they could not even be poisoned (out of VMAs or memory).
 */
static unsigned int unmap_run(struct gmap_window *w, uint32_t ref, uint32_t n,
			      int16_t *status)
{
	void *addr = gmap_addr_of(w, ref);
	size_t len = (size_t)n << GMAP_PAGE_SHIFT;
	int rc;

	*status = 0;
	if (gmap_poison(w, addr, len) < 0) {
		GMAP_LOG(w, XTL_ERROR, errno, "d%u refs %u+%u: cannot unmap %p",
			 w->domid, ref, n, addr);
		enomem_refresh(w);
		return GS_MAPPED;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct gmap_grant *g = gmap_grant_get(w, ref + i, false);

		w->be->unmap(w, ref + i, 1, !(atomic_load(&g->state) & GS_RO));
		atomic_fetch_add(&w->c.unmaps, 1);
		atomic_fetch_sub(&w->c.mapped_now, 1);
	}
	/* The slots are given back once the pages are armed placeholders
	 * again: until then each is a VMA of its own, and the budget bounds
	 * VMAs. */
	rc = gmap_rearm_poisoned(w, addr, len);
	for (uint32_t i = 0; i < n; i++)
		gmap_budget_put(w);
	if (rc < 0) {
		GMAP_LOG(w, XTL_ERROR, errno, "d%u refs %u+%u: cannot re-arm "
			 "%p; the pages stay inaccessible", w->domid, ref, n,
			 addr);
		*status = GMAP_ST_BACKEND;
		return GS_BAD;
	}
	return GS_EMPTY;
}

/* unmap_run() of one grant. */
static unsigned int unmap_owned(struct gmap_window *w, uint32_t ref,
				int16_t *status)
{
	return unmap_run(w, ref, 1, status);
}

static void log_bad(struct gmap_window *w, uint32_t ref, const char *what,
		    int16_t st, int err)
{
	GMAP_LOG(w, XTL_ERROR, st == GMAP_ST_BACKEND ? err : -1,
		 "d%u ref %u addr %p: cannot map grant for %s: %s (status %d)",
		 w->domid, ref, gmap_addr_of(w, ref), what,
		 gmap_status_str(st), st);
}

static int map_run(struct gmap_window *w, uint32_t start, uint32_t max,
		   int dir, uint32_t min, uint32_t *lo);

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
	n = map_run(w, start, max, dir, 1, &lo);
	if (n >= 0)
		return (uint32_t)n;
	while (done < max &&
	       map_run(w, start + (uint32_t)dir * done, 1, dir, 1, &lo) == 1)
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
static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static void fault_around(struct gmap_window *w, uint32_t ref)
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
		atomic_fetch_add(&w->c.around_runs, 1);
		atomic_fetch_add(&w->c.around_pages, got_f + got_b);
	}
}

static int cmp_ref(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * Unmap and re-arm grants the evictor took (BUSY, were MAPPED).  Runs of
 * contiguous refs (fault-around maps them, the FIFO keeps them together)
 * are poisoned and re-armed with one call each instead of one per page:
 * the page-table and TLB work of a multi-threaded process is what costs.
 */
void gmap_grants_evict(struct gmap_window *w, uint32_t *refs, size_t n,
		       bool retry)
{
	qsort(refs, n, sizeof(*refs), cmp_ref);
	for (size_t i = 0, k; i < n; i = k) {
		unsigned int ns;
		int16_t st;

		for (k = i + 1; k < n && refs[k] == refs[k - 1] + 1; k++)
			;
		atomic_fetch_add(&w->c.evicting_now, k - i);
		ns = unmap_run(w, refs[i], (uint32_t)(k - i), &st);
		if (ns != GS_MAPPED && !retry)
			atomic_fetch_add(&w->c.evictions, k - i);
		if (ns != GS_MAPPED && retry)
			GMAP_LOG(w, XTL_INFO, -1, "d%u refs %u+%u: unmapped on "
				 "retry", w->domid, refs[i], (uint32_t)(k - i));
		atomic_fetch_sub(&w->c.evicting_now, k - i);
		window_lock(w);
		for (size_t j = i; j < k; j++) {
			struct gmap_grant *g = gmap_grant_get(w, refs[j], false);
			uint32_t ro = atomic_load(&g->state) & GS_RO;

			set_state(w, refs[j], g, ns, ns == GS_MAPPED ? ro : 0, st);
			if (ns == GS_MAPPED)
				gmap_unmap_due(w, refs[j]); /* try again */
		}
		pthread_cond_broadcast(&w->cv);
		window_unlock(w);
	}
}

/*
 * Serve one fault on @ref.  Always ends with the page mapped or poisoned
 * and the waiters woken: a faulting thread never stays blocked.
 */
int gmap_grant_fault(struct gmap_window *w, uint32_t ref, bool write,
		     pid_t tid)
{
	void *addr = gmap_addr_of(w, ref);
	struct gmap_grant *g;
	uint32_t ro, s, bits = 0;
	int16_t st = 0;
	int rc, err;

	window_lock(w);
	g = wait_not_busy(w, ref, true);
	if (!g) {
		window_unlock(w);
		GMAP_LOG(w, XTL_ERROR, ENOMEM, "d%u ref %u: no memory for "
			 "grant state", w->domid, ref);
		/* Without state the page can only be made inaccessible;
		 * the SIGSEGV handler chains when it finds no state.  If
		 * even that fails, the thread is sent the signal. */
		if (gmap_poison(w, addr, GMAP_PAGE_SIZE) < 0)
			gmap_signal_kick(w, tid, addr);
		gmap_uffd_wake(w, addr, GMAP_PAGE_SIZE);
		return -1;
	}
	s = atomic_load(&g->state);
	if (gs_state(s) != GS_EMPTY) {
		/* Mapped or poisoned by someone else meanwhile: a duplicate
		 * message of a page another thread also faulted.  Or a bad
		 * page that could not be poisoned: a thread that touches it
		 * faults here again, and only a signal ends its wait. */
		window_unlock(w);
		if (gs_state(s) == GS_BAD && (s & GS_NOPOISON))
			gmap_signal_kick(w, tid, addr);
		gmap_uffd_wake(w, addr, GMAP_PAGE_SIZE);
		return 0;
	}
	set_state(w, ref, g, GS_BUSY, 0, 0);
	window_unlock(w);

	rc = map_budgeted(w, ref, false, true, &ro, &st);
	err = errno;
	if (rc < 0 && st == GMAP_ST_LOST) {
		/* Not our page any more: neither retried nor poisoned. */
		window_lock(w);
		set_state(w, ref, g, GS_BAD, 0, st);
		atomic_fetch_add(&w->c.bad_grants, 1);
		pthread_cond_broadcast(&w->cv);
		window_unlock(w);
		log_bad(w, ref, write ? "a write fault" : "a read fault", st, err);
		gmap_uffd_wake(w, addr, GMAP_PAGE_SIZE);
		return rc;
	}
	if (rc < 0 && !(s & GS_TRIED) && !atomic_load(&w->closing)) {
		/*
		 * The message may be stale: its thread may have been woken
		 * long ago by a pin or prefault of this page, which was
		 * unmapped again since (and the guest may have ended
		 * access).  Poisoning on a stale message would fault later
		 * touches of a ref the guest grants again.  So a first
		 * failure leaves the page armed and wakes its waiters: a
		 * thread that really needs the page faults again at once,
		 * and a second failure in a row poisons it.
		 */
		window_lock(w);
		set_state(w, ref, g, GS_EMPTY | GS_TRIED, 0, 0);
		pthread_cond_broadcast(&w->cv);
		window_unlock(w);
		GMAP_LOG(w, XTL_DEBUG, -1, "d%u ref %u: map for a fault failed "
			 "(%s); retrying on the next fault", w->domid, ref,
			 gmap_status_str(st));
		gmap_uffd_wake(w, addr, GMAP_PAGE_SIZE);
		return -1;
	}
	if (rc < 0 && gmap_poison(w, addr, GMAP_PAGE_SIZE) < 0) {
		/* Cannot even place a PROT_NONE page (out of VMAs): the
		 * page stays armed, and the thread is sent the SIGSEGV it
		 * would have got, address included, once the state says
		 * why (the handler reads it). */
		GMAP_LOG(w, XTL_ERROR, errno, "d%u ref %u: cannot poison %p",
			 w->domid, ref, addr);
		enomem_refresh(w);
		bits = GS_NOPOISON;
	}

	window_lock(w);
	if (rc == 0) {
		set_mapped(w, ref, g, ro);
	} else {
		set_state(w, ref, g, GS_BAD, bits, st);
		atomic_fetch_add(&w->c.bad_grants, 1);
	}
	pthread_cond_broadcast(&w->cv);
	window_unlock(w);

	if (rc < 0) {
		log_bad(w, ref, write ? "a write fault" : "a read fault", st, err);
		if (bits & GS_NOPOISON)
			gmap_signal_kick(w, tid, addr);
		gmap_uffd_wake(w, addr, GMAP_PAGE_SIZE);
		return rc;
	}
	/* The faulting thread is woken once its neighbours are mapped too:
	 * it finds them there (their runs wake whoever waits on them). */
	if (w->around > 1)
		fault_around(w, ref);
	gmap_uffd_wake(w, addr, GMAP_PAGE_SIZE);
	return 0;
}

static int check_range(const struct gmap_window *w, uint32_t ref,
		       uint32_t count, const char *what)
{
	if (gmap_inherited_check(w, what))
		return -1;
	if (count == 0) {
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)ref + count > w->nr_refs) {
		errno = ERANGE;
		return -1;
	}
	return 0;
}

static void fill_err(struct gmap_error *err, uint32_t ref, int16_t st, int e)
{
	if (err) {
		err->ref = ref;
		err->status = st;
		err->err = e;
	}
}

/*
 * Make @ref mapped (for a pin when @pin): the shared core of pin and
 * prefault.  Returns 0, or -1 with errno and *@st.
 */
static int hold_one(struct gmap_window *w, uint32_t ref, bool write, bool pin,
		    int16_t *st)
{
	struct gmap_grant *g;
	uint32_t prev, ro;
	int rc;

	*st = 0;
	window_lock(w);
	g = wait_not_busy(w, ref, true);
	if (!g) {
		window_unlock(w);
		*st = GMAP_ST_NOMEM;
		errno = ENOMEM;
		return -1;
	}
	prev = atomic_load(&g->state);
	if (gs_state(prev) == GS_MAPPED) {
		if (write && (prev & GS_RO)) {
			window_unlock(w);
			*st = GNTST_general_error;
			errno = EACCES;
			return -1;
		}
		if (pin && gs_pins(prev) == GS_PINS_MAX) {
			window_unlock(w);
			*st = 0;
			errno = EOVERFLOW;
			return -1;
		}
		goto held;
	}
	set_state(w, ref, g, GS_BUSY, 0, 0);
	window_unlock(w);

	rc = map_budgeted(w, ref, write, true, &ro, st);

	window_lock(w);
	if (rc < 0) {
		int e = errno;

		/* Nothing was placed: the page is as it was (a placeholder or
		 * a poisoned page), so the grant goes back to its old state
		 * (its place in the evictor's FIFO is evict.c's business). */
		if (*st == GMAP_ST_LOST)  /* never ours again */
			set_state(w, ref, g, GS_BAD, 0, GMAP_ST_LOST);
		else
			gmap_grant_set(w, ref, g, (prev & ~GS_QUEUED) |
				       (atomic_load(&g->state) & GS_QUEUED));
		pthread_cond_broadcast(&w->cv);
		window_unlock(w);
		errno = e;
		return -1;
	}
	set_mapped(w, ref, g, ro);
	pthread_cond_broadcast(&w->cv);
	/* Threads may be waiting on a fault here; the map did not wake
	 * them. */
	gmap_uffd_wake(w, gmap_addr_of(w, ref), GMAP_PAGE_SIZE);
held:
	if (pin) {
		if (gs_pins(atomic_fetch_add(&g->state, GS_PIN_ONE)) == 0)
			atomic_fetch_add(&w->c.pinned_now, 1);
		atomic_fetch_add(&w->c.pins, 1);
	}
	window_unlock(w);
	return 0;
}

int gmap_pin_held(struct gmap_window *w, uint32_t ref, bool write)
{
	struct gmap_grant *g;
	uint32_t s;
	int rc = -1;

	if (ref >= w->nr_refs || gmap_inherited(w))
		return -1;
	window_lock(w);
	g = gmap_grant_get(w, ref, false);
	s = g ? atomic_load(&g->state) : 0;
	if (g && gs_state(s) == GS_MAPPED && gs_pins(s) > 0 &&
	    gs_pins(s) < GS_PINS_MAX && !(write && (s & GS_RO))) {
		atomic_fetch_add(&g->state, GS_PIN_ONE);
		atomic_fetch_add(&w->c.pins, 1);
		rc = 0;
	}
	window_unlock(w);
	return rc;
}

/* The longest run one pin or prefault maps in one backend call. */
#define RUN_MAX 64
/* The longest run map_run() maps (a side of fault-around: 255): words of
 * the backend's split bitmap. */
#define RUN_SPLIT_WORDS 4

/* Give back what map_run() took for refs [@lo, @lo + @n): EMPTY again,
 * and @slots budget slots. */
static void run_abandon(struct gmap_window *w, uint32_t lo, uint32_t n,
			uint32_t slots)
{
	while (slots-- > 0)
		gmap_budget_put(w);
	window_lock(w);
	for (uint32_t i = 0; i < n; i++)
		set_state(w, lo + i, gmap_grant_get(w, lo + i, false),
			  GS_EMPTY, 0, 0);
	pthread_cond_broadcast(&w->cv);
	window_unlock(w);
}

/*
 * Map untouched refs as one run: one backend map, which on xen is one
 * gntdev map and one VMA instead of one per grant.  The refs taken are
 * those EMPTY (never tried, not BAD) in a row from @start, going up
 * (@dir 1) or down (-1), up to @max, each with a budget slot that is free
 * without waiting; fewer than @min taken and nothing is mapped.  Writable,
 * all or nothing (one gntdev map).  Returns how many were mapped (the run
 * is [*@lo, *@lo + n)), 0 if too few could be taken, -1 if the map
 * failed (a read-only or bad grant in the run): the caller then goes ref
 * by ref, which maps read-only grants and names the ref that fails.  The
 * core still unmaps grant by grant (the backend keeps the run together:
 * backend_xen.c).  Threads waiting on faults in the run are woken.
 */
/* Whether a page of [@ref, @ref + @n) is lost to the window (placeholder.c):
 * then nothing may be placed over the range. */
static bool run_lost(struct gmap_window *w, uint32_t ref, uint32_t n)
{
	if (!atomic_load_explicit(&w->nr_lost, memory_order_relaxed))
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (gmap_ref_lost(w, ref + i))
			return true;
	return false;
}

/* After a failed map: refs of [@ref, @ref + @n) whose page is lost
 * become BAD for good, so that nothing re-arms or poisons them. */
static void mark_lost(struct gmap_window *w, uint32_t ref, uint32_t n)
{
	if (!atomic_load_explicit(&w->nr_lost, memory_order_relaxed))
		return;
	window_lock(w);
	for (uint32_t i = 0; i < n; i++) {
		struct gmap_grant *g;

		if (!gmap_ref_lost(w, ref + i))
			continue;
		g = gmap_grant_get(w, ref + i, true);
		if (g && gs_state(atomic_load(&g->state)) == GS_EMPTY)
			set_state(w, ref + i, g, GS_BAD, 0, GMAP_ST_LOST);
	}
	pthread_cond_broadcast(&w->cv);
	window_unlock(w);
}

static int map_run(struct gmap_window *w, uint32_t start, uint32_t max,
		   int dir, uint32_t min, uint32_t *lo)
{
	uint64_t split[RUN_SPLIT_WORDS];
	uint32_t n, slots;
	int16_t st;

	if (max > RUN_SPLIT_WORDS * 64)
		max = RUN_SPLIT_WORDS * 64;
	window_lock(w);
	for (n = 0; n < max; n++) {
		struct gmap_grant *g = gmap_grant_get(w, start + (uint32_t)dir * n,
						      true);

		if (!g || (atomic_load(&g->state) & ~(GS_QUEUED | GS_PSPLIT)) !=
			  GS_EMPTY)
			break;
		set_state(w, start + (uint32_t)dir * n, g, GS_BUSY, 0, 0);
	}
	window_unlock(w);
	for (slots = 0; slots < n; slots++)
		if (gmap_budget_take(w, false, &st) < 0)
			break;
	if (slots < n) {
		/* Keep the part next to @start that has slots. */
		uint32_t far = start + (uint32_t)dir * (n - 1);

		run_abandon(w, dir > 0 ? start + slots : far, n - slots, 0);
		n = slots;
	}
	*lo = dir > 0 ? start : start - (n ? n - 1 : 0);
	if (n < min) {  /* @min is at least 1 */
		run_abandon(w, *lo, n, n);
		return 0;
	}
	memset(split, 0, sizeof(split));
	if (run_lost(w, *lo, n) ||
	    w->be->map(w, *lo, n, gmap_addr_of(w, *lo), true, split, &st) < 0) {
		/* A failed map places nothing (backend contract): the
		 * placeholders are as they were, and a thread waiting on a
		 * fault in the run still waits for its own. */
		atomic_fetch_add(&w->c.map_failures, 1);
		enomem_refresh(w);
		run_abandon(w, *lo, n, n);
		mark_lost(w, *lo, n);
		return -1;
	}
	gmap_no_fork(w, gmap_addr_of(w, *lo), (size_t)n << GMAP_PAGE_SHIFT);
	atomic_fetch_add(&w->c.maps, n);
	window_lock(w);
	for (uint32_t i = 0; i < n; i++)
		set_mapped(w, *lo + i, gmap_grant_get(w, *lo + i, false),
			   split[i / 64] >> (i % 64) & 1 ? 0 : GS_JOIN);
	pthread_cond_broadcast(&w->cv);
	window_unlock(w);
	gmap_uffd_wake(w, gmap_addr_of(w, *lo), (size_t)n << GMAP_PAGE_SHIFT);
	return (int)n;
}

static int range_op(struct gmap_window *w, uint32_t ref, uint32_t count,
		    int flags, struct gmap_error *err, bool pin)
{
	uint32_t run_end = 0;
	uint32_t i;
	int16_t st;
	int e;

	if (!w || (flags & ~GMAP_PIN_WRITE)) {
		errno = EINVAL;
		fill_err(err, ref, 0, EINVAL);
		return -1;
	}
	if (check_range(w, ref, count, pin ? "gmap_pin" : "gmap_prefault") < 0) {
		fill_err(err, ref, 0, errno);
		return -1;
	}
	for (i = 0; i < count; i++) {
		/* Untouched refs ahead: map them as runs first; hold_one()
		 * then finds them mapped and pins them. */
		if (i >= run_end) {
			uint32_t left = count - i, lo;
			int n = map_run(w, ref + i, left < RUN_MAX ? left :
					RUN_MAX, 1, 2, &lo);

			/* After a failed run (a read-only or bad grant in
			 * it), the rest goes ref by ref: no run retried over
			 * the same refs again and again. */
			run_end = n < 0 ? count : i + (n > 0 ? (uint32_t)n : 1);
		}
		if (hold_one(w, ref + i, flags & GMAP_PIN_WRITE, pin, &st) == 0)
			continue;
		e = errno;
		fill_err(err, ref + i, st, e);
		GMAP_LOG(w, XTL_ERROR, st == GMAP_ST_BACKEND || !st ? e : -1,
			 "d%u ref %u: %s failed: %s (status %d)", w->domid,
			 ref + i, pin ? "pin" : "prefault",
			 st ? gmap_status_str(st) : "not a grant status", st);
		if (pin && i > 0)
			gmap_unpin(w, ref, i);
		errno = e;
		return -1;
	}
	return 0;
}

GMAP_EXPORT int gmap_pin(struct gmap_window *w, uint32_t ref, uint32_t count,
			 int flags, struct gmap_error *err)
{
	return range_op(w, ref, count, flags, err, true);
}

GMAP_EXPORT int gmap_prefault(struct gmap_window *w, uint32_t ref,
			      uint32_t count, int flags, struct gmap_error *err)
{
	return range_op(w, ref, count, flags, err, false);
}

/* Wait until no grant of the range is BUSY; returns with the lock held. */
/*
 * Whether every ref of [@ref, @ref + @count) is pinned (window lock held),
 * waiting out refs in flight (BUSY has no pins yet, or none any more) and
 * then looking again from the start.  Stops at the first ref that is not
 * pinned (*@bad): the work is bounded by what is pinned, whatever @count
 * says, and untouched refs cost nothing.
 */
static bool range_pinned(struct gmap_window *w, uint32_t ref, uint32_t count,
			 uint32_t *bad)
{
	uint32_t i;

again:
	for (i = 0; i < count; i++) {
		struct gmap_grant *g = gmap_grant_get(w, ref + i, false);
		uint32_t s = g ? atomic_load(&g->state) : 0;

		if (g && gs_state(s) == GS_BUSY) {
			window_wait(w, &w->cv, NULL);
			goto again;
		}
		if (gs_state(s) != GS_MAPPED || gs_pins(s) == 0) {
			*bad = ref + i;
			return false;
		}
	}
	return true;
}

/*
 * GMAP_UNPIN_KEEP, said once per window as it first happens: a frontend
 * that did not negotiate persistent grants ends access to a request's
 * grants when it completes, and Linux's blkfront (5.17, XSA-396) then
 * disables the device if the backend still has one mapped.
 */
static void keep_warn(struct gmap_window *w, uint32_t ref)
{
	if (atomic_exchange(&w->keep_warned, true))
		return;
	GMAP_LOG(w, XTL_WARN, -1, "d%u ref %u stays mapped after its last "
		 "unpin (unpin policy keep): only for a frontend that agreed "
		 "to persistent grants; Linux's blkfront since 5.17 and virtio "
		 "grant DMA disable a device whose other grants stay mapped "
		 "(\"backed has not unmapped grant\")", w->domid, ref);
}

GMAP_EXPORT int gmap_unpin(struct gmap_window *w, uint32_t ref, uint32_t count)
{
	struct gmap_grant *g;
	uint32_t *last, nlast = 0, i;
	int16_t st;

	if (!w) {
		errno = EINVAL;
		return -1;
	}
	if (check_range(w, ref, count, "gmap_unpin") < 0)
		return -1;
	/* Checked before anything is allocated: once every ref is known to
	 * be pinned, @count is bounded by what is mapped. */
	window_lock(w);
	if (!range_pinned(w, ref, count, &i)) {
		window_unlock(w);
		GMAP_ERR(w, "d%u: unpin of ref %u, which is not pinned (range "
			 "%u+%u left unchanged)", w->domid, i, ref, count);
		errno = EINVAL;
		return -1;
	}
	last = malloc((size_t)count * sizeof(*last));
	if (!last) {
		window_unlock(w);
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < count; i++) {
		g = gmap_grant_get(w, ref + i, false);
		atomic_fetch_add(&w->c.unpins, 1);
		if (gs_pins(atomic_fetch_sub(&g->state, GS_PIN_ONE)) == 1) {
			atomic_fetch_sub(&w->c.pinned_now, 1);
			if (w->unpin_keep) {
				keep_warn(w, ref + i);
				continue;  /* stays mapped, like a touch */
			}
			set_state(w, ref + i, g, GS_BUSY,
				  atomic_load(&g->state) & GS_RO, 0);
			last[nlast++] = ref + i;
		}
	}
	window_unlock(w);

	/* The last pin went: unmap now, so the granter can end access. */
	for (i = 0; i < nlast; i++) {
		unsigned int ns;

		g = gmap_grant_get(w, last[i], false);
		ns = unmap_owned(w, last[i], &st);
		window_lock(w);
		set_state(w, last[i], g, ns, ns == GS_MAPPED ?
			  (atomic_load(&g->state) & GS_RO) : 0, st);
		if (ns == GS_MAPPED)
			gmap_unmap_due(w, last[i]);
		pthread_cond_broadcast(&w->cv);
		window_unlock(w);
	}
	free(last);
	return 0;
}

GMAP_EXPORT int gmap_release(struct gmap_window *w, uint32_t ref, uint32_t count)
{
	uint64_t r, end;
	int done = 0;

	if (!w) {
		errno = EINVAL;
		return -1;
	}
	if (check_range(w, ref, count, "gmap_release") < 0)
		return -1;
	end = (uint64_t)ref + count;
	for (r = ref; r < end; r++) {
		struct gmap_grant *g;
		uint32_t s;
		unsigned int ns;
		int16_t st = 0;

		if (!atomic_load(&w->dir[r >> GMAP_LEAF_SHIFT])) {
			/* Whole leaf untouched: skip to the next one. */
			r = ((r >> GMAP_LEAF_SHIFT) + 1) * GMAP_LEAF_REFS - 1;
			continue;
		}
		window_lock(w);
		g = wait_not_busy(w, (uint32_t)r, false);
		if (!g) {
			window_unlock(w);
			continue;
		}
		s = atomic_load(&g->state);
		if (!((gs_state(s) == GS_MAPPED && gs_pins(s) == 0) ||
		      gs_state(s) == GS_BAD) || gs_status(s) == GMAP_ST_LOST) {
			window_unlock(w);
			continue;
		}
		set_state(w, (uint32_t)r, g, GS_BUSY, s & GS_RO, 0);
		window_unlock(w);

		if (gs_state(s) == GS_MAPPED) {
			ns = unmap_owned(w, (uint32_t)r, &st);
		} else if (gmap_rearm(w, gmap_addr_of(w, (uint32_t)r),
				      GMAP_PAGE_SIZE) == 0) {
			ns = GS_EMPTY;
		} else {
			ns = GS_BAD;
			st = gs_status(s);
		}
		window_lock(w);
		set_state(w, (uint32_t)r, g, ns, ns == GS_MAPPED ? (s & GS_RO) : 0, st);
		if (ns == GS_MAPPED)
			gmap_unmap_due(w, (uint32_t)r);
		pthread_cond_broadcast(&w->cv);
		window_unlock(w);
		if (ns == GS_EMPTY)
			done++;
	}
	return done;
}
