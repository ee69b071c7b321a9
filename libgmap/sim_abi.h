/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim_abi.h - the shared-memory layout of a simulated granting domain.
 *
 * The control memfd holds, in order: struct sim_ctl, the guest-visible grant
 * table (Xen's grant_entry_v1_t, nr_grants of them) and the "hypervisor's"
 * active entries (struct sim_active, one per ref).  Guest memory is a second
 * memfd of nr_frames pages.  Both can be passed to another process; every
 * field that two parties touch is accessed atomically, as the guest and Xen
 * access the real grant table.
 */
#ifndef GMAP_SIM_ABI_H
#define GMAP_SIM_ABI_H

#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xen_abi.h"

#define SIM_MAGIC   0x50414d47u /* "GMAP" */
/* 3: the lock word holds its holder's pid; sim_ctl has pidns. */
#define SIM_VERSION 3u

/*
 * Trust: every process that holds the two memfds can write all of this.
 * So a mapper reads the layout (offsets, sizes, domid) once, checks it
 * and keeps a private copy (struct sim_layout); what it reads afterwards
 * is only words it checks at each use (an entry's flags and frame) or
 * counters, and every wait on a word is bounded.  The memfds are sealed
 * against resizing, so a mapping of them can never turn into SIGBUS.
 */
struct sim_ctl {
	uint32_t magic, version;
	uint32_t domid, nr_frames, nr_grants;
	_Atomic uint32_t dead;          /* domain destroyed               */
	uint64_t table_off, active_off; /* byte offsets in the ctl memfd  */
	uint64_t ctl_size;
	/* The creator's pid namespace (inode of /proc/self/ns/pid; 0:
	 * unknown): lock words hold pids, which mean something only to
	 * processes of that namespace. */
	uint64_t pidns;
	_Atomic uint64_t maps_now, maps_total, map_fails, eagain;
	/* Maps granted while the ref already had a live mapping: what a
	 * mapper that maps "once per grant" must never cause. */
	_Atomic uint64_t double_maps;
	_Atomic uint64_t maps_peak;     /* most live mappings at once     */
};

/* Xen keeps this per active grant inside the hypervisor (struct
 * active_grant_entry): who has it pinned, and how.  The pin counts are
 * written under the lock; they are atomic only so that
 * gmap_sim_ref_info() can read them without it (relaxed, plain moves). */
struct sim_active {
	_Atomic uint32_t lock;          /* 0, or the holder's pid         */
	_Atomic uint32_t rd_pins, wr_pins;
	_Atomic uint32_t inject_what, inject_count;
	_Atomic uint32_t maps_peak;     /* most live mappings at once      */
	_Atomic uint64_t maps_total, map_fails;
};

/* The memfds' seals (F_GET_SEALS): no resizing, and no more seals. */
#define SIM_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/*
 * A process's own copy of a domain's layout, checked once by
 * sim_ctl_check(): the mapper's pointers and bounds never come from the
 * shared control area again.
 */
struct sim_layout {
	struct sim_ctl *ctl;            /* shared: dead flag and counters  */
	grant_entry_v1_t *table;        /* nr_grants entries               */
	struct sim_active *active;      /* nr_grants entries               */
	uint32_t domid, nr_frames, nr_grants;
	/* Whether a lock word's pid can be looked up here (same pid
	 * namespace as the domain's creator): only then is a lock whose
	 * holder is gone taken over. */
	bool break_dead;
};

/*
 * The (flags, domid) half of an entry as one 32-bit word, as Xen's
 * union grant_combo: flags in the low 16 bits, domid in the high ones
 * (little-endian layout of grant_entry_v1_t).
 */
static inline _Atomic uint32_t *sim_combo(grant_entry_v1_t *e)
{
	_Static_assert(offsetof(grant_entry_v1_t, flags) == 0, "v1 layout");
	_Static_assert(offsetof(grant_entry_v1_t, domid) == 2, "v1 layout");
	_Static_assert(sizeof(grant_entry_v1_t) == 8, "v1 layout");
	return (_Atomic uint32_t *)(void *)e;
}

/*
 * The per-ref lock.  Its word holds the holder's pid, so that a waiter
 * can tell a holder that died (killed in the middle of a map) from one
 * that is only slow, and no wait is unbounded: a peer that leaves the word
 * set costs a waiter SIM_LOCK_WAIT_MS, then the waiter gives up
 * (SIM_LOCK_TIMEOUT) or takes the lock over (SIM_LOCK_BROKEN: the holder
 * is gone).  Uncontended, a lock is one CAS, as before.
 */
#define SIM_LOCK_WAIT_MS 1000
/* No process has a pid above PID_MAX_LIMIT (2^22): such a word is junk. */
#define SIM_PID_MAX (1u << 22)

enum sim_lock_res {
	SIM_LOCK_OK = 0,
	SIM_LOCK_BROKEN,    /* taken over from a holder that is gone        */
	SIM_LOCK_TIMEOUT,   /* a live holder kept it past SIM_LOCK_WAIT_MS  */
};

/* What a lock wait met, for the mapper to log: the result and the pid
 * in the lock word. */
struct sim_lock_note {
	enum sim_lock_res res;
	uint32_t holder;
};

/* This process's pid, cached (getpid() is a system call); reset in a
 * child of fork() (sim_hv.c). */
extern _Atomic uint32_t sim_self_pid;
uint32_t sim_self_slow(void);

static inline uint32_t sim_self(void)
{
	uint32_t me = atomic_load_explicit(&sim_self_pid,
					   memory_order_relaxed);

	return me ? me : sim_self_slow();
}

enum sim_lock_res sim_lock_slow(const struct sim_layout *l,
				struct sim_active *a, uint32_t me,
				uint32_t *holder);

static inline enum sim_lock_res sim_active_lock(const struct sim_layout *l,
						struct sim_active *a,
						struct sim_lock_note *n)
{
	uint32_t me = sim_self(), expect = 0;

	n->holder = 0;
	if (atomic_compare_exchange_strong(&a->lock, &expect, me))
		return n->res = SIM_LOCK_OK;
	return n->res = sim_lock_slow(l, a, me, &n->holder);
}

static inline void sim_active_unlock(struct sim_active *a)
{
	atomic_store_explicit(&a->lock, 0, memory_order_release);
}

/* sim_hv_map()'s answer for GMAP_SIM_INJECT_HOLE and _HOLE_TAKEN: a
 * refusal (GNTST_general_error) that the mapper, not the hypervisor,
 * turns into a hole (backend_sim.c). */
#define SIM_ST_HOLE       ((int16_t)-110)
#define SIM_ST_HOLE_TAKEN ((int16_t)-111)
/* ... and for GMAP_SIM_INJECT_REFUSED_IN_PLACE: the same refusal, after
 * which the range is as it was, but the mapper says it touched it. */
#define SIM_ST_IN_PLACE   ((int16_t)-112)

/* The "hypervisor" side of a map and an unmap; sim_hv.c.  *@n says what
 * the wait for the ref's lock met.  The domain's counts of live and
 * total maps are made once per run of maps: sim_hv_count_maps() for
 * those that succeeded, before any of them is unmapped. */
int16_t sim_hv_map(const struct sim_layout *l, uint32_t ref,
		   uint16_t grantee, int writable, uint32_t *frame,
		   struct sim_lock_note *n);
void sim_hv_count_maps(const struct sim_layout *l, uint32_t n);
void sim_hv_unmap(const struct sim_layout *l, uint32_t ref, int writable,
		  struct sim_lock_note *n);
/* Check a control area of @size bytes and copy its layout to *@l; 0, or
 * -1 and why in *@why. */
int sim_ctl_check(struct sim_ctl *c, size_t size, struct sim_layout *l,
		  const char **why);
/* Check that memfd @fd is sealed (SIM_SEALS) and holds at least
 * @min_size bytes; 0 and its size in *@size (if not NULL), or -1, errno
 * (EBADF, EINVAL) and why in *@why. */
int sim_fd_check(int fd, uint64_t min_size, uint64_t *size, const char **why);
/* This process's pid namespace (inode of /proc/self/ns/pid); 0: unknown. */
uint64_t sim_pidns(void);

#endif /* GMAP_SIM_ABI_H */
