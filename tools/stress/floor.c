/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * floor.c - what batched first touch costs with no libgmap and no handler
 * thread at all: the faulting thread places the pages itself.  And what
 * an I/O's map and unmap cost in a window's design with no libgmap, its
 * pages left unarmed as an inline window leaves them (st_floor_io()) or
 * armed for handler threads (st_floor_io_armed(), at the end).
 *
 * The window's range is reserved PROT_NONE, as an inline window's
 * untouched pages are, so a first touch raises SIGSEGV in the touching
 * thread, whose handler maps the next @batch guest pages there with one
 * mmap(MAP_FIXED | MAP_POPULATE), as the sim backend places a run.  No
 * round trip to another thread and no bookkeeping: whatever this costs
 * per page, a design that maps with mmap cannot beat on this machine.  It
 * is the floor row of --bench under the inline first-touch and
 * fault-around targets.  (A range registered with a userfaultfd in SIGBUS
 * mode, the inline mode's way until 2026-12-06, costs more per fault: the
 * kernel's fault path goes through userfaultfd.)
 *
 * Like gntdev's mappings, and the sim's that stand for them, a placement
 * never merges with the one before it: each is a VMA of its own.  The
 * kernel merges adjacent shared mappings of one open file at adjacent
 * offsets, so the guest's memory is opened twice and the placements
 * alternate between the two (backend_sim.c does the same).  Mapping one
 * file, each placement would only grow the VMA before it, which no grant
 * map can do: that measured 0.28 us a page against 0.45 us here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1  /* memfd_create */
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "benchrow.h"
#include "stress.h"

static uint8_t *floor_base;
static uint32_t floor_pages, floor_batch;
static int floor_fd[2];

static void on_sigsegv(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr & ~(uintptr_t)4095;
	uint32_t first = (uint32_t)((a - (uintptr_t)floor_base) >> 12);
	uint32_t n = floor_batch;

	(void)sig;
	(void)uc;
	if (a < (uintptr_t)floor_base || first >= floor_pages)
		abort();  /* not ours: nothing else here faults */
	if (first + n > floor_pages)
		n = floor_pages - first;
	if (mmap((void *)a, (size_t)n << 12, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_POPULATE,
		 floor_fd[first / floor_batch % 2], (off_t)first << 12) ==
	    MAP_FAILED)
		abort();
}

/* Slot @i of @ring slots of @k pages from @slots made empty again
 * (st_floor_io()). */
static void *unarmed(uint8_t *slots, int fd, uint32_t k, uint32_t ring,
		     uint32_t i)
{
	return bench_floor_slot(slots + ((size_t)i * k << 12), (size_t)k << 12,
				fd, i, ring);
}

/* One write per page, as bench.c's touch_each; ns per page. */
static double touch_pages(uint8_t *base, uint32_t n)
{
	uint64_t t0 = st_now_ns();

	for (uint32_t i = 0; i < n; i++)
		*(volatile uint64_t *)(void *)(base + ((size_t)i << 12) + 8) = i;
	return (double)(st_now_ns() - t0) / n;
}

/*
 * First touch of @pages guest pages of @mem_fd placed @batch at a time by
 * the touching thread; ns per page, and in *@kernel the kernel's own write
 * fault per page on a shared mapping of the same pages, measured just
 * before.  -1 if the range or a second open of the memory cannot be had.
 */
double st_floor_inthread(int mem_fd, uint32_t pages, uint32_t batch,
			 double *kernel)
{
	struct sigaction sa = { .sa_sigaction = on_sigsegv,
				.sa_flags = SA_SIGINFO }, old;
	size_t len = (size_t)pages << 12;
	double ns = -1;
	char path[32];
	uint8_t *g;

	g = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mem_fd, 0);
	if (g == MAP_FAILED)
		return -1;
	*kernel = touch_pages(g, pages);
	munmap(g, len);

	floor_base = mmap(NULL, len, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (floor_base == MAP_FAILED)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mem_fd);
	floor_fd[0] = mem_fd;
	floor_fd[1] = open(path, O_RDWR | O_CLOEXEC);
	if (floor_fd[1] >= 0) {
		floor_pages = pages;
		floor_batch = batch;
		sigaction(SIGSEGV, &sa, &old);
		ns = touch_pages(floor_base, pages);
		sigaction(SIGSEGV, &old, NULL);
		close(floor_fd[1]);
	}
	munmap(floor_base, len);
	return ns;
}

/* The per-I/O floors' ring of slots, and how an I/O gives its slot back
 * (0, or -1): as an inline window's unarmed page, or armed for handler
 * threads. */
struct ring {
	uint8_t *slots;
	size_t len;              /* bytes a slot */
	uint32_t k, nr;          /* pages a slot, slots */
	int fd, uffd;            /* the empty file; the userfaultfd, or -1 */
	int (*give_back)(const struct ring *r, uint32_t i);
};

/*
 * @ios I/Os over the ring: each places the request's guest frames in its
 * slot with one mmap(MAP_FIXED | MAP_POPULATE), writes each page, and
 * gives the slot back.  ns per I/O, or -1 if a call fails.
 */
static double ring_ios(const struct ring *r, int mem_fd, uint32_t ios)
{
	uint64_t t0 = st_now_ns();

	for (uint32_t io = 0; io < ios; io++) {
		uint32_t i = io % r->nr;
		uint8_t *m = mmap(r->slots + i * r->len, r->len,
				  PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_FIXED | MAP_POPULATE, mem_fd,
				  (off_t)((size_t)i * r->k) << 12);

		if (m == MAP_FAILED)
			return -1;
		for (uint32_t p = 0; p < r->k; p++)
			*(volatile uint64_t *)(void *)(m + ((size_t)p << 12)) = io;
		if (r->give_back(r, i) < 0)
			return -1;
	}
	return (double)(st_now_ns() - t0) / ios;
}

static int give_back_unarmed(const struct ring *r, uint32_t i)
{
	return unarmed(r->slots, r->fd, r->k, r->nr, i) == MAP_FAILED ? -1 : 0;
}

/*
 * The floor under the per-I/O rows: @ios I/Os of @k pages over a ring of
 * @ring slots, each I/O placing the request's guest frames in its slot
 * with one mmap(MAP_FIXED | MAP_POPULATE) and putting the slot's
 * PROT_NONE page of an empty memfd back over them, as a window's pin and
 * unpin do with an inline window's unarmed pages, with no libgmap.  Each
 * slot's page sits at an offset out of step with its neighbours', so that
 * no two merge (libgmap's colours).  Whatever this costs, a design that
 * never leaves a hole in its window pays it; ns per I/O, or -1 if the
 * slots cannot be set up.
 */
double st_floor_io(int mem_fd, uint32_t k, uint32_t ring, uint32_t ios)
{
	struct ring r = { .len = (size_t)k << 12, .k = k, .nr = ring,
			  .uffd = -1, .give_back = give_back_unarmed };
	double ns = -1;

	r.fd = memfd_create("gmap-stress-floor", MFD_CLOEXEC);
	if (r.fd < 0)
		return -1;
	r.slots = mmap(NULL, r.len * ring, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r.slots == MAP_FAILED)
		goto out;
	for (uint32_t i = 0; i < ring; i++)
		if (give_back_unarmed(&r, i) < 0)
			goto unmap;
	ns = ring_ios(&r, mem_fd, ios);
unmap:
	munmap(r.slots, r.len * ring);
out:
	close(r.fd);
	return ns;
}

static int give_back_armed(const struct ring *r, uint32_t i)
{
	return st_uffd_arm(r->slots + i * r->len, r->len, r->fd,
			   (off_t)(i * r->len), r->uffd);
}

/*
 * The floor under the default per-I/O row with handler threads: as
 * st_floor_io(), but each slot given back is armed for faults as a
 * window's handler threads need it (libgmap/placeholder.c): a PROT_NONE
 * shared mapping of a placeholder file as long as the ring, at the slot's
 * own offset (so that it merges with the placeholders beside it, as a
 * window's do), registered with a userfaultfd for missing pages, then
 * opened (st_uffd_arm()).  ns per I/O, or -1 with no userfaultfd or no
 * slots.
 */
double st_floor_io_armed(int mem_fd, uint32_t k, uint32_t ring, uint32_t ios)
{
	struct ring r = { .slots = MAP_FAILED, .len = (size_t)k << 12,
			  .k = k, .nr = ring, .give_back = give_back_armed };
	double ns = -1;

	r.fd = memfd_create("gmap-stress-floor-armed", MFD_CLOEXEC);
	r.uffd = st_uffd_open();
	if (r.fd < 0 || r.uffd < 0 ||
	    ftruncate(r.fd, (off_t)(r.len * ring)) < 0)
		goto out;
	r.slots = mmap(NULL, r.len * ring, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r.slots != MAP_FAILED &&
	    st_uffd_arm(r.slots, r.len * ring, r.fd, 0, r.uffd) == 0)
		ns = ring_ios(&r, mem_fd, ios);
out:
	if (r.slots != MAP_FAILED)
		munmap(r.slots, r.len * ring);
	if (r.uffd >= 0)
		close(r.uffd);
	if (r.fd >= 0)
		close(r.fd);
	return ns;
}
