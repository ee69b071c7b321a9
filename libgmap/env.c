/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * env.c - every GMAP_* environment variable, in one table: its name, what
 * it takes and what it is for.  The library reads its own ones through
 * here, the preload shim checks all of them at start (and refuses names it
 * does not know), programs linked with the library are warned of names it
 * does not know, and gmap-run prints them, so a variable's rules are
 * written once.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "private.h"

static const char *const backends[] = { "sim", "xen", NULL };
static const char *const levels[] = {
	"debug", "verbose", "detail", "progress", "info", "notice", "warn",
	"error", "critical", "none", NULL,
};
/* In the order of logger.c's enum target. */
static const char *const log_targets[] = { "stderr", "syslog", "file", NULL };
static const char *const bad_policies[] = { "signal", "quiet", NULL };
static const char *const unpin_policies[] = { "unmap", "keep", NULL };
static const char *const foreign_policies[] = { "allow", "deny", NULL };
/* In the order of enum gmap_fault_mode. */
static const char *const yes_no[] = { "yes", "no", NULL };
static const char *const fault_modes[] = { "auto", "thread", "inline", NULL };

#define NUM(n, l, h, d, w) { n, GMAP_ENV_NUM, l, h, NULL, d, w }
#define WORD(n, ws, d, w) { n, GMAP_ENV_WORD, 0, 0, ws, d, w }
#define PATH(n, max, d, w) { n, GMAP_ENV_PATH, 1, max, NULL, d, w }

const struct gmap_env_var gmap_env_vars[] = {
	WORD("GMAP_BACKEND", backends, "sim", "backend of windows opened "
	     "with GMAP_BACKEND_DEFAULT"),
	WORD("GMAP_LOG", levels, "warn", "level of the default logger"),
	WORD("GMAP_LOG_TARGET", log_targets, "stderr, or file with "
	     "GMAP_LOG_FILE", "where the default logger writes"),
	PATH("GMAP_LOG_FILE", 4095, "none", "file the default logger appends "
	     "its lines to"),
	PATH("GMAP_LOG_SYSLOG", 107, "/dev/log", "syslog socket of "
	     "GMAP_LOG_TARGET=syslog"),
	NUM("GMAP_MAX_MAPPED", 1, GMAP_MAX_REFS, "derived from "
	    "vm.max_map_count", "budget of grants mapped at once per window"),
	NUM("GMAP_MAX_VMAS", 8, 1ull << 31, "derived from vm.max_map_count",
	    "budget of VMAs per window"),
	NUM("GMAP_MAX_META", 65536, 1ull << 40, "2.25 KiB per VMA of the budget",
	    "budget of metadata bytes per window"),
	NUM("GMAP_FAULT_AROUND", 0, 256, "0", "refs mapped per fault"),
	WORD("GMAP_FAULT_MODE", fault_modes, "auto", "who serves faults: "
	     "handler threads, the faulting thread (SIGSEGV), or inline only "
	     "where system calls cannot be served anyway"),
	NUM("GMAP_IDLE_MS", 0, 3600000, "0 (never)", "unmap unpinned grants "
	    "mapped this long"),
	PATH("GMAP_RUNTIME_DIR", 200, "$XDG_RUNTIME_DIR/gmap, /run/gmap "
	     "(root), /run/user/<uid>/gmap or /dev/shm/gmap-<uid>",
	     "directory (tmpfs) where windows publish their counters for "
	     "gmap-top"),
	WORD("GMAP_PUBLISH", yes_no, "yes", "publish each window's counters "
	     "for gmap-top"),
	/* A unix socket's path must fit sun_path (108 bytes with its NUL). */
	PATH("GMAP_SIM_SOCKET", 107, "none", "unix socket of a gmap-simdom serving "
	     "the domain (sim backend)"),
	/* The preload shim's (gmap-run(1)). */
	NUM("GMAP_DOMID", 0, 32751, "any", "the only granting domain the shim "
	    "serves"),
	NUM("GMAP_NR_REFS", 1, GMAP_MAX_REFS, "16777216", "window size in "
	    "grant refs"),
	NUM("GMAP_HANDLERS", 1, GMAP_MAX_HANDLERS, "1", "fault handler threads "
	    "per window"),
	WORD("GMAP_BAD_POLICY", bad_policies, "signal", "a touch of an "
	     "unmappable grant: SIGSEGV with a backtrace, or quiet"),
	WORD("GMAP_UNPIN", unpin_policies, "unmap", "the last unmap of a grant "
	     "unmaps it, or keeps it mapped (persistent grants)"),
	WORD("GMAP_FOREIGN", foreign_policies, "allow", "frames without the "
	     "grant bit: passed to libxenforeignmemory, or refused"),
	NUM("GMAP_SELF_DOMID", 0, 32751, "0", "the grantee domid this process "
	    "plays (sim backend)"),
	PATH("GMAP_REPORT", 4095, "none", "file the preload shim appends its "
	     "report to at exit"),
	PATH("GMAP_PRELOAD", 4095, "installed", "the preload library gmap-run uses"),
	{ NULL, 0, 0, 0, NULL, NULL, NULL },
};

const struct gmap_env_var *gmap_env_find(const char *name)
{
	const struct gmap_env_var *v;

	for (v = gmap_env_vars; v->name; v++)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}

/* Edit distance (insertions, deletions, substitutions and swaps of two
 * neighbours) between @a and the first @blen bytes of @b; a name longer
 * than 64 bytes is near nothing. */
static unsigned int distance(const char *a, const char *b, size_t blen)
{
	unsigned int d[65][65];
	size_t alen = strlen(a), i, j;

	if (alen > 64 || blen > 64)
		return 99;
	for (i = 0; i <= alen; i++)
		d[i][0] = (unsigned int)i;
	for (j = 0; j <= blen; j++)
		d[0][j] = (unsigned int)j;
	for (i = 1; i <= alen; i++)
		for (j = 1; j <= blen; j++) {
			unsigned int c = a[i - 1] != b[j - 1], m;

			m = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < m)
				m = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + c < m)
				m = d[i - 1][j - 1] + c;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < m)
				m = d[i - 2][j - 2] + 1;
			d[i][j] = m;
		}
	return d[alen][blen];
}

const char *gmap_env_nearest(const char *name, size_t len)
{
	const struct gmap_env_var *v, *best = NULL;
	unsigned int bd = 4, dd;

	for (v = gmap_env_vars; v->name; v++) {
		dd = distance(v->name, name, len);
		if (dd < bd) {
			bd = dd;
			best = v;
		}
	}
	return best ? best->name : NULL;
}

/* "... is not a libgmap variable; did you mean X?" for the GMAP_ name of
 * @len bytes at @name (not NUL-terminated: it ends at '='). */
void gmap_env_unknown_msg(const char *name, size_t len, char *msg,
			  size_t msglen)
{
	const char *near = gmap_env_nearest(name, len);
	int shown = len > 80 ? 80 : (int)len;

	snprintf(msg, msglen, "%.*s%s is not a libgmap variable%s%s%s", shown,
		 name, (size_t)shown < len ? "..." : "",
		 near ? "; did you mean " : "", near ? near : "",
		 near ? "?" : "");
}

/* A GMAP_ variable of the environment whose name is not in the table: its
 * name's length, or 0 for the next one; *@e moves past it. */
size_t gmap_env_next_unknown(char ***e)
{
	for (; **e; (*e)++) {
		const char *s = **e;
		size_t n = strcspn(s, "=");
		const struct gmap_env_var *v;

		if (strncmp(s, "GMAP_", 5))
			continue;
		for (v = gmap_env_vars; v->name; v++)
			if (strlen(v->name) == n && !strncmp(v->name, s, n))
				break;
		if (!v->name)
			return n;
	}
	return 0;
}

/*
 * A program linked with libgmap: a misspelt GMAP_ name would be ignored
 * without a word, so the first gmap_open() of the process warns about
 * each, with the nearest known name.  (The preload shim refuses them.)
 */
void gmap_env_warn_unknown(struct gmap_window *w)
{
	static atomic_flag done = ATOMIC_FLAG_INIT;
	char **e = environ, msg[256];
	size_t n;

	if (atomic_flag_test_and_set(&done))
		return;
	while (e && (n = gmap_env_next_unknown(&e))) {
		gmap_env_unknown_msg(*e, n, msg, sizeof(msg));
		GMAP_LOG(w, XTL_WARN, -1, "%s: ignored (gmap_open(3) lists the "
			 "variables)", msg);
		e++;
	}
}

/* "one of a, b or c" */
static void list_words(const char *const *ws, char *buf, size_t len)
{
	size_t n = 0;
	int i;

	for (i = 0; ws[i] && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s'%s'",
				      i == 0 ? "" : ws[i + 1] ? ", " : " or ",
				      ws[i]);
}

int gmap_env_get(const char *name, uint64_t *out, char *msg, size_t msglen)
{
	const struct gmap_env_var *v = gmap_env_find(name);
	const char *s = getenv(name);
	unsigned long long n;
	char words[256];
	char *end;
	int i;

	if (!v || !s)
		return 0;
	switch (v->kind) {
	case GMAP_ENV_NUM:
		/* Digits only: strtoull() alone would also take leading
		 * white space of any kind and a sign ("\t-18446744073709551611"
		 * is 5 to it). */
		if (!isdigit((unsigned char)s[0]))
			break;
		errno = 0;
		n = strtoull(s, &end, 10);
		if (errno || *end || n < v->lo || n > v->hi)
			break;
		*out = n;
		return 1;
	case GMAP_ENV_WORD:
		for (i = 0; v->words[i]; i++)
			if (!strcasecmp(s, v->words[i])) {
				*out = (uint64_t)i;
				return 1;
			}
		list_words(v->words, words, sizeof(words));
		snprintf(msg, msglen, "%s='%s' is not valid: expected one of %s",
			 name, s, words);
		return -1;
	case GMAP_ENV_PATH:
		if (strlen(s) < v->lo || strlen(s) > v->hi)
			break;
		*out = 0;
		return 1;
	}
	if (v->kind == GMAP_ENV_PATH)
		snprintf(msg, msglen, "%s='%s' is not valid: expected a path "
			 "of %llu to %llu bytes", name, s,
			 (unsigned long long)v->lo, (unsigned long long)v->hi);
	else
		snprintf(msg, msglen, "%s='%s' is not valid: expected a number "
			 "from %llu to %llu", name, s,
			 (unsigned long long)v->lo, (unsigned long long)v->hi);
	return -1;
}
