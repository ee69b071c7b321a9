/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend_sim.c - the sim backend: maps grants of a simulated domain.
 *
 * The mapper holds only the domain's two file descriptors (its own dups,
 * as a process that received them over a socket would), never the domain
 * object: every map goes through the "hypervisor" rules of sim_hv.c and
 * then places the granted frame of the guest's memfd at the grant's window
 * address with mmap(MAP_FIXED), as gntdev places a foreign frame.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "private.h"
#include "sim_abi.h"

struct sim_priv {
	struct sim_ctl *ctl;
	size_t ctl_size;
	int mem_fd;
	/*
	 * gntdev mappings never merge with their neighbours: each costs a
	 * VMA of its own, which is what the window's budget is about.
	 * Shared mappings of one open file at adjacent offsets do merge, so
	 * odd refs map through a second open file of the same memory
	 * (reopened via /proc): two neighbours never share a struct file.
	 */
	int mem_fd_odd;
};

static int sim_setup(struct gmap_window *w, int ctl_fd, int mem_fd);

static int sim_open(struct gmap_window *w)
{
	int ctl_fd, mem_fd;

	/* A domain in this process first; else the one a gmap-simdom
	 * process serves, if GMAP_SIM_SOCKET names it. */
	if (gmap_sim_lookup_fds(w->domid, &ctl_fd, &mem_fd) < 0) {
		const char *sock = getenv("GMAP_SIM_SOCKET");

		if (sock)
			return gmap_sim_connect(w, sock, &ctl_fd, &mem_fd) < 0 ?
			       -1 : sim_setup(w, ctl_fd, mem_fd);
		GMAP_ERR(w, "sim backend: no simulated domain %u in this "
			 "process (create it with gmap_sim_domain_create() or "
			 "attach it with gmap_sim_domain_attach()), and "
			 "GMAP_SIM_SOCKET does not name a gmap-simdom", w->domid);
		errno = ESRCH;
		return -1;
	}
	return sim_setup(w, ctl_fd, mem_fd);
}

/* Map the domain's control area and keep its memory fd; takes both fds. */
static int sim_setup(struct gmap_window *w, int ctl_fd, int mem_fd)
{
	struct sim_priv *p;
	struct stat st;

	p = calloc(1, sizeof(*p));
	if (!p)
		goto fail;
	if (fstat(ctl_fd, &st) < 0)
		goto fail;
	p->ctl_size = (size_t)st.st_size;
	p->ctl = mmap(NULL, p->ctl_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      ctl_fd, 0);
	if (p->ctl == MAP_FAILED)
		goto fail;
	/* The areas may come from another process: a frame past the end
	 * of the memory file would map but SIGBUS on access. */
	if (sim_ctl_check(p->ctl, p->ctl_size) < 0 || p->ctl->domid != w->domid ||
	    fstat(mem_fd, &st) < 0 ||
	    (uint64_t)st.st_size < (uint64_t)p->ctl->nr_frames << GMAP_PAGE_SHIFT) {
		GMAP_ERR(w, "sim backend: domain %u: bad control area or guest "
			 "memory", w->domid);
		munmap(p->ctl, p->ctl_size);
		errno = EINVAL;
		goto fail;
	}
	close(ctl_fd);
	p->mem_fd = mem_fd;
	{
		char path[32];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", mem_fd);
		p->mem_fd_odd = open(path, O_RDWR | O_CLOEXEC);
		if (p->mem_fd_odd < 0) {
			GMAP_LOG(w, XTL_DEBUG, errno, "sim backend: cannot reopen "
				 "guest memory; neighbouring grants may merge");
			p->mem_fd_odd = mem_fd;
		}
	}
	w->be_priv = p;
	return 0;
fail: {
	int e = errno;

	free(p);
	close(ctl_fd);
	close(mem_fd);
	errno = e;
	return -1;
}
}

static void sim_close(struct gmap_window *w)
{
	struct sim_priv *p = w->be_priv;

	if (!p)
		return;
	munmap(p->ctl, p->ctl_size);
	if (p->mem_fd_odd != p->mem_fd)
		close(p->mem_fd_odd);
	close(p->mem_fd);
	free(p);
	w->be_priv = NULL;
}

/*
 * Map a run as gntdev does: the hypervisor's checks for every ref first,
 * then the pages, so that a refused run places nothing and the window's
 * placeholders stay as they were (a kernel access to one of them keeps
 * waiting on its fault instead of meeting a page being replaced).
 */
static int sim_map(struct gmap_window *w, uint32_t ref, uint32_t count,
		   void *addr, bool writable, int16_t *status)
{
	struct sim_priv *p = w->be_priv;
	uint32_t i, few[16], *frames = few;
	int16_t st;
	int e;

	if (count > 16) {
		frames = malloc(count * sizeof(*frames));
		if (!frames) {
			*status = GMAP_ST_NOMEM;
			errno = ENOMEM;
			return -1;
		}
	}
	for (i = 0; i < count; i++) {
		st = sim_hv_map(p->ctl, ref + i, w->self_domid, writable,
				&frames[i]);
		if (st != GNTST_okay) {
			*status = st;
			e = st == GMAP_ST_BACKEND ? EIO : gmap_status_errno(st);
			while (i-- > 0)
				sim_hv_unmap(p->ctl, ref + i, writable);
			goto out;
		}
	}
	for (i = 0; i < count; i++) {
		uint8_t *a = (uint8_t *)addr + ((size_t)i << GMAP_PAGE_SHIFT);

		/* Populated at once, as gntdev's mmap fills in the page
		 * tables of a grant mapping: the retried access must not
		 * take a second fault. */
		if (gmap_mmap_raw(a, GMAP_PAGE_SIZE,
				  PROT_READ | (writable ? PROT_WRITE : 0),
				  MAP_SHARED | MAP_FIXED | MAP_POPULATE,
				  (ref + i) & 1 ? p->mem_fd_odd : p->mem_fd,
				  (off_t)frames[i] << GMAP_PAGE_SHIFT) != MAP_FAILED)
			continue;
		/* Out of VMAs or memory halfway: the pages placed so far
		 * become placeholders again (the failed mmap left its own
		 * page as it was), and no grant stays mapped. */
		e = errno;
		*status = GMAP_ST_BACKEND;
		if (i && gmap_rearm(w, addr, (size_t)i << GMAP_PAGE_SHIFT) < 0)
			GMAP_LOG(w, XTL_ERROR, errno, "sim backend: cannot "
				 "re-arm refs %u+%u after a failed map", ref, i);
		for (i = 0; i < count; i++)
			sim_hv_unmap(p->ctl, ref + i, writable);
		goto out;
	}
	*status = GNTST_okay;
	e = 0;
out:
	if (frames != few)
		free(frames);
	errno = e;
	return e ? -1 : 0;
}

static int sim_unmap(struct gmap_window *w, uint32_t ref, uint32_t count,
		     bool writable)
{
	struct sim_priv *p = w->be_priv;
	uint32_t i;

	for (i = 0; i < count; i++)
		sim_hv_unmap(p->ctl, ref + i, writable);
	return 0;
}

const struct gmap_backend_ops gmap_sim_ops = {
	.name = "sim",
	.open = sim_open,
	.close = sim_close,
	.map = sim_map,
	.unmap = sim_unmap,
};
