/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault.c - the handler threads: they read the window's userfaultfd
 * messages and serve each faulting page, mapping its grant or poisoning
 * it (the userfaultfd itself and its ioctls are uffd.c's).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "private.h"

#define MSG_BATCH 64

static void log_bad(struct gmap_window *w, uint32_t ref, const char *what,
		    int16_t st, int err)
{
	GMAP_LOG(w, XTL_ERROR, st == GMAP_ST_BACKEND ? err : -1,
		 "d%u ref %u addr %p: cannot map grant for %s: %s (status %d)",
		 w->domid, ref, gmap_addr_of(w, ref), what,
		 gmap_status_str(st), st);
}

/*
 * Serve one fault on @ref, @what ("a write fault", ...) for the log.  In a
 * handler thread (@tid: the faulting thread, 0 if unknown) or, inline, in
 * the faulting thread itself (inline.c): then nobody waits to be woken
 * and nobody needs a kick, since the thread retries its access as soon as
 * this returns.  Always ends with the page mapped or poisoned and the
 * waiters woken: a faulting thread never stays blocked.
 */
int gmap_fault_serve(struct gmap_window *w, uint32_t ref, const char *what,
		     pid_t tid)
{
	void *addr = gmap_addr_of(w, ref);
	struct gmap_grant *g;
	uint32_t ro, s, bits = 0;
	bool run_tried = false;
	int16_t st = 0;
	int rc, err;

again:
	window_lock(w);
	g = gmap_grant_wait(w, ref, true);
	if (!g) {
		window_unlock(w);
		GMAP_LOG(w, XTL_ERROR, ENOMEM, "d%u ref %u: no memory for "
			 "grant state", w->domid, ref);
		/* Without state the page can only be made inaccessible;
		 * the SIGSEGV handler chains when it finds no state.  If
		 * even that fails, the thread is sent the signal. */
		if (gmap_poison(w, addr, GMAP_PAGE_SIZE) < 0 &&
		    !w->h.inline_mode)
			gmap_signal_kick(w, tid, addr);
		gmap_uffd_wake(w, addr, GMAP_PAGE_SIZE);
		return -1;
	}
	s = atomic_load(&g->state);
	if (gs_state(s) != GS_EMPTY) {
		/* Mapped or poisoned by someone else meanwhile: a duplicate
		 * message of a page another thread also faulted.  Or a bad
		 * page that could not be poisoned: a thread that touches it
		 * faults here again, and only a signal ends its wait. */
		window_unlock(w);
		if (gs_state(s) == GS_BAD && (s & GS_NOPOISON) &&
		    !w->h.inline_mode)
			gmap_signal_kick(w, tid, addr);
		gmap_uffd_wake(w, addr, GMAP_PAGE_SIZE);
		return 0;
	}
	if (w->around > 1 && w->around_dir == GMAP_AROUND_FORWARD &&
	    !(s & GS_TRIED) && !run_tried) {
		/*
		 * Fault-around forward: the faulting ref and the neighbours
		 * after it as one run, one backend map (on sim one mmap) for
		 * all of them.  If that maps nothing (a read-only or bad grant
		 * in the run, the budget used up, another thread first), the
		 * ref alone below, and its neighbours after it, as before.
		 */
		uint64_t room = w->nr_refs - ref;
		uint32_t lo;
		int n;

		window_unlock(w);
		run_tried = true;
		n = gmap_map_run(w, ref, room < w->around ? (uint32_t)room :
				 w->around, 1, 1, true, &lo);
		if (n > 0) {
			if (n > 1) {
				atomic_fetch_add(&w->c->around_runs, 1);
				atomic_fetch_add(&w->c->around_pages,
						 (uint64_t)n - 1);
			}
			/* The run woke its waiters, this thread's included:
			 * a handler is busy (gmap_wake_waiters). */
			return 0;
		}
		goto again;
	}
	gmap_grant_claim(w, ref, g);
	window_unlock(w);

	rc = gmap_map_claimed(w, ref, GMAP_ACCESS_ANY, true, &ro, &st);
	err = errno;
	if (rc < 0 && st == GMAP_ST_LOST) {
		/* Not our page any more: neither retried nor poisoned. */
		window_lock(w);
		gmap_grant_commit(w, ref, g, GS_BAD, 0, st);
		atomic_fetch_add(&w->c->bad_grants, 1);
		pthread_cond_broadcast(&w->cv);
		window_unlock(w);
		log_bad(w, ref, what, st, err);
		gmap_uffd_wake(w, addr, GMAP_PAGE_SIZE);
		return rc;
	}
	if (rc < 0 && !(s & GS_TRIED) && !atomic_load(&w->closing)) {
		/*
		 * The message may be stale: its thread may have been woken
		 * long ago by a pin or prefault of this page, which was
		 * unmapped again since (and the guest may have ended
		 * access).  Poisoning on a stale message would fault later
		 * touches of a ref the guest grants again.  So a first
		 * failure leaves the page armed and wakes its waiters: a
		 * thread that really needs the page faults again at once,
		 * and a second failure in a row poisons it.
		 */
		window_lock(w);
		gmap_grant_commit(w, ref, g, GS_EMPTY, GS_TRIED, 0);
		pthread_cond_broadcast(&w->cv);
		window_unlock(w);
		GMAP_LOG(w, XTL_DEBUG, -1, "d%u ref %u: map for a fault failed "
			 "(%s); retrying on the next fault", w->domid, ref,
			 gmap_status_str(st));
		gmap_uffd_wake(w, addr, GMAP_PAGE_SIZE);
		return -1;
	}
	if (rc < 0 && gmap_poison(w, addr, GMAP_PAGE_SIZE) < 0) {
		/* Cannot even place a PROT_NONE page (out of VMAs): the
		 * page stays armed, and the thread is sent the SIGSEGV it
		 * would have got, address included, once the state says
		 * why (the handler reads it). */
		GMAP_LOG(w, XTL_ERROR, errno, "d%u ref %u: cannot poison %p",
			 w->domid, ref, addr);
		gmap_budget_enomem(w);
		bits = GS_NOPOISON;
	}

	window_lock(w);
	if (rc == 0) {
		gmap_commit_mapped(w, ref, ro);
	} else {
		gmap_grant_commit(w, ref, g, GS_BAD, bits, st);
		atomic_fetch_add(&w->c->bad_grants, 1);
	}
	pthread_cond_broadcast(&w->cv);
	window_unlock(w);

	if (rc < 0) {
		log_bad(w, ref, what, st, err);
		if ((bits & GS_NOPOISON) && !w->h.inline_mode)
			gmap_signal_kick(w, tid, addr);
		gmap_uffd_wake(w, addr, GMAP_PAGE_SIZE);
		return rc;
	}
	/* The faulting thread is woken once its neighbours are mapped too:
	 * it finds them there.  Threads waiting on them are woken as the
	 * handlers read their messages and find them mapped. */
	if (w->around > 1)
		gmap_fault_around(w, ref);
	gmap_uffd_wake(w, addr, GMAP_PAGE_SIZE);
	return 0;
}


/* Serve the fault of message @m, read at @t0 (its serve time counts
 * from there: a message read in a batch waits for those before it). */
static void serve(struct gmap_window *w, const struct uffd_msg *m,
		  uint64_t t0)
{
	uintptr_t a = (uintptr_t)m->arg.pagefault.address;
	uint64_t off;

	if (m->event != UFFD_EVENT_PAGEFAULT)
		return;
	atomic_fetch_add(&w->c->faults, 1);
	off = a - (uintptr_t)w->base;
	if (a < (uintptr_t)w->base || off >= w->len) {
		/* Cannot happen: only the window is registered. */
		GMAP_ERR(w, "fault at %#lx outside the window", (unsigned long)a);
		return;
	}
	gmap_fault_serve(w, (uint32_t)(off >> GMAP_PAGE_SHIFT),
			 m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE ?
			 "a write fault" : "a read fault",
			 (pid_t)m->arg.pagefault.feat.ptid);
	gmap_serve_time(w, t0);
}

/*
 * handler_spin_us: read the non-blocking userfaultfd in a loop for a
 * while before sleeping in poll(), so that a fault that follows closely
 * finds the handler awake.  Returns what read() returned last.
 */
static ssize_t spin_read(struct gmap_window *w, struct uffd_msg *msgs,
			 size_t size)
{
	uint64_t until = gmap_mono_ns() + w->h.spin_ns;
	ssize_t n;

	do {
		n = read(w->h.uffd, msgs, size);
		if (n >= 0 || errno != EAGAIN || atomic_load(&w->closing))
			return n;
	} while (gmap_mono_ns() < until);
	return n;
}

/*
 * Each handler waits in an epoll set of its own, with the userfaultfd in
 * it as EPOLLEXCLUSIVE: a fault wakes one sleeping handler, not all of
 * them (with poll() every handler woke for every fault, and the others
 * found nothing to read).  The stop fd is in every set, not exclusive:
 * it wakes them all.  Returns the epoll fd, or -1 to fall back to poll().
 */
static int handler_epoll(struct gmap_window *w)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		return -1;
	ev.data.fd = w->h.uffd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, w->h.uffd, &ev) < 0)
		goto fail;
	ev.events = EPOLLIN;
	ev.data.fd = w->h.stop_fd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, w->h.stop_fd, &ev) < 0)
		goto fail;
	return ep;
fail:
	close(ep);
	return -1;
}

/*
 * Wait until the userfaultfd has a message (1), the handlers must stop
 * (0), or waiting failed (-1, logged).
 *
 * Why a wait and then a read, not one blocking read(2): a reader blocked
 * in a userfaultfd leaves only for a message or a signal.  Stopping it at
 * close would take a signal (the application's to choose, not ours) or a
 * fault the closer makes and a handler resolves, and a closer that faults
 * hangs if no handler is left to resolve it or the kernel refuses to fill
 * the page.  What one system call fewer would save is small: epoll_wait()
 * on a ready fd costs 0.5 us on this 2-CPU PVM guest, against about 45 us
 * for a first touch served by a handler.  And readers wait on the
 * userfaultfd non-exclusively, so several handlers blocked in read()
 * would all wake for every fault.
 */
static int handler_wait(struct gmap_window *w, int ep)
{
	struct pollfd pfd[2] = {
		{ .fd = w->h.uffd, .events = POLLIN },
		{ .fd = w->h.stop_fd, .events = POLLIN },
	};
	struct epoll_event ev[2];
	int n;

	for (;;) {
		/* poll() on a blocking userfaultfd reports POLLERR at once,
		 * so the fd is non-blocking and waited on with the stop fd. */
		n = ep >= 0 ? epoll_wait(ep, ev, 2, -1) : poll(pfd, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			GMAP_LOG(w, XTL_CRITICAL, errno, "handler wait failed");
			return -1;
		}
		if (ep < 0)
			return pfd[1].revents ? 0 : 1;
		for (int i = 0; i < n; i++)
			if (ev[i].data.fd == w->h.stop_fd)
				return 0;
		return 1;
	}
}

/*
 * How much one read takes.  A single handler takes every message waiting
 * at once (MSG_BATCH).  With several, each takes one: a handler that took
 * two serves them one after the other while another handler, woken for
 * the second, finds nothing to read (EAGAIN), so the faults were served
 * as by one handler.  Measured with gmap-stress --bench --bench-rows
 * "2 handler" (2 faulting threads, 2 handlers vs 1): 1.12-1.19x with
 * batches, 1.27-1.35x with one message a read, same boot.  Reading only
 * one while another handler is idle was no better (1.14-1.19x): a handler
 * wakes its thread before it counts itself idle, and that thread's next
 * fault is taken in the same batch.
 */
static size_t read_size(const struct gmap_window *w)
{
	return (w->h.want > 1 ? 1 : MSG_BATCH) * sizeof(struct uffd_msg);
}

static void *handler_main(void *arg)
{
	struct gmap_window *w = arg;
	struct uffd_msg msgs[MSG_BATCH];
	size_t size = read_size(w);
	int ep = handler_epoll(w);

	for (;;) {
		uint64_t t0;
		ssize_t n;
		int i, j;

		n = w->h.spin_ns ? spin_read(w, msgs, size) : -1;
		if (n > 0)
			goto got;
		if (handler_wait(w, ep) <= 0)
			break;
		n = read(w->h.uffd, msgs, size);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue; /* another handler took it */
			GMAP_LOG(w, XTL_CRITICAL, errno, "userfaultfd read failed");
			break;
		}
got:
		t0 = gmap_mono_ns();
		atomic_fetch_add(&w->h.busy, 1);
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
				serve(w, &msgs[i], t0);
			else
				atomic_fetch_add(&w->c->faults, 1);
		}
		atomic_fetch_sub(&w->h.busy, 1);
	}
	if (ep >= 0)
		close(ep);
	return NULL;
}

int gmap_handlers_start(struct gmap_window *w)
{
	sigset_t all, old;
	unsigned int i;
	char name[32];
	int rc;

	if (w->h.inline_mode)
		return 0;  /* the faulting threads serve themselves */
	w->h.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->h.stop_fd < 0)
		return -1;
	/* Handlers take no asynchronous signals: those belong to the
	 * application's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < w->h.want; i++) {
		rc = pthread_create(&w->h.threads[i], NULL, handler_main, w);
		if (rc) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			gmap_handlers_stop(w);
			errno = rc;
			return -1;
		}
		w->h.nr = i + 1;
		/* Thread names are at most 15 characters. */
		snprintf(name, sizeof(name), "gmap-d%u-h%u", w->domid, i);
		name[15] = 0;
		pthread_setname_np(w->h.threads[i], name);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

void gmap_handlers_stop(struct gmap_window *w)
{
	uint64_t one = 1;
	unsigned int i;

	atomic_store(&w->closing, true);
	/* Inline: the faults being served end soon (a wait for the budget
	 * or a paged-out frame gives up on closing); nothing below may go
	 * before they do. */
	if (w->h.inline_mode)
		gmap_signal_drain(w);
	if (w->h.stop_fd >= 0 && write(w->h.stop_fd, &one, sizeof(one)) < 0)
		GMAP_LOG(w, XTL_ERROR, errno, "cannot stop handlers");
	for (i = 0; i < w->h.nr; i++)
		pthread_join(w->h.threads[i], NULL);
	w->h.nr = 0;
	if (w->h.stop_fd >= 0)
		close(w->h.stop_fd);
	w->h.stop_fd = -1;
}
