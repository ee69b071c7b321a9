/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmap-simdom - a simulated granting Xen domain in its own process.  The
 * server creates the domain, listens on a unix socket, hands the domain's
 * memfds to backends that attach, and plays the guest on command; the
 * client sends it commands.  See gmap-simdom(1).
 *
 * main.c: the command line, the client, and the server's start and end.
 * Exit status: client 0 ok, 1 error reply, 2 usage or connection; server
 * 0 clean, 1 failed while serving, 2 usage or setup, 3 pages still in use.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "simdom.h"

static const char usage[] =
"usage: gmap-simdom serve -S PATH [-d DOMID] [--frames N] [--grants N]\n"
"                         [-D|--daemon] [--log FILE] [--allow-uid UID]...\n"
"                         [--idle-timeout S]\n"
"       gmap-simdom -S PATH COMMAND [ARGS...]\n"
"       gmap-simdom -S PATH -\n"
"Server\n"
"  -S, --socket PATH   the unix socket to serve on\n"
"  -d, --domid N       the simulated domain's id (0..32751; default 1)\n"
"      --frames N      its pages of memory (1..1048576; default 4096)\n"
"      --grants N      its grant table entries (1..16777216; default 32768)\n"
"  -D, --daemon        detach once listening and print the server's pid\n"
"      --log FILE      append messages and one line per command to FILE\n"
"      --allow-uid UID serve UID too (repeatable, up to 16; the socket is\n"
"                      then mode 0666, else 0600); by default only the\n"
"                      server's own uid and root are served\n"
"      --idle-timeout S\n"
"                      close a connection idle for S seconds (0..86400, 0:\n"
"                      never; default 60)\n"
"Client\n"
"  -S, --socket PATH   the server's socket\n"
"  COMMAND [ARGS...]   send one command and print its reply\n"
"  -                   send each line of standard input, print each reply\n"
"Commands (RANGE: REF or FIRST-LAST)\n"
"  attach DOMID                  info                ref-info REF\n"
"  grant RANGE FRAME GRANTEE rw|ro                   end RANGE\n"
"  revoke RANGE                  fill RANGE SEED     check RANGE SEED\n"
"  inject REF none|eagain|eio|wrong-frame|stall COUNT            quit\n"
"  -h, --help\n"
"      --version\n";

enum { O_FRAMES = 256, O_GRANTS, O_LOG, O_VERSION, O_ALLOW_UID, O_IDLE };

struct serve_opts {
	const char *path, *log;
	uint32_t domid, frames, grants, idle_s;
	uid_t allow[SD_ALLOW_MAX];
	unsigned int nr_allow;
	bool daemon;
};

static void bad(const char *name, const char *arg, const char *expected)
{
	fprintf(stderr, SD_NAME ": %s '%s' is not valid: expected %s\n", name,
		arg, expected);
	exit(2);
}

static uint32_t num(const char *name, const char *arg, uint32_t lo,
		    uint32_t hi)
{
	char want[64];
	uint64_t v;

	if (sd_number(arg, lo, hi, &v) < 0) {
		snprintf(want, sizeof(want), "a number from %u to %u", lo, hi);
		bad(name, arg, want);
	}
	return (uint32_t)v;
}

static const char *sock_path(const char *arg)
{
	struct sockaddr_un sa;
	char want[64];

	if (!*arg || strlen(arg) >= sizeof(sa.sun_path)) {
		snprintf(want, sizeof(want), "a socket path of 1 to %zu bytes",
			 sizeof(sa.sun_path) - 1);
		bad("-S", arg, want);
	}
	return arg;
}

static void version(void)
{
	/* The library's version too, when the one loaded is another. */
	if (strcmp(gmap_version(), PACKAGE_VERSION))
		printf(SD_NAME " %s (libgmap %s)\n", PACKAGE_VERSION,
		       gmap_version());
	else
		printf(SD_NAME " %s\n", PACKAGE_VERSION);
	exit(0);
}

/*
 * A gmap-simdom domain is mapped through the sim backend only: a
 * GMAP_BACKEND other than sim (in any case, as libgmap reads it) would
 * send the backends started beside it elsewhere.  Said here, at once,
 * rather than at their first map.
 */
static void check_backend_env(void)
{
	const char *s = getenv("GMAP_BACKEND");

	if (s && strcasecmp(s, "sim"))
		bad("GMAP_BACKEND", s, "sim or the variable unset: a "
		    "gmap-simdom domain is mapped through the sim backend "
		    "only");
}

/* ---- client ------------------------------------------------------------ */

struct reader {
	int fd;
	size_t len;
	char buf[SD_REPLY_MAX];
};

/*
 * The server's replies are what scripts check the guest by: talk only to
 * one run by our uid or by root, not to whoever bound the path first.
 */
static void check_server(int fd, const char *path)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		fprintf(stderr, SD_NAME ": %s: cannot get the server's "
			"credentials: %s\n", path, strerror(errno));
		exit(2);
	}
	if (cr.uid != geteuid() && cr.uid != 0) {
		fprintf(stderr, SD_NAME ": %s is served by uid %u (pid %d), "
			"not by uid %u or root: not talking to it\n", path,
			(unsigned)cr.uid, (int)cr.pid, (unsigned)geteuid());
		exit(2);
	}
}

static int client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, SD_NAME ": cannot connect to %s: %s\n", path,
			strerror(errno));
		exit(2);
	}
	check_server(fd, path);
	return fd;
}

static int send_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read one reply line into @line (without its newline).  Any fds an
 * "attach" reply carries are dropped by the kernel: recv() takes no
 * control message.  Returns -1 with errno set, or 0 with errno 0 at EOF
 * before a whole line, else the line's length + 1.
 */
static ssize_t read_reply(struct reader *rd, char *line, size_t size)
{
	char *nl;
	ssize_t n;
	size_t len;

	while (!(nl = memchr(rd->buf, '\n', rd->len))) {
		if (rd->len == sizeof(rd->buf)) {
			errno = EMSGSIZE;
			return -1;
		}
		n = recv(rd->fd, rd->buf + rd->len, sizeof(rd->buf) - rd->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = 0;
			return n;
		}
		rd->len += (size_t)n;
	}
	len = (size_t)(nl - rd->buf);
	snprintf(line, size, "%.*s", (int)len, rd->buf);
	rd->len -= len + 1;
	memmove(rd->buf, nl + 1, rd->len);
	return (ssize_t)len + 1;
}

/*
 * Send @cmd, print the reply; 0 ok, 1 error reply, 2 no usable reply.
 * The reply is read even if the send failed: a server that refused or
 * closed the connection has said why first.
 */
static int client_round(struct reader *rd, const char *path, const char *cmd)
{
	static char line[SD_REPLY_MAX];
	size_t len = strlen(cmd);
	char *msg = malloc(len + 2);
	int sent;

	if (!msg)
		return 2;
	memcpy(msg, cmd, len);
	memcpy(msg + len, "\n", 2);
	sent = send_all(rd->fd, msg, len + 1) < 0 ? errno : 0;
	free(msg);
	if (read_reply(rd, line, sizeof(line)) <= 0) {
		if (!errno)
			errno = sent;
		fprintf(stderr, SD_NAME ": %s: %s\n", path, errno ?
			strerror(errno) : "connection closed without a reply");
		return 2;
	}
	printf("%s\n", line);
	fflush(stdout);
	if (!strncmp(line, "ok", 2) && (!line[2] || line[2] == ' '))
		return 0;
	if (!strncmp(line, "error:", 6))
		return 1;
	fprintf(stderr, SD_NAME ": %s: unexpected reply\n", path);
	return 2;
}

/* Blank lines and '#' comments are skipped, so scripts may have both. */
static bool skip_line(const char *line)
{
	line += strspn(line, " \t\r");
	return !*line || *line == '#';
}

static int client_script(struct reader *rd, const char *path)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc, worst = 0;

	while ((len = getline(&line, &cap, stdin)) > 0) {
		if (line[len - 1] == '\n')
			line[len - 1] = 0;
		if (skip_line(line))
			continue;
		rc = client_round(rd, path, line);
		if (rc > worst)
			worst = rc;
		if (rc == 2)
			break;
	}
	free(line);
	return worst;
}

/* The words joined with single spaces, as one command line. */
static char *join(int argc, char **argv)
{
	size_t len = 0, off = 0;
	char *s;

	for (int i = 0; i < argc; i++) {
		if (strchr(argv[i], '\n'))
			bad("argument", argv[i], "no newline in a command");
		len += strlen(argv[i]) + 1;
	}
	s = malloc(len);
	if (!s) {
		fprintf(stderr, SD_NAME ": out of memory\n");
		exit(2);
	}
	for (int i = 0; i < argc; i++)
		off += (size_t)sprintf(s + off, "%s%s", i ? " " : "", argv[i]);
	return s;
}

static int client_main(const char *path, int argc, char **argv)
{
	struct reader *rd;
	char *cmd;
	int rc;

	if (!strcmp(argv[0], "serve")) {
		fprintf(stderr, SD_NAME ": 'serve' comes first: gmap-simdom "
			"serve -S PATH [options]\n");
		return 2;
	}
	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return 2;
	rd->fd = client_connect(path);
	if (argc == 1 && !strcmp(argv[0], "-")) {
		rc = client_script(rd, path);
	} else {
		cmd = join(argc, argv);
		rc = client_round(rd, path, cmd);
		free(cmd);
	}
	close(rd->fd);
	free(rd);
	return rc;
}

static int client_opts(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", 1, 0, 'S' }, { "help", 0, 0, 'h' },
		{ "version", 0, 0, O_VERSION }, { 0, 0, 0, 0 },
	};
	const char *path = NULL;
	int o;

	/* '+': the command's words are not options, whatever they look like. */
	while ((o = getopt_long(argc, argv, "+S:h", lo, NULL)) != -1) {
		switch (o) {
		case 'S': path = sock_path(optarg); break;
		case 'h': fputs(usage, stdout); exit(0);
		case O_VERSION: version(); break;
		default: fputs(usage, stderr); exit(2);
		}
	}
	if (!path || optind == argc) {
		fprintf(stderr, SD_NAME ": %s\n%s", !path ? "-S PATH is needed" :
			"a COMMAND (or '-') is needed", usage);
		exit(2);
	}
	check_backend_env();
	return client_main(path, argc - optind, argv + optind);
}

/* ---- server ------------------------------------------------------------ */

/* --allow-uid: a uid, (uid_t)-1 excluded (it means "no change" to chown). */
static void allow_uid(struct serve_opts *so, const char *arg)
{
	if (so->nr_allow == SD_ALLOW_MAX) {
		fprintf(stderr, SD_NAME ": --allow-uid %s: at most %d uids\n",
			arg, SD_ALLOW_MAX);
		exit(2);
	}
	so->allow[so->nr_allow++] = num("--allow-uid", arg, 0, UINT32_MAX - 1);
}

static void serve_opts(struct serve_opts *so, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", 1, 0, 'S' }, { "domid", 1, 0, 'd' },
		{ "frames", 1, 0, O_FRAMES }, { "grants", 1, 0, O_GRANTS },
		{ "daemon", 0, 0, 'D' }, { "log", 1, 0, O_LOG },
		{ "allow-uid", 1, 0, O_ALLOW_UID },
		{ "idle-timeout", 1, 0, O_IDLE },
		{ "help", 0, 0, 'h' }, { "version", 0, 0, O_VERSION },
		{ 0, 0, 0, 0 },
	};
	int o;

	*so = (struct serve_opts){ .domid = 1, .frames = 4096, .grants = 32768,
				   .idle_s = SD_IDLE_DEFAULT_S };
	while ((o = getopt_long(argc, argv, "S:d:Dh", lo, NULL)) != -1) {
		switch (o) {
		case 'S': so->path = sock_path(optarg); break;
		case 'd': so->domid = num("-d", optarg, 0, SD_DOMID_MAX); break;
		case O_FRAMES: so->frames = num("--frames", optarg, 1, 1u << 20); break;
		case O_GRANTS: so->grants = num("--grants", optarg, 1, 1u << 24); break;
		case 'D': so->daemon = true; break;
		case O_LOG:
			if (!*optarg)
				bad("--log", optarg, "a file name");
			so->log = optarg;
			break;
		case O_ALLOW_UID: allow_uid(so, optarg); break;
		case O_IDLE:
			so->idle_s = num("--idle-timeout", optarg, 0, SD_IDLE_MAX_S);
			break;
		case 'h': fputs(usage, stdout); exit(0);
		case O_VERSION: version(); break;
		default: fputs(usage, stderr); exit(2);
		}
	}
	if (optind < argc)
		bad("argument", argv[optind], "options only");
	if (!so->path) {
		fprintf(stderr, SD_NAME ": serve needs -S PATH\n");
		exit(2);
	}
	check_backend_env();
}

/*
 * TERM, INT (and HUP, for a terminal that goes away) arrive through a
 * signalfd in the poll set, so they end the loop like quit does.  Set up
 * before daemonising: a pid printed is a pid that may be signalled.
 */
static int signals(void)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd;
}

static void redirect(int fd, int to)
{
	if (fd != to && dup2(fd, to) < 0)
		fprintf(stderr, SD_NAME ": dup2: %s\n", strerror(errno));
}

/*
 * Detach: the parent prints the child's pid and exits, by which time the
 * socket already accepts connections (pid=$(gmap-simdom serve -D ...) is
 * race-free).  The parent leaves with _exit(): nothing of the domain may
 * be torn down on its way out, the child serves it.
 */
static void daemonise(int log_fd)
{
	pid_t pid;
	int null;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, SD_NAME ": fork: %s\n", strerror(errno));
		exit(2);
	}
	if (pid > 0) {
		printf("%ld\n", (long)pid);
		_exit(fflush(stdout) ? 2 : 0);
	}
	setsid();
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return;
	redirect(null, STDIN_FILENO);
	redirect(log_fd >= 0 ? log_fd : null, STDOUT_FILENO);
	redirect(log_fd >= 0 ? log_fd : null, STDERR_FILENO);
	if (null > STDERR_FILENO)
		close(null);
}

static int open_log(const char *path)
{
	int fd;

	if (!path)
		return -1;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, SD_NAME ": cannot open --log %s: %s\n", path,
			strerror(errno));
		exit(2);
	}
	return fd;
}

static void report_exit(struct simdom *sd)
{
	sd_take_report(sd);
	fprintf(stderr, SD_NAME ": exit: %u pages still in use%s%s\n",
		sd->in_use, sd->in_use ? ":" : "", sd->in_use_refs);
}

static int serve_main(int argc, char **argv)
{
	struct simdom sd = { .log_fd = -1, .lfd = -1 };
	struct serve_opts so;
	int sigfd, rc;

	serve_opts(&so, argc, argv);
	sd.path = so.path;
	sd.domid = so.domid;
	sd.nr_frames = so.frames;
	sd.nr_grants = so.grants;
	sd.idle_s = so.idle_s;
	sd.nr_allow = so.nr_allow;
	memcpy(sd.allow, so.allow, sizeof(sd.allow));
	sd.dom = gmap_sim_domain_create(so.domid, so.frames, so.grants);
	if (!sd.dom) {
		fprintf(stderr, SD_NAME ": cannot create domain %u: %s\n",
			so.domid, strerror(errno));
		return 2;
	}
	sd.log_fd = open_log(so.log);
	sigfd = signals();
	if (sigfd < 0) {
		fprintf(stderr, SD_NAME ": signalfd: %s\n", strerror(errno));
		return 2;
	}
	/* Listening before the fork: see daemonise(). */
	if (sd_listen(&sd) < 0)
		return 2;
	if (so.daemon)
		daemonise(sd.log_fd);
	fprintf(stderr, SD_NAME ": domain %u (%u frames, %u grants) serving "
		"on %s\n", sd.domid, sd.nr_frames, sd.nr_grants, sd.path);
	rc = sd_serve(&sd, sigfd);
	sd_unlisten(&sd);
	report_exit(&sd);
	gmap_sim_domain_destroy(sd.dom);
	if (rc < 0)
		return 1;
	return sd.in_use ? 3 : 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "serve"))
		return serve_main(argc - 1, argv + 1);
	return client_opts(argc, argv);
}
