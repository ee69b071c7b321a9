/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * logger.c - the default logger, for windows opened without one and for
 * the preload shim: stderr, a file or syslog (GMAP_LOG_TARGET), at the
 * level GMAP_LOG names.
 *
 * Why not stderr alone: the programs libgmap serves are daemons.  QEMU's
 * -daemonize, as Debian's init script starts the dom0 QEMU, sends stderr
 * to /dev/null, and every line libgmap logs, errors included, was lost.
 * A file (GMAP_LOG_FILE) or syslog keeps them.
 *
 * Each line is one write(2): to a file opened O_APPEND, lines of several
 * processes and threads never interleave (what logrotate's copytruncate
 * and a shared log file need), and nothing is buffered, so nothing is
 * lost at a crash or an exit without exit handlers.  Syslog is spoken
 * here (one datagram per line to /dev/log, RFC 3164 as the C library
 * writes it) rather than through syslog(3): its socket can be named
 * (GMAP_LOG_SYSLOG: a container's relay, a test's), it never changes the
 * program's own openlog() identity or facility, and a line that cannot be
 * sent goes to stderr instead of nowhere.  Each line says which process
 * (its name and pid) and, for a window's logger, which domain it serves.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "private.h"

/* In the order of GMAP_LOG's words in env.c. */
static const xentoollog_level levels[] = {
	XTL_DEBUG, XTL_VERBOSE, XTL_DETAIL, XTL_PROGRESS, XTL_INFO,
	XTL_NOTICE, XTL_WARN, XTL_ERROR, XTL_CRITICAL, XTL_NUM_LEVELS,
};

/* In the order of GMAP_LOG_TARGET's words in env.c. */
enum target { TARGET_STDERR, TARGET_SYSLOG, TARGET_FILE };

#define SYSLOG_DEFAULT "/dev/log"
/* syslog(3)'s facility for programs that do not say: LOG_USER (1). */
#define FACILITY_USER (1 << 3)
#define LINE_MAX_BYTES 2048

typedef struct {
	xentoollog_logger vtable;
	xentoollog_level min;
	enum target target;
	int fd;                    /* the file; the syslog socket, or -1 */
	pthread_mutex_t lock;      /* the socket's (re)connection        */
	int domid;                 /* the window's domain, or -1 (shim)   */
	struct sockaddr_un addr;   /* the syslog socket's                */
} xentoollog_logger_gmap_line;

/* syslog severities (RFC 5424) of xentoollog's levels. */
static int severity(xentoollog_level l)
{
	return l >= XTL_CRITICAL ? 2 : l >= XTL_ERROR ? 3 : l >= XTL_WARN ? 4 :
	       l >= XTL_NOTICE ? 5 : l >= XTL_PROGRESS ? 6 : 7;
}

/* Write the whole of @len bytes, retrying short writes and EINTR. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Send @len bytes as one datagram to the syslog socket, connecting (again:
 * syslogd may have restarted) if needed.  0, or -1. */
static int syslog_send(xentoollog_logger_gmap_line *l, const char *p,
		       size_t len)
{
	int rc = -1;

	pthread_mutex_lock(&l->lock);
	for (int tries = 0; tries < 2 && rc < 0; tries++) {
		if (l->fd < 0) {
			l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (l->fd >= 0 &&
			    connect(l->fd, (struct sockaddr *)&l->addr,
				    sizeof(l->addr)) < 0) {
				close(l->fd);
				l->fd = -1;
			}
			if (l->fd < 0)
				break;
		}
		if (send(l->fd, p, len, MSG_NOSIGNAL) == (ssize_t)len) {
			rc = 0;
		} else {
			close(l->fd);
			l->fd = -1;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return rc;
}

static void gmap_line_vmessage(xentoollog_logger *logger,
			       xentoollog_level level, int errnoval,
			       const char *context, const char *format,
			       va_list al)
{
	xentoollog_logger_gmap_line *l = (void *)logger;
	char line[LINE_MAX_BYTES];
	size_t n = 0, head;
	struct timespec ts;
	struct tm tm;
	int e = errno;

	if (level < l->min)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (l->target == TARGET_SYSLOG) {
		localtime_r(&ts.tv_sec, &tm);
		n = (size_t)snprintf(line, sizeof(line), "<%d>",
				     FACILITY_USER | severity(level));
		n += strftime(line + n, sizeof(line) - n, "%b %e %T ", &tm);
	} else {
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ ",
				      ts.tv_nsec / 1000000);
	}
	head = n;
	/* "qemu[123]: gmap d7: error: ...", the shim's own lines
	 * "gmap-preload: error: ...". */
	n += (size_t)snprintf(line + n, sizeof(line) - n, "%s[%ld]: %s",
			      program_invocation_short_name, (long)getpid(),
			      context ? context : "gmap");
	if (l->domid >= 0 && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, " d%d",
				      l->domid);
	if (n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, ": %s: ",
				      xtl_level_to_string(level));
	if (n < sizeof(line))
		n += (size_t)vsnprintf(line + n, sizeof(line) - n, format, al);
	if (errnoval >= 0 && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, ": %s",
				      strerror(errnoval));
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;  /* cut, with room for the newline */
	line[n++] = '\n';
	if (l->target == TARGET_FILE) {
		if (write_all(l->fd, line, n) < 0)
			write_all(STDERR_FILENO, line + head, n - head);
	} else if (syslog_send(l, line, n - 1) < 0) {
		/* No syslog to take it: stderr, rather than nowhere. */
		write_all(STDERR_FILENO, line + head, n - head);
	}
	errno = e;
}

static void gmap_line_progress(xentoollog_logger *logger, const char *context,
			       const char *doing_what, int percent,
			       unsigned long done, unsigned long total)
{
	(void)logger; (void)context; (void)doing_what; (void)percent;
	(void)done; (void)total;
}

static void gmap_line_destroy(xentoollog_logger *logger)
{
	xentoollog_logger_gmap_line *l = (void *)logger;

	if (l->fd >= 0)
		close(l->fd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* GMAP_LOG_TARGET, GMAP_LOG_FILE and GMAP_LOG_SYSLOG, checked together:
 * a file named without the file target, or the other way round, is a
 * mistake, said as one. */
static int pick_target(enum target *t, const char **path, char *msg,
		       size_t len)
{
	const char *file = getenv("GMAP_LOG_FILE");
	const char *sock = getenv("GMAP_LOG_SYSLOG");
	uint64_t i;

	*t = TARGET_STDERR;
	*path = NULL;
	if (gmap_env_get("GMAP_LOG_FILE", &i, msg, len) < 0 ||
	    gmap_env_get("GMAP_LOG_SYSLOG", &i, msg, len) < 0)
		return -1;
	switch (gmap_env_get("GMAP_LOG_TARGET", &i, msg, len)) {
	case -1:
		return -1;
	case 1:
		*t = (enum target)i;
		break;
	default:
		*t = file ? TARGET_FILE : TARGET_STDERR;
	}
	if (*t == TARGET_FILE && !file) {
		snprintf(msg, len, "GMAP_LOG_TARGET=file needs GMAP_LOG_FILE, "
			 "the file to append to");
		return -1;
	}
	if (*t != TARGET_FILE && file) {
		snprintf(msg, len, "GMAP_LOG_FILE='%s' is set, but "
			 "GMAP_LOG_TARGET='%s' says not to log to a file", file,
			 getenv("GMAP_LOG_TARGET"));
		return -1;
	}
	if (*t != TARGET_SYSLOG && sock) {
		snprintf(msg, len, "GMAP_LOG_SYSLOG='%s' is set, but the log "
			 "target is not syslog (GMAP_LOG_TARGET=syslog)", sock);
		return -1;
	}
	*path = *t == TARGET_FILE ? file : sock ? sock : SYSLOG_DEFAULT;
	return 0;
}

/*
 * The logger GMAP_LOG, GMAP_LOG_TARGET and GMAP_LOG_FILE (or
 * GMAP_LOG_SYSLOG) ask for, its lines tagged with domain @domid (-1: none,
 * the shim's).  A bad value or a log file that cannot be opened is said,
 * naming the variable, the value and what was expected, in @why if not
 * NULL (the shim says it through its own logger), else on stderr; and
 * NULL returned with *@err_out set: the caller fails rather than guess,
 * or log where nobody looks.
 */
xentoollog_logger *gmap_default_logger(int domid, char *why, size_t why_len,
				       int *err_out)
{
	xentoollog_logger_gmap_line buf, *l;
	xentoollog_level lvl = XTL_WARN;
	const char *path;
	enum target t;
	char msg[512];
	uint64_t i;

	*err_out = 0;
	switch (gmap_env_get("GMAP_LOG", &i, msg, sizeof(msg))) {
	case -1:
		goto bad;
	case 1:
		lvl = levels[i];
		break;
	}
	if (pick_target(&t, &path, msg, sizeof(msg)) < 0)
		goto bad;
	if (t == TARGET_STDERR) {
		xentoollog_logger_stdiostream *s;

		s = xtl_createlogger_stdiostream(stderr, lvl,
						 XTL_STDIOSTREAM_SHOW_PID |
						 XTL_STDIOSTREAM_HIDE_PROGRESS);
		if (!s)
			*err_out = errno ? errno : ENOMEM;
		return (xentoollog_logger *)s;
	}
	memset(&buf, 0, sizeof(buf));
	buf.min = lvl;
	buf.target = t;
	buf.fd = -1;
	buf.domid = domid;
	if (t == TARGET_FILE) {
		buf.fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			      0640);
		if (buf.fd < 0) {
			*err_out = errno;
			snprintf(msg, sizeof(msg), "GMAP_LOG_FILE='%s': cannot "
				 "open it to append: %s", path, strerror(errno));
			goto said;
		}
	} else {
		/* env.c bounds the path to sun_path. */
		buf.addr.sun_family = AF_UNIX;
		snprintf(buf.addr.sun_path, sizeof(buf.addr.sun_path), "%s",
			 path);
	}
	l = XTL_NEW_LOGGER(gmap_line, buf);
	if (!l) {
		*err_out = ENOMEM;
		if (buf.fd >= 0)
			close(buf.fd);
		return NULL;
	}
	pthread_mutex_init(&l->lock, NULL);  /* in place, never copied */
	return (xentoollog_logger *)l;
bad:
	*err_out = EINVAL;
said:
	if (why)
		snprintf(why, why_len, "%s", msg);
	else
		fprintf(stderr, "gmap: %s\n", msg);
	return NULL;
}
