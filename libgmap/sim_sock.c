/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim_sock.c - fetching a simulated domain from a gmap-simdom process.
 *
 * The handshake (gmap-simdom(1)): connect to the unix socket, send
 * "attach DOMID\n"; the answer is one message, "ok DOMID NR_FRAMES
 * NR_GRANTS\n" carrying the control and memory memfds as SCM_RIGHTS, or
 * "error: ...\n" without descriptors.  What arrives is then checked like
 * any attached domain (sim_ctl_check() in backend_sim.c): the peer is
 * another process and is not trusted to send the right thing.  Nor to be
 * the right process: its owner is checked before anything is sent.
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

static int sock_connect(struct gmap_backend_ctx *b, const char *path)
{
	struct timeval tv = { .tv_sec = SIM_SOCK_TIMEOUT_S };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
		GMAP_ERR(b, "GMAP_SIM_SOCKET='%s' is not valid: expected the "
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
		/* EAGAIN: a full backlog for SO_SNDTIMEO (the server is
		 * stuck); say it as the timeout it is. */
		e = errno == EAGAIN ? ETIMEDOUT : errno;
		GMAP_LOG(b, XTL_ERROR, e, "sim backend: cannot reach gmap-simdom "
			 "at GMAP_SIM_SOCKET='%s'", path);
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * The server hands us memory that we map and act on: it must be run by our
 * own uid or by root.  Anyone can bind a path in a shared directory first,
 * and feed a root backend crafted memory.  SO_PEERCRED gives the
 * credentials the server had when it called listen().
 */
static int check_server(struct gmap_backend_ctx *b, int fd, const char *path)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	uid_t me = geteuid();
	int e;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		e = errno;
		GMAP_LOG(b, XTL_ERROR, e, "sim backend: cannot get the "
			 "credentials of gmap-simdom at '%s'", path);
		errno = e;
		return -1;
	}
	if (cr.uid == me || cr.uid == 0)
		return 0;
	GMAP_ERR(b, "sim backend: the gmap-simdom at GMAP_SIM_SOCKET='%s' is "
		 "run by uid %u (pid %d), not by this process's uid %u or root: "
		 "refusing its memory", path, (unsigned)cr.uid, (int)cr.pid,
		 (unsigned)me);
	errno = EACCES;
	return -1;
}

/*
 * The errno for a refusal, by its reason (gmap-simdom(1), PROTOCOL):
 * "busy:" and "evicted:" (no room for us now), "denied:" (our uid is not
 * allowed); any other is about the domain asked for.
 */
static int refusal_errno(const char *reason)
{
	if (!strncmp(reason, "busy:", 5) || !strncmp(reason, "evicted:", 8))
		return EBUSY;
	if (!strncmp(reason, "denied:", 7))
		return EACCES;
	return ESRCH;
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

/*
 * No answer, after the send failed with @e or the receive did (0: the
 * server closed without a word).  Logs why; returns the errno for the
 * caller: a timeout is ETIMEDOUT, a connection closed or reset without an
 * answer is an answer that is not a domain's (EPROTO), never the EPIPE of
 * our send.
 */
static int no_answer(struct gmap_backend_ctx *b, const char *path, int e)
{
	if (e == EAGAIN || e == EWOULDBLOCK) {
		GMAP_ERR(b, "sim backend: gmap-simdom at '%s' did not answer "
			 "within %d s", path, SIM_SOCK_TIMEOUT_S);
		return ETIMEDOUT;
	}
	if (e && e != EPIPE && e != ECONNRESET) {
		GMAP_LOG(b, XTL_ERROR, e, "sim backend: no answer from "
			 "gmap-simdom at '%s'", path);
		return e;
	}
	GMAP_ERR(b, "sim backend: gmap-simdom at '%s' closed the connection "
		 "without an answer", path);
	return EPROTO;
}

int gmap_sim_connect(struct gmap_backend_ctx *b, const char *path, int *ctl_fd,
		     int *mem_fd)
{
	unsigned int domid, frames, grants;
	int fd, fds[2], nfds = 0, e, sent;
	char req[32], ans[256];
	ssize_t n;

	fd = sock_connect(b, path);
	if (fd < 0)
		return -1;
	if (check_server(b, fd, path) < 0) {
		e = errno;
		goto fail;
	}
	snprintf(req, sizeof(req), "attach %u\n", b->domid);
	/* The answer is read even if the send failed: a server that
	 * refuses us (busy, denied) may have closed before our request
	 * arrived, and its reason waits in our receive queue. */
	sent = send(fd, req, strlen(req), MSG_NOSIGNAL) < 0 ? errno : 0;
	n = recv_answer(fd, ans, sizeof(ans), fds, &nfds);
	if (n <= 0) {
		e = no_answer(b, path, n < 0 ? errno : sent);
		goto fail;
	}
	ans[strcspn(ans, "\n")] = 0;
	if (!strncmp(ans, "error: ", 7)) {
		GMAP_ERR(b, "sim backend: gmap-simdom at '%s' refused d%u: %s",
			 path, b->domid, ans + 7);
		e = refusal_errno(ans + 7);
		goto fail;
	}
	if (sscanf(ans, "ok %u %u %u", &domid, &frames, &grants) != 3 ||
	    nfds != 2 || domid != b->domid) {
		GMAP_ERR(b, "sim backend: gmap-simdom at '%s' gave a bad answer "
			 "for d%u: '%.64s' with %d descriptor(s)", path, b->domid,
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
