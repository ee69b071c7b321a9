/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * serve.c - gmap-simdom's server: the listening socket, one poll() loop
 * over it, the signal fd and up to 64 connections, and the descriptor
 * passing of "attach".
 *
 * Single-threaded and non-blocking throughout: every connection has its
 * own input buffer (one line at most) and output buffer (one reply), and
 * a connection whose reply cannot be sent yet is not read from until it
 * has been, so a client that does not read its replies holds up only
 * itself.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "simdom.h"

/* How long a quit waits for its reply to be taken before exiting. */
#define QUIT_FLUSH_MS 1000

struct conn {
	int fd;
	unsigned int id;          /* for the log                          */
	bool eof;                 /* the client shut its side             */
	bool closing;             /* close once the output is sent        */
	bool send_fds;            /* the output carries the domain's fds  */
	bool dead;                /* drop at once                         */
	size_t in_len, out_off, out_len;
	char in[SD_LINE_MAX];
	char out[SD_REPLY_MAX + 1];
};

struct server {
	struct simdom *sd;
	int sigfd;
	unsigned int next_id;
	struct conn *quitter;     /* the connection that sent quit        */
	struct conn *conns[SD_MAX_CONNS];
};

static int sock_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!*path || strlen(path) >= sizeof(sa->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

/*
 * Is anything listening at @path?  A socket file stays behind when its
 * server dies without unlinking it; connecting tells the two apart
 * (ECONNREFUSED: nobody there; EAGAIN: a listener with a full backlog).
 * Returns 1 if served, 0 if stale, -1 on error.
 */
static int probe(const struct sockaddr_un *sa)
{
	int fd, rc, err;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	err = errno;
	close(fd);
	if (rc == 0 || err == EAGAIN)
		return 1;
	if (err == ECONNREFUSED)
		return 0;
	errno = err;
	return -1;
}

/* bind(), taking over a stale socket file but never a live one. */
static int bind_or_reclaim(int fd, const struct sockaddr_un *sa)
{
	const char *path = sa->sun_path;
	struct stat st;
	int served;

	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return 0;
	if (errno != EADDRINUSE || lstat(path, &st) < 0)
		goto fail;
	if (!S_ISSOCK(st.st_mode)) {
		fprintf(stderr, SD_NAME ": %s exists and is not a socket\n",
			path);
		return -1;
	}
	served = probe(sa);
	if (served > 0) {
		fprintf(stderr, SD_NAME ": %s is already served: a server "
			"accepts connections there\n", path);
		return -1;
	}
	if (served < 0) {
		fprintf(stderr, SD_NAME ": cannot check %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	if (unlink(path) == 0 &&
	    bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return 0;
fail:
	fprintf(stderr, SD_NAME ": cannot bind %s: %s\n", path,
		strerror(errno));
	return -1;
}

int sd_listen(struct simdom *sd)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	if (sock_addr(sd->path, &sa) < 0) {
		fprintf(stderr, SD_NAME ": %s: %s\n", sd->path, strerror(errno));
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		fprintf(stderr, SD_NAME ": socket: %s\n", strerror(errno));
		return -1;
	}
	if (bind_or_reclaim(fd, &sa) < 0)
		goto fail;
	if (listen(fd, SD_BACKLOG) < 0 || lstat(sd->path, &st) < 0) {
		fprintf(stderr, SD_NAME ": cannot listen on %s: %s\n",
			sd->path, strerror(errno));
		unlink(sd->path);
		goto fail;
	}
	sd->lfd = fd;
	sd->sock_dev = st.st_dev;
	sd->sock_ino = st.st_ino;
	return 0;
fail:
	close(fd);
	return -1;
}

/*
 * Stop accepting and remove the socket file, once.  Only if it is still
 * ours: after a quit, a new server may already have bound the path.
 */
void sd_unlisten(struct simdom *sd)
{
	struct stat st;

	if (sd->lfd < 0)
		return;
	close(sd->lfd);
	sd->lfd = -1;
	if (lstat(sd->path, &st) == 0 && st.st_dev == sd->sock_dev &&
	    st.st_ino == sd->sock_ino)
		unlink(sd->path);
}

/* One send of what is left of the output; the fds ride on its first byte. */
static ssize_t send_out(struct simdom *sd, struct conn *c)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} u;
	struct iovec iov = {
		.iov_base = c->out + c->out_off,
		.iov_len = c->out_len - c->out_off,
	};
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	int fds[2];

	if (c->send_fds) {
		/* The domain keeps owning these: SCM_RIGHTS gives the peer
		 * its own references, there is nothing to close here. */
		if (gmap_sim_domain_fds(sd->dom, &fds[0], &fds[1]) < 0)
			return -1;
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	}
	return sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Send what the socket takes now; the rest waits for POLLOUT. */
static void conn_flush(struct simdom *sd, struct conn *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send_out(sd, c);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c->dead = true;
			return;
		}
		c->send_fds = false;
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
}

static void conn_queue(struct simdom *sd, struct conn *c, const char *text)
{
	int n = snprintf(c->out, sizeof(c->out), "%s\n", text);

	/* A reply is shorter than SD_REPLY_MAX, so its line always fits. */
	if (n < 0)
		n = 0;
	c->out_off = 0;
	c->out_len = (size_t)n;
	conn_flush(sd, c);
}

static void conn_log(struct simdom *sd, struct conn *c, const char *line,
		     const char *reply)
{
	if (sd->log_fd >= 0)
		dprintf(sd->log_fd, SD_NAME ": #%u %.200s -> %s%s\n", c->id,
			line, reply, c->send_fds ? " (+ fds)" : "");
}

/* Run one request line and queue its reply. */
static void conn_line(struct server *srv, struct conn *c, char *line,
		      size_t len)
{
	static struct sd_reply r;   /* 4 KiB: not on the stack each time */
	struct simdom *sd = srv->sd;
	char logged[201];

	/* The command splits @line in place: keep it whole for the log. */
	snprintf(logged, sizeof(logged), "%.200s", line);
	if (strlen(line) != len) {
		snprintf(r.text, sizeof(r.text), "error: line contains a NUL byte");
		r.verb = SD_CLOSE;
	} else {
		sd_command(sd, line, &r);
	}
	c->send_fds = r.verb == SD_ATTACH;
	c->closing = r.verb != SD_REPLY && r.verb != SD_QUIT;
	if (r.verb == SD_QUIT) {
		/* Gone before the reply arrives: a script may start the next
		 * server on the same path as soon as it has read it. */
		sd_unlisten(sd);
		sd->quit = true;
		srv->quitter = c;
	}
	conn_log(sd, c, logged, r.text);
	conn_queue(sd, c, r.text);
}

/* Run the complete lines received, one reply at a time. */
static void conn_process(struct server *srv, struct conn *c)
{
	char *nl;
	size_t len;

	while (!c->dead && !c->closing && !c->out_len && !srv->sd->quit) {
		nl = memchr(c->in, '\n', c->in_len);
		if (!nl) {
			if (c->in_len == sizeof(c->in)) {
				conn_log(srv->sd, c, "(too long)",
					 "error: line too long");
				c->closing = true;
				conn_queue(srv->sd, c, "error: line too long");
			} else if (c->eof) {
				/* Gone mid-line: nothing to answer. */
				c->closing = true;
			}
			return;
		}
		*nl = 0;
		len = (size_t)(nl - c->in);
		conn_line(srv, c, c->in, len);
		c->in_len -= len + 1;
		memmove(c->in, nl + 1, c->in_len);
	}
}

static void conn_read(struct conn *c)
{
	ssize_t n;

	n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
	if (n > 0)
		c->in_len += (size_t)n;
	else if (n == 0)
		c->eof = true;
	else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		c->dead = true;
}

/*
 * Closing a unix socket with unread input makes the peer's next read fail
 * with ECONNRESET instead of seeing EOF after our last reply (the rest of
 * a line too long, bytes after "attach").  Discard what has arrived, up to
 * a bound, so that a client that keeps sending cannot keep us here.
 */
static void drain(int fd)
{
	char buf[4096];

	for (int i = 0; i < 16; i++)
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			return;
}

static void conn_drop(struct server *srv, int i)
{
	drain(srv->conns[i]->fd);
	close(srv->conns[i]->fd);
	free(srv->conns[i]);
	srv->conns[i] = NULL;
}

static int free_slot(struct server *srv)
{
	for (int i = 0; i < SD_MAX_CONNS; i++)
		if (!srv->conns[i])
			return i;
	return -1;
}

/* Refused rather than left in the backlog, where it would wait for ever. */
static void refuse(int fd)
{
	static const char msg[] = "error: too many connections: at most 64\n";

	/* Best effort: a full socket buffer just loses the message. */
	send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

static void accept_all(struct server *srv)
{
	struct conn *c;
	int fd, i;

	for (;;) {
		fd = accept4(srv->sd->lfd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or a client gone before we took it */
		i = free_slot(srv);
		c = i < 0 ? NULL : calloc(1, sizeof(*c));
		if (!c) {
			refuse(fd);
			continue;
		}
		c->fd = fd;
		c->id = ++srv->next_id;
		srv->conns[i] = c;
	}
}

static short conn_events(const struct conn *c)
{
	if (c->out_len)
		return POLLOUT;
	if (c->eof || c->closing || c->in_len == sizeof(c->in))
		return 0;
	return POLLIN;
}

static void conn_service(struct server *srv, int i, short revents)
{
	struct conn *c = srv->conns[i];

	if (revents & POLLOUT)
		conn_flush(srv->sd, c);
	else if (revents & (POLLIN | POLLHUP | POLLERR))
		conn_read(c);
	conn_process(srv, c);
	if (c->dead || (c->closing && !c->out_len))
		conn_drop(srv, i);
}

static void take_signal(struct server *srv)
{
	struct signalfd_siginfo si;

	if (read(srv->sigfd, &si, sizeof(si)) != sizeof(si))
		return;
	fprintf(stderr, SD_NAME ": signal %u (%s): exiting\n", si.ssi_signo,
		strsignal((int)si.ssi_signo));
	srv->sd->quit = true;
}

/* Give the quit reply a moment to leave, however slow its reader. */
static void flush_quitter(struct server *srv)
{
	struct conn *c = srv->quitter;
	struct pollfd p;

	if (!c)
		return;
	while (!c->dead && c->out_len) {
		p = (struct pollfd){ .fd = c->fd, .events = POLLOUT };
		if (poll(&p, 1, QUIT_FLUSH_MS) <= 0)
			return;
		conn_flush(srv->sd, c);
	}
}

static int poll_once(struct server *srv)
{
	struct pollfd pfd[2 + SD_MAX_CONNS];
	struct simdom *sd = srv->sd;

	/* Fixed slots; poll() skips negative fds. */
	pfd[0] = (struct pollfd){ .fd = srv->sigfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = sd->lfd, .events = POLLIN };
	for (int i = 0; i < SD_MAX_CONNS; i++) {
		struct conn *c = srv->conns[i];

		pfd[2 + i] = (struct pollfd){ .fd = c ? c->fd : -1,
					      .events = c ? conn_events(c) : 0 };
	}
	if (poll(pfd, 2 + SD_MAX_CONNS, -1) < 0)
		return errno == EINTR ? 0 : -1;
	if (pfd[0].revents) {
		take_signal(srv);
		return 0;
	}
	if (pfd[1].revents)
		accept_all(srv);
	for (int i = 0; i < SD_MAX_CONNS && !sd->quit; i++)
		if (srv->conns[i] && pfd[2 + i].revents)
			conn_service(srv, i, pfd[2 + i].revents);
	return 0;
}

/*
 * Serve until quit or a signal.  Returns 0, or -1 if poll() itself failed
 * (with a message).
 */
int sd_serve(struct simdom *sd, int sigfd)
{
	struct server srv = { .sd = sd, .sigfd = sigfd };
	int rc = 0;

	while (!sd->quit) {
		rc = poll_once(&srv);
		if (rc < 0) {
			fprintf(stderr, SD_NAME ": poll: %s\n", strerror(errno));
			break;
		}
	}
	flush_quitter(&srv);
	for (int i = 0; i < SD_MAX_CONNS; i++)
		if (srv.conns[i])
			conn_drop(&srv, i);
	return rc;
}
