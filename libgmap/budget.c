/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * budget.c - the budgets of mapped grants, of VMAs and of metadata, and
 * the slots that maps take from the first two (the evictor, evict.c,
 * keeps a window under them).
 *
 * Why budgets: every backend map is a mapping of its own in the window
 * (gntdev mappings never merge), so an isolated grant splits the window
 * into up to two more VMAs.  With the default vm.max_map_count of 65530 a
 * process fails with ENOMEM near 32750 scattered grants, and then even the
 * mmap that would unmap one fails.  So each window has a budget of VMAs,
 * derived from the VMAs the process has left and checked against the
 * window's own count (vmas.c), and a budget of mapped grants (by default
 * two VMAs each).  A map takes a slot first; a map that finds the budget
 * used up wakes the evictor and waits, bounded; if every mapped grant is
 * pinned it fails with GMAP_ST_BUDGET (GMAP_ST_VMAS when it is the VMAs
 * that stay used up: pinned maps, or poisoned pages, which the evictor
 * does not clear), which a fault reports like any unmappable grant.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "private.h"

/* How long a map waits for the evictor to free a slot. */
#define BUDGET_WAIT_MS 1000

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

void gmap_budget_init(struct gmap_window *w, uint64_t max_mapped,
		      uint64_t max_vmas, uint64_t max_meta)
{
	struct gmap_evictor *ev = &w->ev;

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
	GMAP_LOG(w, XTL_INFO, -1, "d%u: budgets: %llu mapped grants, %llu "
		 "VMAs, %llu bytes of metadata%s", w->domid,
		 (unsigned long long)ev->max_mapped,
		 (unsigned long long)ev->max_vmas,
		 (unsigned long long)ev->max_meta,
		 ev->high == UINT64_MAX && ev->vhigh == UINT64_MAX ?
		 " (the whole window fits: no eviction)" : "");
}

/* What this window promised other windows' defaults it might take is
 * theirs again (idempotent: gmap_close() and a failed open). */
void gmap_budget_fini(struct gmap_window *w)
{
	atomic_fetch_sub(&promised_vmas, w->ev.promised);
	w->ev.promised = 0;
}

void gmap_budget_enomem(struct gmap_window *w)
{
	int e = errno;

	if (e == ENOMEM)
		gmap_budget_refresh(w, true);
	errno = e;
}

/*
 * Up to @n slots at once, without waiting, for a run about to be mapped
 * (one map: two more VMAs at most, whatever @n): how many, 0 with *@st
 * saying which budget is used up.
 */
uint32_t gmap_budget_take_some(struct gmap_window *w, uint32_t n, int16_t *st)
{
	struct gmap_evictor *ev = &w->ev;
	uint64_t t = atomic_load(&ev->taken), k;

	if (atomic_load(&ev->vhigh) != UINT64_MAX &&
	    atomic_load(&w->c->vmas) + 2 > atomic_load(&ev->max_vmas)) {
		*st = GMAP_ST_VMAS;
		return 0;
	}
	do {
		if (t >= ev->max_mapped) {
			*st = GMAP_ST_BUDGET;
			return 0;
		}
		k = ev->max_mapped - t < n ? ev->max_mapped - t : n;
	} while (!atomic_compare_exchange_weak(&ev->taken, &t, t + k));
	return (uint32_t)k;
}

/*
 * A slot, if the budget has one and the VMA budget has room for the map
 * (two more VMAs: its own, and the split of the placeholder around it;
 * maps in flight are not counted yet, so each handler may overshoot by
 * two).  Else false, and *@st says which budget is used up.
 */
static bool try_take(struct gmap_window *w, int16_t *st)
{
	return gmap_budget_take_some(w, 1, st) == 1;
}

/*
 * Take a budget slot for a map about to be made.  With @wait, a full
 * budget wakes the evictor and waits for a slot, up to BUDGET_WAIT_MS;
 * without, or past that, fails with ENOSPC and *@st GMAP_ST_BUDGET or
 * GMAP_ST_VMAS.
 */
int gmap_budget_take(struct gmap_window *w, bool wait, int16_t *st)
{
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
		gmap_evict_kick(w);
		/* Woken by the evictor's broadcast; the timeout only bounds a
		 * wait in which nothing at all changes. */
		nap = gmap_mono_after(10);
		window_wait(w, &w->cv, &nap);
	}
	window_unlock(w);
	errno = ENOSPC;
	return -1;
}

/* Whether the use of the budgets of grants and VMAs has reached a high
 * watermark: grants must be evicted. */
bool gmap_budget_over_high(struct gmap_window *w)
{
	return atomic_load(&w->ev.taken) >= w->ev.high ||
	       atomic_load(&w->c->vmas) >= w->ev.vhigh;
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
	uint64_t now = gmap_mono_ms(), last = atomic_load(&ev->refreshed_ms);
	uint64_t mine, left, budget, old, ceil;
	long max, used;

	/* Not in a fault served inline, in a signal handler (inline.c): it
	 * reads /proc through stdio.  The next map or unmap that fails
	 * outside one refreshes. */
	if (gmap_tls.in_fault)
		return;
	if (!ev->cv_ready || (!enomem && now - last < 1000) ||
	    !atomic_compare_exchange_strong(&ev->refreshed_ms, &last, now))
		return;
	max = read_long("/proc/sys/vm/max_map_count");
	used = count_vmas();
	if (max <= 0 || used < 0)
		return;
	window_lock(w);
	mine = atomic_load(&w->c->vmas);
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
