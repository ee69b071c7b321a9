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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

#define EVICT_BATCH 64
#define RING_MIN 1024
/* How long a map waits for the evictor to free a slot. */
#define BUDGET_WAIT_MS 1000

/* ---- the default budget ------------------------------------------------- */

static long read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static long count_vmas(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	long n = 0;
	int c;

	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
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

	peak = atomic_load(&w->c.mapped_peak);
	while (now > peak &&
	       !atomic_compare_exchange_weak(&w->c.mapped_peak, &peak, now))
		;
	if (!(atomic_load(&g->state) & GS_QUEUED) && ring_push(w, ref) == 0)
		atomic_fetch_or(&g->state, GS_QUEUED);
	/* Without a FIFO entry (no memory) the grant is never evicted; it
	 * is still released, unpinned and closed as usual. */
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

	if (ev->vhigh != UINT64_MAX &&
	    atomic_load(&w->c.vmas) + 2 > ev->max_vmas) {
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
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct timespec nap;

		if (try_take(w, st)) {
			pthread_mutex_unlock(&w->lock);
			return 0;
		}
		if (atomic_load(&w->closing) || gmap_mono_ns() >= until)
			break;
		if (!ev->running)
			thread_start(w);
		pthread_cond_signal(&ev->cv);
		/* Woken by the evictor's broadcast; the timeout only bounds a
		 * wait in which nothing at all changes. */
		nap = gmap_mono_after(10);
		pthread_cond_timedwait(&w->cv, &w->lock, &nap);
	}
	pthread_mutex_unlock(&w->lock);
	errno = ENOSPC;
	return -1;
}

void gmap_budget_put(struct gmap_window *w)
{
	atomic_fetch_sub(&w->ev.taken, 1);
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

/* Wait on the evictor's condition variable for at most @ms. */
static void nap(struct gmap_window *w, unsigned int ms)
{
	struct timespec t = gmap_mono_after(ms);

	pthread_cond_timedwait(&w->ev.cv, &w->lock, &t);
}

static void *evictor_main(void *arg)
{
	struct gmap_window *w = arg;
	struct gmap_evictor *ev = &w->ev;
	uint32_t refs[EVICT_BATCH];

	pthread_mutex_lock(&w->lock);
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
		if (!over_high(w)) {
			if (!head_idle(ev)) {
				/* With an idle timeout, look again at a
				 * quarter of it (at most every second). */
				if (ev->idle_ms)
					nap(w, ev->idle_ms / 4 < 1000 ?
					    ev->idle_ms / 4 + 1 : 1000);
				else
					pthread_cond_wait(&ev->cv, &w->lock);
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
		pthread_mutex_unlock(&w->lock);
		gmap_grants_evict(w, refs, n);
		pthread_mutex_lock(&w->lock);
		/* Evicted grants may have left leaves free to go: worth a
		 * new pass (which scans the whole directory) once enough of
		 * them went. */
		ev->evicted_since += n;
		if (ev->evicted_since >= (ev->max_mapped / 16 > 64 ?
					  ev->max_mapped / 16 : 64))
			ev->meta_stuck_at = 0;
	}
	pthread_mutex_unlock(&w->lock);
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
	ev->max_vmas = max_vmas ? max_vmas : default_vmas();
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
	watermarks(ev->max_vmas, &ev->vhigh, &ev->vlow);
	/* A window of n refs is at most n VMAs plus the reservation's. */
	if (ev->max_vmas > w->nr_refs + 1)
		ev->vhigh = ev->vlow = UINT64_MAX;
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
		pthread_mutex_lock(&w->lock);
		pthread_cond_broadcast(&ev->cv);
		pthread_mutex_unlock(&w->lock);
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
}
