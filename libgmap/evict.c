/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * evict.c - the budgets of mapped grants and of VMAs, and the evictor
 * that keeps a window under them.
 *
 * Why budgets: every backend map is a mapping of its own in the window
 * (gntdev mappings never merge), so an isolated grant splits the window
 * into up to two more VMAs.  With the default vm.max_map_count of 65530 a
 * process fails with ENOMEM near 32750 scattered grants, and then even the
 * mmap that would unmap one fails.  So each window has a budget of VMAs,
 * derived from the VMAs the process has left and checked against the
 * window's own count (vmas.c), a budget of mapped grants (by default two
 * VMAs each), and an evictor thread that unmaps idle grants before either
 * is reached.
 *
 * How: a FIFO of refs in the order they were mapped (in the manner of
 * UMap's FIFO evictor: a backend's accesses after the map are invisible to
 * userspace, so map order is the best age there is).  When the budget's
 * use reaches the high watermark the evictor wakes and unmaps the oldest
 * unpinned grants, in batches, until it is down to the low watermark.
 * Pinned grants go back to the tail (a second chance).  Eviction is the
 * re-arm of grants.c: an access that meets it waits and retries, it never
 * sees a zero page.  A map that finds the budget used up wakes the evictor
 * and waits, bounded; if every mapped grant is pinned it fails with
 * GMAP_ST_BUDGET (GMAP_ST_VMAS when it is the VMAs that stay used up:
 * pinned maps, or poisoned pages, which the evictor does not clear),
 * which a fault reports like any unmappable grant.
 *
 * The FIFO holds each ref at most once (GS_QUEUED in its state word); a
 * ref unmapped by release or unpin stays queued until the evictor meets it
 * and drops it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "private.h"

#define EVICT_BATCH 64
#define RING_MIN 1024
/* How long a map waits for the evictor to free a slot. */
#define BUDGET_WAIT_MS 1000

/* ---- the default budget ------------------------------------------------- */

/*
 * Both read with open() and read() into the stack: they also run when the
 * process is out of VMAs (gmap_budget_refresh), where malloc, and so
 * fopen(), may fail.
 */
static long read_long(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	long v;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	if (sscanf(buf, "%ld", &v) != 1)
		return -1;
	return v;
}

static long count_vmas(void)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	char buf[4096];
	long lines = 0;
	ssize_t n;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0 ||
	       (n < 0 && errno == EINTR))
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return n < 0 ? -1 : lines;
}

/* VMAs the open windows of this process may still come to use: their
 * VMA budgets.  Counted again in "used" for what they use now, which errs
 * on the safe side. */
static _Atomic uint64_t promised_vmas;

/*
 * The default budget of VMAs: three quarters of the VMAs this process has
 * left, after what other windows' budgets may take, so that the rest of
 * the program keeps room.
 */
static uint64_t default_vmas(void)
{
	long max = read_long("/proc/sys/vm/max_map_count");
	long used = count_vmas();
	uint64_t left, other = atomic_load(&promised_vmas);

	if (max <= 0)
		max = 65530;
	if (used < 0)
		used = 0;
	left = max > used ? (uint64_t)(max - used) : 0;
	left = left > other ? left - other : 0;
	return left * 3 / 4 < 33 ? 33 : left * 3 / 4;
}

/* Evict from 15/16 of a budget, down to 7/8 (1/2 for small budgets). */
static void watermarks(uint64_t budget, uint64_t *high, uint64_t *low)
{
	*high = budget - (budget >= 16 ? budget / 16 : 1);
	*low = budget > 16 ? budget - budget / 8 : budget / 2;
}

/* Set the VMA budget and its watermarks (window lock held, or the window
 * not yet shared).  A window of n refs is at most n VMAs plus the
 * reservation's: a budget above that never needs eviction. */
static void set_vma_budget(struct gmap_window *w, uint64_t budget)
{
	struct gmap_evictor *ev = &w->ev;
	uint64_t high, low;

	watermarks(budget, &high, &low);
	if (budget > w->nr_refs + 1)
		high = low = UINT64_MAX;
	atomic_store(&ev->max_vmas, budget);
	atomic_store(&ev->vhigh, high);
	atomic_store(&ev->vlow, low);
}

static int thread_start(struct gmap_window *w);

/* ---- the FIFO (window lock held) -------------------------------------- */

static uint64_t mono_ms(void)
{
	return gmap_mono_ns() / 1000000;
}

/* Milliseconds since the window opened (wraps after 49 days, which only
 * makes an idle grant look young once). */
static uint32_t now_ms(struct gmap_evictor *ev)
{
	return (uint32_t)(mono_ms() - ev->t0_ms);
}

static int ring_push(struct gmap_window *w, uint32_t ref)
{
	struct gmap_evictor *ev = &w->ev;

	if (ev->len == ev->cap) {
		size_t ncap = ev->cap ? ev->cap * 2 : RING_MIN;
		struct gmap_fifo_entry *n = malloc(ncap * sizeof(*n));

		if (!n)
			return -1;
		for (size_t i = 0; i < ev->len; i++)
			n[i] = ev->ring[(ev->head + i) % ev->cap];
		free(ev->ring);
		atomic_fetch_add(&w->c.meta_bytes, (ncap - ev->cap) * sizeof(*n));
		ev->ring = n;
		ev->cap = ncap;
		ev->head = 0;
	}
	ev->ring[(ev->head + ev->len) % ev->cap] =
		(struct gmap_fifo_entry){ ref, ev->idle_ms ? now_ms(ev) : 0 };
	ev->len++;
	return 0;
}

static uint32_t ring_pop(struct gmap_evictor *ev)
{
	uint32_t ref = ev->ring[ev->head].ref;

	ev->head = (ev->head + 1) % ev->cap;
	ev->len--;
	return ref;
}

/* Whether the oldest entry has been mapped for idle_ms. */
static bool head_idle(struct gmap_evictor *ev)
{
	return ev->idle_ms && ev->len &&
	       now_ms(ev) - ev->ring[ev->head].when >= ev->idle_ms;
}

/* Whether the use of the budgets of grants and VMAs has reached a high
 * watermark: grants must be evicted. */
static bool over_high(struct gmap_window *w)
{
	return atomic_load(&w->ev.taken) >= w->ev.high ||
	       atomic_load(&w->c.vmas) >= w->ev.vhigh;
}

/* Whether the metadata has reached its high watermark, and may have
 * leaves free to go: after a pass that found none, only once it has grown
 * by 1/16 of the budget or grants were evicted (a pass scans it all). */
static bool meta_over_high(struct gmap_window *w)
{
	uint64_t m = atomic_load(&w->c.meta_bytes);

	return m >= w->ev.mhigh &&
	       (!w->ev.meta_stuck_at ||
		m >= w->ev.meta_stuck_at + w->ev.max_meta / 16);
}

void gmap_evict_kick(struct gmap_window *w)
{
	struct gmap_evictor *ev = &w->ev;

	if (!ev->cv_ready || atomic_load(&w->closing))
		return;
	if (!ev->running)
		thread_start(w);
	pthread_cond_signal(&ev->cv);
}

/*
 * Drop the FIFO entries of refs that are no longer mapped (released or
 * unpinned since: they stay queued until the evictor meets them), so
 * that their leaves can be freed.  Window lock held.
 */
void gmap_evict_compact(struct gmap_window *w)
{
	struct gmap_evictor *ev = &w->ev;

	for (size_t k = ev->len; k > 0; k--) {
		struct gmap_fifo_entry e = ev->ring[ev->head];
		struct gmap_grant *g = gmap_grant_get(w, e.ref, false);

		ev->head = (ev->head + 1) % ev->cap;
		ev->len--;
		/* Kept: mapped grants, and those being unmapped (an unmap
		 * that fails leaves them mapped, to be evicted later). */
		if (g && (gs_state(atomic_load(&g->state)) == GS_MAPPED ||
			  gs_state(atomic_load(&g->state)) == GS_BUSY)) {
			/* Back at the tail, in the same order, age kept. */
			ev->ring[(ev->head + ev->len) % ev->cap] = e;
			ev->len++;
		} else if (g) {
			atomic_fetch_and(&g->state, ~GS_QUEUED);
		}
	}
}

/* A grant was just mapped: queue it for eviction, wake the evictor when
 * a budget's use reaches its high watermark.  Window lock held. */
void gmap_evict_queue(struct gmap_window *w, uint32_t ref, struct gmap_grant *g)
{
	struct gmap_evictor *ev = &w->ev;
	uint64_t now = atomic_load(&w->c.mapped_now), peak;

	window_assert_locked(w);
	peak = atomic_load(&w->c.mapped_peak);
	while (now > peak &&
	       !atomic_compare_exchange_weak(&w->c.mapped_peak, &peak, now))
		;
	if (!(atomic_load(&g->state) & GS_QUEUED) && ring_push(w, ref) == 0)
		atomic_fetch_or(&g->state, GS_QUEUED);
	/* Without a FIFO entry (no memory) the grant is never evicted; it
	 * is still released, unpinned and closed as usual. */
	/* Unmaps to retry, and no thread to retry them: it could not start
	 * when they failed (no VMAs for its stack); a map means room now. */
	if (ev->ndue && !ev->running && !atomic_load(&w->closing))
		thread_start(w);
	if (over_high(w)) {
		/* If the thread cannot start, maps wait for a slot in vain
		 * and then fail with GMAP_ST_BUDGET: nothing hangs. */
		if (!ev->running && !atomic_load(&w->closing))
			thread_start(w);
		pthread_cond_signal(&ev->cv);
	}
}

/* ---- budget slots ------------------------------------------------------ */

/*
 * A slot, if the budget has one and the VMA budget has room for the map
 * (two more VMAs: its own, and the split of the placeholder around it;
 * maps in flight are not counted yet, so each handler may overshoot by
 * two).  Else false, and *@st says which budget is used up.
 */
static bool try_take(struct gmap_window *w, int16_t *st)
{
	struct gmap_evictor *ev = &w->ev;
	uint64_t t = atomic_load(&ev->taken);

	if (atomic_load(&ev->vhigh) != UINT64_MAX &&
	    atomic_load(&w->c.vmas) + 2 > atomic_load(&ev->max_vmas)) {
		*st = GMAP_ST_VMAS;
		return false;
	}
	while (t < ev->max_mapped)
		if (atomic_compare_exchange_weak(&ev->taken, &t, t + 1))
			return true;
	*st = GMAP_ST_BUDGET;
	return false;
}

/*
 * Take a budget slot for a map about to be made.  With @wait, a full
 * budget wakes the evictor and waits for a slot, up to BUDGET_WAIT_MS;
 * without, or past that, fails with ENOSPC and *@st GMAP_ST_BUDGET or
 * GMAP_ST_VMAS.
 */
int gmap_budget_take(struct gmap_window *w, bool wait, int16_t *st)
{
	struct gmap_evictor *ev = &w->ev;
	uint64_t until;

	if (try_take(w, st))
		return 0;
	if (!wait) {
		errno = ENOSPC;
		return -1;
	}
	until = gmap_mono_ns() + BUDGET_WAIT_MS * 1000000ULL;
	window_lock(w);
	for (;;) {
		struct timespec nap;

		if (try_take(w, st)) {
			window_unlock(w);
			return 0;
		}
		if (atomic_load(&w->closing) || gmap_mono_ns() >= until)
			break;
		if (*st == GMAP_ST_VMAS) {
			/* The room may have grown back (at most once a
			 * second: it reads /proc/self/maps). */
			window_unlock(w);
			gmap_budget_refresh(w, false);
			window_lock(w);
		}
		if (!ev->running)
			thread_start(w);
		pthread_cond_signal(&ev->cv);
		/* Woken by the evictor's broadcast; the timeout only bounds a
		 * wait in which nothing at all changes. */
		nap = gmap_mono_after(10);
		window_wait(w, &w->cv, &nap);
	}
	window_unlock(w);
	errno = ENOSPC;
	return -1;
}

void gmap_budget_put(struct gmap_window *w)
{
	atomic_fetch_sub(&w->ev.taken, 1);
}

/*
 * The VMA budget follows the room the process has now, not only what it
 * had at open: vm.max_map_count can be lowered at run time, and other code
 * in the process takes VMAs too.  When a map or an unmap has just failed
 * with ENOMEM (@enomem), the room is used up: the budget becomes what the
 * window holds now, and the evictor unmaps down to its low watermark, so
 * that the next map (and the unmaps, which split VMAs) find room.
 * Otherwise, at most once a second, it becomes the window's use plus three
 * quarters of the process's room, as at open: it may grow back, but never
 * past the budget the caller set, or the one derived at open scaled by
 * how the limit changed since.
 */
void gmap_budget_refresh(struct gmap_window *w, bool enomem)
{
	struct gmap_evictor *ev = &w->ev;
	uint64_t now = mono_ms(), last = atomic_load(&ev->refreshed_ms);
	uint64_t mine, left, budget, old, ceil;
	long max, used;

	if (!ev->cv_ready || (!enomem && now - last < 1000) ||
	    !atomic_compare_exchange_strong(&ev->refreshed_ms, &last, now))
		return;
	max = read_long("/proc/sys/vm/max_map_count");
	used = count_vmas();
	if (max <= 0 || used < 0)
		return;
	window_lock(w);
	mine = atomic_load(&w->c.vmas);
	left = enomem || used >= max ? 0 : (uint64_t)(max - used);
	budget = mine + left * 3 / 4;
	if (budget < 8)
		budget = 8;
	ceil = ev->vmas_ceil;
	if (ev->limit_at_open > 0)
		ceil = ceil * (uint64_t)max / (uint64_t)ev->limit_at_open;
	if (budget > ceil)
		budget = ceil < 8 ? 8 : ceil;
	old = atomic_load(&ev->max_vmas);
	if (budget != old) {
		set_vma_budget(w, budget);
		atomic_fetch_add(&promised_vmas, budget - ev->promised);
		ev->promised = budget;
		gmap_evict_kick(w);
	}
	window_unlock(w);
	if (budget < old)
		GMAP_LOG(w, XTL_WARN, -1, "d%u: budget of VMAs down from %llu "
			 "to %llu: the process uses %ld of the %ld that "
			 "vm.max_map_count allows%s", w->domid,
			 (unsigned long long)old, (unsigned long long)budget,
			 used, max, enomem ? ", and the kernel refused a map "
			 "for want of more" : "");
}

/* ---- the evictor thread ------------------------------------------------- */

/* Whether @use is still above the watermark @mark once @freed more is
 * freed (a watermark of UINT64_MAX is never reached: no overflow). */
static bool above(uint64_t use, uint64_t mark, uint64_t freed)
{
	return use > mark && use - mark > freed;
}

/*
 * Take up to @max of the oldest unpinned mapped grants (BUSY, ours): down
 * to the low watermark, or with @idle those mapped for idle_ms.  Window
 * lock held.
 */
static size_t pick(struct gmap_window *w, uint32_t *out, size_t max,
		   bool idle)
{
	struct gmap_evictor *ev = &w->ev;
	size_t n = 0, scan = ev->len;

	window_assert_locked(w);
	/* Each grant taken frees a slot and (once it is unmapped) up to two
	 * VMAs, more if its whole map goes. */
	while (n < max && scan-- > 0 &&
	       (idle ? head_idle(ev) :
		above(atomic_load(&ev->taken), ev->low, n) ||
		above(atomic_load(&w->c.vmas), ev->vlow, 2 * n))) {
		uint32_t ref = ring_pop(ev);
		struct gmap_grant *g = gmap_grant_get(w, ref, false);
		uint32_t s;

		if (!g)
			continue;
		s = atomic_fetch_and(&g->state, ~GS_QUEUED);
		if (gs_state(s) != GS_MAPPED)
			continue;           /* unmapped since: drop it */
		if (gs_pins(s)) {
			/* In use: back to the tail. */
			if (ring_push(w, ref) == 0)
				atomic_fetch_or(&g->state, GS_QUEUED);
			continue;
		}
		gmap_grant_set(w, ref, g, GS_BUSY | (s & GS_RO));
		out[n++] = ref;
	}
	return n;
}

/* ---- unmaps to retry ----------------------------------------------------
 *
 * An unmap can fail: the poison that replaces a grant's page may split a
 * VMA, and at the process's limit the kernel refuses that (ENOMEM).  The
 * grant then stays mapped, and its guest cannot end access until it goes;
 * so it is remembered here, and the evictor retries, backing off from
 * DUE_MIN_MS to DUE_MAX_MS, until it is unmapped, pinned again (its last
 * unpin unmaps it), released or closed.  Window lock held throughout.
 */
#define DUE_MIN_MS 10
#define DUE_MAX_MS 1000

void gmap_unmap_due(struct gmap_window *w, uint32_t ref)
{
	struct gmap_evictor *ev = &w->ev;

	window_assert_locked(w);
	atomic_fetch_add(&w->c.unmap_failures, 1);
	if (ev->ndue == ev->due_cap) {
		size_t ncap = ev->due_cap ? ev->due_cap * 2 : 64;
		uint32_t *n = realloc(ev->due, ncap * sizeof(*n));

		if (!n) {
			/* Still mapped, still in the FIFO: the evictor or
			 * gmap_close() unmaps it later. */
			GMAP_LOG(w, XTL_ERROR, ENOMEM, "d%u ref %u: no memory "
				 "to remember the unmap to retry", w->domid, ref);
			return;
		}
		ev->due = n;
		ev->due_cap = ncap;
	}
	ev->due[ev->ndue++] = ref;
	atomic_store(&w->c.unmaps_due, ev->ndue);
	if (!ev->due_at) {
		ev->due_backoff = DUE_MIN_MS;
		ev->due_at = mono_ms() + DUE_MIN_MS;
	}
	gmap_evict_kick(w);
}

/* Take up to @max due refs that are still mapped and unpinned (BUSY,
 * ours); drop the others. */
static size_t due_take(struct gmap_window *w, uint32_t *out, size_t max)
{
	struct gmap_evictor *ev = &w->ev;
	size_t n = 0;

	window_assert_locked(w);
	while (n < max && ev->ndue) {
		uint32_t ref = ev->due[--ev->ndue];
		struct gmap_grant *g = gmap_grant_get(w, ref, false);
		uint32_t s = g ? atomic_load(&g->state) : 0;

		if (gs_state(s) != GS_MAPPED || gs_pins(s))
			continue;
		gmap_grant_set(w, ref, g, GS_BUSY | (s & (GS_RO | GS_QUEUED)));
		out[n++] = ref;
	}
	atomic_store(&w->c.unmaps_due, ev->ndue);
	return n;
}

/* Retry the due unmaps if their time has come; true if it did. */
static bool due_retry(struct gmap_window *w, uint32_t *refs)
{
	struct gmap_evictor *ev = &w->ev;
	uint64_t failed;
	size_t n;

	if (!ev->ndue || mono_ms() < ev->due_at)
		return false;
	failed = atomic_load(&w->c.unmap_failures);
	n = due_take(w, refs, EVICT_BATCH);
	if (n) {
		window_unlock(w);
		gmap_grants_evict(w, refs, n, true);
		window_lock(w);
	}
	if (!ev->ndue) {
		ev->due_at = 0;
	} else if (atomic_load(&w->c.unmap_failures) != failed) {
		/* Still refused: back off. */
		ev->due_backoff = ev->due_backoff * 2 > DUE_MAX_MS ?
				  DUE_MAX_MS : ev->due_backoff * 2;
		ev->due_at = mono_ms() + ev->due_backoff;
	}
	return true;
}

/* Wait on the evictor's condition variable for at most @ms (0: until
 * woken), and no later than the next retry of a due unmap. */
static void nap(struct gmap_window *w, unsigned int ms)
{
	struct gmap_evictor *ev = &w->ev;
	struct timespec t;

	if (ev->ndue) {
		uint64_t now = mono_ms();
		unsigned int d = ev->due_at > now ?
				 (unsigned int)(ev->due_at - now) : 0;

		if (!d)
			return;
		if (!ms || d < ms)
			ms = d;
	}
	if (!ms) {
		window_wait(w, &ev->cv, NULL);
		return;
	}
	t = gmap_mono_after(ms);
	window_wait(w, &ev->cv, &t);
}

static void *evictor_main(void *arg)
{
	struct gmap_window *w = arg;
	struct gmap_evictor *ev = &w->ev;
	uint32_t refs[EVICT_BATCH];

	window_lock(w);
	while (!atomic_load(&w->closing)) {
		bool idle = false;
		size_t n;

		if (meta_over_high(w)) {
			uint64_t m;

			gmap_meta_reclaim(w, ev->mlow);
			ev->evicted_since = 0;
			m = atomic_load(&w->c.meta_bytes);
			if (m >= ev->mhigh && !ev->meta_warned) {
				/* Once per window: it may come and go with
				 * the grants in use. */
				ev->meta_warned = true;
				GMAP_LOG(w, XTL_WARN, -1, "d%u: %llu bytes of "
					 "metadata, near or over the budget of "
					 "%llu, all of it held by grants in use "
					 "(mapped, pinned, bad or queued for "
					 "eviction; see max_meta)", w->domid,
					 (unsigned long long)m,
					 (unsigned long long)ev->max_meta);
			}
			ev->meta_stuck_at = m >= ev->mhigh ? m : 0;
			continue;
		}
		if (due_retry(w, refs))
			continue;
		if (!over_high(w)) {
			if (!head_idle(ev)) {
				/* With an idle timeout, look again at a
				 * quarter of it (at most every second). */
				if (ev->idle_ms)
					nap(w, ev->idle_ms / 4 < 1000 ?
					    ev->idle_ms / 4 + 1 : 1000);
				else
					nap(w, 0);
				continue;
			}
			idle = true;
		}
		n = pick(w, refs, EVICT_BATCH, idle);
		if (idle && n)
			atomic_fetch_add(&w->c.idle_evictions, n);
		if (n == 0 && idle)
			continue;  /* the idle head was pinned: moved back */
		if (n == 0) {
			/* Everything mapped is pinned (or in flight): wait for
			 * an unpin, a release or a map to change that. */
			nap(w, 20);
			continue;
		}
		window_unlock(w);
		gmap_grants_evict(w, refs, n, false);
		window_lock(w);
		/* Evicted grants may have left leaves free to go: worth a
		 * new pass (which scans the whole directory) once enough of
		 * them went. */
		ev->evicted_since += n;
		if (ev->evicted_since >= (ev->max_mapped / 16 > 64 ?
					  ev->max_mapped / 16 : 64))
			ev->meta_stuck_at = 0;
	}
	window_unlock(w);
	return NULL;
}

/* Start the evictor thread (window lock held, or not yet shared). */
static int thread_start(struct gmap_window *w)
{
	struct gmap_evictor *ev = &w->ev;
	sigset_t all, old;
	char name[16];
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&ev->thread, NULL, evictor_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		GMAP_LOG(w, XTL_ERROR, rc, "d%u: cannot start the evictor "
			 "thread", w->domid);
		errno = rc;
		return -1;
	}
	ev->running = true;
	snprintf(name, sizeof(name), "gmap-d%u-evict", w->domid);
	pthread_setname_np(ev->thread, name);
	return 0;
}

int gmap_evict_start(struct gmap_window *w, uint64_t max_mapped,
		     uint64_t max_vmas, uint64_t max_meta, uint32_t idle_ms)
{
	struct gmap_evictor *ev = &w->ev;
	pthread_condattr_t ca;

	ev->idle_ms = idle_ms;
	ev->t0_ms = mono_ms();
	/* Default budgets: the VMAs derived from vm.max_map_count, and two
	 * of them per mapped grant (an isolated grant's own and the split
	 * of the placeholder around it), at least 16. */
	ev->limit_at_open = max_vmas ? 0 : read_long("/proc/sys/vm/max_map_count");
	ev->vmas_ceil = max_vmas ? max_vmas : default_vmas();
	set_vma_budget(w, ev->vmas_ceil);
	if (!max_mapped) {
		max_mapped = ev->max_vmas / 2 < 16 ? 16 : ev->max_vmas / 2;
		if (max_mapped > w->nr_refs)
			max_mapped = w->nr_refs;
	}
	ev->max_mapped = max_mapped;
	ev->promised = ev->max_vmas;
	atomic_fetch_add(&promised_vmas, ev->promised);
	/* A window whose every ref fits never needs to evict for a budget:
	 * all of its refs mapped, or its range split at every page. */
	watermarks(ev->max_mapped, &ev->high, &ev->low);
	if (ev->max_mapped >= w->nr_refs)
		ev->high = ev->low = UINT64_MAX;
	/* Metadata: by default 2.25 KiB per VMA of the budget, 4.5 KiB per
	 * isolated grant, what the grants the other budgets allow may need
	 * at worst (a leaf of 256 bytes and a directory page each), so that
	 * only untouched refs push a window over it; at least 16 MiB. */
	ev->max_meta = max_meta ? max_meta :
		       ev->max_vmas * 2304 < (16u << 20) ? 16u << 20 :
		       ev->max_vmas * 2304;
	watermarks(ev->max_meta, &ev->mhigh, &ev->mlow);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->cv, &ca);
	pthread_condattr_destroy(&ca);
	ev->cv_ready = true;
	/* Most windows never come near their budget: the thread starts
	 * when first needed, unless the idle timeout needs it from now. */
	if (ev->idle_ms && thread_start(w) < 0)
		return -1;
	GMAP_LOG(w, XTL_INFO, -1, "d%u: budgets: %llu mapped grants, %llu "
		 "VMAs, %llu bytes of metadata%s", w->domid,
		 (unsigned long long)ev->max_mapped,
		 (unsigned long long)ev->max_vmas,
		 (unsigned long long)ev->max_meta,
		 ev->high == UINT64_MAX && ev->vhigh == UINT64_MAX ?
		 " (the whole window fits: no eviction)" : "");
	return 0;
}

/* Stop the evictor (w->closing is already set) and free the FIFO. */
void gmap_evict_stop(struct gmap_window *w)
{
	struct gmap_evictor *ev = &w->ev;

	if (ev->running) {
		window_lock(w);
		pthread_cond_broadcast(&ev->cv);
		window_unlock(w);
		pthread_join(ev->thread, NULL);
		ev->running = false;
	}
	if (ev->cv_ready) {
		pthread_cond_destroy(&ev->cv);
		ev->cv_ready = false;
	}
	atomic_fetch_sub(&promised_vmas, ev->promised);
	ev->promised = 0;
	free(ev->ring);
	ev->ring = NULL;
	ev->cap = ev->len = ev->head = 0;
	/* What is still mapped is unmapped by gmap_close() itself. */
	free(ev->due);
	ev->due = NULL;
	ev->due_cap = ev->ndue = 0;
}
