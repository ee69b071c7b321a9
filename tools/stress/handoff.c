/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * handoff.c - the floor under --bench's "2 handler threads vs 1": first
 * touches served by handler threads through a userfaultfd, as libgmap's
 * thread mode serves them, with nothing of libgmap's.
 *
 * The range is a shared mapping of an empty memfd registered for missing
 * pages, as a window's placeholders are (libgmap/placeholder.c).  Each
 * handler waits in an epoll set of its own with the userfaultfd in it as
 * EPOLLEXCLUSIVE and a stop eventfd, reads one message at a time, places
 * the guest's page with one mmap(MAP_FIXED | MAP_POPULATE) (alternating
 * two opens of the guest's memory, so that no two placements merge, as
 * backend_sim.c does) and wakes the faulting thread: libgmap's own way
 * (libgmap/fault.c) without grant state, locks, budget or statistics.
 * What a second handler gives here, with the kernel's wake-ups and the
 * placement alone, is what libgmap's second handler can give at most.
 *
 * (A hand-off through pipes instead, which the kernel wakes "sync", on
 * the waker's CPU, gave 3.5x for 2 handlers on a 2-CPU PVM guest where
 * this gave 1.3x: a userfaultfd's wake-ups, of the handler at the fault
 * and of the faulting thread at UFFDIO_WAKE, are not sync, and nothing a
 * handler does can make them so.)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1  /* memfd_create */
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stress.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#define HANDOFF_MAX 8

struct handoff {
	uint8_t *base;
	size_t len;
	int fd[2];               /* the guest's memory, opened twice */
	int uffd, stop;
	uint32_t per;            /* pages per faulting thread */
	pthread_barrier_t bar;
	_Atomic unsigned int failed;
};

struct faulter {
	struct handoff *h;
	uint32_t who;
};

/* A userfaultfd as libgmap opens one (libgmap/uffd.c), non-blocking, its
 * API agreed; -1 if this process may have none.  floor.c's too. */
int st_uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int flags = O_CLOEXEC | O_NONBLOCK, fd = -1;
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
		close(dev);
	}
	if (fd < 0)
		fd = (int)syscall(SYS_userfaultfd, flags);
	if (fd < 0)
		fd = (int)syscall(SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY);
	if (fd >= 0 && ioctl(fd, UFFDIO_API, &api) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Place the page of @m and wake its thread; a placement that fails puts
 * an anonymous page there instead, so that the thread never stays
 * blocked, and is counted. */
static void serve(struct handoff *h, const struct uffd_msg *m)
{
	uintptr_t a = (uintptr_t)m->arg.pagefault.address & ~(uintptr_t)4095;
	uint32_t page = (uint32_t)((a - (uintptr_t)h->base) >> 12);
	struct uffdio_range r = { .start = a, .len = 4096 };

	if (m->event != UFFD_EVENT_PAGEFAULT)
		return;
	if (mmap((void *)a, 4096, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED | MAP_POPULATE, h->fd[page & 1],
		 (off_t)page << 12) == MAP_FAILED) {
		atomic_fetch_add(&h->failed, 1);
		if (mmap((void *)a, 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0) ==
		    MAP_FAILED) {
			perror("gmap-stress --bench: hand-off floor");
			exit(2);
		}
	}
	ioctl(h->uffd, UFFDIO_WAKE, &r);
}

static void *handler(void *arg)
{
	struct handoff *h = arg;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE,
				  .data.fd = h->uffd }, got;
	struct uffd_msg m;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, h->uffd, &ev) < 0)
		goto fail;
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = h->stop };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, h->stop, &ev) < 0)
		goto fail;
	for (;;) {
		int n = epoll_wait(ep, &got, 1, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (got.data.fd == h->stop)
			break;
		if (read(h->uffd, &m, sizeof(m)) == sizeof(m))
			serve(h, &m);
	}
	close(ep);
	return NULL;
fail:
	perror("gmap-stress --bench: hand-off floor's handler");
	exit(2);
}

static void *faulter(void *arg)
{
	struct faulter *f = arg;
	struct handoff *h = f->h;

	pthread_barrier_wait(&h->bar);
	for (uint32_t i = 0; i < h->per; i++) {
		size_t page = (size_t)f->who * h->per + i;

		*(volatile uint64_t *)(void *)(h->base + (page << 12) + 8) = i;
	}
	return NULL;
}

/*
 * [slot, slot + len), inside a reservation, armed as a window's handler
 * threads arm their placeholders (libgmap/placeholder.c): a PROT_NONE
 * shared mapping of @fd at @off put over it, registered with @uffd for
 * missing pages, then opened.  Three writes of the mmap lock, each
 * needed: a page opened before it is registered would be filled by the
 * kernel instead of faulting.  0, or -1.  floor.c's too.
 */
int st_uffd_arm(void *slot, size_t len, int fd, off_t off, int uffd)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)slot, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (mmap(slot, len, PROT_NONE, MAP_SHARED | MAP_FIXED, fd, off) ==
	    MAP_FAILED || ioctl(uffd, UFFDIO_REGISTER, &reg) < 0 ||
	    mprotect(slot, len, PROT_READ | PROT_WRITE) < 0)
		return -1;
	return 0;
}

/* Reserve the range and arm it over an empty memfd as long as it.  0, or
 * -1 (h->base is MAP_FAILED if nothing was reserved). */
static int arm(struct handoff *h)
{
	int ph = memfd_create("gmap-stress-handoff", MFD_CLOEXEC);
	int rc = -1;

	if (ph < 0)
		return -1;
	if (ftruncate(ph, (off_t)h->len) == 0)
		h->base = mmap(NULL, h->len, PROT_NONE, MAP_PRIVATE |
			       MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (h->base != MAP_FAILED)
		rc = st_uffd_arm(h->base, h->len, ph, 0, h->uffd);
	close(ph);
	return rc;
}

/*
 * First touches per second by @faulters threads, each touching its own
 * share of @pages guest pages in order, served by @handlers threads as
 * above.  -1 if there is no userfaultfd for this process, the range cannot
 * be set up, or a placement failed.
 */
double st_floor_handoff(int mem_fd, uint32_t pages, unsigned int faulters,
			unsigned int handlers)
{
	struct handoff h = { .fd = { mem_fd, -1 }, .stop = -1,
			     .len = (size_t)pages << 12,
			     .base = MAP_FAILED };
	pthread_t ft[HANDOFF_MAX], ht[HANDOFF_MAX];
	struct faulter f[HANDOFF_MAX];
	uint64_t t0, one = 1;
	double rate = -1;
	char path[32];
	unsigned int i;

	if (!faulters || faulters > HANDOFF_MAX || !handlers ||
	    handlers > HANDOFF_MAX)
		return -1;
	h.per = pages / faulters;
	h.uffd = st_uffd_open();
	if (h.uffd < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mem_fd);
	h.fd[1] = open(path, O_RDWR | O_CLOEXEC);
	h.stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h.fd[1] < 0 || h.stop < 0 || arm(&h) < 0)
		goto out;
	pthread_barrier_init(&h.bar, NULL, faulters + 1);
	/* Threads that cannot start leave the others waiting: the bench
	 * gives up, as on every failure it cannot measure around. */
	for (i = 0; i < handlers; i++)
		if (pthread_create(&ht[i], NULL, handler, &h))
			goto no_thread;
	for (i = 0; i < faulters; i++) {
		f[i] = (struct faulter){ &h, i };
		if (pthread_create(&ft[i], NULL, faulter, &f[i]))
			goto no_thread;
	}
	pthread_barrier_wait(&h.bar);
	t0 = st_now_ns();
	for (i = 0; i < faulters; i++)
		pthread_join(ft[i], NULL);
	t0 = st_now_ns() - t0;
	if (write(h.stop, &one, sizeof(one)) != sizeof(one))
		goto no_thread;
	for (i = 0; i < handlers; i++)
		pthread_join(ht[i], NULL);
	pthread_barrier_destroy(&h.bar);
	if (!atomic_load(&h.failed))
		rate = (double)h.per * faulters / ((double)t0 / 1e9);
out:
	if (h.base != MAP_FAILED)
		munmap(h.base, h.len);
	if (h.stop >= 0)
		close(h.stop);
	if (h.fd[1] >= 0)
		close(h.fd[1]);
	close(h.uffd);
	return rate;
no_thread:
	fprintf(stderr, "gmap-stress --bench: the hand-off floor's threads "
		"cannot start or stop\n");
	exit(2);
}
