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
 *
 * Peers are not trusted (what a Xen daemon would assume): the socket is
 * owner-only, every peer's credentials are checked before it is served,
 * each connection runs at most one command per round of the loop, idle
 * connections are closed, and a full table makes room by evicting the
 * longest idle one, so that an attach always gets in or gets a reason.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "simdom.h"

/* How long a quit waits for its reply to be taken before exiting. */
#define QUIT_FLUSH_MS 1000
/* Connections accepted per round of the loop: a flood of connects must
 * not keep the loop from the connections it has. */
#define ACCEPT_PER_ROUND SD_BACKLOG

struct conn {
	int fd;
	unsigned int id;          /* for the log                          */
	bool eof;                 /* the client shut its side             */
	bool closing;             /* close once the output is sent        */
	bool send_fds;            /* the output carries the domain's fds  */
	bool dead;                /* drop at once                         */
	uint64_t active_ms;       /* accepted, ran a command, or had reply
	                           * bytes taken: what idleness counts from */
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

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A line about a connection: to the --log file, else to standard error. */
__attribute__((format(printf, 2, 3)))
static void note(struct simdom *sd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	dprintf(sd->log_fd >= 0 ? sd->log_fd : STDERR_FILENO, SD_NAME ": %s\n",
		buf);
}

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

/*
 * The socket file's mode: 0600, so that only our uid (and root) can
 * connect; 0666 with --allow-uid, where the credential check of every
 * peer (peer_ok()) is what keeps out the uids not named.
 */
static mode_t sock_mode(const struct simdom *sd)
{
	return sd->nr_allow ? 0666 : 0600;
}

/*
 * bind() creates the socket file with the mode of the socket's inode,
 * less the umask or a default ACL.  So the fchmod() before bind() makes
 * the file owner-only from the moment it exists, whatever the umask: a
 * chmod() after bind() would leave a moment in which anyone could
 * connect, and a umask() around it would be process-wide.  Only a mode
 * still narrower than wanted (a umask on --allow-uid's 0666) is widened
 * afterwards, which opens nothing early.  Anything else fails closed.
 */
static int sock_perms(struct simdom *sd, const struct stat *st)
{
	mode_t want = sock_mode(sd), mode = st->st_mode & 07777;

	if (!S_ISSOCK(st->st_mode) || st->st_uid != geteuid() ||
	    (mode & ~want)) {
		fprintf(stderr, SD_NAME ": %s: mode %04o, owner %u after bind: "
			"expected a socket of ours, mode %04o at most\n",
			sd->path, (unsigned)mode, (unsigned)st->st_uid,
			(unsigned)want);
		return -1;
	}
	if (mode != want && chmod(sd->path, want) < 0) {
		fprintf(stderr, SD_NAME ": cannot chmod %s to %04o: %s\n",
			sd->path, (unsigned)want, strerror(errno));
		return -1;
	}
	return 0;
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
	if (fchmod(fd, sock_mode(sd)) < 0) {
		fprintf(stderr, SD_NAME ": fchmod of the socket: %s\n",
			strerror(errno));
		goto fail;
	}
	if (bind_or_reclaim(fd, &sa) < 0)
		goto fail;
	/* Checked before listen(): a socket with the wrong mode never
	 * takes a connection. */
	if (lstat(sd->path, &st) < 0) {
		fprintf(stderr, SD_NAME ": cannot stat %s: %s\n", sd->path,
			strerror(errno));
		goto fail_unlink;
	}
	if (sock_perms(sd, &st) < 0)
		goto fail_unlink;
	if (listen(fd, SD_BACKLOG) < 0) {
		fprintf(stderr, SD_NAME ": cannot listen on %s: %s\n",
			sd->path, strerror(errno));
		goto fail_unlink;
	}
	sd->lfd = fd;
	sd->sock_dev = st.st_dev;
	sd->sock_ino = st.st_ino;
	return 0;
fail_unlink:
	unlink(sd->path);
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
		c->active_ms = now_ms();
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
	c->active_ms = now_ms();
	conn_log(sd, c, logged, r.text);
	conn_queue(sd, c, r.text);
}

/* A complete line is waiting, and nothing holds it back. */
static bool conn_ready(const struct conn *c)
{
	return !c->dead && !c->closing && !c->out_len &&
	       memchr(c->in, '\n', c->in_len);
}

/*
 * Run one complete line, if there is one: one command per connection per
 * round of the loop, so that a client that pipelines hundreds of long
 * commands delays the others by one command, not by all of its own.
 * poll_once() comes back at once for the lines still waiting.
 */
static void conn_step(struct server *srv, struct conn *c)
{
	char *nl;
	size_t len;

	if (c->dead || c->closing || c->out_len || srv->sd->quit)
		return;
	nl = memchr(c->in, '\n', c->in_len);
	if (!nl) {
		if (c->in_len == sizeof(c->in)) {
			conn_log(srv->sd, c, "(too long)", "error: line too long");
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

/*
 * Say why, and close.  Best effort: the line is short and the socket new
 * or idle, but a full buffer just loses it.  The client's request may
 * already be here: drain() it, so that the client reads our line rather
 * than ECONNRESET.
 */
static void refuse(int fd, const char *why)
{
	char line[SD_REPLY_MAX + 1];
	int n = snprintf(line, sizeof(line), "error: %s\n", why);

	if (n > 0)
		send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	drain(fd);
	close(fd);
}

/* Close connection @i now, with an error line saying why (and a note). */
static void conn_bye(struct server *srv, int i, const char *why)
{
	struct conn *c = srv->conns[i];

	note(srv->sd, "#%u closed: %s", c->id, why);
	if (!c->out_len)
		refuse(c->fd, why);
	else
		close(c->fd); /* a reply is stuck: the line would not go */
	free(c);
	srv->conns[i] = NULL;
}

/* The server's own uid, root, or one that --allow-uid names. */
static bool uid_allowed(const struct simdom *sd, uid_t uid)
{
	if (uid == 0 || uid == geteuid())
		return true;
	for (unsigned int i = 0; i < sd->nr_allow; i++)
		if (sd->allow[i] == uid)
			return true;
	return false;
}

/*
 * Every peer is checked before it is served: attach hands out the guest's
 * memory read-write, and the other commands rewrite its grant table.  The
 * socket's mode already keeps others out, unless --allow-uid opened it,
 * or someone changed it.  SO_PEERCRED gives the peer's credentials as
 * they were at connect(), which a later setuid() in the peer cannot
 * change.  Returns false, with the peer refused and noted, if not allowed.
 */
static bool peer_ok(struct server *srv, int fd, unsigned int id)
{
	struct simdom *sd = srv->sd;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	char why[160];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		note(sd, "#%u refused: no peer credentials: %s", id,
		     strerror(errno));
		refuse(fd, "denied: no peer credentials");
		return false;
	}
	if (uid_allowed(sd, cr.uid))
		return true;
	note(sd, "#%u refused: uid %u (pid %d) is not the server's uid %u, "
	     "not root, and not named by --allow-uid", id, (unsigned)cr.uid,
	     (int)cr.pid, (unsigned)geteuid());
	snprintf(why, sizeof(why), "denied: uid %u may not use this "
		 "gmap-simdom (run by uid %u; see --allow-uid)",
		 (unsigned)cr.uid, (unsigned)geteuid());
	refuse(fd, why);
	return false;
}

/*
 * Work in hand: a reply to send, a line to run, or input the kernel holds
 * for us.  Such a connection is never evicted.
 */
static bool conn_busy(const struct conn *c)
{
	int queued = 0;

	if (c->out_len || memchr(c->in, '\n', c->in_len))
		return true;
	return ioctl(c->fd, FIONREAD, &queued) < 0 || queued > 0;
}

/*
 * The table is full: close the connection idle longest with nothing in
 * hand, so that clients that connect and wait cannot keep a backend's
 * attach out.  Returns the slot made free, or -1 if all are at work.
 */
static int evict_idle(struct server *srv, uint64_t now)
{
	char why[128];
	int best = -1;

	for (int i = 0; i < SD_MAX_CONNS; i++) {
		struct conn *c = srv->conns[i];

		if (c && !conn_busy(c) && (best < 0 ||
		    c->active_ms < srv->conns[best]->active_ms))
			best = i;
	}
	if (best >= 0) {
		snprintf(why, sizeof(why), "evicted: idle for %llu ms while "
			 "all %d connections were taken",
			 (unsigned long long)(now - srv->conns[best]->active_ms),
			 SD_MAX_CONNS);
		conn_bye(srv, best, why);
	}
	return best;
}

/* A slot for a new connection, evicting an idle one if need be. */
static int take_slot(struct server *srv, uint64_t now)
{
	int i = free_slot(srv);

	return i >= 0 ? i : evict_idle(srv, now);
}

static void accept_some(struct server *srv)
{
	static const char busy[] = "busy: all 64 connections are at work: try "
		"again later";
	uint64_t now = now_ms();
	struct conn *c;
	unsigned int id;
	int fd, i;

	for (int n = 0; n < ACCEPT_PER_ROUND; n++) {
		fd = accept4(srv->sd->lfd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or a client gone before we took it */
		id = ++srv->next_id;
		if (!peer_ok(srv, fd, id))
			continue;
		i = take_slot(srv, now);
		c = i < 0 ? NULL : calloc(1, sizeof(*c));
		if (!c) {
			/* Refused rather than left in the backlog, where it
			 * would wait for ever. */
			note(srv->sd, "#%u refused: %s", id, i < 0 ? busy :
			     "out of memory");
			refuse(fd, i < 0 ? busy : "busy: out of memory");
			continue;
		}
		c->fd = fd;
		c->id = id;
		c->active_ms = now;
		srv->conns[i] = c;
	}
}

/*
 * Close the connections that made no progress for --idle-timeout (a peer
 * that does not read its replies included).  Returns the milliseconds
 * until the next one falls due, or -1 if none can.
 */
static int reap_idle(struct server *srv, uint64_t now)
{
	uint64_t limit = (uint64_t)srv->sd->idle_s * 1000, due, next = UINT64_MAX;
	char why[64];

	if (!limit)
		return -1;
	for (int i = 0; i < SD_MAX_CONNS; i++) {
		struct conn *c = srv->conns[i];

		if (!c)
			continue;
		due = c->active_ms + limit;
		if (due <= now) {
			snprintf(why, sizeof(why), "idle for %u s",
				 srv->sd->idle_s);
			conn_bye(srv, i, why);
		} else if (due - now < next) {
			next = due - now;
		}
	}
	return next == UINT64_MAX ? -1 : (int)next;
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
	conn_step(srv, c);
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

/*
 * One round: wait for events (not at all if a connection has a line
 * waiting, no longer than the next idle timeout), then serve each ready
 * connection once.
 */
static int poll_once(struct server *srv)
{
	struct pollfd pfd[2 + SD_MAX_CONNS];
	struct simdom *sd = srv->sd;
	int timeout = reap_idle(srv, now_ms());

	/* Fixed slots; poll() skips negative fds. */
	pfd[0] = (struct pollfd){ .fd = srv->sigfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = sd->lfd, .events = POLLIN };
	for (int i = 0; i < SD_MAX_CONNS; i++) {
		struct conn *c = srv->conns[i];

		pfd[2 + i] = (struct pollfd){ .fd = c ? c->fd : -1,
					      .events = c ? conn_events(c) : 0 };
		if (c && conn_ready(c))
			timeout = 0;
	}
	if (poll(pfd, 2 + SD_MAX_CONNS, timeout) < 0)
		return errno == EINTR ? 0 : -1;
	if (pfd[0].revents) {
		take_signal(srv);
		return 0;
	}
	for (int i = 0; i < SD_MAX_CONNS && !sd->quit; i++) {
		struct conn *c = srv->conns[i];

		if (c && (pfd[2 + i].revents || conn_ready(c)))
			conn_service(srv, i, pfd[2 + i].revents);
	}
	/* Last: a connection evicted to make room has had its round. */
	if (pfd[1].revents && !sd->quit)
		accept_some(srv);
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
