/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * publish.h - the file in which a window publishes its counters for
 * gmap-top(1): its layout, shared by the library (publish.c) and the tool.
 * Not installed: the file is between a library and the gmap-top of the
 * same package, and says its layout so that another one is skipped, not
 * misread.
 *
 * One file per open window, in the runtime directory (publish.c says which),
 * named "<pid>-<start>-<serial>.gmap": the process's id and start time
 * (clock ticks after boot, /proc/<pid>/stat) and a serial number within the
 * process, so that no other process, even one with the same pid, ever
 * makes the same name.  Mode 0600.  The library maps it shared and keeps
 * the window's live counters in it (they are not copied: an atomic add in
 * the library is what gmap-top sees), holds a shared flock(2) on it for as
 * long as the window is open, and removes it at gmap_close().  A process
 * that dies or execs drops the lock; gmap-top takes that as the mark of a
 * stale file.  The file is made under a name starting with '.', filled and
 * locked, then renamed: a file under its final name is always complete.
 *
 * Layout: struct gmap_pub_head, then nr_counters names of
 * GMAP_PUB_NAME_LEN bytes (NUL-padded), then nr_counters 64-bit counters,
 * then nr_buckets 64-bit buckets of the serve-time histogram, each at the
 * offset the head gives.  Counters are found by name, so a reader can
 * skip the ones it does not know, and a new counter is added at the end.
 */
#ifndef GMAP_PUBLISH_H
#define GMAP_PUBLISH_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GMAP_PUB_MAGIC  0x31504f54504d4721ull /* "!GMPTOP1", little-endian */
#define GMAP_PUB_LAYOUT 1
#define GMAP_PUB_SUFFIX ".gmap"
#define GMAP_PUB_NAME_LEN 32
#define GMAP_PUB_SIZE 4096

struct gmap_pub_head {
	uint64_t magic;          /* GMAP_PUB_MAGIC once complete           */
	uint32_t layout;         /* GMAP_PUB_LAYOUT                        */
	uint32_t head_size;      /* sizeof(struct gmap_pub_head)           */
	uint32_t nr_counters, names_off, values_off;
	uint32_t nr_buckets, hist_off;
	int32_t pid;
	uint64_t start_ticks;    /* the process's start, /proc/pid/stat 22 */
	uint64_t opened_ns;      /* CLOCK_REALTIME at gmap_open()          */
	uint64_t opened_mono_ns; /* CLOCK_MONOTONIC at gmap_open()         */
	uint64_t base, nr_refs;  /* the window                             */
	uint64_t max_mapped, max_vmas, max_meta; /* its budgets            */
	uint32_t domid, fault_mode;  /* GMAP_FAULT_THREAD or _INLINE       */
	uint32_t handlers, fault_around;
	char backend[16];        /* "sim", "xen"                           */
	char comm[16];           /* the process's name                     */
	char version[16];        /* the library's version                  */
	/* The inode of the process's pid namespace (/proc/self/ns/pid), 0
	 * if unknown: a reader in another one cannot check pid. */
	uint64_t pidns;
};

/*
 * The serve-time histogram: the time the library took to serve a first
 * touch, in nanoseconds, from the fault's arrival in libgmap (the handler
 * thread's read, or the SIGSEGV handler's entry) to the page being in
 * place and the faulting thread woken.  Four buckets per power of two:
 * bucket i < 4 holds i ns; above, the octave [2^k, 2^(k+1)) is split in
 * four.  252 buckets cover every 64-bit value.
 */
#define GMAP_PUB_BUCKETS 252

static inline unsigned int gmap_pub_bucket(uint64_t ns)
{
	unsigned int k;

	if (ns < 4)
		return (unsigned int)ns;
	k = 63 - (unsigned int)__builtin_clzll(ns);
	return 4 * (k - 1) + (unsigned int)((ns >> (k - 2)) & 3);
}

/* The lowest value bucket @i holds. */
static inline uint64_t gmap_pub_bucket_low(unsigned int i)
{
	if (i < 4)
		return i;
	return (uint64_t)(4 + i % 4) << (i / 4 - 1);
}

/*
 * A process's start time (clock ticks after boot) from its NUL-terminated
 * /proc/<pid>/stat line @stat, or 0 if it does not parse: with the pid,
 * what names a process (the library writes it, gmap-top compares it).
 * "pid (comm) state ...": the name may hold spaces and ')', so fields are
 * counted from the last ')'; field 3 (the state) follows ") ", the start
 * time is field 22.
 */
static inline uint64_t gmap_pub_start_of(const char *stat)
{
	const char *p = strrchr(stat, ')');
	unsigned int field;

	if (!p)
		return 0;
	p += 2;
	for (field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}

/* The inode of the calling process's pid namespace, or 0: a pid means
 * something only to a reader in the same one. */
static inline uint64_t gmap_pub_pidns(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

#endif /* GMAP_PUBLISH_H */
