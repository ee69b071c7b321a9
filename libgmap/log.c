/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log.c - the default logger: stderr, level from GMAP_LOG. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "private.h"

/* In the order of GMAP_LOG's words in env.c. */
static const xentoollog_level levels[] = {
	XTL_DEBUG, XTL_VERBOSE, XTL_DETAIL, XTL_PROGRESS, XTL_INFO,
	XTL_NOTICE, XTL_WARN, XTL_ERROR, XTL_CRITICAL, XTL_NUM_LEVELS,
};

/*
 * A stderr logger at the level GMAP_LOG names (default warn).  A value
 * that is not a level name is refused, naming the variable, the value and
 * what was expected: the caller fails rather than guess.
 */
xentoollog_logger *gmap_default_logger(int *err_out)
{
	xentoollog_level lvl = XTL_WARN;
	xentoollog_logger_stdiostream *l;
	char msg[256];
	uint64_t i;

	*err_out = 0;
	switch (gmap_env_get("GMAP_LOG", &i, msg, sizeof(msg))) {
	case -1:
		fprintf(stderr, "gmap: %s\n", msg);
		*err_out = EINVAL;
		return NULL;
	case 1:
		lvl = levels[i];
		break;
	}
	l = xtl_createlogger_stdiostream(stderr, lvl, XTL_STDIOSTREAM_SHOW_PID |
					 XTL_STDIOSTREAM_HIDE_PROGRESS);
	if (!l) {
		*err_out = errno ? errno : ENOMEM;
		return NULL;
	}
	return (xentoollog_logger *)l;
}
