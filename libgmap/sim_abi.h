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

#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
/* Xen's public headers need the fixed-width types first. */
#include <xen/xen.h>
#include <xen/grant_table.h>

#define SIM_MAGIC   0x50414d47u /* "GMAP" */
#define SIM_VERSION 2u

struct sim_ctl {
	uint32_t magic, version;
	uint32_t domid, nr_frames, nr_grants;
	_Atomic uint32_t dead;          /* domain destroyed               */
	uint64_t table_off, active_off; /* byte offsets in the ctl memfd  */
	uint64_t ctl_size;
	_Atomic uint64_t maps_now, maps_total, map_fails, eagain;
	/* Maps granted while the ref already had a live mapping: what a
	 * mapper that maps "once per grant" must never cause. */
	_Atomic uint64_t double_maps;
	_Atomic uint64_t maps_peak;     /* most live mappings at once     */
};

/* Xen keeps this per active grant inside the hypervisor (struct
 * active_grant_entry): who has it pinned, and how. */
struct sim_active {
	_Atomic uint32_t lock;
	uint32_t rd_pins, wr_pins;
	_Atomic uint32_t inject_what, inject_count;
	uint32_t maps_peak;             /* most live mappings at once      */
	_Atomic uint64_t maps_total, map_fails;
};

static inline grant_entry_v1_t *sim_table(struct sim_ctl *c)
{
	return (grant_entry_v1_t *)((char *)c + c->table_off);
}

static inline struct sim_active *sim_active(struct sim_ctl *c)
{
	return (struct sim_active *)((char *)c + c->active_off);
}

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

static inline void sim_active_lock(struct sim_active *a)
{
	uint32_t expect = 0;

	while (!atomic_compare_exchange_weak(&a->lock, &expect, 1)) {
		expect = 0;
		sched_yield();
	}
}

static inline void sim_active_unlock(struct sim_active *a)
{
	atomic_store(&a->lock, 0);
}

/* sim_hv_map()'s answer for GMAP_SIM_INJECT_HOLE and _HOLE_TAKEN: a
 * refusal (GNTST_general_error) that the mapper, not the hypervisor,
 * turns into a hole (backend_sim.c). */
#define SIM_ST_HOLE       ((int16_t)-110)
#define SIM_ST_HOLE_TAKEN ((int16_t)-111)

/* The "hypervisor" side of a map and an unmap; sim_hv.c. */
int16_t sim_hv_map(struct sim_ctl *c, uint32_t ref, uint16_t grantee,
		   int writable, uint32_t *frame);
void sim_hv_unmap(struct sim_ctl *c, uint32_t ref, int writable);
int sim_ctl_check(struct sim_ctl *c, size_t size);

#endif /* GMAP_SIM_ABI_H */
