/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scan.c - find the windows' files (publish.h), tell the live from the
 * stale, and read each one's counters without stopping its process.
 *
 * Where: GMAP_RUNTIME_DIR if set; else every place a library may have
 * chosen for some user: $XDG_RUNTIME_DIR/gmap, /run/gmap, /run/user/ * /gmap
 * and /dev/shm/gmap-*.  Those are 0700, so a user sees their own windows and
 * root sees everyone's: "every process the user may see".
 *
 * Live: the library holds a shared flock(2) on the file while the window
 * is open.  If gmap-top can take an exclusive one, no window holds it (its
 * process died or exec'd without gmap_close()); if the process of the
 * recorded pid and start time is gone, the file is stale whoever holds the
 * lock (a child forked without exec shares the open file).  A stale file
 * is removed, unless --keep-stale.
 *
 * Other users' files are read by root's gmap-top, so nothing in them is
 * trusted: the head's offsets are checked against the page, names and
 * strings are cut to their fields, a directory is read only if it is a
 * real one (not a link) that only its owner may write to, only a file of
 * the directory's owner is ever removed, and a file cut short while it is
 * read (SIGBUS on the mapping) is skipped, not fatal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "top.h"

uint64_t top_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The start time of process @pid in clock ticks after boot, or 0 if it
 * is gone (or /proc cannot say). */
static uint64_t proc_start(pid_t pid, bool *gone)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd;

	*gone = false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*gone = errno == ENOENT || errno == ESRCH;
		return 0;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		*gone = true;   /* a zombie's stat reads, a reaped one not */
		return 0;
	}
	buf[n] = '\0';
	return gmap_pub_start_of(buf);
}

/* The inode of gmap-top's own pid namespace, or 0 (looked up once). */
static uint64_t own_pidns(void)
{
	static uint64_t ns = 1;

	if (ns == 1)
		ns = gmap_pub_pidns();
	return ns;
}

/* Whether the window file of @head, open as @fd, has no live process.  The
 * lock first: no window holds it.  Then the pid, where gmap-top sees the
 * same pid namespace (another one's pid means nothing here): gone, or
 * another process of that pid (the window's died long ago). */
static bool stale(int fd, const struct gmap_pub_head *h, bool head_ok)
{
	uint64_t start;
	bool gone;

	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return true;
	if (!head_ok || !h->pidns || h->pidns != own_pidns())
		return false;
	start = proc_start(h->pid, &gone);
	if (gone)
		return true;
	return start && h->start_ticks && start != h->start_ticks;
}

/*
 * The page as one snapshot.  The file's owner can rewrite it at any time,
 * so it is copied once and everything is read from the copy: a check of
 * an offset and its use see the same value.  Each 8-byte word is copied
 * with one atomic load, so a counter is never torn (memcpy may copy a
 * byte at a time).  A file truncated under the mapping raises SIGBUS
 * during the copy, which then fails; a SIGBUS anywhere else is not ours.
 */
static sigjmp_buf bus_jmp;
static volatile sig_atomic_t copying;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!copying || si->si_code <= 0) {     /* not the copy's fault */
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	siglongjmp(bus_jmp, 1);
}

void top_scan_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, NULL);
}

static bool snapshot(uint64_t *to, const uint8_t *page)
{
	const uint64_t *from = (const void *)page;
	size_t i;

	if (sigsetjmp(bus_jmp, 1)) {
		copying = 0;
		return false;
	}
	copying = 1;
	for (i = 0; i < GMAP_PUB_SIZE / 8; i++)
		to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
	copying = 0;
	return true;
}

/* Whether the head's offsets stay inside a page of @size. */
static bool head_fits(const struct gmap_pub_head *h, size_t size)
{
	return h->layout == GMAP_PUB_LAYOUT &&
	       h->head_size >= sizeof(*h) && h->names_off >= h->head_size &&
	       (uint64_t)h->names_off + (uint64_t)h->nr_counters *
	       GMAP_PUB_NAME_LEN <= size &&
	       h->values_off % 8 == 0 && h->hist_off % 8 == 0 &&
	       (uint64_t)h->values_off + (uint64_t)h->nr_counters * 8 <= size &&
	       (uint64_t)h->hist_off + (uint64_t)h->nr_buckets * 8 <= size;
}

/* The window of the checked snapshot @page into @win. */
static void parse(struct top_win *win, const uint8_t *page)
{
	const struct gmap_pub_head *h = (const void *)page;
	const uint64_t *v = (const void *)(page + h->values_off);
	const uint64_t *b = (const void *)(page + h->hist_off);
	unsigned int i, nc, nb;

	memcpy(&win->head, page, sizeof(win->head));
	nc = h->nr_counters < TOP_MAX_COUNTERS ? h->nr_counters :
						 TOP_MAX_COUNTERS;
	nb = h->nr_buckets < GMAP_PUB_BUCKETS ? h->nr_buckets :
						GMAP_PUB_BUCKETS;
	win->nr = nc;
	for (i = 0; i < nc; i++) {
		memcpy(win->names[i], page + h->names_off +
		       (size_t)i * GMAP_PUB_NAME_LEN, GMAP_PUB_NAME_LEN);
		win->names[i][GMAP_PUB_NAME_LEN - 1] = '\0';
		win->val[i] = v[i];
	}
	memset(win->hist, 0, sizeof(win->hist));
	for (i = 0; i < nb; i++)
		win->hist[i] = b[i];
	win->head.backend[sizeof(win->head.backend) - 1] = '\0';
	win->head.comm[sizeof(win->head.comm) - 1] = '\0';
	win->head.version[sizeof(win->head.version) - 1] = '\0';
}

static struct top_win *add(struct top_sample *s)
{
	if (s->nr == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct top_win *n = realloc(s->win, cap * sizeof(*n));

		if (!n)
			return NULL;
		s->win = n;
		s->cap = cap;
	}
	return memset(&s->win[s->nr], 0, sizeof(s->win[0]));
}

static bool wanted(const struct top_opts *o, pid_t pid)
{
	unsigned int i;

	if (!o->nr_pids)
		return true;
	for (i = 0; i < o->nr_pids; i++)
		if (o->pids[i] == pid)
			return true;
	return false;
}

/* Remove @name of directory @dfd, owned by @dir_uid, if it is still the
 * file @st that was found stale (not a new one of that name) and its
 * owner is the directory's: root's gmap-top removes nothing else. */
static bool remove_stale(const struct top_opts *o, int dfd, uid_t dir_uid,
			 const char *name, const struct stat *st)
{
	struct stat now;

	return !o->keep_stale && st->st_uid == dir_uid &&
	       fstatat(dfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
	       now.st_ino == st->st_ino && now.st_dev == st->st_dev &&
	       unlinkat(dfd, name, 0) == 0;
}

/* A file left half made ('.' name) by a process that died in gmap_open:
 * unlocked and a minute old. */
static void read_tmp(const struct top_opts *o, struct top_sample *s,
		     int dfd, uid_t dir_uid, const char *name)
{
	struct stat st;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
			O_NONBLOCK);

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    time(NULL) - st.st_mtime > 60 &&
	    flock(fd, LOCK_EX | LOCK_NB) == 0 &&
	    remove_stale(o, dfd, dir_uid, name, &st))
		s->stale_removed++;
	close(fd);
}

/* Read the window file @name of directory @dfd (@dir) into a new entry of
 * @s; nothing for a file that is not one, removed if stale. */
static void read_one(const struct top_opts *o, struct top_sample *s,
		     int dfd, const char *dir, uid_t dir_uid, const char *name)
{
	uint64_t copy[GMAP_PUB_SIZE / 8];
	const struct gmap_pub_head *h = (const void *)copy;
	struct top_win *win;
	struct stat st;
	uint8_t *page;
	bool ok;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < GMAP_PUB_SIZE)
		goto out;
	page = mmap(NULL, GMAP_PUB_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (page == MAP_FAILED)
		goto out;
	ok = snapshot(copy, page);
	munmap(page, GMAP_PUB_SIZE);
	if (!ok || h->magic != GMAP_PUB_MAGIC)
		goto out;
	ok = head_fits(h, GMAP_PUB_SIZE);
	if (stale(fd, h, ok)) {
		if (remove_stale(o, dfd, dir_uid, name, &st))
			s->stale_removed++;
	} else if (!ok) {
		s->skipped++;
	} else if (wanted(o, h->pid) && (win = add(s))) {
		snprintf(win->path, sizeof(win->path), "%.255s/%.255s", dir, name);
		win->dev = st.st_dev;
		win->ino = st.st_ino;
		parse(win, (const uint8_t *)copy);
		win->when_ns = top_mono_ns();
		s->nr++;
	}
out:
	close(fd);
}

static void scan_dir(const struct top_opts *o, struct top_sample *s,
		     const char *dir)
{
	size_t slen = strlen(GMAP_PUB_SUFFIX);
	struct dirent *e;
	struct stat st;
	int dfd, lfd;
	DIR *d;

	/* The library's own rule (publish.c), on the opened directory: a
	 * directory, not a link, that only its owner may write to.  Then
	 * only *at() calls on it: its path may be swapped meanwhile. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	if (fstat(dfd, &st) < 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) ||
	    (lfd = dup(dfd)) < 0 || !(d = fdopendir(lfd))) {
		close(dfd);
		return;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		/* ".name": a file being made (publish.c). */
		if (e->d_name[0] == '.')
			read_tmp(o, s, dfd, st.st_uid, e->d_name);
		else if (len > slen &&
			 !strcmp(e->d_name + len - slen, GMAP_PUB_SUFFIX))
			read_one(o, s, dfd, dir, st.st_uid, e->d_name);
	}
	closedir(d);
	close(dfd);
}

/* Copy @path into @to, 256 bytes: 1, or 0 if it is longer. */
static unsigned int put(char *to, const char *path)
{
	size_t len = strlen(path);

	if (len >= 256)
		return 0;
	memcpy(to, path, len + 1);
	return 1;
}

/* The directories to scan, each once (a path may be reached twice: the
 * user's $XDG_RUNTIME_DIR is also under /run/user). */
static unsigned int default_dirs(char dirs[][256], unsigned int max)
{
	struct { dev_t dev; ino_t ino; } seen[64];
	const char *env = getenv("GMAP_RUNTIME_DIR");
	unsigned int n = 0, nseen = 0, i, j;
	char cand[3 + 64][256];
	unsigned int nc = 0;
	glob_t g;

	if (env && *env) {
		snprintf(dirs[0], 256, "%s", env);
		return 1;
	}
	env = getenv("XDG_RUNTIME_DIR");
	if (env && env[0] == '/')
		snprintf(cand[nc++], 256, "%s/gmap", env);
	snprintf(cand[nc++], 256, "/run/gmap");
	if (glob("/run/user/*/gmap", GLOB_NOSORT, NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc && nc < 34; i++)
			nc += put(cand[nc], g.gl_pathv[i]);
		globfree(&g);
	}
	if (glob("/dev/shm/gmap-*", GLOB_NOSORT, NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc && nc < 67; i++)
			nc += put(cand[nc], g.gl_pathv[i]);
		globfree(&g);
	}
	for (i = 0; i < nc && n < max; i++) {
		struct stat st;

		if (stat(cand[i], &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		for (j = 0; j < nseen; j++)
			if (seen[j].dev == st.st_dev && seen[j].ino == st.st_ino)
				break;
		if (j < nseen || nseen == 64)
			continue;
		seen[nseen].dev = st.st_dev;
		seen[nseen++].ino = st.st_ino;
		n += put(dirs[n], cand[i]);
	}
	return n;
}

uint64_t top_counter(const struct top_win *win, const char *name)
{
	unsigned int i;

	for (i = 0; i < win->nr; i++)
		if (!strcmp(win->names[i], name))
			return win->val[i];
	return 0;
}

/* The value under which @pct percent of @n samples of @hist fall, rounded
 * up to its bucket's top; 0 for none. */
static uint64_t pct(const uint64_t *hist, uint64_t n, double pct)
{
	uint64_t want = (uint64_t)((double)n * pct / 100.0 + 0.999999), sum = 0;
	unsigned int i;

	if (!n)
		return 0;
	for (i = 0; i < GMAP_PUB_BUCKETS; i++) {
		sum += hist[i];
		if (sum >= want)
			return i + 1 < GMAP_PUB_BUCKETS ?
			       gmap_pub_bucket_low(i + 1) - 1 : UINT64_MAX;
	}
	return 0;
}

static double rate(uint64_t now, uint64_t then, double span)
{
	return span > 0 && now >= then ? (double)(now - then) / span : 0;
}

/* Rates and serve times of @win against @old, its previous sample, or
 * since its window opened if there was none. */
static void derive(struct top_win *win, const struct top_win *old)
{
	static const char *const rated[] = { "faults", "maps", "evictions",
					     "unmaps" };
	double *out[] = { &win->fault_rate, &win->map_rate, &win->evict_rate,
			  &win->unmap_rate };
	uint64_t d[GMAP_PUB_BUCKETS], n = 0;
	unsigned int i;

	if (old)
		win->span_s = (double)(win->when_ns - old->when_ns) / 1e9;
	else
		win->span_s = win->when_ns > win->head.opened_mono_ns ?
			(double)(win->when_ns - win->head.opened_mono_ns) / 1e9 :
			0;
	for (i = 0; i < 4; i++)
		*out[i] = rate(top_counter(win, rated[i]),
			       old ? top_counter(old, rated[i]) : 0,
			       win->span_s);
	for (i = 0; i < GMAP_PUB_BUCKETS; i++) {
		uint64_t was = old ? old->hist[i] : 0;

		d[i] = win->hist[i] >= was ? win->hist[i] - was : 0;
		n += d[i];
	}
	win->serve_n = n;
	win->serve_p50 = pct(d, n, 50);
	win->serve_p99 = pct(d, n, 99);
}

static int by_pid(const void *a, const void *b)
{
	const struct top_win *x = a, *y = b;

	if (x->head.pid != y->head.pid)
		return x->head.pid < y->head.pid ? -1 : 1;
	if (x->head.domid != y->head.domid)
		return x->head.domid < y->head.domid ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

void top_scan(const struct top_opts *o, struct top_sample *s,
	      const struct top_sample *prev)
{
	char dirs[TOP_MAX_DIRS + 67][256];
	unsigned int nd, i;
	size_t k, j;

	s->nr = 0;
	s->stale_removed = s->skipped = 0;
	if (o->nr_dirs) {
		for (nd = 0; nd < o->nr_dirs; nd++)
			snprintf(dirs[nd], sizeof(dirs[nd]), "%s", o->dirs[nd]);
	} else {
		nd = default_dirs(dirs, TOP_MAX_DIRS + 67);
	}
	for (i = 0; i < nd; i++)
		scan_dir(o, s, dirs[i]);
	s->when_ns = top_mono_ns();
	if (s->nr)	/* qsort(NULL, 0, ...) is undefined */
		qsort(s->win, s->nr, sizeof(s->win[0]), by_pid);
	for (k = 0; k < s->nr; k++) {
		const struct top_win *old = NULL;

		for (j = 0; prev && j < prev->nr; j++)
			if (prev->win[j].ino == s->win[k].ino &&
			    prev->win[j].dev == s->win[k].dev &&
			    prev->win[j].head.opened_ns ==
			    s->win[k].head.opened_ns)
				old = &prev->win[j];
		derive(&s->win[k], old);
	}
}

void top_sample_free(struct top_sample *s)
{
	free(s->win);
	s->win = NULL;
	s->nr = s->cap = 0;
}
