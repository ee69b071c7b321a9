/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-log.c - the default logger's targets (logger.c): a daemon, its
 * stderr on /dev/null as QEMU's -daemonize leaves it, still gets its
 * libgmap error to GMAP_LOG_FILE and to syslog, once, tagged with its name,
 * pid and domain; bad settings are refused by name.
 */
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "helpers.h"

/* The error the daemon provokes: a pin of a ref domain 7 never granted. */
#define BAD_REF 1000
#define BAD_NEEDLE "d7 ref 1000"

/*
 * Run a daemon with @var=@value (and @var2=@value2 if not NULL): a child
 * that forks again, starts a session, puts /dev/null on its standard
 * streams, opens a window on a sim domain without a logger of its own,
 * pins an ungranted ref (an error libgmap logs) and exits.  Returns the
 * daemon's pid once it has exited (its end of the pipe closed), or -1
 * after 10 s.
 */
static pid_t run_daemon(const char *var, const char *value, const char *var2,
			const char *value2)
{
	int p[2], st;
	pid_t child, daemon_pid = -1;
	struct pollfd pfd;
	char c;

	if (pipe(p) < 0)
		return -1;
	child = fork();
	if (child == 0) {
		struct gmap_open_opts o = {
			.size = sizeof(o), .backend = GMAP_BACKEND_SIM,
			.nr_refs = 4096, .self_domid = T_SELF,
		};
		struct gmap_sim_domain *d;
		struct gmap_window *w;
		pid_t me;
		int null;

		close(p[0]);
		if (fork() != 0)
			_exit(0);
		setsid();
		null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		setenv(var, value, 1);
		if (var2)
			setenv(var2, value2, 1);
		me = getpid();
		if (write(p[1], &me, sizeof(me)) != sizeof(me))
			_exit(1);
		d = gmap_sim_domain_create(T_DOMID, 4, 4);
		w = d ? gmap_open(T_DOMID, &o) : NULL;
		if (w) {
			gmap_pin(w, BAD_REF, 1, 0, NULL);
			gmap_close(w);
		}
		gmap_sim_domain_destroy(d);
		_exit(w ? 0 : 1);
	}
	close(p[1]);
	if (child < 0) {
		close(p[0]);
		return -1;
	}
	waitpid(child, &st, 0);
	if (read(p[0], &daemon_pid, sizeof(daemon_pid)) != sizeof(daemon_pid))
		daemon_pid = -1;
	/* EOF once the daemon has exited: nothing else holds the pipe. */
	pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
	if (daemon_pid > 0 &&
	    (poll(&pfd, 1, 10000) != 1 || read(p[0], &c, 1) != 0)) {
		printf("\n    the daemon did not exit within 10 s ");
		daemon_pid = -1;
	}
	close(p[0]);
	return daemon_pid;
}

/* How many lines of @text hold @needle, and whether each also holds
 * @tag. */
static unsigned int lines_with(const char *text, const char *needle,
			       const char *tag, bool *tagged)
{
	unsigned int n = 0;

	*tagged = true;
	for (const char *l = text; l && *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		char line[2048];

		snprintf(line, sizeof(line), "%.*s", (int)len, l);
		if (strstr(line, needle)) {
			n++;
			*tagged = *tagged && strstr(line, tag);
		}
		l = end ? end + 1 : NULL;
	}
	return n;
}

static void test_log_file(void)
{
	char path[] = "/tmp/gmap-test-log-XXXXXX", text[8192], tag[64];
	unsigned int n;
	bool tagged;
	ssize_t len;
	pid_t pid;
	int fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	pid = run_daemon("GMAP_LOG_FILE", path, NULL, NULL);
	CU_ASSERT_FATAL(pid > 0);
	len = read(fd, text, sizeof(text) - 1);
	text[len > 0 ? len : 0] = 0;
	snprintf(tag, sizeof(tag), "test-log[%d]: gmap d7: error: ", (int)pid);
	n = lines_with(text, BAD_NEEDLE, tag, &tagged);
	printf("\n    a daemon's pin of an ungranted ref: %u line(s) in "
	       "GMAP_LOG_FILE, %s \"%s\" ", n, tagged ? "each with" : "not all with",
	       tag);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT(tagged);
	/* An ISO 8601 time in UTC leads the line. */
	CU_ASSERT(len > 24 && text[4] == '-' && text[10] == 'T' &&
		  strchr(text, 'Z') && strchr(text, 'Z') < strstr(text, tag));
	close(fd);
	unlink(path);
}

static void test_log_syslog(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/gmap-test-syslog-XXXXXX", tag[64];
	char text[8192] = "", msg[2048];
	unsigned int n, got = 0;
	struct pollfd pfd;
	bool tagged;
	pid_t pid;
	int s;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/log", dir);
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(s >= 0);
	CU_ASSERT_FATAL(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	pid = run_daemon("GMAP_LOG_TARGET", "syslog", "GMAP_LOG_SYSLOG",
			 a.sun_path);
	CU_ASSERT_FATAL(pid > 0);
	/* The daemon has exited: what it sent is queued. */
	pfd = (struct pollfd){ .fd = s, .events = POLLIN };
	while (poll(&pfd, 1, 0) == 1) {
		ssize_t len = recv(s, msg, sizeof(msg) - 1, 0);

		if (len <= 0)
			break;
		msg[len] = 0;
		got++;
		/* One datagram, one line, no newline of its own. */
		CU_ASSERT_PTR_NULL(strchr(msg, '\n'));
		strncat(text, msg, sizeof(text) - strlen(text) - 2);
		strcat(text, "\n");
	}
	snprintf(tag, sizeof(tag), "test-log[%d]: gmap d7: error: ", (int)pid);
	n = lines_with(text, BAD_NEEDLE, tag, &tagged);
	printf("\n    the same to syslog: %u datagram(s), %u with the error, "
	       "%s \"%s\" ", got, n, tagged ? "each with" : "not all with", tag);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT(tagged);
	/* LOG_USER (8) | LOG_ERR (3). */
	CU_ASSERT(strstr(text, "<11>") != NULL);
	close(s);
	unlink(a.sun_path);
	rmdir(dir);
}

/* @var=@value (and @var2=@value2) refused at gmap_open(): EINVAL, and
 * stderr says @needle. */
static int refused(const char *var, const char *value, const char *var2,
		   const char *value2, const char *needle)
{
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM, .nr_refs = 16,
		.self_domid = T_SELF,
	};
	char path[] = "/tmp/gmap-test-err-XXXXXX", text[2048];
	struct gmap_window *w;
	int fd = mkstemp(path), saved = dup(2), e;
	ssize_t len;

	if (fd < 0 || saved < 0)
		return 0;
	dup2(fd, 2);
	setenv(var, value, 1);
	if (var2)
		setenv(var2, value2, 1);
	errno = 0;
	w = gmap_open(T_DOMID, &o);
	e = errno;
	unsetenv(var);
	if (var2)
		unsetenv(var2);
	dup2(saved, 2);
	close(saved);
	len = pread(fd, text, sizeof(text) - 1, 0);
	text[len > 0 ? len : 0] = 0;
	close(fd);
	unlink(path);
	if (w) {
		gmap_close(w);
		return 0;
	}
	if (!strstr(text, needle))
		printf("\n    stderr: %s", text);
	return e != 0 && strstr(text, needle) != NULL;
}

static void test_log_settings(void)
{
	struct gmap_sim_domain *d = gmap_sim_domain_create(T_DOMID, 4, 4);

	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT(refused("GMAP_LOG_TARGET", "journal", NULL, NULL,
			  "GMAP_LOG_TARGET='journal' is not valid: expected one "
			  "of 'stderr', 'syslog' or 'file'"));
	CU_ASSERT(refused("GMAP_LOG_TARGET", "file", NULL, NULL,
			  "GMAP_LOG_TARGET=file needs GMAP_LOG_FILE"));
	CU_ASSERT(refused("GMAP_LOG_FILE", "/nonexistent-dir/gmap.log", NULL,
			  NULL, "GMAP_LOG_FILE='/nonexistent-dir/gmap.log': "
			  "cannot open it to append: No such file or directory"));
	CU_ASSERT(refused("GMAP_LOG_FILE", "/tmp/x.log", "GMAP_LOG_TARGET",
			  "syslog", "GMAP_LOG_FILE='/tmp/x.log' is set, but "
			  "GMAP_LOG_TARGET='syslog' says not to log to a file"));
	CU_ASSERT(refused("GMAP_LOG_SYSLOG", "/dev/log", NULL, NULL,
			  "the log target is not syslog"));
	gmap_sim_domain_destroy(d);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "a daemon's error reaches GMAP_LOG_FILE, once, tagged", test_log_file },
		{ "a daemon's error reaches syslog, once, tagged", test_log_syslog },
		{ "bad log settings refused by name", test_log_settings },
		{ NULL, NULL },
	};
	return t_main("log", cases);
}
