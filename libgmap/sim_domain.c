/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim_domain.c - the guest side of a simulated granting domain: create it,
 * grant, end access, revoke, read and write its pages, and the in-process
 * registry through which a sim window finds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "private.h"
#include "sim_abi.h"

struct gmap_sim_domain {
	struct sim_ctl *ctl;
	struct sim_layout lay;   /* checked once; never re-read from ctl */
	size_t ctl_size;
	int ctl_fd, mem_fd;
	uint8_t *mem;            /* the guest's own view of its memory */
	size_t mem_size;
	struct gmap_sim_domain *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gmap_sim_domain *registry;

static struct gmap_sim_domain *registry_find(uint32_t domid)
{
	struct gmap_sim_domain *d;

	for (d = registry; d; d = d->next)
		if (d->lay.domid == domid)
			return d;
	return NULL;
}

/* Register @d unless its domid is taken; called with registry_lock held. */
static int registry_add(struct gmap_sim_domain *d)
{
	if (registry_find(d->lay.domid)) {
		errno = EEXIST;
		return -1;
	}
	d->next = registry;
	registry = d;
	return 0;
}

int gmap_sim_lookup_fds(uint32_t domid, int *ctl_fd, int *mem_fd)
{
	struct gmap_sim_domain *d;
	int rc = -1;

	pthread_mutex_lock(&registry_lock);
	d = registry_find(domid);
	if (!d) {
		errno = ESRCH;
		goto out;
	}
	*ctl_fd = fcntl(d->ctl_fd, F_DUPFD_CLOEXEC, 0);
	if (*ctl_fd < 0)
		goto out;
	*mem_fd = fcntl(d->mem_fd, F_DUPFD_CLOEXEC, 0);
	if (*mem_fd < 0) {
		close(*ctl_fd);
		goto out;
	}
	rc = 0;
out:
	pthread_mutex_unlock(&registry_lock);
	return rc;
}

static void domain_free(struct gmap_sim_domain *d)
{
	int saved = errno;

	if (d->mem && d->mem != MAP_FAILED)
		munmap(d->mem, d->mem_size);
	if (d->ctl && (void *)d->ctl != MAP_FAILED)
		munmap(d->ctl, d->ctl_size);
	if (d->ctl_fd >= 0)
		close(d->ctl_fd);
	if (d->mem_fd >= 0)
		close(d->mem_fd);
	free(d);
	errno = saved;
}

/* Register a fully built domain, or free it if its domid is taken. */
static struct gmap_sim_domain *publish(struct gmap_sim_domain *d)
{
	int rc;

	pthread_mutex_lock(&registry_lock);
	rc = registry_add(d);
	pthread_mutex_unlock(&registry_lock);
	if (rc < 0) {
		domain_free(d);
		return NULL;
	}
	return d;
}

/*
 * A memfd of @size bytes, sealed against resizing: a process it is passed
 * to may write it but never shrink it under another's mappings (which
 * would turn their next access into SIGBUS).
 */
static int sealed_memfd(const char *name, uint64_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, SIM_SEALS) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

GMAP_EXPORT struct gmap_sim_domain *
gmap_sim_domain_create(uint32_t domid, uint32_t nr_frames, uint32_t nr_grants)
{
	struct gmap_sim_domain *d;
	uint64_t table_off, active_off, size;
	const char *why;

	if (nr_frames == 0 || nr_grants == 0 || domid >= 0x7ff0 /* DOMID_FIRST_RESERVED */) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->ctl_fd = d->mem_fd = -1;

	table_off = 4096;
	active_off = table_off + (((uint64_t)nr_grants * 8 + 63) & ~63ull);
	size = active_off + (uint64_t)nr_grants * sizeof(struct sim_active);
	size = (size + 4095) & ~4095ull;
	d->ctl_size = size;
	d->mem_size = (size_t)nr_frames << GMAP_PAGE_SHIFT;

	d->ctl_fd = sealed_memfd("gmap-sim-ctl", size);
	if (d->ctl_fd < 0)
		goto fail;
	d->mem_fd = sealed_memfd("gmap-sim-mem", d->mem_size);
	if (d->mem_fd < 0)
		goto fail;
	d->ctl = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      d->ctl_fd, 0);
	d->mem = mmap(NULL, d->mem_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_NORESERVE, d->mem_fd, 0);
	if (d->ctl == MAP_FAILED || d->mem == MAP_FAILED)
		goto fail;
	d->ctl->magic = SIM_MAGIC;
	d->ctl->version = SIM_VERSION;
	d->ctl->domid = domid;
	d->ctl->nr_frames = nr_frames;
	d->ctl->nr_grants = nr_grants;
	d->ctl->table_off = table_off;
	d->ctl->active_off = active_off;
	d->ctl->ctl_size = size;
	d->ctl->pidns = sim_pidns();
	if (sim_ctl_check(d->ctl, d->ctl_size, &d->lay, &why) < 0) {
		errno = EINVAL;         /* cannot be: the layout is ours */
		goto fail;
	}
	return publish(d);
fail:
	domain_free(d);
	return NULL;
}

/*
 * The descriptors come from another process, which is not trusted: both
 * must be memfds sealed against resizing (else a peer could shrink them
 * under our mappings), the control area must check out, and its layout
 * is copied once; guest memory must hold every frame.
 */
GMAP_EXPORT struct gmap_sim_domain *gmap_sim_domain_attach(int ctl_fd,
							   int mem_fd)
{
	struct gmap_sim_domain *d;
	uint64_t size;
	const char *why;

	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->ctl_fd = fcntl(ctl_fd, F_DUPFD_CLOEXEC, 0);
	d->mem_fd = fcntl(mem_fd, F_DUPFD_CLOEXEC, 0);
	if (d->ctl_fd < 0 || d->mem_fd < 0 ||
	    sim_fd_check(d->ctl_fd, sizeof(struct sim_ctl), &size, &why) < 0)
		goto fail;
	d->ctl_size = (size_t)size;
	d->ctl = mmap(NULL, d->ctl_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      d->ctl_fd, 0);
	if (d->ctl == MAP_FAILED)
		goto fail;
	if (sim_ctl_check(d->ctl, d->ctl_size, &d->lay, &why) < 0) {
		errno = EINVAL;
		goto fail;
	}
	d->mem_size = (size_t)d->lay.nr_frames << GMAP_PAGE_SHIFT;
	if (sim_fd_check(d->mem_fd, d->mem_size, NULL, &why) < 0)
		goto fail;
	d->mem = mmap(NULL, d->mem_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_NORESERVE, d->mem_fd, 0);
	if (d->mem == MAP_FAILED)
		goto fail;
	return publish(d);
fail:
	domain_free(d);
	return NULL;
}

GMAP_EXPORT void gmap_sim_domain_destroy(struct gmap_sim_domain *d)
{
	struct gmap_sim_domain **pp;

	if (!d)
		return;
	pthread_mutex_lock(&registry_lock);
	for (pp = &registry; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	pthread_mutex_unlock(&registry_lock);
	/* Mappers that hold the control area see the domain die: their next
	 * maps fail with GNTST_bad_domain, as for a destroyed Xen domain. */
	atomic_store(&d->ctl->dead, 1);
	domain_free(d);
}

GMAP_EXPORT int gmap_sim_domain_fds(struct gmap_sim_domain *d, int *ctl_fd,
				    int *mem_fd)
{
	if (!d || !ctl_fd || !mem_fd) {
		errno = EINVAL;
		return -1;
	}
	*ctl_fd = d->ctl_fd;
	*mem_fd = d->mem_fd;
	return 0;
}

static int check_ref(struct gmap_sim_domain *d, uint32_t ref)
{
	if (!d) {
		errno = EINVAL;
		return -1;
	}
	if (ref >= d->lay.nr_grants) {
		errno = ERANGE;
		return -1;
	}
	return 0;
}

/*
 * As Linux's gnttab_grant_foreign_access_ref(): frame and domid first, then
 * the flags with a release barrier, so a mapper that sees the permit flag
 * sees the frame too.  An entry still in use cannot be re-granted.
 */
GMAP_EXPORT int gmap_sim_grant(struct gmap_sim_domain *d, uint32_t ref,
			       uint32_t frame, uint16_t grantee, int readonly)
{
	grant_entry_v1_t *e;
	_Atomic uint32_t *combo;
	uint32_t old, new;

	if (check_ref(d, ref) < 0)
		return -1;
	e = &d->lay.table[ref];
	combo = sim_combo(e);
	old = atomic_load(combo);
	do {
		if (old & (GTF_reading | GTF_writing)) {
			errno = EBUSY;
			return -1;
		}
		/* Write the frame with the entry invalid, then publish. */
		new = (uint32_t)grantee << 16;
	} while (!atomic_compare_exchange_weak(combo, &old, new));
	__atomic_store_n(&e->frame, frame, __ATOMIC_RELEASE);
	atomic_store(combo, ((uint32_t)grantee << 16) | GTF_permit_access |
			    (readonly ? GTF_readonly : 0));
	return 0;
}

/* As gnttab_end_foreign_access_ref_v1(): clear the flags unless in use. */
GMAP_EXPORT int gmap_sim_end_access(struct gmap_sim_domain *d, uint32_t ref)
{
	_Atomic uint32_t *combo;
	uint32_t old;

	if (check_ref(d, ref) < 0)
		return -1;
	combo = sim_combo(&d->lay.table[ref]);
	old = atomic_load(combo);
	do {
		if (old & (GTF_reading | GTF_writing)) {
			errno = EBUSY;
			return -1;
		}
	} while (!atomic_compare_exchange_weak(combo, &old, old & 0xffff0000u));
	return 0;
}

GMAP_EXPORT int gmap_sim_revoke(struct gmap_sim_domain *d, uint32_t ref)
{
	uint32_t old;

	if (check_ref(d, ref) < 0)
		return -1;
	old = atomic_fetch_and(sim_combo(&d->lay.table[ref]),
			       ~(uint32_t)(GTF_type_mask | GTF_readonly));
	return (old & (GTF_reading | GTF_writing)) ? 1 : 0;
}

static int check_frame(struct gmap_sim_domain *d, uint32_t frame, size_t off,
		       size_t len)
{
	if (!d) {
		errno = EINVAL;
		return -1;
	}
	if (frame >= d->lay.nr_frames || off > GMAP_PAGE_SIZE ||
	    len > GMAP_PAGE_SIZE - off) {
		errno = ERANGE;
		return -1;
	}
	return 0;
}

GMAP_EXPORT int gmap_sim_read(struct gmap_sim_domain *d, uint32_t frame,
			      size_t off, void *buf, size_t len)
{
	if (check_frame(d, frame, off, len) < 0)
		return -1;
	memcpy(buf, d->mem + ((size_t)frame << GMAP_PAGE_SHIFT) + off, len);
	return 0;
}

GMAP_EXPORT int gmap_sim_write(struct gmap_sim_domain *d, uint32_t frame,
			       size_t off, const void *buf, size_t len)
{
	if (check_frame(d, frame, off, len) < 0)
		return -1;
	memcpy(d->mem + ((size_t)frame << GMAP_PAGE_SHIFT) + off, buf, len);
	return 0;
}

GMAP_EXPORT int gmap_sim_ref_info(struct gmap_sim_domain *d, uint32_t ref,
				  struct gmap_sim_ref_info *info)
{
	grant_entry_v1_t *e;
	struct sim_active *a;
	uint32_t combo;

	if (check_ref(d, ref) < 0)
		return -1;
	if (!info) {
		errno = EINVAL;
		return -1;
	}
	e = &d->lay.table[ref];
	a = &d->lay.active[ref];
	combo = atomic_load(sim_combo(e));
	info->flags = (uint16_t)(combo & 0xffff);
	info->domid = (uint16_t)(combo >> 16);
	info->frame = __atomic_load_n(&e->frame, __ATOMIC_ACQUIRE);
	/* Without the ref's lock: a peer may keep it, and a scan of every
	 * ref (gmap-simdom's report) must not wait on each.  Read apart,
	 * the peak may lag the count: it is never reported below it. */
	info->maps_now = atomic_load(&a->rd_pins);
	info->maps_peak = atomic_load(&a->maps_peak);
	if (info->maps_peak < info->maps_now)
		info->maps_peak = info->maps_now;
	info->maps_total = atomic_load(&a->maps_total);
	info->map_fails = atomic_load(&a->map_fails);
	return 0;
}

GMAP_EXPORT int gmap_sim_domain_info(struct gmap_sim_domain *d,
				     struct gmap_sim_domain_info *info)
{
	if (!d || !info) {
		errno = EINVAL;
		return -1;
	}
	info->domid = d->lay.domid;
	info->nr_frames = d->lay.nr_frames;
	info->nr_grants = d->lay.nr_grants;
	info->maps_now = atomic_load(&d->ctl->maps_now);
	info->maps_total = atomic_load(&d->ctl->maps_total);
	info->map_fails = atomic_load(&d->ctl->map_fails);
	info->eagain = atomic_load(&d->ctl->eagain);
	info->double_maps = atomic_load(&d->ctl->double_maps);
	info->maps_peak = atomic_load(&d->ctl->maps_peak);
	return 0;
}

GMAP_EXPORT int gmap_sim_inject(struct gmap_sim_domain *d, uint32_t ref,
				enum gmap_sim_inject what, uint32_t count)
{
	struct sim_lock_note n;
	struct sim_active *a;
	bool held;

	if (check_ref(d, ref) < 0)
		return -1;
	if (what != GMAP_SIM_INJECT_NONE && what != GMAP_SIM_INJECT_EAGAIN &&
	    what != GMAP_SIM_INJECT_EIO &&
	    what != GMAP_SIM_INJECT_WRONG_FRAME &&
	    what != GMAP_SIM_INJECT_STALL && what != GMAP_SIM_INJECT_HOLE &&
	    what != GMAP_SIM_INJECT_HOLE_TAKEN &&
	    what != GMAP_SIM_INJECT_STALL_UNMAP &&
	    what != GMAP_SIM_INJECT_REFUSED_IN_PLACE) {
		errno = EINVAL;
		return -1;
	}
	a = &d->lay.active[ref];
	/* The lock orders the two words with a map in progress; a peer
	 * that keeps it past the bound only loses that order (both words
	 * are atomic), so the injection is made without it. */
	held = sim_active_lock(&d->lay, a, &n) != SIM_LOCK_TIMEOUT;
	atomic_store(&a->inject_what, (uint32_t)what);
	atomic_store(&a->inject_count, what == GMAP_SIM_INJECT_NONE ? 0 : count);
	if (held)
		sim_active_unlock(a);
	return 0;
}
