/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim_sock.c - fetching a simulated domain from a gmap-simdom process.
 *
 * The handshake (gmap-simdom(1)): connect to the unix socket, send
 * "attach DOMID\n"; the answer is one message, "ok DOMID NR_FRAMES
 * NR_GRANTS\n" carrying the control and memory memfds as SCM_RIGHTS, or
 * "error: ...\n" without descriptors.  What arrives is then checked like
 * any attached domain (sim_ctl_check() in backend_sim.c): the peer is
 * another process and is not trusted to send the right thing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "private.h"

/* A gmap-simdom that accepts and never answers must not hang us. */
#define SIM_SOCK_TIMEOUT_S 5

static int sock_connect(struct gmap_window *w, const char *path)
{
	struct timeval tv = { .tv_sec = SIM_SOCK_TIMEOUT_S };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
		GMAP_ERR(w, "GMAP_SIM_SOCKET='%s' is not valid: expected the "
			 "path of a gmap-simdom socket, 1 to %zu bytes", path,
			 sizeof(sa.sun_path) - 1);
		errno = EINVAL;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		GMAP_LOG(w, XTL_ERROR, e, "sim backend: cannot reach gmap-simdom "
			 "at GMAP_SIM_SOCKET='%s'", path);
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Receive the answer and up to two descriptors; returns the byte count. */
static ssize_t recv_answer(int fd, char *buf, size_t len, int fds[2],
			   int *nfds)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(2 * sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = len - 1 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.space, .msg_controllen = sizeof(u.space),
	};
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -1;
	buf[n] = 0;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		size_t k, got;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < got; k++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + k * sizeof(int), sizeof(f));
			if (*nfds < 2)
				fds[(*nfds)++] = f;
			else
				close(f);  /* more than we asked for */
		}
	}
	if (m.msg_flags & MSG_CTRUNC) {
		/* Some were dropped: the answer cannot be trusted. */
		while (*nfds > 0)
			close(fds[--(*nfds)]);
		errno = EPROTO;
		return -1;
	}
	return n;
}

int gmap_sim_connect(struct gmap_window *w, const char *path, int *ctl_fd,
		     int *mem_fd)
{
	unsigned int domid, frames, grants;
	int fd, fds[2], nfds = 0, e;
	char req[32], ans[256];
	ssize_t n;

	fd = sock_connect(w, path);
	if (fd < 0)
		return -1;
	snprintf(req, sizeof(req), "attach %u\n", w->domid);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0 ||
	    (n = recv_answer(fd, ans, sizeof(ans), fds, &nfds)) < 0) {
		e = errno == EAGAIN ? ETIMEDOUT : errno;
		GMAP_LOG(w, XTL_ERROR, e, "sim backend: no answer from "
			 "gmap-simdom at '%s'", path);
		goto fail;
	}
	ans[strcspn(ans, "\n")] = 0;
	if (!strncmp(ans, "error: ", 7)) {
		GMAP_ERR(w, "sim backend: gmap-simdom at '%s' refused d%u: %s",
			 path, w->domid, ans + 7);
		e = ESRCH;
		goto fail;
	}
	if (sscanf(ans, "ok %u %u %u", &domid, &frames, &grants) != 3 ||
	    nfds != 2 || domid != w->domid) {
		GMAP_ERR(w, "sim backend: gmap-simdom at '%s' gave a bad answer "
			 "for d%u: '%.64s' with %d descriptor(s)", path, w->domid,
			 ans, nfds);
		e = EPROTO;
		goto fail;
	}
	close(fd);
	*ctl_fd = fds[0];
	*mem_fd = fds[1];
	return 0;
fail:
	while (nfds > 0)
		close(fds[--nfds]);
	close(fd);
	errno = e;
	return -1;
}
