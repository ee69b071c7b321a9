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
 * The directory, made 0700 if missing: GMAP_RUNTIME_DIR (absolute) and no
 * other if set; else the first that can be used of $XDG_RUNTIME_DIR/gmap
 * (if that directory is the effective user's), /run/gmap for root or
 * /run/user/<uid>/gmap where systemd made /run/user/<uid>, and
 * /dev/shm/gmap-<uid>.  It must be a directory (not a link) owned by the
 * effective user, writable by nobody else (a planted /dev/shm/gmap-<uid>
 * must not collect another user's counters) and in memory (tmpfs: a page
 * written back to disk would fault through the file system on the next
 * count), or nothing is published there.  Every later step goes through
 * the opened directory (openat, renameat, unlinkat), never its path again.
 * GMAP_PUBLISH=no turns it off.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
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

static unsigned int serial;          /* file names made: proc_lock      */
static _Atomic bool dir_warned;      /* an unusable directory, said once */

#define TMPFS_MAGIC_ 0x01021994     /* <linux/magic.h> */
#define RAMFS_MAGIC_ 0x858458f6

/* Whether @path is an absolute directory of the effective user's own
 * (an XDG_RUNTIME_DIR left by su is another user's: not used by root,
 * who could otherwise be led into a directory that user controls). */
static bool own_dir(const char *path)
{
	struct stat st;

	return path && path[0] == '/' && stat(path, &st) == 0 &&
	       S_ISDIR(st.st_mode) && st.st_uid == geteuid();
}

/* The directories to try into @dirs (the user's one, or the defaults in
 * order): how many, or -1 (logged) if GMAP_RUNTIME_DIR is bad. */
static int pick_dirs(struct gmap_window *w, char dirs[][240], bool *named)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR"), *env;
	uid_t uid = geteuid();
	char msg[256], run[64];
	uint64_t len;
	int n = 0;

	/* A path of 1 to 200 bytes (env.c). */
	if (gmap_env_get("GMAP_RUNTIME_DIR", &len, msg, sizeof(msg)) < 0) {
		GMAP_ERR(w, "%s", msg);
		return -1;
	}
	env = getenv("GMAP_RUNTIME_DIR");
	*named = env && *env;
	if (*named) {
		if (env[0] != '/') {
			GMAP_ERR(w, "GMAP_RUNTIME_DIR=%s: not an absolute path",
				 env);
			return -1;
		}
		snprintf(dirs[0], 240, "%s", env);   /* at most 200 bytes */
		return 1;
	}
	/* Defaults: one that does not fit, cannot be made or is not ours
	 * is passed over. */
	if (own_dir(xdg) && strlen(xdg) + 5 < 240)
		snprintf(dirs[n++], 240, "%s/gmap", xdg);
	snprintf(run, sizeof(run), "/run/user/%u", (unsigned int)uid);
	if (uid == 0)
		snprintf(dirs[n++], 240, "/run/gmap");
	else if (own_dir(run))
		snprintf(dirs[n++], 240, "%s/gmap", run);
	snprintf(dirs[n++], 240, "/dev/shm/gmap-%u", (unsigned int)uid);
	return n;
}

/* Make @dir if missing, open it (O_PATH: for the *at calls), and check
 * that it is ours alone and in memory: the fd, or -1 with errno and a
 * reason in @why.  The checks are on the opened directory, not a path
 * another user could swap. */
static int open_dir(const char *dir, const char **why)
{
	struct statfs sf;
	struct stat st;
	int dfd, e;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*why = "cannot make it";
		return -1;
	}
	dfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		*why = errno == ENOTDIR || errno == ELOOP ?
		       "not a directory" : "cannot open it";
		return -1;
	}
	*why = NULL;
	e = EPERM;
	if (fstat(dfd, &st) < 0 || fstatfs(dfd, &sf) < 0) {
		*why = "cannot look at it";
		e = errno;
	} else if (st.st_uid != geteuid())
		*why = "owned by another user";
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		*why = "writable by other users";
	/* A page on disk would be written back, and the next count in it
	 * would fault through the file system, in a fault handler. */
	else if (sf.f_type != TMPFS_MAGIC_ && sf.f_type != RAMFS_MAGIC_)
		*why = "not in memory (tmpfs)";
	if (*why) {
		close(dfd);
		errno = e;
		return -1;
	}
	return dfd;
}

/* The process's start time and name from /proc/self/stat (0 and "" where
 * /proc is not mounted: gmap-top then goes by the lock and the pid). */
static void self_stat(uint64_t *start, char *comm, size_t len)
{
	char buf[1024], *p, *end;
	ssize_t n;
	int fd;

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
	/* The name: from the first '(' to the last ')'. */
	p = strchr(buf, '(');
	end = strrchr(buf, ')');
	if (!p || !end || end < p)
		return;
	snprintf(comm, len, "%.*s", (int)(end - p - 1), p + 1);
	*start = gmap_pub_start_of(buf);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Say once per process why windows are not published: a warning where
 * the user named the directory, a notice where no default would do
 * (an initramfs without /run nor /dev/shm: nothing to fix). */
static void warn_dir(struct gmap_window *w, const char *dir, const char *why,
		     int err, bool named)
{
	if (atomic_exchange(&dir_warned, true))
		return;
	GMAP_LOG(w, named ? XTL_WARN : XTL_NOTICE, err, "%s: %s; windows are "
		 "not published for gmap-top (GMAP_RUNTIME_DIR names another "
		 "directory, GMAP_PUBLISH=no says nothing)", dir, why);
}

/*
 * What every window of the process shares, found once: the directory,
 * opened and checked, and the process's start time, name and pid
 * namespace.  Opening a window took 13 system calls more than before
 * publishing, now 6 (dup, openat, flock, fallocate, mmap, renameat).  It
 * is found again when the process is another (a fork's child), the
 * variables that chose it changed, or the directory went (ENOENT).
 */
static struct {
	pid_t pid;                   /* 0: nothing found yet             */
	uid_t uid;
	char runtime[256], xdg[256]; /* the variables, as they chose it  */
	int dfd;                     /* -1: none usable                  */
	bool named;
	char dir[240];
	uint64_t start, pidns;
	char comm[16];
} proc = { .dfd = -1 };
static pthread_mutex_t proc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t proc_once = PTHREAD_ONCE_INIT;

/* A fork in another thread's gmap_open() must not leave the lock held
 * in the child. */
static void proc_prepare(void) { pthread_mutex_lock(&proc_lock); }
static void proc_parent(void) { pthread_mutex_unlock(&proc_lock); }
static void proc_child(void) { pthread_mutex_init(&proc_lock, NULL); }
static void proc_atfork(void)
{
	pthread_atfork(proc_prepare, proc_parent, proc_child);
}

static void env_copy(char *to, const char *name)
{
	const char *v = getenv(name);

	snprintf(to, 256, "%s", v ? v : "");
}

/* Whether proc was found for this process and these variables. */
static bool proc_current(void)
{
	char runtime[256], xdg[256];

	env_copy(runtime, "GMAP_RUNTIME_DIR");
	env_copy(xdg, "XDG_RUNTIME_DIR");
	return proc.pid == getpid() && proc.uid == geteuid() &&
	       !strcmp(proc.runtime, runtime) && !strcmp(proc.xdg, xdg);
}

/* Find proc's directory again: 0 (proc.dfd -1 if none usable, said), -1
 * if a variable is bad (logged).  Lock held. */
static int proc_find(struct gmap_window *w)
{
	char dirs[3][240];
	const char *why = NULL;
	int n, i;

	if (proc.dfd >= 0)
		close(proc.dfd);
	proc.dfd = -1;
	proc.pid = 0;
	n = pick_dirs(w, dirs, &proc.named);
	if (n < 0)
		return -1;
	for (i = 0; i < n && proc.dfd < 0; i++)
		proc.dfd = open_dir(dirs[i], &why);
	if (n && proc.dfd < 0)
		warn_dir(w, dirs[n - 1], why, errno, proc.named);
	if (proc.dfd >= 0)
		snprintf(proc.dir, sizeof(proc.dir), "%s", dirs[i - 1]);
	self_stat(&proc.start, proc.comm, sizeof(proc.comm));
	proc.pidns = gmap_pub_pidns();
	proc.pid = getpid();
	proc.uid = geteuid();
	env_copy(proc.runtime, "GMAP_RUNTIME_DIR");
	env_copy(proc.xdg, "XDG_RUNTIME_DIR");
	return 0;
}

/* Make, lock and map this window's file in directory @dfd: 0, or -1 with
 * errno and what failed in @why. */
static int make_file(struct gmap_pub *p, int dfd, const char **why)
{
	uint8_t *page;
	int fd, e;

	fd = openat(dfd, p->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
	if (fd < 0) {
		*why = "cannot create a file in it";
		return -1;
	}
	/* The lock first: a file is never seen unlocked while it lives.
	 * The page is allocated, not only sized: a full file system fails
	 * here, not with SIGBUS at the first count. */
	if (flock(fd, LOCK_SH) < 0 ||
	    (errno = posix_fallocate(fd, 0, GMAP_PUB_SIZE)) != 0)
		goto fail;
	page = mmap(NULL, GMAP_PUB_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
	if (page == MAP_FAILED)
		goto fail;
	p->fd = fd;
	p->page = page;
	return 0;
fail:
	e = errno;
	unlinkat(dfd, p->tmp, 0);
	close(fd);
	*why = "cannot allocate, lock or map a file in it";
	errno = e;
	return -1;
}

int gmap_publish_open(struct gmap_window *w)
{
	struct gmap_pub *p = &w->pub;
	const char *why = NULL;
	int rc = 0, tries;

	uint64_t off = 0;
	char msg[256];

	p->fd = p->dfd = -1;
	/* GMAP_PUBLISH=no: nothing is made, not even the directory. */
	if (gmap_env_get("GMAP_PUBLISH", &off, msg, sizeof(msg)) < 0) {
		GMAP_ERR(w, "%s", msg);
		return -1;
	}
	if (off == 1)
		return 0;
	pthread_once(&proc_once, proc_atfork);
	pthread_mutex_lock(&proc_lock);
	if (!proc_current() && proc_find(w) < 0) {
		rc = -1;
		goto out;
	}
	if (proc.dfd < 0)
		goto out;
	p->start = proc.start;
	snprintf(p->comm, sizeof(p->comm), "%s", proc.comm);
	p->pidns = proc.pidns;
	p->serial = serial++;
	snprintf(p->name, sizeof(p->name), "%d-%llu-%u" GMAP_PUB_SUFFIX,
		 (int)proc.pid, (unsigned long long)p->start, p->serial);
	snprintf(p->tmp, sizeof(p->tmp), ".%d-%llu-%u", (int)proc.pid,
		 (unsigned long long)p->start, p->serial);
	/* A directory removed since it was found is found again, once. */
	for (tries = 0; tries < 2; tries++) {
		if (make_file(p, proc.dfd, &why) == 0)
			break;
		if (errno != ENOENT || tries || proc_find(w) < 0 ||
		    proc.dfd < 0)
			break;
	}
	if (!p->page) {
		if (proc.dfd >= 0)
			warn_dir(w, proc.dir, why, errno, proc.named);
		goto out;
	}
	p->dfd = fcntl(proc.dfd, F_DUPFD_CLOEXEC, 0);
	if (p->dfd < 0) {
		warn_dir(w, proc.dir, "cannot keep it open", errno,
			 proc.named);
		unlinkat(proc.dfd, p->tmp, 0);
		munmap(p->page, GMAP_PUB_SIZE);
		close(p->fd);
		p->page = NULL;
		p->fd = -1;
		goto out;
	}
	p->pid = proc.pid;
	/* No other thread of the window runs yet: the counters move. */
	memcpy(p->page + VALUES_OFF, w->c, sizeof(*w->c));
	w->c = (struct gmap_counters *)(p->page + VALUES_OFF);
	w->hist = (_Atomic uint64_t *)(p->page + HIST_OFF);
out:
	pthread_mutex_unlock(&proc_lock);
	return rc;
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
	h->pidns = p->pidns;
	for (i = 0; i < NR_COUNTERS; i++)
		strncpy((char *)p->page + NAMES_OFF + i * GMAP_PUB_NAME_LEN,
			names[i], GMAP_PUB_NAME_LEN - 1);
	__atomic_store_n(&h->magic, GMAP_PUB_MAGIC, __ATOMIC_RELEASE);
	if (renameat(p->dfd, p->tmp, p->dfd, p->name) < 0) {
		warn_dir(w, p->name, "cannot rename its file", errno, true);
		unlinkat(p->dfd, p->tmp, 0);
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
		unlinkat(p->dfd, p->named ? p->name : p->tmp, 0);
	w->c = &w->own.c;
	w->hist = w->own.hist;
	munmap(p->page, GMAP_PUB_SIZE);
	close(p->fd);
	close(p->dfd);
	p->page = NULL;
	p->fd = p->dfd = -1;
}

void gmap_serve_time(struct gmap_window *w, uint64_t t0)
{
	uint64_t ns = gmap_mono_ns() - t0;

	atomic_fetch_add_explicit(&w->hist[gmap_pub_bucket(ns)], 1,
				  memory_order_relaxed);
}
