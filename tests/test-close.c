/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-close.c - closing a window: threads waiting on faults are woken
 * (SIGSEGV, never left blocked) and every grant is given back. */
#include <sys/syscall.h>
#include <sys/wait.h>

#include "helpers.h"

struct waiter {
	volatile uint64_t *p;
	int caught;
	void *addr;
	_Atomic pid_t tid;
};

static void *wait_thread(void *arg)
{
	struct waiter *wt = arg;

	atomic_store(&wt->tid, gettid());
	wt->caught = t_touch(wt->p, 0, 0, NULL, &wt->addr);
	return NULL;
}

/* Whether thread @tid of this process is asleep (blocked on its fault). */
static int asleep(pid_t tid)
{
	char path[64], buf[256], *p;
	FILE *f;
	int n;

	if (!tid)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = (int)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n > 0 ? n : 0] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

static void test_close_with_waiters(void)
{
	struct t_fx fx;
	struct gmap_sim_domain_info di;
	struct waiter wt[6];
	pthread_t th[6];
	unsigned int i, hung = 0, caught = 0;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	T_SKIP_IF_INLINE(&fx, "no thread waits in the kernel for a handler");
	/* Ref 3's page stays "paged out": the one handler keeps retrying
	 * while four threads wait on that fault... */
	gmap_sim_inject(fx.d, 3, GMAP_SIM_INJECT_EAGAIN, 1000000);
	for (i = 0; i < 4; i++) {
		wt[i] = (struct waiter){ (volatile uint64_t *)gmap_ref_ptr(fx.w, 3) + i, 0, NULL, 0 };
		pthread_create(&th[i], NULL, wait_thread, &wt[i]);
	}
	/* Wait until the handler is really stuck on the page. */
	CU_ASSERT(T_WAIT_UNTIL((gmap_sim_domain_info(fx.d, &di), di.eagain >= 2), 10));
	/* ...and two more wait on ref 5, whose messages no handler has read:
	 * only gmap_close() itself can wake those. */
	for (i = 4; i < 6; i++) {
		wt[i] = (struct waiter){ (volatile uint64_t *)gmap_ref_ptr(fx.w, 5) + i, 0, NULL, 0 };
		pthread_create(&th[i], NULL, wait_thread, &wt[i]);
	}
	CU_ASSERT(T_WAIT_UNTIL(asleep(atomic_load(&wt[4].tid)) &&
			       asleep(atomic_load(&wt[5].tid)), 10));
	gmap_close(fx.w);
	fx.w = NULL;
	for (i = 0; i < 6; i++) {
		if (t_join_within(th[i], 20)) {
			hung++;
			continue;
		}
		caught += wt[i].caught == 1 && wt[i].addr == (void *)wt[i].p;
	}
	printf("\n    6 waiters at close (4 on a page being retried, 2 unread): "
	       "%u got SIGSEGV at their address, %u hung ", caught, hung);
	CU_ASSERT_EQUAL(hung, 0);
	CU_ASSERT_EQUAL(caught, 6);
	gmap_sim_domain_destroy(fx.d);
}

static void test_close_gives_back(void)
{
	struct t_fx fx;
	struct gmap_sim_domain_info di;
	uint32_t r;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	for (r = 0; r < 32; r++)
		(void)*(volatile uint64_t *)gmap_ref_ptr(fx.w, r);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 40, 8, GMAP_PIN_WRITE, NULL), 0);
	gmap_sim_domain_info(fx.d, &di);
	CU_ASSERT_EQUAL(di.maps_now, 40);
	gmap_close(fx.w);
	fx.w = NULL;
	gmap_sim_domain_info(fx.d, &di);
	CU_ASSERT_EQUAL(di.maps_now, 0);
	for (r = 0; r < 48; r++)
		CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, r), 0);
	gmap_sim_domain_destroy(fx.d);
}

/*
 * fork(): the child has no window (fork.c).  What it inherited is
 * checked in the child, one bit of its exit status per check, and what
 * the parent still has is checked after it exits.
 */
enum {
	CH_MAPPED_TOUCH = 1,  /* a page mapped in the parent did not fault */
	CH_EMPTY_TOUCH = 2,   /* an untouched page did not fault            */
	CH_NO_REASON = 4,     /* the SIGSEGV was not explained              */
	CH_PIN = 8,           /* gmap_pin did not fail with EPERM           */
	CH_UNPIN = 16,        /* gmap_unpin did not fail with EPERM         */
	CH_RELEASE = 32,      /* gmap_release did not fail with EPERM       */
	CH_OWN_WINDOW = 64,   /* the child could not use a window of its own */
};

static int fork_child(struct t_fx *fx)
{
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM, .nr_refs = 1024,
		.logger = &t_log.xtl, .self_domid = T_SELF,
	};
	struct gmap_window *w2;
	uint64_t seen = 0;
	void *addr = NULL;
	int bad = 0;

	t_log_clear();
	if (t_touch(gmap_ref_ptr(fx->w, 0), 0, 0, &seen, &addr) != 1 ||
	    addr != gmap_ref_ptr(fx->w, 0))
		bad |= CH_MAPPED_TOUCH;
	if (t_touch(gmap_ref_ptr(fx->w, 50), 1, 1, NULL, NULL) != 1)
		bad |= CH_EMPTY_TOUCH;
	if (!t_log_has("inherited across fork"))
		bad |= CH_NO_REASON;
	if (gmap_pin(fx->w, 10, 1, GMAP_PIN_READ, NULL) != -1 || errno != EPERM)
		bad |= CH_PIN;
	if (gmap_unpin(fx->w, 40, 1) != -1 || errno != EPERM)
		bad |= CH_UNPIN;
	if (gmap_release(fx->w, 0, 4) != -1 || errno != EPERM)
		bad |= CH_RELEASE;
	/* Frees the child's copy only: the parent's maps stay. */
	gmap_close(fx->w);

	/* TSan cannot start threads in the child of a threaded process, and
	 * ASan's allocator may be locked there by a parent thread. */
	if (T_UNDER_TSAN || T_UNDER_ASAN)
		return bad;
	w2 = gmap_open(T_DOMID, &o);
	if (!w2 || t_touch(gmap_ref_ptr(w2, 20), 0, 0, &seen, NULL) != 0 ||
	    seen != t_sig(20, 0))
		bad |= CH_OWN_WINDOW;
	gmap_close(w2);
	return bad;
}

static void test_fork_child_has_no_window(void)
{
	struct gmap_sim_domain_info before, after;
	struct t_fx fx;
	uint64_t seen = 0;
	int status = -1;
	uint32_t r;
	pid_t pid;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 2) == 0);
	for (r = 0; r < 4; r++)
		CU_ASSERT_EQUAL(t_touch(gmap_ref_ptr(fx.w, r), 0, 0, &seen, NULL), 0);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 40, 8, GMAP_PIN_WRITE, NULL), 0);
	gmap_sim_domain_info(fx.d, &before);
	CU_ASSERT_EQUAL(before.maps_now, 12);

	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0)
		_exit(fork_child(&fx));
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status));
	if (WIFEXITED(status) && WEXITSTATUS(status))
		printf("child failed checks %#x ", WEXITSTATUS(status));
	CU_ASSERT_EQUAL(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);

	/* The child's map and unmap of ref 20 came and went; the parent's
	 * twelve maps are untouched and still work. */
	gmap_sim_domain_info(fx.d, &after);
	CU_ASSERT_EQUAL(after.maps_now, 12);
	CU_ASSERT_EQUAL(after.double_maps, 0);
	CU_ASSERT_EQUAL(t_ref(&fx, 20).maps_total,
			T_UNDER_TSAN || T_UNDER_ASAN ? 0 : 1);
	for (r = 0; r < 4; r++) {
		CU_ASSERT_EQUAL(t_touch(gmap_ref_ptr(fx.w, r), 0, 0, &seen, NULL), 0);
		CU_ASSERT_EQUAL(seen, t_sig(r, 0));
	}
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 40, 8), 0);
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 40), 0);
	t_teardown(&fx);
}

/*
 * Forks while other threads map and unmap: the grant mappings carry no
 * MADV_DONTFORK of their own, fork()'s prepare handler marks the windows
 * once the maps in flight are done (fork.c).  Each child reads its maps
 * (raw system calls: a parent thread may hold malloc's lock) and exits 1
 * if anything but the one inaccessible reservation lies in the window's
 * range, that is if a grant mapping, or a placeholder, was copied.
 */
struct mapper {
	struct gmap_window *w;
	uint32_t first;
	_Atomic bool *stop;
	unsigned long cycles, errors;
};

static void *mapper_main(void *arg)
{
	struct mapper *m = arg;

	while (!atomic_load(m->stop)) {
		uint32_t ref = m->first + (uint32_t)(m->cycles % 16);

		if (gmap_pin(m->w, ref, 4, GMAP_PIN_WRITE, NULL) < 0 ||
		    gmap_unpin(m->w, ref, 4) < 0)
			m->errors++;
		m->cycles++;
	}
	return NULL;
}

static int child_window_clean(uintptr_t lo, uintptr_t hi)
{
	char buf[65536];
	size_t len = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY), inside = 0;

	if (fd < 0)
		return 2;
	while (len < sizeof(buf) - 1 &&
	       (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = 0;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		uintptr_t a = strtoull(l, NULL, 16), b;
		char *dash = strchr(l, '-');

		if (!dash)
			break;
		b = strtoull(dash + 1, NULL, 16);
		if (b <= lo || a >= hi)
			continue;
		inside++;
		/* The child's own reservation: the whole range, no access. */
		if (a != lo || b != hi || strncmp(strchr(l, ' ') + 1, "---p", 4))
			return 1;
	}
	return inside == 1 ? 0 : 1;
}

static void test_fork_while_mapping(void)
{
	enum { FORKS = 20 };
	_Atomic bool stop = false;
	struct mapper m[2];
	pthread_t th[2];
	struct t_fx fx;
	uintptr_t lo, hi;
	int dirty = 0;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	lo = (uintptr_t)gmap_base(fx.w);
	hi = lo + (gmap_nr_refs(fx.w) << 12);
	for (int i = 0; i < 2; i++) {
		m[i] = (struct mapper){ fx.w, (uint32_t)i * 32, &stop, 0, 0 };
		pthread_create(&th[i], NULL, mapper_main, &m[i]);
	}
	for (int i = 0; i < FORKS; i++) {
		int status = -1;
		pid_t pid;

		fflush(NULL);
		pid = fork();
		if (pid == 0)
			_exit(child_window_clean(lo, hi));
		CU_ASSERT_FATAL(pid > 0);
		waitpid(pid, &status, 0);
		dirty += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(t_join_within(th[i], 30), 0);
	printf("[%d forks, %d with anything copied into the window; %lu "
	       "pin/unpin cycles meanwhile] ", FORKS, dirty,
	       m[0].cycles + m[1].cycles);
	CU_ASSERT_EQUAL(dirty, 0);
	CU_ASSERT_EQUAL(m[0].errors + m[1].errors, 0);
	CU_ASSERT(m[0].cycles + m[1].cycles > 0);
	t_teardown(&fx);
}

/*
 * A raw clone(2), which runs none of fork()'s handlers (fork.c), gives
 * its child the window as it is, placeholders and all: a shared mapping
 * of the window's file that the child's copy does not register, so a
 * write there fills the file.  The hazard fork.c documents, reproduced:
 * the parent then reads the child's page where the grant belongs, and
 * gmap_close() says what happened.
 */
static void test_raw_clone_said(void)
{
	uint64_t seen = 0;
	int status = -1;
	struct t_fx fx;
	pid_t pid;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 2) == 0);
	T_SKIP_IF_INLINE(&fx, "an inline window has no placeholder file");
	CU_ASSERT_EQUAL(t_placeholder_blocks(NULL), 0);
	fflush(NULL);
	/* Flags first on every architecture; the rest unused. */
	pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		((volatile uint64_t *)gmap_ref_ptr(fx.w, 9))[1] = 0x5a5a5a5a;
		syscall(SYS_exit_group, 0);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(t_placeholder_blocks(NULL), 8);  /* 4 KiB */
	/* No fault: the child's page, not ref 9's grant. */
	CU_ASSERT_EQUAL(t_touch((uint64_t *)gmap_ref_ptr(fx.w, 9) + 1, 0, 0,
				&seen, NULL), 0);
	CU_ASSERT_EQUAL(seen, 0x5a5a5a5a);
	CU_ASSERT_EQUAL(t_ref(&fx, 9).maps_total, 0);
	t_log_clear();
	t_teardown(&fx);
	CU_ASSERT(t_log_has("placeholder file held 4 KiB"));
}

/*
 * A process serves up to 64 domains: 64 windows of the default size fit
 * in its address space (the default once reserved 16 TiB each, and the
 * 8th open failed), each one maps, and a 65th is EMFILE.
 */
static void test_64_windows(void)
{
	enum { N = 64, DOM0 = 100 };
	struct gmap_sim_domain *d[N + 1];
	struct gmap_window *w[N + 1];
	uint64_t seen = 0, page[512];
	int i, opened = 0, mapped = 0;

	T_SKIP_UNDER_TSAN();
	for (i = 0; i < 512; i++)
		page[i] = t_sig(3, (uint32_t)i);
	for (i = 0; i <= N; i++) {
		d[i] = gmap_sim_domain_create(DOM0 + i, 1, 1);
		CU_ASSERT_PTR_NOT_NULL_FATAL(d[i]);
		gmap_sim_write(d[i], 0, 0, page, sizeof(page));
		CU_ASSERT_EQUAL(gmap_sim_grant(d[i], 0, 0, T_SELF, 0), 0);
	}
	for (i = 0; i < N; i++) {
		w[i] = gmap_open(DOM0 + i, NULL);
		if (!w[i]) {
			printf("window %d: %s ", i, strerror(errno));
			break;
		}
		opened++;
		CU_ASSERT_EQUAL(gmap_nr_refs(w[i]), GMAP_DEFAULT_REFS);
		if (t_touch(gmap_ref_ptr(w[i], 0), 0, 0, &seen, NULL) == 0 &&
		    seen == t_sig(3, 0))
			mapped++;
	}
	CU_ASSERT_EQUAL(opened, N);
	CU_ASSERT_EQUAL(mapped, N);
	w[N] = gmap_open(DOM0 + N, NULL);
	CU_ASSERT_PTR_NULL(w[N]);
	CU_ASSERT_EQUAL(errno, EMFILE);
	if (w[N])
		gmap_close(w[N]);
	for (i = 0; i < opened; i++)
		gmap_close(w[i]);
	for (i = 0; i <= N; i++)
		gmap_sim_domain_destroy(d[i]);
	printf("%d windows opened and mapped, the 65th refused ", mapped);
}

/*
 * A second gmap_close() of the same window, as a program with two owners
 * of one handle would do it: said on stderr and ignored, never a crash or
 * a read of the freed window (ASan would report that).  In a child, whose
 * stderr the test reads: the old code died of SIGSEGV there.
 */
static void test_double_close(void)
{
	int fds[2], status = 0;
	char out[512] = "";
	ssize_t n, got = 0;
	pid_t pid;

	CU_ASSERT_FATAL(pipe(fds) == 0);
	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct t_fx fx;
		uint64_t seen = 0;
		int ok;

		alarm(30);
		dup2(fds[1], 2);
		if (t_setup(&fx, 8, 8, 1) < 0)
			_exit(2);
		ok = t_touch(gmap_ref_ptr(fx.w, 3), 0, 0, &seen, NULL) == 0 &&
		     seen == t_sig(3, 0);
		gmap_close(fx.w);
		gmap_close(fx.w);       /* the second close */
		gmap_sim_domain_destroy(fx.d);
		_exit(ok ? 0 : 3);
	}
	close(fds[1]);
	while (got < (ssize_t)sizeof(out) - 1 &&
	       (n = read(fds[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
		got += n;
	close(fds[0]);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		printf("\n    child died of signal %d ", WTERMSIG(status));
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "not an open window"));
	/* One line for the one bad call, nothing about the good close. */
	CU_ASSERT_PTR_NULL(strchr(strchr(out, '\n') ? strchr(out, '\n') + 1 :
				  out, '\n'));
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "close wakes threads waiting on a fault", test_close_with_waiters },
		{ "close unmaps touched and pinned grants", test_close_gives_back },
		{ "a child of fork() has no window, only close", test_fork_child_has_no_window },
		{ "fork while 2 threads pin and unpin: nothing copied", test_fork_while_mapping },
		{ "a raw clone's child fills a placeholder: said at close",
		  test_raw_clone_said },
		{ "64 windows of the default size, a 65th is EMFILE", test_64_windows },
		{ "a second close is said and ignored", test_double_close },
		{ NULL, NULL },
	};
	return t_main("close", cases);
}
