/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmap-sim.h - the simulated granting domain: the guest side of libgmap's
 * sim backend, for tests, tools and examples that play the guest.
 *
 * Apart from <gmap.h>, which a backend needs, because a backend never
 * needs this: it is how a test grants pages, ends access, revokes or
 * injects failures.  Its functions are libgmap's (the same library, the
 * same symbol version LIBGMAP_0.1 as when they were declared in
 * <gmap.h>); see gmap_sim(3).
 */
#ifndef GMAP_SIM_H
#define GMAP_SIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Simulated granting domain (the sim backend's guest side).
 *
 * A model of a Xen domain that grants its pages: guest memory in a memfd,
 * a grant table with Xen's v1 entry layout and rules in shared memory.
 * Tests, tools and examples use it to play the guest.  The domain can be
 * created in this process (a window opened for its domid finds it) or
 * exported to another process over a unix socket (gmap_sim_domain_fds()).
 * ------------------------------------------------------------------------ */

struct gmap_sim_domain;

/*
 * Create simulated domain @domid with @nr_frames pages of memory and a
 * grant table of @nr_grants entries (Xen's default is 32760).  Fails with
 * EEXIST if this process has one with that domid, EINVAL for 0 sizes.
 * Never logs.
 */
struct gmap_sim_domain *gmap_sim_domain_create(uint32_t domid,
					       uint32_t nr_frames,
					       uint32_t nr_grants);
/* Destroy it: later maps of its grants fail with GNTST_bad_domain. */
void gmap_sim_domain_destroy(struct gmap_sim_domain *d);

/*
 * Grant frame @frame to domain @grantee as ref @ref (GTF_permit_access,
 * GTF_readonly when @readonly), as a guest's gnttab_grant_foreign_access_ref
 * does.  The frame is not checked here (Xen checks at map time).  Fails with
 * ERANGE for a ref past the table and EBUSY if the entry is in use.
 */
int gmap_sim_grant(struct gmap_sim_domain *d, uint32_t ref, uint32_t frame,
		   uint16_t grantee, int readonly);

/*
 * End foreign access to @ref, as gnttab_end_foreign_access_ref does: fails
 * with EBUSY while the grantee has it mapped (GTF_reading/GTF_writing set),
 * else clears the entry.
 */
int gmap_sim_end_access(struct gmap_sim_domain *d, uint32_t ref);

/*
 * Revoke @ref whatever its state (a misbehaving or dying guest): clears the
 * entry's permit flag; existing mappings stay until unmapped, new ones
 * fail.  Returns 1 if the grant was in use, 0 if not.
 */
int gmap_sim_revoke(struct gmap_sim_domain *d, uint32_t ref);

/* Read or write @len bytes of guest frame @frame at @off. */
int gmap_sim_read(struct gmap_sim_domain *d, uint32_t frame, size_t off,
		  void *buf, size_t len);
int gmap_sim_write(struct gmap_sim_domain *d, uint32_t frame, size_t off,
		   const void *buf, size_t len);

/* Per-ref counters kept by the "hypervisor" (not by any mapper). */
struct gmap_sim_ref_info {
	uint16_t flags;        /* the v1 entry's flags (GTF_*)            */
	uint16_t domid;        /* the entry's grantee                     */
	uint32_t frame;        /* the entry's frame                       */
	uint32_t maps_now;     /* live mappings of this ref               */
	uint32_t maps_peak;    /* most live mappings of it at one time    */
	uint64_t maps_total;   /* successful maps since creation          */
	uint64_t map_fails;    /* refused maps                            */
};
int gmap_sim_ref_info(struct gmap_sim_domain *d, uint32_t ref,
		      struct gmap_sim_ref_info *info);

/* Domain-wide: live mappings over all refs, total maps, refused maps. */
struct gmap_sim_domain_info {
	uint32_t domid, nr_frames, nr_grants;
	uint64_t maps_now, maps_total, map_fails, eagain;
	/* Maps granted while the same ref already had a live mapping: 0
	 * for a mapper that maps each grant once. */
	uint64_t double_maps;
	uint64_t maps_peak;  /* most live mappings, all refs, at once */
};
int gmap_sim_domain_info(struct gmap_sim_domain *d,
			 struct gmap_sim_domain_info *info);

/* Fault injection, for tests of the failure paths. */
enum gmap_sim_inject {
	GMAP_SIM_INJECT_NONE = 0,
	GMAP_SIM_INJECT_EAGAIN,  /* maps of the ref return GNTST_eagain  */
	GMAP_SIM_INJECT_EIO,     /* maps of the ref fail in the backend  */
	GMAP_SIM_INJECT_WRONG_FRAME, /* maps succeed but place the frame
				      * after the granted one (a broken
				      * mapper, for checking checkers)   */
	GMAP_SIM_INJECT_STALL,   /* maps wait until the injection is
				  * cleared, at most 10 s, then go on (a
				  * stuck backend, for watchdogs and for
				  * ordering events in tests)            */
	GMAP_SIM_INJECT_HOLE,    /* maps of the ref are refused (as a bad
				  * grant) after the placeholders were
				  * taken away, as a refused gntdev mmap
				  * leaves the range: a hole             */
	GMAP_SIM_INJECT_HOLE_TAKEN, /* the same, and another mapping of
				  * the process takes the ref's page in
				  * the hole at once (an anonymous page
				  * of 0x5a bytes, left to the test)     */
	GMAP_SIM_INJECT_STALL_UNMAP, /* unmaps of the ref wait until the
				  * injection is cleared, at most 10 s
				  * (a slow unmap, for ordering events in
				  * tests); maps are not affected         */
	GMAP_SIM_INJECT_REFUSED_IN_PLACE, /* maps of the ref are refused
				  * (as a bad grant) after the mapper
				  * touched the range, which the kernel
				  * put back as it was, as newer kernels
				  * do when an mmap fails early: no hole,
				  * but the caller must look to know it.
				  * Added in 0.2.0                        */
};
/* Make the next @count maps of @ref fail as @what (count 0: clear). */
int gmap_sim_inject(struct gmap_sim_domain *d, uint32_t ref,
		    enum gmap_sim_inject what, uint32_t count);

/*
 * The two file descriptors that carry the domain (the shared control area
 * with the grant table, and guest memory), for passing to a backend in
 * another process with SCM_RIGHTS; gmap_sim_domain_attach() takes them
 * there.  The descriptors stay owned by @d.
 */
int gmap_sim_domain_fds(struct gmap_sim_domain *d, int *ctl_fd, int *mem_fd);
struct gmap_sim_domain *gmap_sim_domain_attach(int ctl_fd, int mem_fd);

#ifdef __cplusplus
}
#endif

#endif /* GMAP_SIM_H */
