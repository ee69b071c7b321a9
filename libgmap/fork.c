/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fork.c - what a child process gets of its parent's windows: nothing.
 *
 * A window is not inherited.  Every mapping in it (the reservation, the
 * placeholders, the grant mappings) carries MADV_DONTFORK, so a child has
 * no mapping there at all and a touch is a SIGSEGV, never a private copy:
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
 * window's numbers (translate, stats) still answer.  A
 * pthread_atfork() child handler bumps a generation counter that each
 * window compares with the one it was opened in.
 */
#include <errno.h>
#include <pthread.h>

#include "private.h"

_Atomic unsigned int gmap_fork_gen;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_err;

static void in_child(void)
{
	atomic_fetch_add(&gmap_fork_gen, 1);
	gmap_signal_after_fork();
}

static void install(void)
{
	once_err = pthread_atfork(NULL, NULL, in_child);
}

int gmap_fork_guard(struct gmap_window *w)
{
	pthread_once(&once, install);
	if (once_err) {
		errno = once_err;
		return -1;
	}
	w->fork.gen = atomic_load(&gmap_fork_gen);
	return 0;
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
