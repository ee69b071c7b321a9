/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmap-top - a live view of every libgmap window of every process the
 * user may see, from the counters each window publishes (publish.h).
 * See gmap-top(1).
 *
 * main.c: the command line, and the two loops: live on a terminal
 * (redrawn in place, q quits), or batch (-b, or when standard output is
 * not a terminal) as a table or JSON lines.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "gmap.h"
#include "top.h"

static const char usage[] =
"usage: gmap-top [-b] [-n N] [-d SECONDS] [-p PID]... [--json]\n"
"                [--dir DIR]... [--keep-stale]\n"
"A live view of the libgmap windows of every process you may see.\n"
"  -b, --batch         print samples one after another instead of\n"
"                      redrawing a terminal (the default when standard\n"
"                      output is not a terminal)\n"
"  -n, --iterations N  stop after N samples (1..1000000; default: never)\n"
"  -d, --delay S       seconds between samples (0.01..3600; default 1)\n"
"  -p, --pid PID       only this process's windows (repeatable, up to 16)\n"
"      --json          one JSON object per sample, on one line (implies -b)\n"
"      --dir DIR       read the windows published in DIR (repeatable, up\n"
"                      to 16); default: GMAP_RUNTIME_DIR if set, else\n"
"                      $XDG_RUNTIME_DIR/gmap, /run/gmap, /run/user/*/gmap\n"
"                      and /dev/shm/gmap-*\n"
"      --keep-stale    leave the files of processes that are gone (they\n"
"                      are removed by default)\n"
"  -h, --help\n"
"      --version\n"
"Live keys: q quits, space samples again now, ^Z suspends.\n"
"Rates are since the previous sample, or since the window opened for the\n"
"first one; SERVE50/99: the library's time to serve a first touch.\n";

enum { O_JSON = 256, O_DIR, O_KEEP, O_VERSION };

/* stop: SIGINT, SIGTERM or SIGHUP; suspend: ^Z (SIGTSTP).  SIGWINCH only
 * interrupts the wait, so that the screen is drawn again at its size. */
static volatile sig_atomic_t stop, suspend;
static struct termios saved_tio;
static bool tio_saved, screen_on;

static void bad(const char *name, const char *arg, const char *expected)
{
	fprintf(stderr, TOP_NAME ": %s '%s' is not valid: expected %s\n",
		name, arg, expected);
	exit(2);
}

static unsigned long num(const char *name, const char *arg, unsigned long lo,
			 unsigned long hi)
{
	char want[64], *end;
	unsigned long v;

	snprintf(want, sizeof(want), "a number from %lu to %lu", lo, hi);
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < lo || v > hi)
		bad(name, arg, want);
	return v;
}

static void parse(int argc, char **argv, struct top_opts *o)
{
	static const struct option longs[] = {
		{ "batch", no_argument, NULL, 'b' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "delay", required_argument, NULL, 'd' },
		{ "pid", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, O_JSON },
		{ "dir", required_argument, NULL, O_DIR },
		{ "keep-stale", no_argument, NULL, O_KEEP },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	o->delay_s = 1;
	while ((c = getopt_long(argc, argv, "bn:d:p:h", longs, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->batch = true;
			break;
		case 'n':
			o->iterations = num("-n", optarg, 1, 1000000);
			break;
		case 'd':
			errno = 0;
			o->delay_s = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !isfinite(o->delay_s) || o->delay_s < 0.01 ||
			    o->delay_s > 3600)
				bad("-d", optarg, "seconds from 0.01 to 3600");
			break;
		case 'p':
			if (o->nr_pids == TOP_MAX_DIRS)
				bad("-p", optarg, "at most 16 of them");
			o->pids[o->nr_pids++] =
				(pid_t)num("-p", optarg, 1, 4194304);
			break;
		case O_JSON:
			o->json = o->batch = true;
			break;
		case O_DIR:
			if (o->nr_dirs == TOP_MAX_DIRS)
				bad("--dir", optarg, "at most 16 of them");
			if (!*optarg || strlen(optarg) > 200)
				bad("--dir", optarg, "a path of 1 to 200 bytes");
			o->dirs[o->nr_dirs++] = optarg;
			break;
		case O_KEEP:
			o->keep_stale = true;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		case O_VERSION:
			printf(TOP_NAME " %s\n", gmap_version());
			exit(0);
		default:
			fputs(usage, stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, TOP_NAME ": unexpected argument '%s'\n%s",
			argv[optind], usage);
		exit(2);
	}
}

static void on_signal(int sig)
{
	if (sig == SIGTSTP)
		suspend = 1;
	else if (sig != SIGWINCH)
		stop = 1;
}

static void handle_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;  /* no SA_RESTART: poll returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	sigaction(SIGTSTP, &sa, NULL);
	/* A closed pipe (gmap-top -b | head) is an end, seen as EPIPE. */
	signal(SIGPIPE, SIG_IGN);
}

static void screen_restore(void)
{
	if (screen_on) {
		/* The cursor back, and the screen the user had. */
		fputs("\033[?25h\033[?1049l", stdout);
		fflush(stdout);
		screen_on = false;
	}
	if (tio_saved) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
		tio_saved = false;
	}
}

static void screen_setup(void)
{
	static bool registered;   /* again after ^Z: atexit once */
	struct termios t;

	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
		t = saved_tio;
		t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		t.c_cc[VMIN] = 0;
		t.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0)
			tio_saved = true;
	}
	if (!registered) {
		atexit(screen_restore);
		registered = true;
	}
	/* The alternate screen, without the cursor. */
	fputs("\033[?1049h\033[?25l", stdout);
	screen_on = true;
}

static void term_size(unsigned int *rows, unsigned int *cols)
{
	struct winsize ws;

	*rows = 24;
	*cols = 80;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row &&
	    ws.ws_col) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

/* ^Z: give the terminal back, stop, and take it again when continued. */
static void do_suspend(void)
{
	struct sigaction sa, old;

	screen_restore();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGTSTP, &sa, &old);
	raise(SIGTSTP);         /* stopped here until SIGCONT */
	sigaction(SIGTSTP, &old, NULL);
	suspend = 0;
	screen_setup();
}

/* Wait @s seconds, or less for a key; false if the user quit or the
 * terminal hung up. */
static bool live_wait(double s)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	int ms = (int)(s * 1000), n;
	char c;

	n = poll(&p, tio_saved ? 1 : 0, ms);
	if (suspend)
		do_suspend();
	if (n < 0)
		return !stop;   /* a signal: a new size, ^Z, or stop */
	if (n > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
		return false;
	if (n > 0 && read(STDIN_FILENO, &c, 1) == 1 &&
	    (c == 'q' || c == 'Q' || c == 4 /* ^D */))
		return false;
	return !stop;
}

/* The whole screen into one buffer, written at once: no flicker. */
static void live_draw(const struct top_opts *o, const struct top_sample *s)
{
	unsigned int rows, cols;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char title[128];

	if (!m)
		return;
	term_size(&rows, &cols);
	snprintf(title, sizeof(title), TOP_NAME " %s: libgmap windows every "
		 "%g s (q quits, space samples now)", gmap_version(),
		 o->delay_s);
	fprintf(m, "\033[H\033[J");
	fprintf(m, "%.*s\n", (int)cols, title);
	top_print_table(m, s, rows > 4 ? rows - 4 : 1, cols);
	fclose(m);
	if (buf) {
		fwrite(buf, 1, len, stdout);
		fflush(stdout);
	}
	free(buf);
}

static void batch_sleep(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s };

	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (!stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	struct top_sample a = { 0 }, b = { 0 }, *cur = &a, *prev = NULL, *t;
	struct top_opts o = { 0 };
	unsigned long i;

	parse(argc, argv, &o);
	if (!o.batch && !isatty(STDOUT_FILENO))
		o.batch = true;
	handle_signals();
	top_scan_init();
	if (!o.batch)
		screen_setup();
	for (i = 0; !stop && (!o.iterations || i < o.iterations); i++) {
		top_scan(&o, cur, prev);
		if (o.json) {
			top_print_json(stdout, cur);
		} else if (o.batch) {
			if (i)
				putchar('\n');
			top_print_table(stdout, cur, (unsigned int)-1, 255);
		} else {
			live_draw(&o, cur);
		}
		if (fflush(stdout) == EOF || ferror(stdout)) {
			/* A reader that is gone (| head) ends the run;
			 * another error is said. */
			if (errno == EPIPE)
				break;
			screen_restore();
			fprintf(stderr, TOP_NAME ": cannot write the sample: "
				"%s\n", strerror(errno));
			return 1;
		}
		prev = cur;
		t = cur == &a ? &b : &a;
		cur = t;
		if (o.iterations && i + 1 >= o.iterations)
			break;
		if (o.batch)
			batch_sleep(o.delay_s);
		else if (!live_wait(o.delay_s))
			break;
	}
	screen_restore();
	top_sample_free(&a);
	top_sample_free(&b);
	return 0;
}
