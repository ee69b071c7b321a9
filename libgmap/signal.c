/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * signal.c - the SIGSEGV handler that knows the windows.
 *
 * A SIGSEGV inside a window means one of four things:
 *  - in a window whose faults are served inline, the first touch of a
 *    page (untouched pages are PROT_NONE there: uffd.c), or a touch of
 *    one being mapped or unmapped: served in this thread (inline.c);
 *  - with handler threads, the page is being re-armed (GS_BUSY: PROT_NONE
 *    for a moment, see placeholder.c): wait until it is done and retry;
 *  - the grant could not be mapped (GS_BAD, a poisoned page) or a write
 *    hit a read-only grant: the defined outcome.  Log the reason and a
 *    backtrace of this thread (libunwind), then deliver the signal to the
 *    handler installed before ours (by default: the process dies with
 *    SIGSEGV and si_addr set to the faulting address);
 *  - a race that has already resolved itself: retry (bounded).
 * Anything outside every window goes straight to the previous handler.
 *
 * The table of windows is read lock-free: a slot's reader count keeps
 * gmap_close() from freeing a window that a handler is looking at.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "private.h"

#define MAX_WINDOWS 64
#define MAX_RETRIES 1000
#define MAX_FRAMES 32
/* si_errno of gmap_signal_kick()'s signal ("gmap"): the kernel's faults
 * leave it 0. */
#define KICK_ERRNO 0x676d6170

struct slot {
	_Atomic(struct gmap_window *) w;
	_Atomic uintptr_t base, end;
	_Atomic int readers;
	/* Faults of the window being served inline (inline.c): the window
	 * stays until they are done, but they hold no leaf. */
	_Atomic int servers;
};

static struct slot slots[MAX_WINDOWS];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction old_segv;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_err;

static __thread uintptr_t last_addr __attribute__((tls_model("initial-exec")));
static __thread uint64_t last_seq __attribute__((tls_model("initial-exec")));
static __thread unsigned int repeats __attribute__((tls_model("initial-exec")));

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void deliver_to_previous(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *old = &old_segv;
	struct sigaction dfl;

	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		if (old->sa_flags & SA_SIGINFO)
			old->sa_sigaction(sig, si, uc);
		else
			old->sa_handler(sig);
		return;
	}
	/*
	 * Default action: restore it and queue the same siginfo to this
	 * thread; it is blocked while we run and delivered as we return, so
	 * the process dies of the signal at the faulting address, with a
	 * core.
	 */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
	syscall(SYS_rt_tgsigqueueinfo, getpid(), my_tid(), sig, si);
}

static void log_backtrace_locked(struct gmap_window *w)
{
	unw_context_t ctx;
	unw_cursor_t cur;
	unw_word_t ip, off;
	char name[128];
	int n = 0, past_signal = 0;

	if (unw_getcontext(&ctx) < 0 || unw_init_local(&cur, &ctx) < 0)
		return;
	do {
		if (!past_signal) {
			/* Skip our own frames and the signal trampoline: the
			 * frame after it is the access that faulted. */
			past_signal = unw_is_signal_frame(&cur) > 0;
			continue;
		}
		if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0)
			break;
		if (unw_get_proc_name(&cur, name, sizeof(name), &off) < 0) {
			name[0] = '?';
			name[1] = 0;
			off = 0;
		}
		GMAP_LOG(w, XTL_ERROR, -1, "  #%d %#lx %s+%#lx", n++,
			 (unsigned long)ip, name, (unsigned long)off);
	} while (unw_step(&cur) > 0 && n < MAX_FRAMES);
}

/* libunwind's caches are not safe for concurrent unwinders: one at a time
 * (a spin lock, the only kind a signal handler may take). */
static atomic_flag unwinding = ATOMIC_FLAG_INIT;

static void log_backtrace(struct gmap_window *w)
{
	while (atomic_flag_test_and_set(&unwinding))
		sched_yield();
	log_backtrace_locked(w);
	atomic_flag_clear(&unwinding);
}

static void report(struct gmap_window *w, uint32_t ref, void *addr,
		   const char *what)
{
	GMAP_LOG(w, XTL_ERROR, -1, "d%u ref %u addr %p: %s; SIGSEGV to "
		 "thread %d%s", w->domid, ref, addr, what, (int)my_tid(),
		 w->bad_policy == GMAP_BAD_SIGNAL ? ", backtrace:" : "");
	if (w->bad_policy == GMAP_BAD_SIGNAL)
		log_backtrace(w);
}

static struct slot *slot_enter(uintptr_t a, struct gmap_window **wp)
{
	int i;

	for (i = 0; i < MAX_WINDOWS; i++) {
		struct slot *s = &slots[i];

		if (a < atomic_load(&s->base) || a >= atomic_load(&s->end))
			continue;
		atomic_fetch_add(&s->readers, 1);
		*wp = atomic_load(&s->w);
		if (*wp && a >= (uintptr_t)(*wp)->base &&
		    a < (uintptr_t)(*wp)->base + (*wp)->len)
			return s;
		atomic_fetch_sub(&s->readers, 1);
	}
	return NULL;
}

/* Returns 1 if the access should simply be retried. */
static int handle_in_window(struct gmap_window *w, uintptr_t a)
{
	uint32_t ref = gmap_ref_of(w, a);
	struct gmap_grant *g;
	char what[256];
	uint32_t s;

	if (gmap_inherited(w)) {
		report(w, ref, (void *)a, "touch of a window inherited across "
		       "fork(): a child process has no window");
		return 0;
	}
	g = gmap_grant_peek(w->dir.slots, ref);
	s = gs_word(g);

	if (gs_state(s) == GS_BUSY) {
		/* A re-arm (or a map) is in flight: wait for it. */
		atomic_fetch_add(&w->c->rearm_waits, 1);
		while (gs_state(s) == GS_BUSY && !atomic_load(&w->closing)) {
			sched_yield();
			s = gs_word(g);
		}
		repeats = 0;
		return 1;
	}
	if (gs_state(s) == GS_BAD) {
		int16_t st = gs_status(s);

		/* GS_NOPOISON here: an inline window's page, which is
		 * PROT_NONE as an untouched page anyway (uffd.c). */
		snprintf(what, sizeof(what), "access to a grant that could "
			 "not be mapped: %s (status %d)%s", gmap_status_str(st),
			 st, s & GS_NOPOISON ? "; its page could not be "
			 "poisoned either (out of VMAs or memory), so each "
			 "touch is reported" : "");
		report(w, ref, (void *)a, what);
		return 0;
	}
	if (gs_state(s) == GS_MAPPED && (s & GS_RO)) {
		/*
		 * A write to a read-only grant, or an access that faulted
		 * while the page was not there yet and is mapped read-only
		 * now (on xen, gntdev refuses the writable try of a
		 * read-only grant after the placeholder is gone: an access
		 * then, even a read, faults).  The signal does not say
		 * which; retrying once does: a read then succeeds, a write
		 * faults again at the same address.
		 */
		uint64_t seq = atomic_load(&w->c->maps) +
			       atomic_load(&w->c->map_failures) +
			       atomic_load(&w->c->unmaps);

		/* Retry while the window's maps move on under us (bounded),
		 * report when the same access faults again with nothing
		 * changed. */
		if ((last_addr != a || last_seq != seq) &&
		    (last_addr != a || ++repeats < MAX_RETRIES)) {
			if (last_addr != a)
				repeats = 0;
			last_addr = a;
			last_seq = seq;
			return 1;
		}
		last_addr = 0;
		report(w, ref, (void *)a, "write to a read-only grant "
		       "(mapped read-only; the write did not reach the page)");
		return 0;
	}
	/* EMPTY or writable MAPPED: the state moved on after the fault.  A
	 * page that keeps faulting in this state is not ours to fix. */
	if (last_addr == a && ++repeats >= MAX_RETRIES) {
		repeats = 0;
		report(w, ref, (void *)a, "page keeps faulting in a state that "
		       "should not fault (internal error)");
		return 0;
	}
	if (last_addr != a) {
		last_addr = a;
		repeats = 0;
	}
	return 1;
}

static bool is_kick(const siginfo_t *si)
{
	return si->si_code == SI_QUEUE && si->si_errno == KICK_ERRNO;
}

/*
 * A kick (gmap_signal_kick): the page stays armed, so the access would
 * only fault again; deliver unless the grant was mapped since (a pin on
 * another thread), in which case the access now succeeds.
 */
static int handle_kick(struct gmap_window *w, uintptr_t a, siginfo_t *si)
{
	uint32_t ref = gmap_ref_of(w, a);
	struct gmap_grant *g = gmap_grant_peek(w->dir.slots, ref);
	uint32_t s = gs_word(g);
	char what[256];

	if (g && gs_state(s) != GS_BAD)
		return 1;
	snprintf(what, sizeof(what), "access to a grant that could not be "
		 "mapped: %s (status %d), and its page could not be made "
		 "inaccessible either (out of VMAs or memory)",
		 g ? gmap_status_str(gs_status(s)) : "no memory for grant state",
		 g ? gs_status(s) : GMAP_ST_NOMEM);
	report(w, ref, (void *)a, what);
	/* What the access would have raised: the thread signals itself
	 * below, which may carry a kernel si_code. */
	si->si_code = SEGV_ACCERR;
	si->si_errno = 0;
	return 0;
}

/*
 * A fault of an inline window (slot @s entered as a reader, left here):
 * checked as a reader, then served as a "server", which gmap_close()
 * waits for but the evictor's reclaim of leaves does not, since the fault
 * may wait for the evictor.  1: retry the access; 0: reported, deliver
 * SIGSEGV; -1: not the window's fault.
 */
static int serve_inline(struct slot *s, struct gmap_window *w, uintptr_t a)
{
	char why[256];
	int rc = gmap_inline_check(w, a, why, sizeof(why));

	if (rc == 0)
		report(w, gmap_ref_of(w, a), (void *)a, why);
	if (rc != 2) {
		atomic_fetch_sub(&s->readers, 1);
		return rc;
	}
	atomic_fetch_add(&s->servers, 1);
	atomic_fetch_sub(&s->readers, 1);
	gmap_inline_serve(w, a);
	atomic_fetch_sub(&s->servers, 1);
	return 1;
}

/* Whether a SIGSEGV on a page in state @s of an inline window is its
 * fault to serve (serve_inline), rather than a bad or read-only grant's
 * (handle_in_window). */
static bool inline_fault(uint32_t s)
{
	return gs_state(s) == GS_EMPTY || gs_state(s) == GS_BUSY;
}

static void gmap_sigsegv(int sig, siginfo_t *si, void *uc)
{
	int saved = errno, retry = 0;
	uintptr_t a = (uintptr_t)si->si_addr;
	struct gmap_window *w;
	struct slot *s;

	/* A SIGSEGV that another process or thread queued is not a fault:
	 * its "address" means nothing to us. */
	if (si->si_code <= 0 && !is_kick(si)) {
		deliver_to_previous(sig, si, uc);
		errno = saved;
		return;
	}
	s = slot_enter(a, &w);
	if (s && !is_kick(si) && w->h.inline_mode && !gmap_inherited(w) &&
	    inline_fault(gs_word(gmap_grant_peek(w->dir.slots,
						 gmap_ref_of(w, a))))) {
		/* An untouched page of an inline window (PROT_NONE: uffd.c),
		 * or one being mapped or unmapped: its fault, served in this
		 * thread, which waits for a map or unmap in flight as a
		 * server (gmap_grant_wait), not as a reader that the
		 * evictor's reclaim of leaves would wait for. */
		retry = serve_inline(s, w, a) == 1;
	} else if (s) {
		retry = is_kick(si) ? handle_kick(w, a, si) :
			handle_in_window(w, a);
		atomic_fetch_sub(&s->readers, 1);
	} else if (is_kick(si)) {
		/* The window was closed since: nothing to wait for. */
		retry = 1;
	}
	if (!retry)
		deliver_to_previous(sig, si, uc);
	errno = saved;
}

/*
 * In a child after fork() (fork.c): the windows' entries stay, so that a
 * touch of an inherited window is reported as such; but the lock and the
 * reader counts may have been held by parent threads that do not exist
 * here.  The windows' ranges, which MADV_DONTFORK left empty, are
 * reserved again, inaccessible, in one mapping each: a stale pointer into
 * them faults instead of reaching whatever the child maps there next.
 */
void gmap_signal_after_fork(void)
{
	int i;

	for (i = 0; i < MAX_WINDOWS; i++) {
		struct gmap_window *w = atomic_load(&slots[i].w);

		atomic_store(&slots[i].readers, 0);
		if (w && gmap_mmap_raw(w->base, w->len, PROT_NONE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				       MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED)
			w->fork.base_lost = true;
	}
	pthread_mutex_init(&slots_lock, NULL);
}

/*
 * On the alternate signal stack only if the handler we replace asked for
 * it: that one may be there for stack overflows, which need it, and gets
 * them from us.  Otherwise a SIGSEGV runs on the thread's own stack, which
 * has room for an inline window's map path (inline.c), while an alternate
 * stack (often 8 KiB) may not.
 */
static void install(void)
{
	struct sigaction sa, cur;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = gmap_sigsegv;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	if (sigaction(SIGSEGV, NULL, &cur) == 0 &&
	    cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN)
		sa.sa_flags |= cur.sa_flags & SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old_segv) < 0) {
		install_err = errno;
		return;
	}
}

int gmap_signal_register(struct gmap_window *w)
{
	int i;

	pthread_once(&install_once, install);
	if (install_err) {
		errno = install_err;
		return -1;
	}
	pthread_mutex_lock(&slots_lock);
	for (i = 0; i < MAX_WINDOWS; i++) {
		struct gmap_window *o = atomic_load(&slots[i].w);

		/* A child opening its own window: the windows it inherited
		 * do not exist here, and the new one may lie where one of
		 * them was.  Their entries go (a child is single-threaded
		 * until it starts threads, so no handler reads them). */
		if (o && gmap_inherited(o)) {
			atomic_store(&slots[i].w, NULL);
			atomic_store(&slots[i].end, 0);
			atomic_store(&slots[i].base, 0);
			o->slot = -1;
			continue;
		}
		if (o && o->domid == w->domid) {
			pthread_mutex_unlock(&slots_lock);
			errno = EEXIST;
			return -1;
		}
	}
	for (i = 0; i < MAX_WINDOWS; i++)
		if (!atomic_load(&slots[i].w) && !atomic_load(&slots[i].readers) &&
		    !atomic_load(&slots[i].end))
			break;
	if (i == MAX_WINDOWS) {
		pthread_mutex_unlock(&slots_lock);
		errno = EMFILE;
		return -1;
	}
	atomic_store(&slots[i].w, w);
	atomic_store(&slots[i].base, (uintptr_t)w->base);
	atomic_store(&slots[i].end, (uintptr_t)w->base + w->len);
	w->slot = i;
	pthread_mutex_unlock(&slots_lock);
	return 0;
}

void gmap_signal_unregister(struct gmap_window *w)
{
	struct slot *s;

	if (w->slot < 0)
		return;
	s = &slots[w->slot];
	pthread_mutex_lock(&slots_lock);
	atomic_store(&s->w, NULL);
	/* A handler that entered before us may still read the window. */
	while (atomic_load(&s->readers) || atomic_load(&s->servers))
		sched_yield();
	atomic_store(&s->end, 0);
	atomic_store(&s->base, 0);
	pthread_mutex_unlock(&slots_lock);
	w->slot = -1;
}

/*
 * Wait until no SIGSEGV handler is inside @w: the handler reads grant
 * state without the window lock, inside its slot's reader count, so a
 * leaf unpublished before this returns is no longer read by anyone
 * (reclaim.c).  Not with the window lock held: a handler may be waiting
 * for a BUSY grant whose owner needs it.
 */
void gmap_signal_quiesce(struct gmap_window *w)
{
	if (w->slot < 0)
		return;
	while (atomic_load(&slots[w->slot].readers))
		sched_yield();
}

void gmap_signal_drain(struct gmap_window *w)
{
	if (w->slot < 0)
		return;
	while (atomic_load(&slots[w->slot].servers))
		sched_yield();
}

/*
 * Deliver SIGSEGV with @addr to thread @tid, as the fault would have: the
 * last resort when the page cannot even be poisoned (out of VMAs), called
 * from a handler thread once the grant's state says why (GS_NOPOISON).
 *
 * The kernel lets a thread queue a signal with a kernel si_code (>= 0,
 * SEGV_ACCERR) only to itself, so the kick goes as SI_QUEUE, marked with
 * KICK_ERRNO in si_errno, and gmap_sigsegv() in the faulting thread turns
 * it back into the SEGV_ACCERR the access would have raised.  A thread
 * blocked in the fault is woken by the signal: a user access takes it and
 * dies (or meets the application's handler); a system call into the page
 * fails with EFAULT, then takes it.  A thread that blocks SIGSEGV is not
 * woken by it: it faults again and is kicked again.
 */
void gmap_signal_kick(struct gmap_window *w, pid_t tid, void *addr)
{
	siginfo_t si;

	if (tid <= 0) {
		GMAP_ERR(w, "cannot signal the thread faulting at %p: its id "
			 "is unknown (the kernel gives no thread ids without "
			 "UFFD_FEATURE_THREAD_ID)", addr);
		return;
	}
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGSEGV;
	si.si_code = SI_QUEUE;
	si.si_errno = KICK_ERRNO;
	si.si_addr = addr;
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGSEGV, &si) < 0)
		GMAP_LOG(w, XTL_ERROR, errno, "cannot signal thread %d",
			 (int)tid);
}
