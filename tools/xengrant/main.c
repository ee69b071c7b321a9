/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmap-xengrant - a granting side on real Xen, the counterpart of
 * gmap-simdom: grant this domain's own pages with gntalloc, fill them, run
 * a backend command against them, check what it wrote, end access and
 * report grants still in use.
 *
 *   gmap-xengrant [-d DOMID] [-n N] [--ro N] [--seed S] [--expect S]
 *                 -- command [args...]
 *
 * In the command's arguments {first}, {count}, {refs} (one argument per
 * ref; {rrefs}: the same, last first, which is not one run), {ro} (the
 * first read-only ref) and {ended} (a ref granted and
 * ended before the command ran: in the table, not granted) are replaced.
 * {first}/{count} need the writable refs to be contiguous, which the
 * kernel's free list gives on a fresh domain; otherwise the tool says so.
 *
 * After the command: with --expect S every writable page must hold the
 * pattern for seed S (the backend's replies); then every grant is ended,
 * and each one is tried again through gntdev: a grant that still maps was
 * still in use (the kernel defers ending it).  Exit 0 only if the command
 * succeeded, every check passed and nothing was left in use.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xengnttab.h>
#include <xentoollog.h>

#include "granter.h"
#include "gmap-pattern.h"

#define PAGE 4096

static void usage(FILE *f)
{
	fprintf(f, "usage: gmap-xengrant [-d DOMID] [-n N] [--ro N] [--seed S] "
		"[--expect S] -- command [args...]\n"
		"  -d, --domid N   grantee domain (default 0: this one)\n"
		"  -n, --count N   writable grants (1..1000; default 16)\n"
		"      --ro N      read-only grants (0..16; default 0)\n"
		"      --seed S    fill pattern seed (default 11)\n"
		"      --expect S  after the command, writable pages must hold "
		"seed S\n"
		"  -h, --help\n"
		"      --version\n"
		"An argument of the command that is exactly one of these is "
		"replaced:\n"
		"  {first}   the first writable ref (the writable refs must be "
		"one run)\n"
		"  {count}   N, the number of writable grants (the same)\n"
		"  {refs}    the writable refs in increasing order, one argument "
		"each\n"
		"  {rrefs}   the writable refs in decreasing order, one argument "
		"each\n"
		"  {ro}      the first read-only ref (needs --ro)\n"
		"  {ended}   the ref of a grant ended before the command ran\n");
}

static unsigned long num(const char *opt, const char *s, unsigned long min,
			 unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *s == '-' || *end || v < min || v > max) {
		fprintf(stderr, "gmap-xengrant: %s '%s' is not valid: expected "
			"a number from %lu to %lu\n", opt, s, min, max);
		exit(2);
	}
	return v;
}

/*
 * The grants are real Xen grants, and the command inherits the
 * environment: a libgmap backend in it maps them only on the xen backend.
 * So GMAP_BACKEND may be xen (in any case, as libgmap reads it) or unset;
 * sim, or a word libgmap does not know, is refused before anything is
 * granted.
 */
static void check_backend_env(void)
{
	const char *s = getenv("GMAP_BACKEND");

	if (s && strcasecmp(s, "xen")) {
		fprintf(stderr, "gmap-xengrant: GMAP_BACKEND '%s' is not valid: "
			"expected xen or the variable unset: the grants are "
			"real Xen grants, which the command maps through the "
			"xen backend only\n", s);
		exit(2);
	}
}

/* Whether @ref of domain @dom can still be mapped (the grant is alive). */
static int still_granted(xengnttab_handle *xgt, uint32_t dom, uint32_t ref)
{
	void *p = xengnttab_map_grant_ref(xgt, dom, ref, PROT_READ);

	if (!p)
		return 0;
	xengnttab_unmap(xgt, p, 1);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domid", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "ro", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 's' },
		{ "expect", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long dom = 0, n = 16, nro = 0, seed = 11, expect = 0;
	int c, have_expect = 0, status, bad = 0, contiguous = 1;
	struct xg_grant *ended;
	xengnttab_handle *xgt;
	char **cmd, buf[32];
	xentoollog_logger *xtl = NULL;
	FILE *quiet;
	struct xg xg;
	uint32_t i, in_use = 0;
	size_t k, nargs = 0;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "+d:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dom = num("--domid", optarg, 0, 32751); break;
		case 'n': n = num("--count", optarg, 1, 1000); break;
		case 'r': nro = num("--ro", optarg, 0, 16); break;
		case 's': seed = num("--seed", optarg, 0, UINT32_MAX); break;
		case 'e': expect = num("--expect", optarg, 0, UINT32_MAX);
			  have_expect = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("gmap-xengrant %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "gmap-xengrant: no command to run: gmap-xengrant "
			"[options] -- command [args...]\n");
		return 2;
	}
	/* Usage errors before anything is granted. */
	for (k = (size_t)optind; k < (size_t)argc; k++)
		if (!strcmp(argv[k], "{ro}") && !nro) {
			fprintf(stderr, "gmap-xengrant: {ro} needs --ro\n");
			return 2;
		}
	check_backend_env();
	if (xg_open(&xg, (uint32_t)(n + nro + 1)) < 0) {
		fprintf(stderr, "gmap-xengrant: /dev/xen/gntalloc: %s (not a "
			"Xen domain, or xen-gntalloc is not loaded)\n",
			strerror(errno));
		return 1;
	}
	/* The grants: writable ones, read-only ones, then one ended. */
	for (i = 0; i < n + nro + 1; i++) {
		struct xg_grant *g = xg_grant(&xg, (uint16_t)dom, i < n);

		if (!g) {
			fprintf(stderr, "gmap-xengrant: grant %u of %lu: %s\n",
				i + 1, n + nro + 1, strerror(errno));
			return 1;
		}
		gmap_pattern_fill(g->page, g->ref, (uint32_t)seed);
	}
	/* The kernel hands refs out of a free list, in either order:
	 * sort each kind, so that a contiguous set reads as a run. */
	xg_sort(&xg, 0, n);
	xg_sort(&xg, n, nro);
	for (i = 1; i < n; i++)
		if (xg.g[i].ref != xg.g[0].ref + i)
			contiguous = 0;
	ended = &xg.g[n + nro];
	xg_end(&xg, ended);
	printf("gmap-xengrant: %lu writable grants (refs %u..%u%s), %lu "
	       "read-only, ref %u ended, to d%lu\n", n, xg.g[0].ref,
	       xg.g[n - 1].ref, contiguous ? "" : ", not contiguous", nro,
	       ended->ref, dom);
	fflush(stdout);

	/* The command, with the placeholders replaced. */
	cmd = calloc((size_t)(argc - optind) + n + 1, sizeof(*cmd));
	for (k = (size_t)optind; k < (size_t)argc; k++) {
		const char *a = argv[k];

		if (!strcmp(a, "{refs}") || !strcmp(a, "{rrefs}")) {
			bool rev = a[1] == 'r';

			for (i = 0; i < n; i++) {
				snprintf(buf, sizeof(buf), "%u",
					 xg.g[rev ? n - 1 - i : i].ref);
				cmd[nargs++] = strdup(buf);
			}
			continue;
		}
		if (!strcmp(a, "{first}") || !strcmp(a, "{count}")) {
			if (!contiguous) {
				fprintf(stderr, "gmap-xengrant: %s needs "
					"contiguous refs, and the kernel gave "
					"others\n", a);
				return 1;
			}
			snprintf(buf, sizeof(buf), "%lu", a[1] == 'f' ?
				 (unsigned long)xg.g[0].ref : n);
		} else if (!strcmp(a, "{ro}")) {
			snprintf(buf, sizeof(buf), "%u", xg.g[n].ref);
		} else if (!strcmp(a, "{ended}")) {
			snprintf(buf, sizeof(buf), "%u", ended->ref);
		} else {
			cmd[nargs++] = strdup(a);
			continue;
		}
		cmd[nargs++] = strdup(buf);
	}
	pid = fork();
	if (pid == 0) {
		execvp(cmd[0], cmd);
		fprintf(stderr, "gmap-xengrant: cannot run %s: %s\n", cmd[0],
			strerror(errno));
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		perror("gmap-xengrant: fork/wait");
		return 1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		printf("gmap-xengrant: the command failed (status %#x)\n", status);
		bad = 1;
	}

	/* Its replies, then the end of every grant. */
	for (i = 0; have_expect && i < n; i++) {
		size_t o = gmap_pattern_diff(xg.g[i].page, xg.g[i].ref,
					     (uint32_t)expect);

		if (o < PAGE) {
			printf("gmap-xengrant: ref %u offset %zu: not the "
			       "reply expected\n", xg.g[i].ref, o);
			bad = 1;
			break;
		}
	}
	/* Quiet: the map of an ended grant is expected to fail, and the
	 * library would log each failure. */
	quiet = fopen("/dev/null", "w");
	xtl = quiet ? (xentoollog_logger *)xtl_createlogger_stdiostream(quiet,
			XTL_NUM_LEVELS, 0) : NULL;
	xgt = xengnttab_open(xtl, 0);
	for (i = 0; i < n + nro; i++) {
		uint32_t ref = xg.g[i].ref;

		xg_end(&xg, &xg.g[i]);
		if (xgt && still_granted(xgt, (uint32_t)dom, ref)) {
			printf("gmap-xengrant: ref %u still in use after the "
			       "command (end deferred)\n", ref);
			in_use++;
		}
	}
	if (xgt) {
		xengnttab_close(xgt);
	} else {
		printf("gmap-xengrant: cannot open libxengnttab (%s): grants "
		       "ended without checking that none is still in use\n",
		       strerror(errno));
		bad = 1;
	}
	if (xtl)
		xtl_logger_destroy(xtl);
	if (quiet)
		fclose(quiet);
	xg_close(&xg);
	printf("gmap-xengrant: %s%s; %u grant(s) still in use at the end\n",
	       have_expect && !bad ? "replies checked, " : "",
	       bad ? "FAILED" : "command passed", in_use);
	return bad || in_use ? 1 : 0;
}
