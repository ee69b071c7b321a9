/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config.c - the shim's configuration, from GMAP_* environment variables
 * (the table in env.c), checked once at start.  Every bad or unknown
 * variable is reported by name with what was expected, and then the shim
 * fails closed: each interposed call fails with EINVAL instead of guessing
 * what was meant (an ignored typo would serve the wrong domain or policy).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

extern char **environ;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct shim_config config;
static bool config_ok;
static int config_bad;
static xentoollog_logger *logger;

/* A configuration error, through the shim's logger: to GMAP_LOG_FILE or
 * syslog if asked, where a daemon's stderr would lose it. */
static void say(const char *msg, const char *more)
{
	if (logger)
		xtl_log(logger, XTL_ERROR, -1, "gmap-preload", "%s%s", msg,
			more);
	else  /* not even a stderr logger: out of memory */
		fprintf(stderr, "gmap-preload: %s%s\n", msg, more);
}

/* Check every GMAP_* variable but, with @skip_log, the logger's own
 * (already said: init()); fill @c.  Returns the number of errors. */
static int load(struct shim_config *c, bool skip_log)
{
	const struct gmap_env_var *v;
	char **e, msg[512];
	uint64_t val;
	int bad = 0;
	size_t n;

	memset(c, 0, sizeof(*c));
	c->domid = -1;
	c->opts.size = sizeof(c->opts);
	c->opts.backend = GMAP_BACKEND_DEFAULT;
	/* Faults served inline: every page the shim hands out is pinned, so
	 * no fault of its windows needs a handler thread, and an unmap
	 * leaves its pages unarmed (no re-arm on the I/O path: map.c).
	 * GMAP_FAULT_MODE, read by gmap_open(), still chooses. */
	c->opts.fault_mode = GMAP_FAULT_INLINE;
	/* Every GMAP_ name must be one of the table's, whatever its length:
	 * a misspelt one would otherwise be ignored in silence. */
	for (e = environ; e && (n = gmap_env_next_unknown(&e)); e++) {
		gmap_env_unknown_msg(*e, n, msg, sizeof(msg));
		say(msg, " (gmap-run(1) lists the variables)");
		bad++;
	}
	for (v = gmap_env_vars; v->name; v++) {
		if (skip_log && !strncmp(v->name, "GMAP_LOG", 8))
			continue;
		if (gmap_env_get(v->name, &val, msg, sizeof(msg)) < 0) {
			say(msg, "");
			bad++;
		}
	}
	if (gmap_env_get("GMAP_DOMID", &val, msg, sizeof(msg)) == 1)
		c->domid = (int)val;
	if (gmap_env_get("GMAP_NR_REFS", &val, msg, sizeof(msg)) == 1)
		c->opts.nr_refs = val;
	if (gmap_env_get("GMAP_HANDLERS", &val, msg, sizeof(msg)) == 1)
		c->opts.handler_threads = (unsigned int)val;
	if (gmap_env_get("GMAP_BAD_POLICY", &val, msg, sizeof(msg)) == 1)
		c->opts.bad_policy = val ? GMAP_BAD_SIGNAL_QUIET : GMAP_BAD_SIGNAL;
	if (gmap_env_get("GMAP_UNPIN", &val, msg, sizeof(msg)) == 1)
		c->opts.unpin_policy = val ? GMAP_UNPIN_KEEP : GMAP_UNPIN_UNMAP;
	if (gmap_env_get("GMAP_FOREIGN", &val, msg, sizeof(msg)) == 1)
		c->foreign_deny = val == 1;
	if (gmap_env_get("GMAP_SELF_DOMID", &val, msg, sizeof(msg)) == 1)
		c->opts.self_domid = (uint16_t)val;
	/* GMAP_BACKEND, GMAP_LOG, GMAP_MAX_MAPPED, GMAP_FAULT_AROUND,
	 * GMAP_FAULT_MODE, GMAP_IDLE_MS and GMAP_SIM_SOCKET are read by
	 * gmap_open() itself. */
	return bad;
}

static _Atomic bool inited;

static void init(void)
{
	char why[512];
	int e;

	atomic_store(&inited, true);
	logger = gmap_default_logger(-1, why, sizeof(why), &e);
	if (!logger) {
		/* The logging settings are bad: said on stderr, as the rest. */
		logger = (xentoollog_logger *)xtl_createlogger_stdiostream(
			stderr, XTL_WARN, XTL_STDIOSTREAM_SHOW_PID);
		say(why, "");
	}
	config_bad = load(&config, e != 0) + (e != 0);
	config_ok = config_bad == 0;
	if (!config_ok)
		say("bad configuration: every grant and foreign-memory call "
		    "will fail with EINVAL", "");
	config.opts.logger = logger;
}

const struct shim_config *shim_config(void)
{
	pthread_once(&once, init);
	if (!config_ok) {
		errno = EINVAL;
		return NULL;
	}
	return &config;
}

xentoollog_logger *shim_log(void)
{
	pthread_once(&once, init);
	return logger;
}

/* Checked at load time, so that a bad environment is reported even by a
 * program that never maps a grant. */
__attribute__((constructor)) static void shim_ctor(void)
{
	/* Another library's constructor may have called us first. */
	if (atomic_load(&inited))
		SHIM_DBG("constructor: configuration already loaded by an "
			 "earlier call");
	pthread_once(&once, init);
}

static void print_var(FILE *out, const struct gmap_env_var *v)
{
	const char *s = getenv(v->name);

	fprintf(out, "  %-18s %-24s %s\n", v->name, s ? s : "", s ? "" :
		v->dflt);
}

/*
 * For gmap-run, which sets the environment and then loads the shim: the
 * check our constructor made (its messages are out already), and with
 * @verbose the configuration in effect.  Returns the number of bad
 * variables.
 */
__attribute__((visibility("default"))) int gmap_preload_check(int verbose)
{
	const struct gmap_env_var *v;

	pthread_once(&once, init);
	if (verbose) {
		printf("gmap-run: configuration (%s)\n", config_bad ? "BAD" : "ok");
		printf("  %-18s %-24s %s\n", "variable", "value", "default in effect");
		for (v = gmap_env_vars; v->name; v++)
			print_var(stdout, v);
		fflush(stdout);
	}
	return config_bad;
}
