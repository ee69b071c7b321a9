/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * publish.c - a window's live counters in a file that gmap-top(1) reads
 * without stopping the process (the file's layout: publish.h).
 *
 * The counters are not copied there: the window's struct gmap_counters
 * and its serve-time histogram live in the file's shared mapping, so the
 * atomic adds the library makes anyway are what gmap-top sees, with no
 * lock, no thread and no system call on any fault path.  Where the file
 * cannot be made, the same counters live in the window (w->own) and
 * nothing else changes.
 *
 * The directory, made 0700 if missing:
 *   GMAP_RUNTIME_DIR (absolute), else $XDG_RUNTIME_DIR/gmap, else
 *   /run/gmap for root, else /run/user/<uid>/gmap where systemd made
 *   /run/user/<uid>, else /tmp/gmap-<uid>.
 * A default that cannot be made or used falls back to /tmp/gmap-<uid>.
 * It must be a directory (not a link) owned by the effective user and
 * writable by nobody else, or nothing is published there (a planted
 * /tmp/gmap-<uid> must not collect another user's counters).
 * GMAP_PUBLISH=no turns it off.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "private.h"
#include "publish.h"

/* The counters' names, in the order of struct gmap_counters. */
static const char *const names[] = {
	"faults", "maps", "map_failures", "unmaps", "pins", "unpins",
	"bad_grants", "rearm_waits", "mapped_now", "pinned_now", "meta_bytes",
	"evictions", "idle_evictions", "evicting_now", "mapped_peak",
	"around_runs", "around_pages", "vmas", "vmas_peak", "meta_freed",
	"unmap_failures", "unmaps_due", "unarmed_now", "rearms", "evict_waits",
};
#define NR_COUNTERS (sizeof(names) / sizeof(names[0]))
_Static_assert(NR_COUNTERS * sizeof(uint64_t) == sizeof(struct gmap_counters),
	       "a counter of struct gmap_counters has no published name");

#define NAMES_OFF 256
/* Each part on a cache line of its own. */
#define ALIGN64(x) (((x) + 63) & ~(size_t)63)
#define VALUES_OFF ALIGN64(NAMES_OFF + NR_COUNTERS * GMAP_PUB_NAME_LEN)
#define HIST_OFF ALIGN64(VALUES_OFF + sizeof(struct gmap_counters))
_Static_assert(sizeof(struct gmap_pub_head) <= NAMES_OFF, "head too big");
_Static_assert(HIST_OFF + GMAP_PUB_BUCKETS * 8 <= GMAP_PUB_SIZE,
	       "the published counters outgrew their page");

static unsigned int serial;          /* file names made by this process */
static _Atomic bool dir_warned;      /* an unusable directory, said once */

/* The last default: /tmp/gmap-<uid>, into @buf. */
static int tmp_dir(char *buf, size_t len)
{
	return snprintf(buf, len, "/tmp/gmap-%u", (unsigned int)geteuid());
}

/* The directory's path into @buf; 0, 1 if publishing is off, -1 (logged)
 * if GMAP_RUNTIME_DIR or GMAP_PUBLISH is bad.  *@named: the user named
 * it (no other is tried). */
static int pick_dir(struct gmap_window *w, char *buf, size_t len, bool *named)
{
	uint64_t off = 0;
	char msg[256];
	const char *env;
	struct stat st;
	uid_t uid = geteuid();
	int n;

	if (gmap_env_get("GMAP_PUBLISH", &off, msg, sizeof(msg)) < 0) {
		GMAP_ERR(w, "%s", msg);
		return -1;
	}
	if (off == 1)
		return 1;
	env = getenv("GMAP_RUNTIME_DIR");
	*named = env && *env;
	if (*named) {
		if (env[0] != '/') {
			GMAP_ERR(w, "GMAP_RUNTIME_DIR=%s: not an absolute path",
				 env);
			return -1;
		}
		n = snprintf(buf, len, "%s", env);
	} else if ((env = getenv("XDG_RUNTIME_DIR")) && env[0] == '/') {
		n = snprintf(buf, len, "%s/gmap", env);
	} else if (uid == 0) {
		n = snprintf(buf, len, "/run/gmap");
	} else {
		n = snprintf(buf, len, "/run/user/%u", (unsigned int)uid);
		if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode) &&
		    st.st_uid == uid)
			n = snprintf(buf, len, "/run/user/%u/gmap",
				     (unsigned int)uid);
		else
			n = tmp_dir(buf, len);
	}
	if (n < 0 || (size_t)n >= len) {
		GMAP_ERR(w, "GMAP_RUNTIME_DIR: longer than %zu bytes", len - 1);
		return -1;
	}
	return 0;
}

/* Make @dir if missing and check that it is ours alone: 0, or -1 with
 * errno and a reason in @why. */
static int check_dir(const char *dir, const char **why)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*why = "cannot make it";
		return -1;
	}
	if (lstat(dir, &st) < 0) {
		*why = "cannot look at it";
		return -1;
	}
	*why = NULL;
	if (!S_ISDIR(st.st_mode))
		*why = "not a directory";
	else if (st.st_uid != geteuid())
		*why = "owned by another user";
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		*why = "writable by other users";
	if (*why) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/* The process's start time and name from /proc/self/stat (0 and "" where
 * /proc is not mounted: gmap-top then goes by the lock and the pid). */
static void self_stat(uint64_t *start, char *comm, size_t len)
{
	char buf[1024], *p, *end;
	ssize_t n;
	int fd, field;

	*start = 0;
	comm[0] = '\0';
	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* "pid (comm) state ...": the name may hold spaces and ')'. */
	p = strchr(buf, '(');
	end = strrchr(buf, ')');
	if (!p || !end || end < p)
		return;
	snprintf(comm, len, "%.*s", (int)(end - p - 1), p + 1);
	/* Field 3 (the state) follows ") "; the start time is field 22. */
	p = end + 2;
	for (field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (p)
		*start = strtoull(p, NULL, 10);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Say once per process why windows are not published, at warn level:
 * gmap-top will not show them, and the user asked for nothing odd. */
static void warn_dir(struct gmap_window *w, const char *dir, const char *why,
		     int err)
{
	if (atomic_exchange(&dir_warned, true))
		return;
	GMAP_LOG(w, XTL_WARN, err, "%s: %s; windows are not published for "
		 "gmap-top (GMAP_RUNTIME_DIR names another directory, "
		 "GMAP_PUBLISH=no says nothing)", dir, why);
}

int gmap_publish_open(struct gmap_window *w)
{
	struct gmap_pub *p = &w->pub;
	char dir[240], last[32];
	const char *why;
	bool named = false;
	uint8_t *page;
	int rc, fd;

	p->fd = -1;
	rc = pick_dir(w, dir, sizeof(dir), &named);
	if (rc)
		return rc < 0 ? -1 : 0;
	/* A default that cannot be used (no /run in an initramfs, an
	 * XDG_RUNTIME_DIR of another user's after su) falls back to
	 * /tmp/gmap-<uid>; a directory the user named does not. */
	tmp_dir(last, sizeof(last));
	if (check_dir(dir, &why) < 0 &&
	    (named || !strcmp(dir, last) ||
	     check_dir(strcpy(dir, last), &why) < 0)) {
		warn_dir(w, dir, why, errno);
		return 0;
	}
	self_stat(&p->start, p->comm, sizeof(p->comm));
	p->serial = __atomic_fetch_add(&serial, 1, __ATOMIC_RELAXED);
	snprintf(p->path, sizeof(p->path), "%s/%d-%llu-%u" GMAP_PUB_SUFFIX, dir,
		 (int)getpid(), (unsigned long long)p->start, p->serial);
	snprintf(p->tmp, sizeof(p->tmp), "%s/.%d-%llu-%u", dir, (int)getpid(),
		 (unsigned long long)p->start, p->serial);
	fd = open(p->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		warn_dir(w, p->tmp, "cannot create it", errno);
		return 0;
	}
	/* The lock first: a file is never seen unlocked while it lives. */
	if (flock(fd, LOCK_SH) < 0 || ftruncate(fd, GMAP_PUB_SIZE) < 0)
		goto fail;
	page = mmap(NULL, GMAP_PUB_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
	if (page == MAP_FAILED)
		goto fail;
	p->fd = fd;
	p->page = page;
	p->pid = getpid();
	/* No other thread of the window runs yet: the counters move. */
	memcpy(page + VALUES_OFF, w->c, sizeof(*w->c));
	w->c = (struct gmap_counters *)(page + VALUES_OFF);
	w->hist = (_Atomic uint64_t *)(page + HIST_OFF);
	return 0;
fail:
	warn_dir(w, p->tmp, "cannot size, lock or map it", errno);
	close(fd);
	unlink(p->tmp);
	return 0;
}

void gmap_publish_commit(struct gmap_window *w)
{
	struct gmap_pub *p = &w->pub;
	struct gmap_pub_head *h = (struct gmap_pub_head *)p->page;
	size_t i;

	if (!h)
		return;
	h->layout = GMAP_PUB_LAYOUT;
	h->head_size = sizeof(*h);
	h->nr_counters = NR_COUNTERS;
	h->names_off = NAMES_OFF;
	h->values_off = VALUES_OFF;
	h->nr_buckets = GMAP_PUB_BUCKETS;
	h->hist_off = HIST_OFF;
	h->pid = p->pid;
	h->start_ticks = p->start;
	h->opened_ns = realtime_ns();
	h->opened_mono_ns = gmap_mono_ns();
	h->base = (uintptr_t)w->base;
	h->nr_refs = w->nr_refs;
	h->max_mapped = w->ev.max_mapped;
	h->max_vmas = w->ev.max_vmas;
	h->max_meta = w->ev.max_meta;
	h->domid = w->domid;
	h->fault_mode = w->h.inline_mode ? GMAP_FAULT_INLINE : GMAP_FAULT_THREAD;
	h->handlers = w->h.inline_mode ? 0 : w->h.nr;
	h->fault_around = w->around;
	snprintf(h->backend, sizeof(h->backend), "%s", w->be.ops->name);
	snprintf(h->comm, sizeof(h->comm), "%s", p->comm);
	snprintf(h->version, sizeof(h->version), "%s", PACKAGE_VERSION);
	for (i = 0; i < NR_COUNTERS; i++)
		strncpy((char *)p->page + NAMES_OFF + i * GMAP_PUB_NAME_LEN,
			names[i], GMAP_PUB_NAME_LEN - 1);
	__atomic_store_n(&h->magic, GMAP_PUB_MAGIC, __ATOMIC_RELEASE);
	if (rename(p->tmp, p->path) < 0) {
		warn_dir(w, p->path, "cannot rename its file", errno);
		unlink(p->tmp);
		return;
	}
	p->named = true;
}

void gmap_publish_close(struct gmap_window *w, bool owner)
{
	struct gmap_pub *p = &w->pub;

	if (!p->page)
		return;
	/* A child (fork.c) drops its copies; the file is the parent's. */
	if (owner && p->pid == getpid())
		unlink(p->named ? p->path : p->tmp);
	w->c = &w->own.c;
	w->hist = w->own.hist;
	munmap(p->page, GMAP_PUB_SIZE);
	close(p->fd);
	p->page = NULL;
	p->fd = -1;
}

void gmap_serve_time(struct gmap_window *w, uint64_t t0)
{
	uint64_t ns = gmap_mono_ns() - t0;

	atomic_fetch_add_explicit(&w->hist[gmap_pub_bucket(ns)], 1,
				  memory_order_relaxed);
}
