/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* top.h - gmap-top: the windows it found, and how it shows them. */
#ifndef GMAP_TOP_H
#define GMAP_TOP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "publish.h"

#define TOP_NAME "gmap-top"
#define TOP_MAX_DIRS 16
#define TOP_MAX_COUNTERS 64

/* One window as one sample read it. */
struct top_win {
	char path[512];
	dev_t dev;
	ino_t ino;
	struct gmap_pub_head head;
	unsigned int nr;                      /* counters read          */
	char names[TOP_MAX_COUNTERS][GMAP_PUB_NAME_LEN];
	uint64_t val[TOP_MAX_COUNTERS];
	uint64_t hist[GMAP_PUB_BUCKETS];
	uint64_t when_ns;                     /* CLOCK_MONOTONIC        */
	/* Against the previous sample of the same file, or since the
	 * window opened for the first: */
	double span_s;
	double fault_rate, map_rate, evict_rate, unmap_rate;
	uint64_t serve_n, serve_p50, serve_p99; /* ns, rounded up        */
};

struct top_sample {
	struct top_win *win;
	size_t nr, cap;
	uint64_t when_ns;
	unsigned int stale_removed;   /* files of gone processes removed */
	unsigned int skipped;         /* files of another layout          */
};

struct top_opts {
	const char *dirs[TOP_MAX_DIRS];
	unsigned int nr_dirs;         /* 0: the default places           */
	pid_t pids[TOP_MAX_DIRS];
	unsigned int nr_pids;         /* 0: every process                */
	bool batch, json, keep_stale;
	double delay_s;
	unsigned long iterations;     /* 0: until stopped                */
};

/* scan.c */
void top_scan_init(void);    /* before the first top_scan()            */
/* Read every window of the directories @o names (or the default places)
 * into @s, emptied first; files of processes that are gone are removed
 * unless o->keep_stale.  @prev, the previous sample or NULL, gives the
 * rates. */
void top_scan(const struct top_opts *o, struct top_sample *s,
	      const struct top_sample *prev);
void top_sample_free(struct top_sample *s);
/* The counter @name of @win, or 0 if the file has none of that name. */
uint64_t top_counter(const struct top_win *win, const char *name);
uint64_t top_mono_ns(void);

/* show.c */
void top_print_table(FILE *f, const struct top_sample *s, unsigned int rows,
		     unsigned int width);
void top_print_json(FILE *f, const struct top_sample *s);
/* "12.3us" for @ns, in @buf. */
const char *top_dur(uint64_t ns, char *buf, size_t len);

#endif /* GMAP_TOP_H */
