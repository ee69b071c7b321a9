/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log.c - the default logger: stderr, level from GMAP_LOG. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "private.h"

static const struct {
	const char *name;
	xentoollog_level level;
} levels[] = {
	{ "debug", XTL_DEBUG },   { "verbose", XTL_VERBOSE },
	{ "detail", XTL_DETAIL }, { "progress", XTL_PROGRESS },
	{ "info", XTL_INFO },     { "notice", XTL_NOTICE },
	{ "warn", XTL_WARN },     { "error", XTL_ERROR },
	{ "critical", XTL_CRITICAL }, { "none", XTL_NUM_LEVELS },
};

/*
 * A stderr logger at the level GMAP_LOG names (default warn).  A value
 * that is not a level name is refused, naming the variable, the value and
 * what was expected: the caller fails rather than guess.
 */
xentoollog_logger *gmap_default_logger(int *err_out)
{
	const char *v = getenv("GMAP_LOG");
	xentoollog_level lvl = XTL_WARN;
	xentoollog_logger_stdiostream *l;
	size_t i;

	*err_out = 0;
	if (v && *v) {
		for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
			if (!strcasecmp(v, levels[i].name))
				break;
		if (i == sizeof(levels) / sizeof(levels[0])) {
			fprintf(stderr, "gmap: GMAP_LOG='%s' is not a log level: "
				"expected one of debug, verbose, detail, progress, "
				"info, notice, warn, error, critical, none\n", v);
			*err_out = EINVAL;
			return NULL;
		}
		lvl = levels[i].level;
	}
	l = xtl_createlogger_stdiostream(stderr, lvl, XTL_STDIOSTREAM_SHOW_PID |
					 XTL_STDIOSTREAM_HIDE_PROGRESS);
	if (!l) {
		*err_out = errno ? errno : ENOMEM;
		return NULL;
	}
	return (xentoollog_logger *)l;
}
