/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uffd.c - the window's fault mode, and its userfaultfd with every ioctl
 * on it: creating it (full mode when allowed, user mode only otherwise),
 * the API handshake, registering ranges and waking the threads that wait
 * on faults.  The threads that read its messages are fault.c's.  A window
 * whose faults are served inline has no userfaultfd (inline.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
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
static int uffd_create(struct gmap_window *w, bool quiet)
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
	if (errno != EPERM) {
		int e = errno;

		/* ENOSYS: a kernel without it, or a seccomp filter. */
		if (!quiet)
			GMAP_LOG(w, XTL_ERROR, e, "no userfaultfd for this "
				 "process, which handler threads need (serve "
				 "faults inline: GMAP_FAULT_MODE=inline)");
		errno = e;
		return -1;
	}
	fd = (int)syscall(SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY);
	if (fd < 0) {
		if (!quiet)
			GMAP_ERR(w, "userfaultfd is not allowed for this "
				 "process: give it read-write access to "
				 "/dev/userfaultfd, or CAP_SYS_PTRACE, or set "
				 "vm.unprivileged_userfaultfd=1 (or serve faults "
				 "inline: GMAP_FAULT_MODE=inline)");
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
 * The fault mode (gmap.h), then what it needs, before the window's range
 * is reserved in the mode's kind of page (placeholder.c).  AUTO serves
 * faults inline where kernel-mode faults cannot be served anyway (a
 * userfaultfd in user mode only, or none at all), since that costs
 * nothing and saves two cross-thread wake-ups per fault, and where the
 * placeholder file cannot be made.  An inline window needs no
 * userfaultfd: its untouched pages are PROT_NONE and their first touch
 * is a SIGSEGV that the touching thread serves (inline.c).  Handler
 * threads need one in the mode that serves kernel-mode faults where the
 * process may have it, and the placeholder file; gmap_uffd_arm() then
 * registers the reserved range.
 */
int gmap_uffd_open(struct gmap_window *w)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_THREAD_ID };
	bool aut = w->h.mode_asked == GMAP_FAULT_AUTO;

	w->h.uffd = -1;
	if (w->h.mode_asked != GMAP_FAULT_INLINE) {
		w->h.uffd = uffd_create(w, aut);
		if (w->h.uffd < 0 && !aut)
			return -1;
		if (w->h.uffd < 0)
			GMAP_LOG(w, XTL_INFO, errno, "d%u: no userfaultfd: faults "
				 "are served inline", w->domid);
	}
	w->h.inline_mode = w->h.mode_asked == GMAP_FAULT_INLINE ||
			   (aut && (w->h.uffd < 0 || w->h.user_mode_only));
	if (!w->h.inline_mode && gmap_placeholders_open(w, aut) < 0) {
		if (!aut)
			return -1;
		GMAP_LOG(w, XTL_INFO, errno, "d%u: no placeholder file: faults "
			 "are served inline", w->domid);
		w->h.inline_mode = true;
	}
	if (w->h.inline_mode) {
		if (w->h.uffd >= 0)
			close(w->h.uffd);
		w->h.uffd = -1;
		return 0;
	}
	/* No UNMAP/REMAP/REMOVE events on purpose: with them, our own
	 * munmap or MAP_FIXED inside the window would wait for a handler to
	 * read the event, and the handler is the one calling it. */
	if (ioctl(w->h.uffd, UFFDIO_API, &api) < 0) {
		api.features = 0;
		if (ioctl(w->h.uffd, UFFDIO_API, &api) < 0) {
			GMAP_LOG(w, XTL_ERROR, errno, "UFFDIO_API failed");
			return -1;
		}
	}
	return 0;
}

/* The reserved window, all armed placeholders, registered whole. */
int gmap_uffd_arm(struct gmap_window *w)
{
	if (w->h.inline_mode || gmap_uffd_register(w, w->base, w->len) == 0)
		return 0;
	GMAP_LOG(w, XTL_ERROR, errno, "cannot register window %p+%#zx with "
		 "userfaultfd", w->base, w->len);
	return -1;
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
