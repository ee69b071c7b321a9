/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmap-run - start a program under the libgmap preload shim.
 *
 *   gmap-run [options] -- program [args...]
 *
 * Turns options into GMAP_* variables, finds the shim, loads it here once
 * to have it check the whole environment exactly as it will in the
 * program (gmap_preload_check), refuses to start the program if anything
 * is missing or wrong, and then execs it with the shim in LD_PRELOAD.
 */
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef GMAP_PKGLIBDIR
#define GMAP_PKGLIBDIR "/usr/local/lib/libgmap"
#endif
#define PRELOAD_NAME "libgmap-preload.so"

static void usage(FILE *f)
{
	fprintf(f,
"usage: gmap-run [options] -- program [args...]\n"
"Run an unmodified Xen backend with its grant maps served by libgmap.\n"
"  -d, --domid N          serve only grants of domain N (GMAP_DOMID)\n"
"  -b, --backend B        sim or xen (GMAP_BACKEND; default sim)\n"
"  -S, --sim-socket PATH  the gmap-simdom to map from (GMAP_SIM_SOCKET)\n"
"      --self-domid N     grantee domid played on sim (GMAP_SELF_DOMID)\n"
"  -n, --nr-refs N        window size in refs (GMAP_NR_REFS)\n"
"      --handlers N       fault handler threads (GMAP_HANDLERS)\n"
"      --bad-policy P     signal or quiet (GMAP_BAD_POLICY)\n"
"      --unpin P          unmap or keep (GMAP_UNPIN)\n"
"      --foreign P        allow or deny non-grant frames (GMAP_FOREIGN)\n"
"      --max-mapped N     budget of mapped grants (GMAP_MAX_MAPPED)\n"
"      --max-vmas N       budget of the window's VMAs (GMAP_MAX_VMAS)\n"
"      --max-meta BYTES   budget of metadata memory (GMAP_MAX_META)\n"
"      --fault-around N   refs mapped per fault (GMAP_FAULT_AROUND)\n"
"      --fault-mode M     inline, thread or auto (GMAP_FAULT_MODE; the\n"
"                         shim's default: inline)\n"
"      --idle-ms N        idle unmap timeout (GMAP_IDLE_MS)\n"
"      --log LEVEL        debug .. none (GMAP_LOG)\n"
"      --log-file FILE    append libgmap's and the shim's lines to FILE, not\n"
"                         stderr: a daemon's survive (GMAP_LOG_FILE)\n"
"      --syslog           send them to syslog (GMAP_LOG_TARGET=syslog)\n"
"      --preload PATH     the shim (GMAP_PRELOAD; default %s/%s)\n"
"      --report FILE      append what the shim served to FILE at exit\n"
"                         (GMAP_REPORT)\n"
"  -v, --verbose          print the configuration in effect\n"
"  -h, --help             this text\n"
"      --version          print gmap-run's version\n"
"Exit status: the program's; 2 for a bad or missing setting; 127 if the\n"
"program cannot be run.\n", GMAP_PKGLIBDIR, PRELOAD_NAME);
}

static void die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
static void die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("gmap-run: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/* Options that are one GMAP_* variable each: long name -> variable. */
static const struct { int val; const char *var; } vars[] = {
	{ 'd', "GMAP_DOMID" },      { 'b', "GMAP_BACKEND" },
	{ 'S', "GMAP_SIM_SOCKET" }, { 'n', "GMAP_NR_REFS" },
	{ 1, "GMAP_SELF_DOMID" },   { 2, "GMAP_HANDLERS" },
	{ 3, "GMAP_BAD_POLICY" },   { 4, "GMAP_UNPIN" },
	{ 5, "GMAP_FOREIGN" },      { 6, "GMAP_MAX_MAPPED" },
	{ 7, "GMAP_FAULT_AROUND" }, { 8, "GMAP_IDLE_MS" },
	{ 9, "GMAP_LOG" },          { 10, "GMAP_PRELOAD" },
	{ 11, "GMAP_MAX_VMAS" },    { 12, "GMAP_MAX_META" },
	{ 13, "GMAP_REPORT" },      { 14, "GMAP_FAULT_MODE" },
	{ 15, "GMAP_LOG_FILE" },    { 16, "GMAP_LOG_TARGET" },
};

static const struct option longopts[] = {
	{ "domid", required_argument, NULL, 'd' },
	{ "backend", required_argument, NULL, 'b' },
	{ "sim-socket", required_argument, NULL, 'S' },
	{ "nr-refs", required_argument, NULL, 'n' },
	{ "self-domid", required_argument, NULL, 1 },
	{ "handlers", required_argument, NULL, 2 },
	{ "bad-policy", required_argument, NULL, 3 },
	{ "unpin", required_argument, NULL, 4 },
	{ "foreign", required_argument, NULL, 5 },
	{ "max-mapped", required_argument, NULL, 6 },
	{ "max-vmas", required_argument, NULL, 11 },
	{ "max-meta", required_argument, NULL, 12 },
	{ "fault-around", required_argument, NULL, 7 },
	{ "fault-mode", required_argument, NULL, 14 },
	{ "idle-ms", required_argument, NULL, 8 },
	{ "log", required_argument, NULL, 9 },
	{ "preload", required_argument, NULL, 10 },
	{ "report", required_argument, NULL, 13 },
	{ "log-file", required_argument, NULL, 15 },
	{ "syslog", no_argument, NULL, 16 },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* Load the shim here and let it check the environment it will see. */
static void check_with_shim(const char *path, int verbose)
{
	int (*check)(int);
	void *lib;
	int bad;

	if (access(path, R_OK) < 0)
		die(2, "the preload library %s is missing (%s): install "
		    "libgmap, or name it with --preload or GMAP_PRELOAD", path,
		    strerror(errno));
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		die(2, "cannot load the preload library: %s", dlerror());
	*(void **)&check = dlsym(lib, "gmap_preload_check");
	if (!check)
		die(2, "%s is not the libgmap preload library (no "
		    "gmap_preload_check)", path);
	bad = check(verbose);
	if (bad)
		die(2, "%d bad setting%s (above): not starting the program",
		    bad, bad > 1 ? "s" : "");
}

/* The sim backend in an unmodified program can only map from a
 * gmap-simdom: without one every map would fail. */
static void check_sim_socket(void)
{
	const char *b = getenv("GMAP_BACKEND");
	const char *s = getenv("GMAP_SIM_SOCKET");
	struct stat st;

	if (b && *b && strcasecmp(b, "sim"))
		return;
	if (!s)
		die(2, "the sim backend needs a simulated domain: start "
		    "gmap-simdom and pass its socket with -S PATH "
		    "(GMAP_SIM_SOCKET), or use -b xen on a Xen host");
	if (stat(s, &st) < 0 || !S_ISSOCK(st.st_mode))
		die(2, "no gmap-simdom socket at %s (%s)", s,
		    stat(s, &st) < 0 ? strerror(errno) : "not a socket");
}

int main(int argc, char **argv)
{
	char preload[4096], *ld;
	const char *old;
	int c, verbose = 0;
	size_t i;

	while ((c = getopt_long(argc, argv, "+d:b:S:n:vh", longopts, NULL)) != -1) {
		if (c == 'v') {
			verbose = 1;
			continue;
		}
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == 'V') {
			printf("gmap-run %s\n", PACKAGE_VERSION);
			return 0;
		}
		for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
			if (vars[i].val == c)
				break;
		if (i == sizeof(vars) / sizeof(vars[0])) {
			usage(stderr);
			return 2;
		}
		if (c == 16) {
			setenv(vars[i].var, "syslog", 1);
			continue;
		}
		if ((c == 13 || c == 15) && optarg[0] != '/') {
			/* The program may change directory (a daemon does,
			 * to /): make it absolute. */
			char cwd[4096], abs[8192];

			if (!getcwd(cwd, sizeof(cwd)))
				die(2, "%s %s: cannot get the current "
				    "directory: %s", c == 13 ? "--report" :
				    "--log-file", optarg, strerror(errno));
			snprintf(abs, sizeof(abs), "%s/%s", cwd, optarg);
			setenv(vars[i].var, abs, 1);
			continue;
		}
		setenv(vars[i].var, optarg, 1);
	}
	if (optind >= argc)
		die(2, "no program to run: gmap-run [options] -- program "
		    "[args...]");

	old = getenv("GMAP_PRELOAD");
	snprintf(preload, sizeof(preload), "%s", old ? old :
		 GMAP_PKGLIBDIR "/" PRELOAD_NAME);
	check_with_shim(preload, verbose);
	check_sim_socket();

	old = getenv("LD_PRELOAD");
	if (old && *old) {
		ld = malloc(strlen(preload) + strlen(old) + 2);
		if (!ld)
			die(2, "out of memory");
		sprintf(ld, "%s:%s", preload, old);
	} else {
		ld = preload;
	}
	setenv("LD_PRELOAD", ld, 1);
	if (verbose) {
		printf("  %-18s %s\ngmap-run: running %s\n", "LD_PRELOAD", ld,
		       argv[optind]);
		fflush(stdout);
	}
	execvp(argv[optind], argv + optind);
	die(127, "cannot run %s: %s", argv[optind], strerror(errno));
}
