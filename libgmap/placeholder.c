/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * placeholder.c - the pages of a window that hold no grant: the raw
 * mmap of window ranges, placeholders made fault-armed again (re-armed) or
 * inaccessible (poisoned), and the holes a failed placement can leave.
 *
 * The hazard: mmap(MAP_FIXED) of an anonymous placeholder drops the
 * userfaultfd registration of that range, and until it is registered again
 * an access is served by the kernel as a plain anonymous fault: a read sees
 * a zero page and a write lands in a private page and is lost (reproduced
 * on kernel 6.18).  So the placeholder is born PROT_NONE, registered while
 * inaccessible, and only then opened with mprotect(): an access in between
 * gets SIGSEGV with its address, which the window's SIGSEGV handler turns
 * into wait-and-retry (the grant is GS_BUSY until we are done), and an
 * access after it faults into the handler thread as usual.  Registration
 * on a PROT_NONE VMA succeeds and survives the mprotect() (checked here).
 *
 * An armed placeholder is not anonymous memory but a shared mapping of
 * the window's placeholder file, at the page's own offset in the window
 * (gmap_placeholders_open() says why).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "private.h"

#if defined(__SANITIZE_THREAD__)
#define GMAP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GMAP_TSAN 1
#endif
#endif

/*
 * mmap and munmap of window ranges.  ThreadSanitizer models an mmap as a
 * write by the mapping thread to the whole range, and resets its shadow
 * for it (16 TiB for a full window, which breaks TSan itself).  The access
 * that faulted is ordered after our map by the kernel (the userfaultfd
 * wake), which TSan cannot see, so every first touch would be reported as
 * a race.  Under TSan the raw system calls keep the model out of it.
 */
void *gmap_mmap_raw(void *addr, size_t len, int prot, int flags, int fd,
		    off_t off)
{
#ifdef GMAP_TSAN
	long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);

	if (r < 0 && r > -4096)
		return MAP_FAILED;
	return (void *)r;
#else
	return mmap(addr, len, prot, flags, fd, off);
#endif
}

int gmap_munmap_raw(void *addr, size_t len)
{
#ifdef GMAP_TSAN
	return (int)syscall(SYS_munmap, addr, len);
#else
	return munmap(addr, len);
#endif
}

#define PLACEHOLDER_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE)

/*
 * The placeholder file of a window with handler threads: a memfd as long
 * as the window that never holds a page.  Its shared mapping, at each
 * page's own offset, is that page's armed placeholder.  Why a file: the
 * window's count of its VMAs (vmas.c).  An anonymous placeholder gets an
 * anon_vma at its first write fault, before userfaultfd sees the fault,
 * and the kernel does not merge two placeholders with different
 * anon_vmas, so whether a re-armed page merged with its neighbours was a
 * question for the kernel: one PROCMAP_QUERY per re-arm, and none to ask
 * before Linux 6.11.  A shared mapping never has an anon_vma, and two of
 * one file at consecutive offsets, with the same flags, always merge.
 *
 * The file stays empty: a missing page of a registered shared mapping
 * goes to userfaultfd before shmem allocates anything (shmem_get_folio),
 * and the handler places the grant over it instead of filling it; no
 * other process holds the file, and a child never maps it (fork.c).  Its
 * size only makes faults inside it legal (past its end a fault is a
 * SIGBUS).  Setting that size must not raise SIGXFSZ, which kills, under
 * a small RLIMIT_FSIZE: checked first.  Returns 0, or -1 with errno set
 * and the reason logged (quietly if @quiet: the caller has a fallback).
 */
int gmap_placeholders_open(struct gmap_window *w, bool quiet)
{
	struct rlimit rl;
	int fd, e;

	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < w->len) {
		if (!quiet)
			GMAP_ERR(w, "d%u: handler threads need a placeholder "
				 "file as long as the window, %zu bytes, and "
				 "RLIMIT_FSIZE (ulimit -f) allows %llu: raise it, "
				 "or serve faults inline (GMAP_FAULT_MODE=inline)",
				 w->domid, w->len, (unsigned long long)rl.rlim_cur);
		errno = EFBIG;
		return -1;
	}
	fd = memfd_create(GMAP_PLACEHOLDER_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)w->len) < 0) {
		e = errno;
		if (!quiet)
			GMAP_LOG(w, XTL_ERROR, e, "d%u: cannot make the window's "
				 "placeholder file", w->domid);
		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	/* Nobody else has the file; the seals say what it is. */
	(void)fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	w->placeholder_fd = fd;
	return 0;
}

/*
 * The file closed.  In this process nothing ever puts a page there (see
 * above), but a child made by a raw clone(2), which runs no fork handler
 * (fork.c), shares it: a write to a placeholder there, which its copy of
 * the window does not register, would fill the file, and the parent
 * would find that page at the ref instead of a fault.  Said at close, the
 * one moment that costs nothing to check.
 */
void gmap_placeholders_close(struct gmap_window *w)
{
	struct stat sb;

	if (w->placeholder_fd < 0)
		return;
	if (fstat(w->placeholder_fd, &sb) == 0 && sb.st_blocks)
		GMAP_ERR(w, "d%u: the window's placeholder file held %lld KiB: "
			 "a process that shares it (a child of a raw clone(2) "
			 "that bypassed fork()'s handlers) wrote into untouched "
			 "window pages, and this process saw those pages "
			 "instead of the grants", w->domid,
			 (long long)sb.st_blocks / 2);
	close(w->placeholder_fd);
	w->placeholder_fd = -1;
}

/*
 * Reserve the window's range, all of it in the mode's kind of empty page:
 * armed placeholders with handler threads (registered next, uffd.c), or
 * inaccessible anonymous pages inline (uffd.c, signal.c).  No swap
 * reservation: 16 TiB cost nothing until touched, and touched pages are
 * grants.  Not MAP_FIXED: a fresh range, never a replacement that could
 * leave a hole.
 */
int gmap_placeholders_reserve(struct gmap_window *w)
{
	void *m;

	if (w->h.inline_mode)
		m = gmap_mmap_raw(NULL, w->len, PROT_NONE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	else
		m = gmap_mmap_raw(NULL, w->len, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_NORESERVE, w->placeholder_fd, 0);
	if (m == MAP_FAILED)
		return -1;
	w->base = m;
	return 0;
}

/*
 * Keep a new page of the window out of child processes (fork.c): every
 * mmap there makes a VMA without the flag.  Done before the range can be
 * accessed (a new page is PROT_NONE), and with the mmap as one placement,
 * so that no fork falls between them.  Grant mappings get the flag from
 * fork()'s prepare handler instead, which marks the whole window.
 */
void gmap_no_fork(struct gmap_window *w, void *addr, size_t len)
{
	if (madvise(addr, len, MADV_DONTFORK) < 0)
		GMAP_LOG(w, XTL_ERROR, errno, "madvise(MADV_DONTFORK) of %p "
			 "failed: a child process would inherit the page", addr);
}

/*
 * Whether the window's armed placeholders carry MADV_DONTFORK.  All of
 * them do or none: neighbours with different flags do not merge, and
 * vmas.c counts neighbouring placeholders as one VMA.  With handler
 * threads none does at first (window.c): a re-arm, one for each unpin,
 * eviction and failed map, then makes no madvise, a system call and a
 * write of the mmap lock less.  They need none to stay out of a child:
 * fork()'s prepare handler marks the whole window before the address
 * space is copied, placeholders included (fork.c).  From that first fork
 * on every placeholder there carries the flag, and so must each new one.
 * Poisoned pages (PROT_NONE, unregistered; never merged with a
 * placeholder) and an inline window's untouched pages always carry it.
 */
static bool placeholders_marked(struct gmap_window *w)
{
	return w->h.inline_mode || atomic_load(&w->fork.marked);
}

/* [addr, addr+len) replaced with an inaccessible page, anonymous (@fd
 * -1) or of the window's file @fd at @off, marked MADV_DONTFORK if @mark
 * or if the window's placeholders are: the mapping there (a grant, or
 * nothing) is gone when this returns 0.  The mmap and its madvise are one
 * placement, and whether to mark is read inside it: no fork falls between
 * (fork.c). */
static int place_inaccessible(struct gmap_window *w, void *addr, size_t len,
			      bool mark, int fd, off_t off)
{
	int flags = fd < 0 ? PLACEHOLDER_FLAGS :
		    MAP_SHARED | MAP_FIXED | MAP_NORESERVE;

	gmap_place_enter();
	if (gmap_mmap_raw(addr, len, PROT_NONE, flags, fd, off) == MAP_FAILED) {
		gmap_place_leave();
		return -1;
	}
	if (mark || placeholders_marked(w))
		gmap_no_fork(w, addr, len);
	gmap_place_leave();
	return 0;
}

/* Replace [addr, addr+len) with a poisoned page: inaccessible, marked. */
int gmap_poison(struct gmap_window *w, void *addr, size_t len)
{
	return place_inaccessible(w, addr, len, true, -1, 0);
}

/*
 * Replace [addr, addr+len) with an unarmed page (map.c): inaccessible as a
 * poisoned page, but a private mapping of the window's memfd, not an
 * anonymous one, at the range's offset in the window plus @colour (a
 * GS_COLOUR) windows.  Unarmed pages next to each other merge when their
 * offsets are in step, that is when they have the same colour; map.c
 * gives an unmap's pages a colour their neighbours do not have.  The
 * mapping says whose it is by its name in /proc/self/smaps
 * (check_owner()), so it needs no MADV_DONTFORK of its own: one system
 * call per unpin instead of two.  fork()'s prepare handler marks it with
 * the rest of the window.  Never read or written: a touch is a SIGSEGV
 * (PROT_NONE) served inline, and the file stays empty.
 */
int gmap_poison_unarmed(struct gmap_window *w, void *addr, size_t len,
			uint32_t colour)
{
	off_t off = (off_t)((uint8_t *)addr - (uint8_t *)w->base) +
		    (off_t)(colour >> GS_COLOUR_SHIFT) *
		    (off_t)(w->nr_refs << GMAP_PAGE_SHIFT);
	void *m;

	gmap_place_enter();
	m = gmap_mmap_raw(addr, len, PROT_NONE,
			  MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, w->unarmed_fd,
			  off);
	gmap_place_leave();
	return m == MAP_FAILED ? -1 : 0;
}

/*
 * The first step of a re-arm: [addr, addr+len) replaced with an
 * inaccessible page, marked MADV_DONTFORK only where the window's
 * placeholders are (placeholders_marked()); gmap_arm_unplaced() arms it.
 * With handler threads that is the placeholder file at the range's
 * offset, inline an anonymous page.  A fork after this and before the
 * arming marks it with the rest of the window.
 */
int gmap_unplace(struct gmap_window *w, void *addr, size_t len)
{
	off_t off = (off_t)((uint8_t *)addr - (uint8_t *)w->base);

	return place_inaccessible(w, addr, len, false,
				  w->h.inline_mode ? -1 : w->placeholder_fd, off);
}

/*
 * Make [addr, addr+len) a fault-armed placeholder again.  The caller owns
 * the grants of the range (GS_BUSY).  On failure the range is left
 * PROT_NONE (never accessible and unregistered) and -1 returned.
 */
int gmap_rearm(struct gmap_window *w, void *addr, size_t len)
{
	if (gmap_unplace(w, addr, len) < 0)
		return -1;
	return gmap_arm_unplaced(w, addr, len);
}

/*
 * As gmap_rearm(), for a range the caller has just unplaced itself
 * (gmap_unplace()).  In a window whose faults are served inline that is
 * all: an untouched page is PROT_NONE (uffd.c), and a touch is served
 * from its grant state (signal.c).  A range that cannot be armed is made
 * a poisoned page (anonymous, marked), which is what the callers then
 * count it as (GS_BAD); if even that fails it stays an inaccessible page
 * of the placeholder file, marked.
 */
int gmap_arm_unplaced(struct gmap_window *w, void *addr, size_t len)
{
	if (w->h.inline_mode)
		return 0;
	if (gmap_uffd_register(w, addr, len) < 0 ||
	    mprotect(addr, len, PROT_READ | PROT_WRITE) < 0) {
		int e = errno;

		if (gmap_poison(w, addr, len) < 0)
			gmap_no_fork(w, addr, len);
		errno = e;
		return -1;
	}
	return 0;
}

/* ---- after a failed placement -------------------------------------------
 *
 * Two calls can fail after the kernel has already taken our page away:
 * mmap(MAP_FIXED) of a file whose mmap handler refuses (gntdev, when the
 * hypervisor refuses the map: on Linux 6.1 and on 6.18 alike the range is
 * then a hole), and mremap(MREMAP_FIXED), which unmaps its destination
 * before it checks the source.  Until the hole is filled, another thread's
 * mmap can be handed it, and filling it with MAP_FIXED would then replace
 * that thread's memory.  So the fill is MAP_FIXED_NOREPLACE, page by page.
 * A page found mapped is ours still (the call failed before its unmap, or
 * the kernel put the range back, as newer kernels do for early failures)
 * or someone else's: every range libgmap and the shim own carries
 * MADV_DONTFORK ("dc" in /proc/self/smaps), which a mapping fresh from
 * another thread's mmap does not, or is an unarmed page or a placeholder,
 * a mapping of one of the window's memfds (GMAP_UNARMED_NAME,
 * GMAP_PLACEHOLDER_NAME), which nothing else maps.
 * Slow, and only ever on a failure path.
 */

/*
 * Lines of /proc/self/smaps through a buffer on the stack: this runs when
 * the process may be out of VMAs, where malloc (and so fopen and getline)
 * can fail.  Lines longer than the buffer (a long path name) are cut; the
 * ones read here (ranges and VmFlags) are short.
 */
struct line_reader {
	int fd;
	size_t len, off;
	char buf[4096];
};

static char *next_line(struct line_reader *r)
{
	for (;;) {
		char *nl = memchr(r->buf + r->off, '\n', r->len - r->off);
		ssize_t got;

		if (nl) {
			char *line = r->buf + r->off;

			*nl = 0;
			r->off = (size_t)(nl + 1 - r->buf);
			return line;
		}
		if (r->off == 0 && r->len == sizeof(r->buf) - 1)
			r->len = 0;  /* a line longer than the buffer: drop it */
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
		got = read(r->fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return NULL;
		r->len += (size_t)got;
	}
}

/*
 * For each page i of @addr with fill[i] == GMAP_FILL_OURS (found mapped),
 * whether the mapping that holds it is ours (MADV_DONTFORK, or one of the
 * window's memfds); those that are not become
 * GMAP_FILL_LOST.  One read of /proc/self/smaps for the range.
 */
static void check_owner(uint8_t *addr, size_t n, uint8_t *fill)
{
	uintptr_t a = (uintptr_t)addr, end = a + (n << GMAP_PAGE_SHIFT);
	uintptr_t lo = 0, hi = 0;
	bool ours = false;
	struct line_reader r = { .fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC) };
	char *line;

	if (r.fd < 0) {
		/* Cannot tell: a page of ours is leaked rather than someone
		 * else's ever replaced. */
		for (size_t i = 0; i < n; i++)
			if (fill[i] == GMAP_FILL_OURS)
				fill[i] = GMAP_FILL_LOST;
		return;
	}
	while ((line = next_line(&r))) {
		uintptr_t l, h;
		char *dash = strchr(line, '-'), *sp = strchr(line, ' ');

		if (dash && sp && dash < sp &&
		    sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &l, &h) == 2) {
			lo = l;
			hi = h;
			/* An unarmed page or a placeholder: a window's
			 * memfd, by name. */
			ours = strstr(line, " /memfd:" GMAP_UNARMED_NAME) ||
			       strstr(line, " /memfd:" GMAP_PLACEHOLDER_NAME);
			if (lo >= end)
				break;
			continue;
		}
		if (strncmp(line, "VmFlags:", 8) || hi <= a)
			continue;
		/* Ours: marked (dc), or one of the window's files. */
		if (ours || strstr(line, " dc"))
			continue;
		for (uintptr_t p = lo > a ? lo : a; p < hi && p < end;
		     p += GMAP_PAGE_SIZE) {
			size_t i = (p - a) >> GMAP_PAGE_SHIFT;

			if (fill[i] == GMAP_FILL_OURS)
				fill[i] = GMAP_FILL_LOST;
		}
	}
	close(r.fd);
}

/* Whether anything is mapped at @page: mincore() fails with ENOMEM only
 * for an unmapped address, and needs no VMA of its own (an mmap to test
 * for a hole fails with ENOMEM at the process's limit of VMAs even where
 * the page is mapped). */
static bool page_mapped(void *page)
{
	unsigned char v;

	return mincore(page, GMAP_PAGE_SIZE, &v) == 0 || errno != ENOMEM;
}

void gmap_fill_holes(void *addr, size_t len, uint8_t *fill)
{
	size_t i, n = len >> GMAP_PAGE_SHIFT;
	bool mapped = false;

	for (i = 0; i < n; i++) {
		uint8_t *page = (uint8_t *)addr + (i << GMAP_PAGE_SHIFT);
		void *m = MAP_FAILED;

		errno = EEXIST;
		gmap_place_enter();
		if (!page_mapped(page))
			m = gmap_mmap_raw(page, GMAP_PAGE_SIZE, PROT_NONE,
					  MAP_PRIVATE | MAP_ANONYMOUS |
					  MAP_NORESERVE | MAP_FIXED_NOREPLACE,
					  -1, 0);
		if (m == page) {
			madvise(page, GMAP_PAGE_SIZE, MADV_DONTFORK);
			gmap_place_leave();
			fill[i] = GMAP_FILL_HOLE;
			continue;
		}
		gmap_place_leave();
		if (m != MAP_FAILED)  /* a kernel without NOREPLACE: a hint */
			gmap_munmap_raw(m, GMAP_PAGE_SIZE);
		/* EEXIST: mapped, by whom is checked below; anything else
		 * is a hole we cannot fill, which we must not call ours. */
		fill[i] = m != MAP_FAILED || errno == EEXIST ? GMAP_FILL_OURS :
			  GMAP_FILL_LOST;
		mapped |= fill[i] == GMAP_FILL_OURS;
	}
	if (mapped)
		check_owner(addr, n, fill);
}

bool gmap_ref_lost(struct gmap_window *w, uint32_t ref)
{
	uint32_t n = atomic_load_explicit(&w->lost.n, memory_order_acquire);

	if (n > GMAP_MAX_LOST)
		return true;  /* too many to remember: trust no page */
	for (uint32_t i = 0; i < n; i++)
		if (w->lost.refs[i] == ref)
			return true;
	return false;
}

static void lost_add(struct gmap_window *w, uint32_t ref)
{
	window_lock(w);
	uint32_t n = atomic_load(&w->lost.n);

	if (n < GMAP_MAX_LOST)
		w->lost.refs[n] = ref;
	if (n <= GMAP_MAX_LOST)
		atomic_store_explicit(&w->lost.n, n + 1, memory_order_release);
	window_unlock(w);
}

int gmap_refill(struct gmap_window *w, void *addr, size_t len)
{
	uint32_t ref0 = gmap_ref_of(w, (uintptr_t)addr);
	size_t i, n = len >> GMAP_PAGE_SHIFT, lost = 0;
	/* On the stack for the longest run a fault maps (inline.c). */
	uint8_t few[GMAP_RUN_MAX], *fill = n <= sizeof(few) ? few : malloc(n);

	if (!fill) {
		/* Cannot even track the pages: treat them all as lost. */
		for (i = 0; i < n; i++)
			lost_add(w, ref0 + (uint32_t)i);
		errno = EEXIST;
		return -1;
	}
	gmap_fill_holes(addr, len, fill);
	for (i = 0; i < n; i++) {
		uint8_t *p = (uint8_t *)addr + (i << GMAP_PAGE_SHIFT);

		if (fill[i] == GMAP_FILL_OURS)
			continue;
		/* A hole's fill is an inline window's untouched page
		 * already; with handler threads it is armed over. */
		if (fill[i] == GMAP_FILL_HOLE) {
			if (!w->h.inline_mode &&
			    gmap_rearm(w, p, GMAP_PAGE_SIZE) < 0)
				GMAP_LOG(w, XTL_ERROR, errno, "d%u ref %zu: "
					 "cannot re-arm %p after a refused map; "
					 "it stays inaccessible", w->domid,
					 ref0 + i, (void *)p);
			continue;
		}
		GMAP_ERR(w, "d%u ref %zu: a refused map left a hole at %p and "
			 "another mapping of this process took it; the ref is "
			 "lost to this window (libgmap never maps or unmaps "
			 "that page again)", w->domid, ref0 + i, (void *)p);
		lost_add(w, ref0 + (uint32_t)i);
		lost++;
	}
	if (fill != few)
		free(fill);
	if (lost) {
		errno = EEXIST;
		return -1;
	}
	return 0;
}

int gmap_each_owned(struct gmap_window *w,
		    int (*fn)(struct gmap_window *, void *, size_t))
{
	uint32_t n = atomic_load(&w->lost.n), i, j;
	uint32_t sorted[GMAP_MAX_LOST];
	uint64_t from = 0;
	int rc = 0;

	if (n > GMAP_MAX_LOST) {
		errno = EEXIST;
		return -1;  /* cannot say which pages are ours: leave it all */
	}
	memcpy(sorted, w->lost.refs, n * sizeof(sorted[0]));
	for (i = 1; i < n; i++)  /* insertion sort of at most 64 */
		for (j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
			uint32_t t = sorted[j];

			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	for (i = 0; i <= n; i++) {
		uint64_t to = i < n ? sorted[i] : w->nr_refs;

		if (to > from && fn(w, gmap_addr_of(w, (uint32_t)from),
				    (size_t)(to - from) << GMAP_PAGE_SHIFT) < 0)
			rc = -1;
		from = to + 1;
	}
	return rc;
}
