/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault.c - the handler threads that read the window's userfaultfd
 * messages and hand each faulting page to the grant state machine (the
 * userfaultfd itself and its ioctls are uffd.c's).
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

#define MSG_BATCH 64

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
