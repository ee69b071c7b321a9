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
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "private.h"
#include "sim_abi.h"

/* Pin counts live under the ref's lock; relaxed atomics only so that
 * gmap_sim_ref_info() may read them without it (plain moves on x86). */
#define LD(x)    atomic_load_explicit(&(x), memory_order_relaxed)
#define ST(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)
/* A field of the shared control area, read once: a peer may be
 * rewriting it while we look. */
#define ONCE(x)  __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* ---- the lock word's pid ------------------------------------------------ */

_Atomic uint32_t sim_self_pid;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;
static bool self_cached;

/* A child of fork() is another process: its locks carry its own pid. */
static void self_forget(void)
{
	atomic_store(&sim_self_pid, 0);
}

/* Without the fork handler a child would lock with its parent's pid:
 * then nothing is cached, and each lock pays a getpid(). */
static void self_install(void)
{
	self_cached = pthread_atfork(NULL, NULL, self_forget) == 0;
}

uint32_t sim_self_slow(void)
{
	uint32_t me = (uint32_t)getpid();

	pthread_once(&self_once, self_install);
	if (self_cached)
		atomic_store(&sim_self_pid, me);
	return me;
}

/* The pid namespace of this process, as /proc names it; 0: unknown. */
uint64_t sim_pidns(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/*
 * Whether process @pid has exited.  A pidfd answers for a zombie too
 * (readable once the process exits, reaped or not); without pidfds
 * (Linux < 5.3, or no descriptor left) kill(0) does, and a zombie counts
 * as alive, which only makes the waiter give up instead of taking over.
 */
static bool pid_gone(uint32_t pid)
{
	int e = errno, fd = -1;
	bool gone;

#ifdef SYS_pidfd_open
	fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
#endif
	if (fd >= 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		gone = poll(&pfd, 1, 0) == 1;
		close(fd);
	} else {
		gone = kill((pid_t)pid, 0) < 0 && errno == ESRCH;
	}
	errno = e;
	return gone;
}

/* Whether the lock word @h names no live holder: junk, or (where pids
 * can be looked up) a process that has exited. */
static bool holder_gone(const struct sim_layout *l, uint32_t h)
{
	if (h > SIM_PID_MAX)
		return true;
	return l->break_dead && pid_gone(h);
}

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Yields before the first nap: a holder holds the lock for microseconds. */
#define SIM_LOCK_SPINS 128

/*
 * The contended lock: yield, then nap, for at most SIM_LOCK_WAIT_MS; take
 * the lock over from a holder that is gone (it was killed in the middle
 * of a map, or the word is junk), give up on one that lives.  The clock,
 * not a count of naps, bounds the wait: a loaded machine stretches naps.
 */
enum sim_lock_res sim_lock_slow(const struct sim_layout *l,
				struct sim_active *a, uint32_t me,
				uint32_t *holder)
{
	const struct timespec nap = { 0, 1000000 };
	uint64_t t0 = now_ms();
	uint32_t h;

	for (unsigned int i = 0;; i++) {
		h = 0;
		if (atomic_compare_exchange_weak(&a->lock, &h, me))
			return SIM_LOCK_OK;
		if (h == 0)
			continue;               /* released meanwhile */
		*holder = h;
		if (i < SIM_LOCK_SPINS) {
			sched_yield();
			continue;
		}
		if (holder_gone(l, h) &&
		    atomic_compare_exchange_strong(&a->lock, &h, me))
			return SIM_LOCK_BROKEN;
		if (now_ms() - t0 >= SIM_LOCK_WAIT_MS)
			return SIM_LOCK_TIMEOUT;
		nanosleep(&nap, NULL);
	}
}

/* ---- checking what another process hands us ---------------------------- */

int sim_fd_check(int fd, uint64_t min_size, uint64_t *size, const char **why)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0 && errno == EBADF) {
		*why = "not an open descriptor";
		return -1;
	}
	/* Unsealed, a peer could shrink it under our mappings: SIGBUS. */
	if (seals < 0 || (seals & SIM_SEALS) != SIM_SEALS) {
		*why = "not a memfd sealed against resizing (F_SEAL_SHRINK, "
		       "F_SEAL_GROW and F_SEAL_SEAL)";
		errno = EINVAL;
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		*why = "cannot be examined";
		return -1;
	}
	if ((uint64_t)st.st_size < min_size) {
		*why = "smaller than the layout needs";
		errno = EINVAL;
		return -1;
	}
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

/* The layout as read once, checked without overflow (all of it may be
 * a peer's invention). */
static const char *layout_problem(const struct sim_ctl *h, size_t size)
{
	if (h->magic != SIM_MAGIC)
		return "not a control area (wrong magic number)";
	if (h->version != SIM_VERSION)
		return "a control area of another libgmap version";
	if (h->ctl_size != size || h->nr_grants == 0 || h->nr_frames == 0 ||
	    h->table_off < sizeof(*h) || h->table_off % 8 ||
	    h->active_off % 8 || h->table_off > h->active_off ||
	    h->active_off > size ||
	    (uint64_t)h->nr_grants * sizeof(grant_entry_v1_t) >
	    h->active_off - h->table_off ||
	    (uint64_t)h->nr_grants * sizeof(struct sim_active) >
	    size - h->active_off)
		return "a layout that does not fit its size";
	return NULL;
}

int sim_ctl_check(struct sim_ctl *c, size_t size, struct sim_layout *l,
		  const char **why)
{
	struct sim_ctl h = { 0 };
	uint64_t ns;

	if (size < sizeof(*c)) {
		*why = "smaller than a control area";
		return -1;
	}
	h.magic = ONCE(c->magic);
	h.version = ONCE(c->version);
	h.domid = ONCE(c->domid);
	h.nr_frames = ONCE(c->nr_frames);
	h.nr_grants = ONCE(c->nr_grants);
	h.table_off = ONCE(c->table_off);
	h.active_off = ONCE(c->active_off);
	h.ctl_size = ONCE(c->ctl_size);
	h.pidns = ONCE(c->pidns);
	*why = layout_problem(&h, size);
	if (*why)
		return -1;
	l->ctl = c;
	l->table = (grant_entry_v1_t *)((char *)c + h.table_off);
	l->active = (struct sim_active *)((char *)c + h.active_off);
	l->domid = h.domid;
	l->nr_frames = h.nr_frames;
	l->nr_grants = h.nr_grants;
	ns = sim_pidns();
	l->break_dead = ns && ns == h.pidns;
	return 0;
}

/* ---- the hypervisor's rules --------------------------------------------- */

/*
 * GMAP_SIM_INJECT_STALL and _STALL_UNMAP (@what): a stuck backend, with
 * the ref's lock dropped.  Until the injection is cleared (so a test can
 * order events), at most 10 s, timed by the clock, not by counting naps,
 * which a loaded machine stretches.
 */
static void stall(struct sim_active *a, uint32_t what)
{
	struct timespec ms = { 0, 1000000 };
	uint64_t t0 = now_ms();

	do
		nanosleep(&ms, NULL);
	while (atomic_load(&a->inject_what) == what &&
	       now_ms() - t0 < 10000);
}

/*
 * Map @ref for @grantee.  Returns GNTST_okay and the frame, or the status
 * Xen returns for the same refusal.  On success the grant's in-use flags
 * are set (GTF_reading, plus GTF_writing for a writable map) and stay set
 * until the matching sim_hv_unmap(): the guest's end-access fails until
 * then, as on Xen.  A lock held past SIM_LOCK_WAIT_MS by a live process
 * refuses the map (GNTST_general_error, *@n saying why).
 */
int16_t sim_hv_map(const struct sim_layout *l, uint32_t ref,
		   uint16_t grantee, int writable, uint32_t *frame,
		   struct sim_lock_note *n)
{
	struct sim_ctl *c = l->ctl;
	struct sim_active *a;
	grant_entry_v1_t *e;
	_Atomic uint32_t *combo;
	uint32_t old, new, flags, f, pins;
	int16_t st = GNTST_okay;
	int wrong = 0;

	n->res = SIM_LOCK_OK;
	if (atomic_load(&c->dead))
		return GNTST_bad_domain;
	/* Xen: "Bad ref %#x for d%d" */
	if (ref >= l->nr_grants) {
		atomic_fetch_add(&c->map_fails, 1);
		return GNTST_bad_gntref;
	}
	a = &l->active[ref];
	e = &l->table[ref];
	combo = sim_combo(e);

	if (sim_active_lock(l, a, n) == SIM_LOCK_TIMEOUT) {
		st = GNTST_general_error;
		goto refused;
	}
	if (atomic_load(&a->inject_count) > 0 &&
	    atomic_load(&a->inject_what) != GMAP_SIM_INJECT_STALL_UNMAP) {
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
		if (what == GMAP_SIM_INJECT_REFUSED_IN_PLACE) {
			st = SIM_ST_IN_PLACE;
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
			struct sim_lock_note again;

			sim_active_unlock(a);
			stall(a, GMAP_SIM_INJECT_STALL);
			if (sim_active_lock(l, a, &again) != SIM_LOCK_OK)
				*n = again;
			if (again.res == SIM_LOCK_TIMEOUT) {
				st = GNTST_general_error;
				goto refused;
			}
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
	 * must not change the frame of an entry that is in use.  It is
	 * checked against this process's copy of nr_frames, never the
	 * shared one: a frame past the sealed memory file would SIGBUS. */
	f = __atomic_load_n(&e->frame, __ATOMIC_ACQUIRE);
	if (f >= l->nr_frames) {
		/* Xen: get_paged_frame() fails -> GNTST_bad_page; the flags
		 * set above are dropped again. */
		if (LD(a->rd_pins) == 0)
			atomic_fetch_and(combo, ~(uint32_t)(GTF_reading | GTF_writing));
		else if (LD(a->wr_pins) == 0)
			atomic_fetch_and(combo, ~(uint32_t)GTF_writing);
		st = GNTST_bad_page;
		goto fail;
	}
	pins = LD(a->rd_pins);
	if (pins > 0)
		atomic_fetch_add(&c->double_maps, 1);
	ST(a->rd_pins, ++pins);
	if (pins > LD(a->maps_peak))
		ST(a->maps_peak, pins);
	if (writable)
		ST(a->wr_pins, LD(a->wr_pins) + 1);
	/* Under the ref's lock, its only writer: no locked add. */
	atomic_store_explicit(&a->maps_total,
			      atomic_load_explicit(&a->maps_total,
						   memory_order_relaxed) + 1,
			      memory_order_relaxed);
	if (wrong) {
		atomic_fetch_sub(&a->inject_count, 1);
		f = (f + 1) % l->nr_frames;
	}
	sim_active_unlock(a);
	*frame = f;
	return GNTST_okay;
fail:
	sim_active_unlock(a);
refused:
	/* Not holding the lock: a live process kept it past the bound, and
	 * *n says whose it was. */
	atomic_fetch_add(&a->map_fails, 1);
	atomic_fetch_add(&c->map_fails, 1);
	return st;
}

/* @n maps just made: the domain's counts, once per run (three locked
 * operations on lines every mapper of the domain shares, where a map of
 * a page is otherwise a few plain stores under its ref's lock). */
void sim_hv_count_maps(const struct sim_layout *l, uint32_t n)
{
	struct sim_ctl *c = l->ctl;
	uint64_t now, peak;

	if (!n)
		return;
	now = atomic_fetch_add(&c->maps_now, n) + n;
	peak = atomic_load(&c->maps_peak);
	while (now > peak &&
	       !atomic_compare_exchange_weak(&c->maps_peak, &peak, now))
		;
	atomic_fetch_add(&c->maps_total, n);
}

/*
 * Unmap: drop the pin; clear GTF_writing when the last writable pin goes
 * and GTF_reading when the last pin goes, so the guest can end access.
 * An unmap cannot be refused (the mapping is gone or going): if a live
 * holder keeps the lock past the bound, the lock is taken over anyway and
 * *@n says so.  Else the pin would stay forever and the guest could never
 * end access; a holder that keeps a lock for seconds is stopped or
 * hostile, and the counts are the most it can spoil.
 */
void sim_hv_unmap(const struct sim_layout *l, uint32_t ref, int writable,
		  struct sim_lock_note *n)
{
	struct sim_active *a;
	_Atomic uint32_t *combo;
	uint32_t pins;

	n->res = SIM_LOCK_OK;
	if (ref >= l->nr_grants)
		return;
	a = &l->active[ref];
	combo = sim_combo(&l->table[ref]);
	if (atomic_load(&a->inject_count) > 0 &&
	    atomic_load(&a->inject_what) == GMAP_SIM_INJECT_STALL_UNMAP) {
		atomic_fetch_sub(&a->inject_count, 1);
		stall(a, GMAP_SIM_INJECT_STALL_UNMAP);
	}
	if (sim_active_lock(l, a, n) == SIM_LOCK_TIMEOUT)
		atomic_store(&a->lock, sim_self());
	pins = LD(a->rd_pins);
	if (pins > 0) {
		ST(a->rd_pins, pins - 1);
		if (writable && LD(a->wr_pins) > 0)
			ST(a->wr_pins, LD(a->wr_pins) - 1);
		if (LD(a->wr_pins) == 0)
			atomic_fetch_and(combo, ~(uint32_t)GTF_writing);
		if (pins == 1)
			atomic_fetch_and(combo, ~(uint32_t)GTF_reading);
		atomic_fetch_sub(&l->ctl->maps_now, 1);
	}
	sim_active_unlock(a);
}
