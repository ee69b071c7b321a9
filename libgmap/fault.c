/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault.c - userfaultfd: opening it, and the handler threads that read its
 * messages and hand each faulting page to the grant state machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "private.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)  /* Linux 6.1 /dev/userfaultfd */
#endif

#define MSG_BATCH 64

/*
 * A full-mode userfaultfd (no UFFD_USER_MODE_ONLY) also catches faults the
 * kernel takes on our behalf: a read(2) or recv(2) into an untouched window
 * page blocks until the handler maps it, which is how backends do I/O into
 * guest buffers.  Full mode needs /dev/userfaultfd access, CAP_SYS_PTRACE
 * or vm.unprivileged_userfaultfd=1; without them only user-mode faults can
 * be caught and such a read fails with EFAULT, so we say so loudly.
 */
static int uffd_create(struct gmap_window *w)
{
	int flags = O_CLOEXEC | O_NONBLOCK, fd, devfd;

	devfd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (devfd >= 0) {
		fd = ioctl(devfd, USERFAULTFD_IOC_NEW, flags);
		close(devfd);
		if (fd >= 0)
			return fd;
	}
	fd = (int)syscall(SYS_userfaultfd, flags);
	if (fd >= 0)
		return fd;
	if (errno != EPERM)
		return -1;
	fd = (int)syscall(SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY);
	if (fd < 0) {
		GMAP_ERR(w, "userfaultfd is not allowed for this process: give "
			 "it read-write access to /dev/userfaultfd, or "
			 "CAP_SYS_PTRACE, or set vm.unprivileged_userfaultfd=1");
		errno = EPERM;
		return -1;
	}
	w->user_mode_only = true;
	GMAP_LOG(w, XTL_WARN, -1, "d%u: only user-mode faults can be served "
		 "(no access to /dev/userfaultfd): read(2), recv(2) and other "
		 "system calls into untouched window pages will fail with "
		 "EFAULT; pin or prefault such buffers first", w->domid);
	return fd;
}

int gmap_uffd_open(struct gmap_window *w)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_THREAD_ID };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)w->base, .len = w->len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	w->uffd = uffd_create(w);
	if (w->uffd < 0)
		return -1;
	/* No UNMAP/REMAP/REMOVE events on purpose: with them, our own
	 * munmap or MAP_FIXED inside the window would wait for a handler to
	 * read the event, and the handler is the one calling it. */
	if (ioctl(w->uffd, UFFDIO_API, &api) < 0) {
		api.features = 0;
		if (ioctl(w->uffd, UFFDIO_API, &api) < 0) {
			GMAP_LOG(w, XTL_ERROR, errno, "UFFDIO_API failed");
			return -1;
		}
	}
	if (ioctl(w->uffd, UFFDIO_REGISTER, &reg) < 0) {
		GMAP_LOG(w, XTL_ERROR, errno, "cannot register window %p+%#zx "
			 "with userfaultfd", w->base, w->len);
		return -1;
	}
	return 0;
}

static void serve(struct gmap_window *w, const struct uffd_msg *m)
{
	uintptr_t a = (uintptr_t)m->arg.pagefault.address;
	uint64_t off;

	if (m->event != UFFD_EVENT_PAGEFAULT)
		return;
	atomic_fetch_add(&w->c.faults, 1);
	off = a - (uintptr_t)w->base;
	if (a < (uintptr_t)w->base || off >= w->len) {
		/* Cannot happen: only the window is registered. */
		GMAP_ERR(w, "fault at %#lx outside the window", (unsigned long)a);
		return;
	}
	gmap_grant_fault(w, (uint32_t)(off >> GMAP_PAGE_SHIFT),
			 m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE,
			 (pid_t)m->arg.pagefault.feat.ptid);
}

/*
 * handler_spin_us: read the non-blocking userfaultfd in a loop for a
 * while before sleeping in poll(), so that a fault that follows closely
 * finds the handler awake.  Returns what read() returned last.
 */
static ssize_t spin_read(struct gmap_window *w, struct uffd_msg *msgs,
			 size_t size)
{
	uint64_t until = gmap_mono_ns() + w->spin_ns;
	ssize_t n;

	do {
		n = read(w->uffd, msgs, size);
		if (n >= 0 || errno != EAGAIN || atomic_load(&w->closing))
			return n;
	} while (gmap_mono_ns() < until);
	return n;
}

static void *handler_main(void *arg)
{
	struct gmap_window *w = arg;
	struct uffd_msg msgs[MSG_BATCH];
	struct pollfd pfd[2] = {
		{ .fd = w->uffd, .events = POLLIN },
		{ .fd = w->stop_fd, .events = POLLIN },
	};

	for (;;) {
		ssize_t n;
		int i, j;

		n = w->spin_ns ? spin_read(w, msgs, sizeof(msgs)) : -1;
		if (n > 0)
			goto got;
		/* poll() on a blocking userfaultfd reports POLLERR at once,
		 * so the fd is non-blocking and we poll it with the stop fd. */
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			GMAP_LOG(w, XTL_CRITICAL, errno, "handler poll failed");
			break;
		}
		if (pfd[1].revents)
			break;
		n = read(w->uffd, msgs, sizeof(msgs));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue; /* another handler took it */
			GMAP_LOG(w, XTL_CRITICAL, errno, "userfaultfd read failed");
			break;
		}
got:
		n /= (ssize_t)sizeof(msgs[0]);
		for (i = 0; i < n; i++) {
			/* Several threads faulting one page queue one message
			 * each; one map and one wake serve them all. */
			for (j = 0; j < i; j++)
				if (msgs[j].event == msgs[i].event &&
				    msgs[j].arg.pagefault.address ==
				    msgs[i].arg.pagefault.address)
					break;
			if (j == i)
				serve(w, &msgs[i]);
			else
				atomic_fetch_add(&w->c.faults, 1);
		}
	}
	return NULL;
}

int gmap_handlers_start(struct gmap_window *w)
{
	sigset_t all, old;
	unsigned int i;
	char name[32];
	int rc;

	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->stop_fd < 0)
		return -1;
	/* Handlers take no asynchronous signals: those belong to the
	 * application's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < w->want_handlers; i++) {
		rc = pthread_create(&w->handlers[i], NULL, handler_main, w);
		if (rc) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			gmap_handlers_stop(w);
			errno = rc;
			return -1;
		}
		w->nr_handlers = i + 1;
		/* Thread names are at most 15 characters. */
		snprintf(name, sizeof(name), "gmap-d%u-h%u", w->domid, i);
		name[15] = 0;
		pthread_setname_np(w->handlers[i], name);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

void gmap_handlers_stop(struct gmap_window *w)
{
	uint64_t one = 1;
	unsigned int i;

	atomic_store(&w->closing, true);
	if (w->stop_fd >= 0 && write(w->stop_fd, &one, sizeof(one)) < 0)
		GMAP_LOG(w, XTL_ERROR, errno, "cannot stop handlers");
	for (i = 0; i < w->nr_handlers; i++)
		pthread_join(w->handlers[i], NULL);
	w->nr_handlers = 0;
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	w->stop_fd = -1;
}
