/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fork.c - what a child process gets of its parent's windows: nothing.
 *
 * A window is not inherited.  Every mapping in it (the reservation, the
 * placeholders, the grant mappings) carries MADV_DONTFORK when fork()
 * copies the address space, so a child has no mapping there at all and a
 * touch is a SIGSEGV, never a private copy:
 * without it the child would keep grant pages after the parent released
 * them, and its copy of the placeholders would not be registered with the
 * userfaultfd (fork drops the registration without UFFD_FEATURE_EVENT_FORK),
 * so a touch would be served a zero page.  gntdev does the same for its own
 * mappings in a PV domain (VM_DONTCOPY).  It also keeps fork() cheap: the
 * window's VMAs are not copied.  The child handler then reserves each
 * window's range again as one inaccessible mapping (signal.c), so the
 * range is not reused in the child and a touch is a SIGSEGV there.
 *
 * The window's bookkeeping is in the child's memory, though, and the
 * handler threads are not.  So the child may only exit, exec, or
 * gmap_close() the window, which frees its own copy and touches nothing
 * the parent owns (a sim domain's counters are shared memory, a gntdev fd
 * is shared with the parent).  The calls that would map or unmap (pin,
 * unpin, prefault, release) fail with EPERM; those that only read the
 * window's numbers (translate, stats) still answer: the counters are in
 * the page published for gmap-top (publish.c), shared with the parent,
 * so stats read the parent's live ones, and gmap_close() unmaps the page
 * and leaves the parent's file.  A
 * pthread_atfork() child handler bumps a generation counter that each
 * window compares with the one it was opened in.
 *
 * The grant mappings get no MADV_DONTFORK when they are made: one madvise
 * per map was a system call, and a write of the process's mmap lock, on
 * every pin and fault.  Nor do the armed placeholders of a window with
 * handler threads, one per unpin, until its first fork.  Instead the
 * prepare handler of fork() waits for the placements in flight
 * (gmap_place_enter/leave count them, and new ones wait while a fork is
 * being prepared), then marks every window's whole range MADV_DONTFORK
 * with one call each, and says so in the window (fork.marked): from then
 * on its placeholders are made marked, as they must all be marked or none
 * to merge (placeholder.c).  Poisoned pages, and an inline window's
 * reservation, are marked when they are made.  A fork that
 * bypasses the C library's fork() (a raw clone(2) without CLONE_VM) runs
 * no handler: its child may inherit grant mappings, and the placeholders,
 * a shared mapping of the window's file that a write in the child would
 * fill (the parent would then see that page instead of a fault: said at
 * close, placeholder.c).  vfork() and
 * posix_spawn() share the address space, and copy nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include "private.h"

_Atomic unsigned int gmap_fork_gen;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_err;

/* The open windows' ranges, for the prepare handler; table_lock is held
 * from prepare to the parent's or child's handler, so no window opens or
 * closes across a fork. */
#define MAX_RANGES 128
static struct {
	void *base;
	size_t len;
	_Atomic bool *marked;      /* the window's fork.marked */
} ranges[MAX_RANGES];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

/* Backend maps in flight, and whether a fork is being prepared: a map
 * counts itself, then looks; the fork says so, then waits for the count
 * to drain (sequentially consistent atomics: one of them sees the other). */
static _Atomic unsigned int placing;
static _Atomic bool forking;

/* Nested placements (a re-arm inside a failed map) count once: an inner
 * one must not wait for a fork that waits for the outer one. */
static __thread unsigned int depth __attribute__((tls_model("initial-exec")));

void gmap_place_enter(void)
{
	if (depth++)
		return;
	for (;;) {
		atomic_fetch_add(&placing, 1);
		if (!atomic_load(&forking))
			return;
		atomic_fetch_sub(&placing, 1);
		while (atomic_load(&forking))
			sched_yield();
	}
}

void gmap_place_leave(void)
{
	if (--depth)
		return;
	atomic_fetch_sub(&placing, 1);
}

static void prepare(void)
{
	pthread_mutex_lock(&table_lock);
	atomic_store(&forking, true);
	/* Not counting this thread's own placement, should it fork from
	 * inside one (a logger callback). */
	while (atomic_load(&placing) > (depth ? 1u : 0u))
		sched_yield();
	for (int i = 0; i < MAX_RANGES; i++)
		if (ranges[i].base) {
			(void)madvise(ranges[i].base, ranges[i].len,
				      MADV_DONTFORK);
			/* Before the placements that wait go on: theirs
			 * must be marked as the rest is now. */
			atomic_store(ranges[i].marked, true);
		}
}

static void in_parent(void)
{
	atomic_store(&forking, false);
	pthread_mutex_unlock(&table_lock);
}

static void in_child(void)
{
	atomic_store(&placing, 0);
	atomic_store(&forking, false);
	pthread_mutex_init(&table_lock, NULL);
	atomic_fetch_add(&gmap_fork_gen, 1);
	gmap_signal_after_fork();
}

static void install(void)
{
	once_err = pthread_atfork(prepare, in_parent, in_child);
}

int gmap_fork_guard(struct gmap_window *w)
{
	int i;

	pthread_once(&once, install);
	if (once_err) {
		errno = once_err;
		return -1;
	}
	w->fork.gen = atomic_load(&gmap_fork_gen);
	pthread_mutex_lock(&table_lock);
	for (i = 0; i < MAX_RANGES && ranges[i].base; i++)
		;
	if (i < MAX_RANGES) {
		ranges[i].base = w->base;
		ranges[i].len = w->len;
		ranges[i].marked = &w->fork.marked;
		w->fork.guarded = true;
	}
	pthread_mutex_unlock(&table_lock);
	if (i == MAX_RANGES) {
		errno = EMFILE;
		return -1;
	}
	return 0;
}

void gmap_fork_unguard(struct gmap_window *w)
{
	if (!w->fork.guarded)
		return;
	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < MAX_RANGES; i++)
		if (ranges[i].base == w->base) {
			ranges[i].base = NULL;
			ranges[i].len = 0;
			ranges[i].marked = NULL;
			break;
		}
	pthread_mutex_unlock(&table_lock);
	w->fork.guarded = false;
}

bool gmap_inherited_check(const struct gmap_window *w, const char *what)
{
	if (!gmap_inherited(w))
		return false;
	GMAP_ERR(w, "%s: the window of d%u was inherited across fork(): a "
		 "child may only gmap_close() it, exit or exec", what, w->domid);
	errno = EPERM;
	return true;
}
