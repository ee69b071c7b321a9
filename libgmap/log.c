/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log.c - the lines logged where no logger may be called (the default
 * logger is logger.c's). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "private.h"

/*
 * Lines logged while a thread serves its own fault in a signal handler
 * (inline.c), where the logger (stdio, or the caller's) may not be called:
 * formatted there into a slot of this ring, and written to their logger
 * by the next thread that logs outside a fault, by the evictor thread,
 * which the fault path wakes, or at gmap_close().  A slot is claimed by
 * one writer and one reader at a time (its state word); a full ring
 * drops the line and counts it, said with the next line written.
 */
#define DEFER_LINES 16
#define DEFER_LEN 256

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_WRITING };

static struct deferred {
	_Atomic int state;
	xentoollog_logger *log;
	xentoollog_level lvl;
	int errnoval;
	char msg[DEFER_LEN];
} deferred[DEFER_LINES];
static _Atomic unsigned int pending, dropped;

static void defer(xentoollog_logger *log, xentoollog_level lvl, int errnoval,
		  const char *fmt, va_list ap)
{
	for (int i = 0; i < DEFER_LINES; i++) {
		struct deferred *d = &deferred[i];
		int free_ = SLOT_FREE;

		if (!atomic_compare_exchange_strong(&d->state, &free_,
						    SLOT_FILLING))
			continue;
		d->log = log;
		d->lvl = lvl;
		d->errnoval = errnoval;
		/* vsnprintf of the integer, pointer and string conversions
		 * libgmap uses takes no lock and allocates nothing. */
		vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
		atomic_store(&d->state, SLOT_READY);
		atomic_fetch_add(&pending, 1);
		return;
	}
	atomic_fetch_add(&dropped, 1);
}

bool gmap_log_deferred(void)
{
	return atomic_load_explicit(&pending, memory_order_relaxed) ||
	       atomic_load_explicit(&dropped, memory_order_relaxed);
}

void gmap_log_flush(void)
{
	unsigned int lost;

	if (!atomic_load_explicit(&pending, memory_order_relaxed) &&
	    !atomic_load_explicit(&dropped, memory_order_relaxed))
		return;
	for (int i = 0; i < DEFER_LINES; i++) {
		struct deferred *d = &deferred[i];
		int ready = SLOT_READY;

		if (!atomic_compare_exchange_strong(&d->state, &ready,
						    SLOT_WRITING))
			continue;
		xtl_log(d->log, d->lvl, d->errnoval, "gmap", "%s", d->msg);
		atomic_fetch_sub(&pending, 1);
		atomic_store(&d->state, SLOT_FREE);
	}
	lost = atomic_exchange(&dropped, 0);
	if (lost)
		fprintf(stderr, "gmap: %u log line(s) of faults served inline "
			"were dropped: more came at once than the %d the ring "
			"holds\n", lost, DEFER_LINES);
}

void gmap_log(xentoollog_logger *log, xentoollog_level lvl, int errnoval,
	      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (gmap_tls.in_fault) {
		defer(log, lvl, errnoval, fmt, ap);
	} else {
		gmap_log_flush();
		xtl_logv(log, lvl, errnoval, "gmap", fmt, ap);
	}
	va_end(ap);
}
