/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rearm.c - turning window pages back into fault-armed placeholders.
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
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
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
 * Keep a new mapping in the window out of child processes (fork.c): every
 * mmap there makes a VMA without the flag.  Done before the range can be
 * accessed where we choose the protection (a placeholder is PROT_NONE until
 * registered), right after the map for a grant.  Also keeps the window's
 * VMAs mergeable: they all carry the same flags.
 */
void gmap_no_fork(struct gmap_window *w, void *addr, size_t len)
{
	if (madvise(addr, len, MADV_DONTFORK) < 0)
		GMAP_LOG(w, XTL_ERROR, errno, "madvise(MADV_DONTFORK) of %p "
			 "failed: a child process would inherit the page", addr);
}

/* Replace [addr, addr+len) with an inaccessible page: the mapping there
 * (a grant, or nothing) is gone when this returns 0. */
int gmap_poison(struct gmap_window *w, void *addr, size_t len)
{
	if (gmap_mmap_raw(addr, len, PROT_NONE, PLACEHOLDER_FLAGS, -1, 0) ==
	    MAP_FAILED)
		return -1;
	gmap_no_fork(w, addr, len);
	return 0;
}

/*
 * Make [addr, addr+len) a fault-armed placeholder again.  The caller owns
 * the grants of the range (GS_BUSY).  On failure the range is left
 * PROT_NONE (never accessible and unregistered) and -1 returned.
 */
int gmap_rearm(struct gmap_window *w, void *addr, size_t len)
{
	if (gmap_poison(w, addr, len) < 0)
		return -1;
	return gmap_rearm_poisoned(w, addr, len);
}

/* As gmap_rearm(), for a range the caller has just poisoned itself. */
int gmap_rearm_poisoned(struct gmap_window *w, void *addr, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (ioctl(w->uffd, UFFDIO_REGISTER, &reg) < 0)
		return -1;
	if (mprotect(addr, len, PROT_READ | PROT_WRITE) < 0)
		return -1;
	return 0;
}

/* Wake every thread waiting on a fault in the range.  Needed after any
 * MAP_FIXED over a registered range: the replacement alone wakes no one. */
int gmap_uffd_wake(struct gmap_window *w, void *addr, size_t len)
{
	struct uffdio_range r = { .start = (uintptr_t)addr, .len = len };

	return ioctl(w->uffd, UFFDIO_WAKE, &r);
}
