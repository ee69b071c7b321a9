/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-publish.c - a window's counters published for gmap-top
 * (libgmap/publish.h): the file exists exactly while the window is open,
 * is the owner's alone, holds the live counters and is locked; a child's
 * close leaves the parent's; bad settings are refused, unusable
 * directories cost the window nothing.
 */
#include <dirent.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include "helpers.h"
#include "publish.h"

static char tmp[64];

/* A fresh directory for this case, as GMAP_RUNTIME_DIR. */
static void fresh_dir(void)
{
	/* In memory: the library publishes nowhere else. */
	snprintf(tmp, sizeof(tmp), "/dev/shm/gmap-test-publish.XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(tmp) != NULL);
	setenv("GMAP_RUNTIME_DIR", tmp, 1);
	unsetenv("GMAP_PUBLISH");
}

static void rm_dir(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CU_ASSERT(system(cmd) == 0);
}

/* The names in @dir: how many end in .gmap (the first into @one), and
 * how many others there are. */
static unsigned int files(const char *dir, char *one, size_t len,
			  unsigned int *others)
{
	unsigned int n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	*others = 0;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (l > 5 && !strcmp(e->d_name + l - 5, ".gmap")) {
			if (!n++ && one)
				snprintf(one, len, "%s/%s", dir, e->d_name);
		} else {
			(*others)++;
		}
	}
	closedir(d);
	return n;
}

static uint64_t counter(const uint8_t *page, const char *name)
{
	const struct gmap_pub_head *h = (const void *)page;
	const uint64_t *v = (const void *)(page + h->values_off);
	uint32_t i;

	for (i = 0; i < h->nr_counters; i++)
		if (!strcmp((const char *)page + h->names_off +
			    i * GMAP_PUB_NAME_LEN, name))
			return __atomic_load_n(&v[i], __ATOMIC_RELAXED);
	return UINT64_MAX;
}

/* The faults the serve-time histogram counts. */
static uint64_t timed(const uint8_t *page)
{
	const struct gmap_pub_head *h = (const void *)page;
	const uint64_t *b = (const void *)(page + h->hist_off);
	uint64_t sum = 0;
	uint32_t i;

	for (i = 0; i < h->nr_buckets; i++)
		sum += __atomic_load_n(&b[i], __ATOMIC_RELAXED);
	return sum;
}

static void test_buckets(void)
{
	unsigned int i, bad = 0;

	for (i = 0; i < GMAP_PUB_BUCKETS; i++) {
		uint64_t lo = gmap_pub_bucket_low(i);

		bad += gmap_pub_bucket(lo) != i;
		if (i + 1 < GMAP_PUB_BUCKETS)
			bad += gmap_pub_bucket(gmap_pub_bucket_low(i + 1) - 1) != i;
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(gmap_pub_bucket(UINT64_MAX), GMAP_PUB_BUCKETS - 1);
	CU_ASSERT_EQUAL(gmap_pub_bucket(1000), gmap_pub_bucket(1023));
	CU_ASSERT(gmap_pub_bucket(1000) != gmap_pub_bucket(1024));
}

/* The file while the window is open: one, 0600, locked, the window's
 * numbers in it, and gone at close. */
static void test_file_while_open(void)
{
	char path[256];
	unsigned int others, i;
	const struct gmap_pub_head *h;
	uint64_t sum, faults;
	struct t_fx fx;
	struct stat st;
	uint8_t *page;
	int fd;

	fresh_dir();
	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	CU_ASSERT_EQUAL(files(tmp, path, sizeof(path), &others), 1);
	CU_ASSERT_EQUAL(others, 0);
	fd = open(path, O_RDONLY);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0600 &&
		  st.st_uid == geteuid() && st.st_size == GMAP_PUB_SIZE);
	/* The window holds its lock: gmap-top takes the file as live. */
	CU_ASSERT(flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK);
	page = mmap(NULL, GMAP_PUB_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	CU_ASSERT_FATAL(page != MAP_FAILED);
	h = (const void *)page;
	CU_ASSERT_EQUAL(h->magic, GMAP_PUB_MAGIC);
	CU_ASSERT_EQUAL(h->layout, GMAP_PUB_LAYOUT);
	CU_ASSERT_EQUAL(h->pid, getpid());
	CU_ASSERT_EQUAL(h->domid, T_DOMID);
	CU_ASSERT_STRING_EQUAL(h->backend, "sim");
	CU_ASSERT_EQUAL(h->nr_refs, 1024);
	CU_ASSERT_EQUAL(h->base, (uintptr_t)gmap_base(fx.w));
	/* (lt-test-publish when libtool runs it uninstalled) */
	CU_ASSERT(strstr(h->comm, "test-publish") != NULL);
	CU_ASSERT_EQUAL(counter(page, "faults"), 0);
	/* Eight first touches by this thread: the file counts them live. */
	for (i = 0; i < 8; i++)
		CU_ASSERT_EQUAL(*(volatile uint64_t *)gmap_ref_ptr(fx.w, 10 + i),
				t_sig(10 + i, 0));
	faults = counter(page, "faults");
	CU_ASSERT(faults >= 8 && faults <= 8 + 8 * (uint64_t)
		  (getenv("GMAP_FAULT_AROUND") != NULL));
	CU_ASSERT(counter(page, "maps") >= 8);
	CU_ASSERT_EQUAL(counter(page, "mapped_now"), counter(page, "maps"));
	/* Each fault served was timed once (a handler thread times it after
	 * the wake: the last one may still be on its way). */
	CU_ASSERT(T_WAIT_UNTIL((sum = timed(page)) == faults, 10));
	CU_ASSERT_EQUAL(sum, faults);
	printf("\n    file %s: %llu faults, %llu timed\n", path,
	       (unsigned long long)faults, (unsigned long long)sum);
	munmap(page, GMAP_PUB_SIZE);
	close(fd);
	t_teardown(&fx);
	CU_ASSERT_EQUAL(files(tmp, NULL, 0, &others), 0);
	CU_ASSERT_EQUAL(others, 0);
	rm_dir(tmp);
}

/* A child's gmap_close() leaves the parent's file, and its lock. */
static void test_fork_child_close(void)
{
	char path[256];
	unsigned int others;
	struct t_fx fx;
	int status, fd;
	pid_t pid;

	fresh_dir();
	CU_ASSERT_FATAL(t_setup(&fx, 16, 64, 1) == 0);
	CU_ASSERT_FATAL(files(tmp, path, sizeof(path), &others) == 1);
	pid = fork();
	if (pid == 0) {
		gmap_close(fx.w);
		_exit(access(path, F_OK) == 0 ? 0 : 1);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	fd = open(path, O_RDONLY);
	CU_ASSERT(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 &&
		  errno == EWOULDBLOCK);
	close(fd);
	t_teardown(&fx);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	rm_dir(tmp);
}

static struct gmap_sim_domain *dom;

/* A small window of a domain of its own (close_plain() ends both); NULL
 * with errno as gmap_open() left it. */
static struct gmap_window *open_plain(void)
{
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM, .nr_refs = 64,
		.logger = &t_log.xtl, .self_domid = T_SELF,
	};
	struct gmap_window *w;
	int e;

	dom = gmap_sim_domain_create(T_DOMID, 4, 4);
	CU_ASSERT_FATAL(dom != NULL);
	t_log_clear();
	w = gmap_open(T_DOMID, &o);
	if (!w) {
		e = errno;
		gmap_sim_domain_destroy(dom);
		errno = e;
	}
	return w;
}

static void close_plain(struct gmap_window *w)
{
	gmap_close(w);
	gmap_sim_domain_destroy(dom);
}

/* The directory is found once per process: removed between two windows
 * (a logout cleans /run/user/<uid>), it is made again for the second. */
static void test_dir_removed(void)
{
	struct gmap_window *w;
	unsigned int others;

	fresh_dir();
	w = open_plain();
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT_EQUAL(files(tmp, NULL, 0, &others), 1);
	close_plain(w);
	CU_ASSERT_FATAL(rmdir(tmp) == 0);
	w = open_plain();
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT_EQUAL(files(tmp, NULL, 0, &others), 1);
	close_plain(w);
	CU_ASSERT_EQUAL(files(tmp, NULL, 0, &others), 0);
	rm_dir(tmp);
}

/* GMAP_PUBLISH=no: nothing published; bad values are refused by name. */
static void test_settings(void)
{
	struct gmap_window *w;
	unsigned int others;

	fresh_dir();
	setenv("GMAP_PUBLISH", "no", 1);
	w = open_plain();
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT_EQUAL(files(tmp, NULL, 0, &others), 0);
	CU_ASSERT_EQUAL(others, 0);
	close_plain(w);

	setenv("GMAP_PUBLISH", "maybe", 1);
	errno = 0;
	CU_ASSERT(open_plain() == NULL && errno == EINVAL);
	CU_ASSERT(t_log_has("GMAP_PUBLISH"));
	unsetenv("GMAP_PUBLISH");

	setenv("GMAP_RUNTIME_DIR", "relative/dir", 1);
	errno = 0;
	CU_ASSERT(open_plain() == NULL && errno == EINVAL);
	CU_ASSERT(t_log_has("GMAP_RUNTIME_DIR=relative/dir: not an absolute path"));
	unsetenv("GMAP_RUNTIME_DIR");
	rm_dir(tmp);
}

/* Where nothing can be published the window opens all the same, and says
 * why once per process. */
static void test_unusable_dir(void)
{
	char file[128], open_dir[128];
	struct gmap_window *w;
	unsigned int others;
	int fd;

	fresh_dir();
	snprintf(file, sizeof(file), "%s/plain-file", tmp);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	setenv("GMAP_RUNTIME_DIR", file, 1);
	w = open_plain();
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT(t_log_has("plain-file: not a directory; windows are not "
			    "published"));
	close_plain(w);

	/* A directory others may write to: not used, and not said again. */
	snprintf(open_dir, sizeof(open_dir), "%s/open", tmp);
	CU_ASSERT_FATAL(mkdir(open_dir, 0700) == 0);
	CU_ASSERT_FATAL(chmod(open_dir, 0777) == 0);
	setenv("GMAP_RUNTIME_DIR", open_dir, 1);
	w = open_plain();
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT_EQUAL(files(open_dir, NULL, 0, &others), 0);
	CU_ASSERT_EQUAL(others, 0);
	CU_ASSERT(!t_log_has("not published"));
	close_plain(w);
	rm_dir(tmp);
}

/* The caller's XDG_RUNTIME_DIR (NULL: unset), for xdg_restore(). */
static char *xdg_save(void)
{
	const char *v = getenv("XDG_RUNTIME_DIR");

	return v ? strdup(v) : NULL;
}

static void xdg_restore(char *saved)
{
	if (saved)
		setenv("XDG_RUNTIME_DIR", saved, 1);
	else
		unsetenv("XDG_RUNTIME_DIR");
	free(saved);
}

/* Without GMAP_RUNTIME_DIR: $XDG_RUNTIME_DIR/gmap, made 0700. */
static void test_default_dir(void)
{
	char sub[128];
	unsigned int others;
	struct gmap_window *w;
	struct stat st;
	char *saved = xdg_save();

	fresh_dir();
	unsetenv("GMAP_RUNTIME_DIR");
	setenv("XDG_RUNTIME_DIR", tmp, 1);
	w = open_plain();
	CU_ASSERT_FATAL(w != NULL);
	snprintf(sub, sizeof(sub), "%s/gmap", tmp);
	CU_ASSERT(stat(sub, &st) == 0 && S_ISDIR(st.st_mode) &&
		  (st.st_mode & 0777) == 0700);
	CU_ASSERT_EQUAL(files(sub, NULL, 0, &others), 1);
	close_plain(w);
	CU_ASSERT_EQUAL(files(sub, NULL, 0, &others), 0);
	xdg_restore(saved);
	rm_dir(tmp);
}

/* Whether this process's window file (its pid's) is in @dir: 1 and its
 * path in @path if once, else how many. */
static int mine_in(const char *dir, char *path, size_t len)
{
	char mine[32];
	struct dirent *e;
	int found = 0;
	DIR *d = opendir(dir);

	snprintf(mine, sizeof(mine), "%d-", (int)getpid());
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, mine, strlen(mine))) {
			found++;
			snprintf(path, len, "%s/%s", dir, e->d_name);
		}
	closedir(d);
	return found;
}

/* A default directory that cannot be made (no /run in an initramfs, a
 * stale XDG_RUNTIME_DIR), or an XDG_RUNTIME_DIR of another user's (left
 * by su: root must not be led into a directory that user controls),
 * falls back to /dev/shm/gmap-<uid>, quietly.  Runs before any case that
 * makes the library warn: it warns once per process. */
static void test_default_falls_back(void)
{
	char missing[128], theirs[128], fallback[64], path[384];
	char *saved = xdg_save();
	struct gmap_window *w;
	unsigned int others;

	fresh_dir();
	unsetenv("GMAP_RUNTIME_DIR");
	snprintf(fallback, sizeof(fallback), "/dev/shm/gmap-%u",
		 (unsigned int)geteuid());
	snprintf(missing, sizeof(missing), "%s/not-there", tmp);
	setenv("XDG_RUNTIME_DIR", missing, 1);
	w = open_plain();
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT(!t_log_has("not published"));
	CU_ASSERT_EQUAL(files(tmp, NULL, 0, &others), 0);
	CU_ASSERT_EQUAL(mine_in(fallback, path, sizeof(path)), 1);
	close_plain(w);
	CU_ASSERT_EQUAL(mine_in(fallback, path, sizeof(path)), 0);

	if (geteuid() == 0) {
		snprintf(theirs, sizeof(theirs), "%s/theirs", tmp);
		CU_ASSERT_FATAL(mkdir(theirs, 0700) == 0);
		CU_ASSERT_FATAL(chown(theirs, 65534, 65534) == 0);
		setenv("XDG_RUNTIME_DIR", theirs, 1);
		w = open_plain();
		CU_ASSERT_FATAL(w != NULL);
		CU_ASSERT_EQUAL(files(theirs, NULL, 0, &others), 0);
		CU_ASSERT_EQUAL(others, 0);   /* not even a gmap/ made */
		CU_ASSERT_EQUAL(mine_in(fallback, path, sizeof(path)), 1);
		close_plain(w);
	}
	xdg_restore(saved);
	rm_dir(tmp);
}

/* A directory on disk (the build tree, unless it is tmpfs) is not used:
 * a written-back page would fault through the file system on a count. */
static void test_not_in_memory(void)
{
	char dir[] = "gmap-test-publish-disk.XXXXXX", path[384];
	struct gmap_window *w;
	unsigned int others;
	struct statfs sf;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	CU_ASSERT_FATAL(statfs(dir, &sf) == 0);
	if (sf.f_type == 0x01021994 /* tmpfs */) {
		rm_dir(dir);
		T_SKIP("the build tree is on tmpfs");
	}
	CU_ASSERT_FATAL(realpath(dir, path) != NULL);
	setenv("GMAP_RUNTIME_DIR", path, 1);
	w = open_plain();
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT_EQUAL(files(dir, NULL, 0, &others), 0);
	CU_ASSERT_EQUAL(others, 0);
	close_plain(w);
	unsetenv("GMAP_RUNTIME_DIR");
	rm_dir(dir);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "serve-time buckets round-trip", test_buckets },
		{ "the file lives exactly as long as the window",
		  test_file_while_open },
		{ "a child's close leaves the parent's file",
		  test_fork_child_close },
		{ "GMAP_PUBLISH and GMAP_RUNTIME_DIR checked", test_settings },
		{ "a directory removed between two windows is made again",
		  test_dir_removed },
		{ "the default directory under XDG_RUNTIME_DIR",
		  test_default_dir },
		{ "a default that cannot be used: /dev/shm/gmap-<uid>",
		  test_default_falls_back },
		{ "an unusable directory: the window opens anyway",
		  test_unusable_dir },
		{ "a directory on disk is not used", test_not_in_memory },
		{ NULL, NULL },
	};

	return t_main("publish", cases);
}
