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
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "private.h"
#include "sim_abi.h"

/* Open files of the guest's memory a mapping may use: see sim_priv. */
#define SIM_FILES 3

struct sim_priv {
	struct sim_ctl *ctl;
	size_t ctl_size;
	/* The layout, checked and copied once at open: a peer that holds
	 * the control memfd can rewrite the shared one at any time. */
	struct sim_layout lay;
	/*
	 * gntdev mappings never merge with their neighbours: each costs a
	 * VMA of its own, which is what the window's budget is about.  The
	 * kernel merges two shared mappings that are adjacent, of one open
	 * file and at adjacent offsets.  So the guest's memory is opened
	 * SIM_FILES times (reopened via /proc: one memory, several struct
	 * files), and each mapping goes through a file its two neighbours
	 * do not use.  color[ref] is the file index + 1 of ref's last
	 * mapping (0: never mapped); a stale color only makes a choice
	 * narrower.  The choice is made and recorded under color_lock, so
	 * that two neighbours mapped at once cannot pick the same file; the
	 * mmap is made after, outside it, so that placements in one window
	 * do not wait for each other (until the mmap is done the page is a
	 * placeholder, which no file mapping merges with).
	 */
	int mem_fd[SIM_FILES];
	uint8_t *color;            /* nr_refs bytes, reserved NORESERVE */
	size_t color_len;
	pthread_mutex_t color_lock;
};

static int sim_setup(struct gmap_backend_ctx *b, int ctl_fd, int mem_fd);

static void sim_close_files(struct sim_priv *p)
{
	munmap(p->ctl, p->ctl_size);
	for (int i = SIM_FILES - 1; i > 0; i--)
		if (p->mem_fd[i] != p->mem_fd[0])
			close(p->mem_fd[i]);
	close(p->mem_fd[0]);
}

static int sim_open(struct gmap_backend_ctx *b)
{
	int ctl_fd, mem_fd;

	/* A domain in this process first; else the one a gmap-simdom
	 * process serves, if GMAP_SIM_SOCKET names it. */
	if (gmap_sim_lookup_fds(b->domid, &ctl_fd, &mem_fd) < 0) {
		const char *sock = getenv("GMAP_SIM_SOCKET");
		int e = errno;

		if (e != ESRCH) {
			/* The domain is here, but its files could not be
			 * had: say what failed (EMFILE stays EMFILE). */
			GMAP_LOG(b, XTL_ERROR, e, "sim backend: domain %u: "
				 "cannot duplicate its files", b->domid);
			errno = e;
			return -1;
		}
		if (sock)
			return gmap_sim_connect(b, sock, &ctl_fd, &mem_fd) < 0 ?
			       -1 : sim_setup(b, ctl_fd, mem_fd);
		GMAP_ERR(b, "sim backend: no simulated domain %u in this "
			 "process (create it with gmap_sim_domain_create() or "
			 "attach it with gmap_sim_domain_attach()), and "
			 "GMAP_SIM_SOCKET does not name a gmap-simdom", b->domid);
		errno = ESRCH;
		return -1;
	}
	return sim_setup(b, ctl_fd, mem_fd);
}

/*
 * Map the domain's control area and copy its layout.  Both files may come
 * from another process (a gmap-simdom, or whoever attached the domain
 * here), so everything is checked: each must be a memfd sealed against
 * resizing, else a peer could shrink it under our mappings (SIGBUS); the
 * control area must check out and name our domain; guest memory must
 * hold every frame.
 */
static int sim_map_ctl(struct gmap_backend_ctx *b, struct sim_priv *p,
		       int ctl_fd, int mem_fd)
{
	const char *what = "control area", *why;
	uint64_t size;

	if (sim_fd_check(ctl_fd, sizeof(struct sim_ctl), &size, &why) < 0)
		goto bad;
	p->ctl_size = (size_t)size;
	p->ctl = mmap(NULL, p->ctl_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      ctl_fd, 0);
	if (p->ctl == MAP_FAILED) {
		why = "cannot be mapped";
		goto bad;
	}
	if (sim_ctl_check(p->ctl, p->ctl_size, &p->lay, &why) < 0)
		goto unmap;
	if (p->lay.domid != b->domid) {
		why = "names another domain";
		goto unmap;
	}
	what = "guest memory";
	if (sim_fd_check(mem_fd, (uint64_t)p->lay.nr_frames << GMAP_PAGE_SHIFT,
			 NULL, &why) < 0)
		goto unmap;
	return 0;
unmap:
	munmap(p->ctl, p->ctl_size);
	errno = EINVAL;
bad: {
	int e = errno;

	GMAP_ERR(b, "sim backend: domain %u: bad %s: %s", b->domid, what, why);
	errno = e;
	return -1;
}
}

/* Map the domain's control area and keep its memory fd; takes both fds. */
static int sim_setup(struct gmap_backend_ctx *b, int ctl_fd, int mem_fd)
{
	struct sim_priv *p;

	p = calloc(1, sizeof(*p));
	if (!p || sim_map_ctl(b, p, ctl_fd, mem_fd) < 0)
		goto fail;
	close(ctl_fd);
	p->mem_fd[0] = mem_fd;
	for (int i = 1; i < SIM_FILES; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", mem_fd);
		p->mem_fd[i] = open(path, O_RDWR | O_CLOEXEC);
		if (p->mem_fd[i] < 0) {
			GMAP_LOG(b, XTL_WARN, errno, "sim backend: cannot reopen "
				 "guest memory: neighbouring maps may merge, and "
				 "the window's VMAs be fewer than counted");
			p->mem_fd[i] = mem_fd;
		}
	}
	p->color_len = (size_t)b->nr_refs;
	p->color = gmap_mem_map(p->color_len);
	if (!p->color) {
		int e = errno;

		sim_close_files(p);
		free(p);
		errno = e;
		return -1;
	}
	pthread_mutex_init(&p->color_lock, NULL);
	b->priv = p;
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

static void sim_close(struct gmap_backend_ctx *b)
{
	struct sim_priv *p = b->priv;

	if (!p)
		return;
	gmap_mem_unmap(p->color, p->color_len);
	pthread_mutex_destroy(&p->color_lock);
	sim_close_files(p);
	free(p);
	b->priv = NULL;
}

/*
 * Place @n frames from @frame at @addr (refs from @ref) with one mmap,
 * through a file that neither neighbouring mapping uses, so that it stays
 * a VMA of its own.  Populated at once, as gntdev's mmap fills in the
 * page tables of a grant mapping: the retried access must not take a
 * second fault.
 */
static int place(struct gmap_backend_ctx *b, struct sim_priv *p, uint32_t ref,
		 uint32_t n, void *addr, bool writable, uint32_t frame)
{
	size_t len = (size_t)n << GMAP_PAGE_SHIFT;
	uint8_t left, right, c;
	void *m;

	gmap_mutex_lock(&p->color_lock);
	left = ref ? p->color[ref - 1] : 0;
	right = (uint64_t)ref + n < b->nr_refs ? p->color[ref + n] : 0;
	for (c = 1; c == left || c == right; c++)
		;
	memset(p->color + ref, c, n);
	gmap_mutex_unlock(&p->color_lock);
	m = gmap_mmap_raw(addr, len, PROT_READ | (writable ? PROT_WRITE : 0),
			  MAP_SHARED | MAP_FIXED | MAP_POPULATE,
			  p->mem_fd[c - 1], (off_t)frame << GMAP_PAGE_SHIFT);
	return m == MAP_FAILED ? -1 : 0;
}

/*
 * GMAP_SIM_INJECT_HOLE: gntdev's refusal as the kernel leaves it, the
 * run's range unmapped (its mmap took the placeholders before gntdev's
 * handler said no); with @taken, another thread's mmap is handed the
 * page of ref + @bad in that moment.  The core fills the holes after the
 * failed map, as after a refusal on xen.  The status: the grant's
 * refusal.
 */
static int16_t refused_with_hole(struct gmap_backend_ctx *b, uint32_t ref,
				 uint32_t count, void *addr, uint32_t bad,
				 bool taken)
{
	size_t len = (size_t)count << GMAP_PAGE_SHIFT;
	uint8_t *thief = (uint8_t *)addr + ((size_t)bad << GMAP_PAGE_SHIFT);

	gmap_munmap_raw(addr, len);
	if (taken && gmap_mmap_raw(thief, GMAP_PAGE_SIZE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS |
				   MAP_FIXED_NOREPLACE, -1, 0) == thief)
		memset(thief, 0x5a, GMAP_PAGE_SIZE);
	GMAP_LOG(b, XTL_DEBUG, -1, "sim backend: d%u refs %u+%u: refused "
		 "with a hole (injected)", b->domid, ref, count);
	return GNTST_general_error;
}

/*
 * What a wait for a ref's lock met, said once per event: another process
 * holds that lock (shared memory every process of the domain can write),
 * and it died holding it, or it keeps it past the bound.
 */
static void lock_note_said(struct gmap_backend_ctx *b, uint32_t ref,
			   const struct sim_lock_note *n, const char *op)
{
	if (n->res == SIM_LOCK_BROKEN && n->holder > SIM_PID_MAX)
		GMAP_LOG(b, XTL_WARN, -1, "sim backend: d%u ref %u: %s: the "
			 "ref's lock word held %#x, not a pid: taken over",
			 b->domid, ref, op, n->holder);
	else if (n->res == SIM_LOCK_BROKEN)
		GMAP_LOG(b, XTL_WARN, -1, "sim backend: d%u ref %u: %s: the "
			 "ref's lock was held by pid %u, which is gone (killed "
			 "in the middle of a map?): taken over", b->domid, ref,
			 op, n->holder);
	else if (n->res == SIM_LOCK_TIMEOUT)
		GMAP_ERR(b, "sim backend: d%u ref %u: %s: the ref's lock is "
			 "held by pid %u for more than %d ms: %s", b->domid, ref,
			 op, n->holder, SIM_LOCK_WAIT_MS,
			 strcmp(op, "map") ? "unmapped without it" :
			 "map refused");
}

/* The same, called on every map and unmap of a ref: nothing to say is
 * the rule, and costs no call. */
static inline void lock_note(struct gmap_backend_ctx *b, uint32_t ref,
			     const struct sim_lock_note *n, const char *op)
{
	if (n->res != SIM_LOCK_OK)
		lock_note_said(b, ref, n, op);
}

static void hv_unmap(struct gmap_backend_ctx *b, struct sim_priv *p,
		     uint32_t ref, bool writable)
{
	struct sim_lock_note n;

	sim_hv_unmap(&p->lay, ref, writable, &n);
	lock_note(b, ref, &n, "unmap");
}

/*
 * Map a run as gntdev does: the hypervisor's checks for every ref first,
 * then the pages, so that a refused run places nothing and the window's
 * placeholders stay as they were (a kernel access to one of them keeps
 * waiting on its fault instead of meeting a page being replaced).
 */
static int sim_map(struct gmap_backend_ctx *b, uint32_t ref, uint32_t count,
		   void *addr, bool writable, uint64_t *split, int16_t *status,
		   uint32_t *placed)
{
	struct sim_priv *p = b->priv;
	/* On the stack up to the longest run the core maps on a fault: a
	 * fault served inline maps in a signal handler, where malloc may
	 * not be called (inline.c).  Longer ones come from the shim. */
	uint32_t i, j, few[GMAP_RUN_MAX], *frames = few;
	struct sim_lock_note n;
	int16_t st;
	int e;

	if (count > GMAP_RUN_MAX) {
		frames = malloc(count * sizeof(*frames));
		if (!frames) {
			*placed = GMAP_UNTOUCHED;
			*status = GMAP_ST_NOMEM;
			errno = ENOMEM;
			return -1;
		}
	}
	for (i = 0; i < count; i++) {
		st = sim_hv_map(&p->lay, ref + i, b->self_domid, writable,
				&frames[i], &n);
		lock_note(b, ref + i, &n, "map");
		if (st != GNTST_okay) {
			uint32_t bad = i;

			sim_hv_count_maps(&p->lay, i);
			while (i-- > 0)
				hv_unmap(b, p, ref + i, writable);
			if (st == SIM_ST_HOLE || st == SIM_ST_HOLE_TAKEN) {
				st = refused_with_hole(b, ref, count, addr, bad,
						       st == SIM_ST_HOLE_TAKEN);
			} else if (st == SIM_ST_IN_PLACE) {
				/* GMAP_SIM_INJECT_REFUSED_IN_PLACE: touched
				 * (*placed 0), and nothing moved. */
				GMAP_LOG(b, XTL_DEBUG, -1, "sim backend: d%u "
					 "refs %u+%u: refused, range left in "
					 "place (injected)", b->domid, ref, count);
				st = GNTST_general_error;
			} else {
				*placed = GMAP_UNTOUCHED;  /* as gntdev's ioctl */
			}
			*status = st;
			e = st == GMAP_ST_BACKEND ? EIO : gmap_status_errno(st);
			goto out;
		}
	}
	sim_hv_count_maps(&p->lay, count);
	for (i = 0; i < count; i = j) {
		/* A piece: frames in a row, placed with one mmap, one VMA
		 * (gntdev's map of a run is one VMA whatever the frames;
		 * here a run of scattered frames costs a VMA per piece). */
		for (j = i + 1; j < count && frames[j] == frames[j - 1] + 1; j++)
			;
		split[i / 64] |= 1ull << (i % 64);
		if (place(b, p, ref + i, j - i,
			  (uint8_t *)addr + ((size_t)i << GMAP_PAGE_SHIFT),
			  writable, frames[i]) == 0)
			continue;
		/* Out of VMAs or memory halfway: the pages placed so far
		 * are the core's to re-arm (the failed mmap left its own
		 * pages as they were, or holes), and no grant stays mapped. */
		e = errno;
		*status = GMAP_ST_BACKEND;
		*placed = i;
		for (i = 0; i < count; i++)
			hv_unmap(b, p, ref + i, writable);
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

static int sim_unmap(struct gmap_backend_ctx *b, uint32_t ref, uint32_t count,
		     bool writable)
{
	struct sim_priv *p = b->priv;
	uint32_t i;

	for (i = 0; i < count; i++)
		hv_unmap(b, p, ref + i, writable);
	return 0;
}

const struct gmap_backend_ops gmap_sim_ops = {
	.name = "sim",
	.open = sim_open,
	.close = sim_close,
	.map = sim_map,
	.unmap = sim_unmap,
};
