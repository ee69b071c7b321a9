/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uffd.c - the window's userfaultfd and every ioctl on it: creating it
 * (full mode when allowed, user mode only otherwise), the API handshake,
 * registering ranges and waking the threads that wait on faults.  The
 * threads that read its messages are fault.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "private.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)  /* Linux 6.1 /dev/userfaultfd */
#endif

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
	w->h.user_mode_only = true;
	/* In the inline mode that is the rule anyway (gmap.h says so). */
	if (w->h.mode_asked == GMAP_FAULT_THREAD)
		GMAP_LOG(w, XTL_WARN, -1, "d%u: only user-mode faults can be "
			 "served (no access to /dev/userfaultfd): read(2), "
			 "recv(2) and other system calls into untouched window "
			 "pages will fail with EFAULT; pin or prefault such "
			 "buffers first", w->domid);
	return fd;
}

/*
 * The fault mode (gmap.h): AUTO serves faults inline where kernel-mode
 * faults cannot be served anyway, since that costs nothing and saves two
 * cross-thread wake-ups per fault.
 */
static bool want_inline(const struct gmap_window *w)
{
	return w->h.mode_asked == GMAP_FAULT_INLINE ||
	       (w->h.mode_asked == GMAP_FAULT_AUTO && w->h.user_mode_only);
}

int gmap_uffd_open(struct gmap_window *w)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_THREAD_ID };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)w->base, .len = w->len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	w->h.uffd = uffd_create(w);
	if (w->h.uffd < 0)
		return -1;
	w->h.inline_mode = want_inline(w);
	/* SIGBUS: a missing page raises SIGBUS in the faulting thread (a
	 * kernel-mode access fails with EFAULT) instead of queueing a
	 * message; the same registration arms the pages either way. */
	if (w->h.inline_mode)
		api.features = UFFD_FEATURE_SIGBUS;
	/* No UNMAP/REMAP/REMOVE events on purpose: with them, our own
	 * munmap or MAP_FIXED inside the window would wait for a handler to
	 * read the event, and the handler is the one calling it. */
	if (w->h.inline_mode && ioctl(w->h.uffd, UFFDIO_API, &api) < 0) {
		GMAP_LOG(w, XTL_ERROR, errno, "d%u: the inline fault mode needs "
			 "userfaultfd's SIGBUS feature (Linux 4.14), which "
			 "this kernel refuses", w->domid);
		return -1;
	} else if (!w->h.inline_mode && ioctl(w->h.uffd, UFFDIO_API, &api) < 0) {
		api.features = 0;
		if (ioctl(w->h.uffd, UFFDIO_API, &api) < 0) {
			GMAP_LOG(w, XTL_ERROR, errno, "UFFDIO_API failed");
			return -1;
		}
	}
	if (ioctl(w->h.uffd, UFFDIO_REGISTER, &reg) < 0) {
		GMAP_LOG(w, XTL_ERROR, errno, "cannot register window %p+%#zx "
			 "with userfaultfd", w->base, w->len);
		return -1;
	}
	return 0;
}

/* Register [addr, addr+len) for missing-page faults: a placeholder is
 * fault-armed once this is done (placeholder.c). */
int gmap_uffd_register(struct gmap_window *w, void *addr, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	return ioctl(w->h.uffd, UFFDIO_REGISTER, &reg);
}

/* Wake every thread waiting on a fault in the range.  Needed after any
 * MAP_FIXED over a registered range: the replacement alone wakes no one. */
int gmap_uffd_wake(struct gmap_window *w, void *addr, size_t len)
{
	struct uffdio_range r = { .start = (uintptr_t)addr, .len = len };

	/* Inline: no thread ever waits in the userfaultfd. */
	if (w->h.inline_mode)
		return 0;
	return ioctl(w->h.uffd, UFFDIO_WAKE, &r);
}

void gmap_wake_waiters(struct gmap_window *w, void *addr, size_t len)
{
	if (atomic_load(&w->h.busy))
		gmap_uffd_wake(w, addr, len);
}
