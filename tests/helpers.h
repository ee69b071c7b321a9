/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * helpers.h - what every libgmap test program shares: a simulated domain
 * with signed pages, a window on it, a logger that captures lines, a
 * SIGSEGV catcher, bounded joins and a CUnit main.
 *
 * Header-only on purpose: each test is one program built from one file.
 */
#ifndef GMAP_TEST_HELPERS_H
#define GMAP_TEST_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include <gmap.h>
#include <gmap-sim.h>
/* GTF_* and GNTST_*: the flags and statuses the sim must match. */
#include <xen/xen.h>
#include <xen/grant_table.h>

/*
 * ThreadSanitizer cannot run with a 16 TiB mapping in the process (its
 * thread registry breaks: "dup thread with used id"), so under TSan the
 * tests of full-space windows skip and say so; ASan and plain runs do
 * them.  Races are what TSan is for, and those tests use small windows.
 */
#if defined(__SANITIZE_THREAD__)
#define T_UNDER_TSAN 1
#else
#define T_UNDER_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define T_UNDER_ASAN 1
#else
#define T_UNDER_ASAN 0
#endif
/*
 * Skip the current case, saying why.  CUnit counts a case that returns as
 * passed, so t_main() counts the skips and ends the log with a line
 * "T_SKIPPED: N case(s) of SUITE" that .ci/run adds up: a skip is never
 * mistaken for a pass in the summary.
 */
static unsigned int t_skipped;

#define T_SKIP(why) do {						\
	printf("skipped: %s ", (why));					\
	t_skipped++;							\
	return;								\
} while (0)

#define T_SKIP_UNDER_TSAN() do {					\
	if (T_UNDER_TSAN)						\
		T_SKIP("under TSan (16 TiB window)");			\
} while (0)

#define T_DOMID 7
#define T_SELF 0

/* ---- page signatures: what the guest wrote, checkable anywhere -------- */

static inline uint64_t t_sig(uint32_t frame, uint32_t word)
{
	return ((uint64_t)(frame + 1) << 32) ^ (word * 0x9e3779b97f4a7c15ull);
}

/* ---- a logger that keeps what it was told ------------------------------ */

struct t_logger {
	xentoollog_logger xtl;
	pthread_mutex_t lock;
	char buf[1 << 16];
	size_t len;
	unsigned int lines;
};

static void t_log_vmessage(xentoollog_logger *l, xentoollog_level level,
			   int errnoval, const char *ctx, const char *fmt,
			   va_list al)
{
	struct t_logger *t = (struct t_logger *)l;
	char line[1024];
	int n;

	(void)level;
	n = vsnprintf(line, sizeof(line), fmt, al);
	if (n < 0)
		return;
	if (errnoval >= 0)
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
			 ": %s", strerror(errnoval));
	pthread_mutex_lock(&t->lock);
	n = snprintf(t->buf + t->len, sizeof(t->buf) - t->len, "%s: %s\n",
		     ctx ? ctx : "", line);
	if (n > 0 && (size_t)n < sizeof(t->buf) - t->len)
		t->len += (size_t)n;
	t->lines++;
	pthread_mutex_unlock(&t->lock);
	if (getenv("T_VERBOSE"))
		fprintf(stderr, "[log] %s\n", line);
}

static struct t_logger t_log = {
	.xtl = { .vmessage = t_log_vmessage },
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static inline void t_log_clear(void)
{
	pthread_mutex_lock(&t_log.lock);
	t_log.len = 0;
	t_log.buf[0] = 0;
	t_log.lines = 0;
	pthread_mutex_unlock(&t_log.lock);
}

static inline int t_log_has(const char *needle)
{
	int found;

	pthread_mutex_lock(&t_log.lock);
	t_log.buf[t_log.len < sizeof(t_log.buf) ? t_log.len : sizeof(t_log.buf) - 1] = 0;
	found = strstr(t_log.buf, needle) != NULL;
	pthread_mutex_unlock(&t_log.lock);
	if (!found && getenv("T_VERBOSE"))
		fprintf(stderr, "log lacks '%s'\n", needle);
	return found;
}

/* ---- a domain and a window ----------------------------------------------- */

static char t_open_log[4096];

struct t_fx {
	struct gmap_sim_domain *d;
	struct gmap_window *w;
	uint32_t nr_frames;
};

/* Domain T_DOMID with @nr frames and grants, frame f signed and granted
 * writable to T_SELF as ref f; a window of @win_refs refs (0: all). */
static inline int t_setup_opts(struct t_fx *fx, uint32_t nr,
			       const struct gmap_open_opts *opts);

static inline int t_setup(struct t_fx *fx, uint32_t nr, uint64_t win_refs,
			  unsigned int handlers)
{
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM,
		.nr_refs = win_refs, .handler_threads = handlers,
		.logger = &t_log.xtl, .self_domid = T_SELF,
	};

	return t_setup_opts(fx, nr, &o);
}

/* As t_setup(), with the window opened with @opts as given. */
static inline int t_setup_opts(struct t_fx *fx, uint32_t nr,
			       const struct gmap_open_opts *opts)
{
	struct gmap_open_opts o = *opts;
	uint64_t page[512];
	uint32_t f, i;

	memset(fx, 0, sizeof(*fx));
	fx->nr_frames = nr;
	fx->d = gmap_sim_domain_create(T_DOMID, nr, nr);
	if (!fx->d)
		return -1;
	for (f = 0; f < nr; f++) {
		for (i = 0; i < 512; i++)
			page[i] = t_sig(f, i);
		gmap_sim_write(fx->d, f, 0, page, sizeof(page));
		gmap_sim_grant(fx->d, f, f, T_SELF, 0);
	}
	t_log_clear();
	fx->w = gmap_open(T_DOMID, &o);
	if (!fx->w) {
		gmap_sim_domain_destroy(fx->d);
		fx->d = NULL;
		return -1;
	}
	/* Keep what gmap_open() said for t_log_has_since_open(), then
	 * start the test's own log empty. */
	pthread_mutex_lock(&t_log.lock);
	snprintf(t_open_log, sizeof(t_open_log), "%.*s", (int)t_log.len, t_log.buf);
	pthread_mutex_unlock(&t_log.lock);
	t_log_clear();
	return 0;
}

/* Options of a 4096-ref sim window with a budget of @max_mapped grants
 * (0: the default) and fault-around of @around pages towards @dir. */
static inline struct gmap_open_opts t_budget_opts(uint64_t max_mapped,
						  unsigned int around,
						  enum gmap_around_dir dir)
{
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM, .nr_refs = 4096,
		.logger = &t_log.xtl, .self_domid = T_SELF,
		.max_mapped = max_mapped, .fault_around = around,
		.fault_around_dir = dir,
	};
	return o;
}

static inline int t_log_has_since_open(const char *needle)
{
	return strstr(t_open_log, needle) != NULL;
}

/* Whether @w serves faults in the faulting thread (GMAP_FAULT_INLINE: the
 * suite runs in each mode, GMAP_FAULT_MODE choosing). */
static inline bool t_inline(struct gmap_window *w)
{
	struct gmap_stats st;

	return gmap_stats(w, &st, sizeof(st)) == 0 &&
	       st.fault_mode == GMAP_FAULT_INLINE;
}

static inline void t_teardown(struct t_fx *fx);

/* Skip a case that is about the handler threads' way (a fault waiting in
 * the kernel, a system call served), saying so; the window goes. */
#define T_SKIP_IF_INLINE(fx, what) do {					\
	if (t_inline((fx)->w)) {					\
		t_teardown(fx);						\
		T_SKIP("inline fault mode: " what);			\
	}								\
} while (0)

static inline void t_teardown(struct t_fx *fx)
{
	gmap_close(fx->w);
	gmap_sim_domain_destroy(fx->d);
	fx->w = NULL;
	fx->d = NULL;
}

/* VMAs of the window now, from /proc/self/maps. */
static inline unsigned int t_window_vmas(struct gmap_window *w)
{
	uintptr_t lo = (uintptr_t)gmap_base(w),
		  hi = lo + (gmap_nr_refs(w) << GMAP_PAGE_SHIFT);
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t a = strtoul(line, NULL, 16);

		n += a >= lo && a < hi;
	}
	fclose(f);
	return n;
}

/* The VMA holding @addr, from /proc/self/maps: 1 and [*lo, *hi), or 0. */
static inline int t_vma_of(const void *addr, uintptr_t *lo, uintptr_t *hi)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		char *end;

		*lo = strtoul(line, &end, 16);
		*hi = strtoul(end + 1, NULL, 16);
		found = (uintptr_t)addr >= *lo && (uintptr_t)addr < *hi;
	}
	fclose(f);
	return found;
}

/*
 * The blocks held by the placeholder files of this process's windows with
 * handler threads (libgmap/placeholder.c), found by name among its open
 * descriptors, or -1 if it has none.  They must stay empty: a fault on a
 * placeholder goes to userfaultfd before the file could get a page, and
 * a page that did land there would be served to the next touch of that
 * ref instead of its grant.  *@size (if not NULL): the last one's size.
 */
static inline long long t_placeholder_blocks(long long *size)
{
	long long blocks = -1;
	char path[64], target[256];
	struct stat sb;

	for (int fd = 0; fd < 1024; fd++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (!strstr(target, "/memfd:libgmap-placeholders") ||
		    fstat(fd, &sb) < 0)
			continue;
		blocks = (blocks < 0 ? 0 : blocks) + (long long)sb.st_blocks;
		if (size)
			*size = (long long)sb.st_size;
	}
	return blocks;
}

/*
 * The window's own count of its VMAs is what /proc/self/maps shows, at
 * rest (see vmas.c): taken between two identical snapshots of the
 * counters, so that no eviction (the evictor may still be at work) or map
 * happened meanwhile.
 */
static inline int vmas_agree(struct gmap_window *w)
{
	struct gmap_stats a, b;
	unsigned int v = 0;

	for (int tries = 0; tries < 500; tries++) {
		gmap_stats(w, &a, sizeof(a));
		v = t_window_vmas(w);
		gmap_stats(w, &b, sizeof(b));
		if (!a.evicting_now && !b.evicting_now && a.maps == b.maps &&
		    a.unmaps == b.unmaps && a.bad_grants == b.bad_grants &&
		    a.vmas_now == b.vmas_now)
			break;
		usleep(10000);
	}
	if (b.vmas_now != v)
		fprintf(stderr, "vmas_now %llu, /proc/self/maps %u\n",
			(unsigned long long)b.vmas_now, v);
	return b.vmas_now == v && b.vmas_peak >= v;
}

static inline struct gmap_sim_ref_info t_ref(struct t_fx *fx, uint32_t ref)
{
	struct gmap_sim_ref_info ri;

	memset(&ri, 0, sizeof(ri));
	gmap_sim_ref_info(fx->d, ref, &ri);
	return ri;
}

static inline uint64_t t_guest_word(struct t_fx *fx, uint32_t frame,
				    uint32_t word)
{
	uint64_t v = 0;

	gmap_sim_read(fx->d, frame, word * 8, &v, 8);
	return v;
}

/* ---- catching SIGSEGV in the thread that takes it ------------------------ */

/* volatile: the stores around the access must not be merged away. */
static __thread sigjmp_buf *volatile t_segv_jmp;
static __thread void *t_segv_addr;
static __thread int t_segv_code;

static void t_segv_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (t_segv_jmp) {
		t_segv_addr = si->si_addr;
		t_segv_code = si->si_code;
		siglongjmp(*t_segv_jmp, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Installed before any window opens, so libgmap's handler chains to it:
 * the outcome a test sees is the one a program that handles SIGSEGV sees.
 */
static inline void t_install_segv(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = t_segv_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
}

/* Access @p (write when @write); 1 and *@addr if SIGSEGV came, else 0. */
static inline int t_touch(volatile uint64_t *p, int write, uint64_t val,
			  uint64_t *seen, void **addr)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		t_segv_jmp = NULL;
		if (addr)
			*addr = t_segv_addr;
		return 1;
	}
	t_segv_jmp = &jb;
	if (write)
		*p = val;
	else if (seen)
		*seen = *p;
	else
		(void)*p;
	t_segv_jmp = NULL;
	return 0;
}

/* ---- bounded waits ---------------------------------------------------- */

/* Join @t within @secs; ETIMEDOUT means the thread hung. */
static inline int t_join_within(pthread_t t, int secs)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += secs;
	return pthread_timedjoin_np(t, NULL, &ts);
}

/* Poll @cond (a condition another thread makes true) for up to @secs. */
#define T_WAIT_UNTIL(cond, secs) ({					\
	struct timespec _t0, _t1, _nap = { 0, 1000000 };		\
	int _ok = 0;							\
	clock_gettime(CLOCK_MONOTONIC, &_t0);				\
	for (;;) {							\
		if (cond) { _ok = 1; break; }				\
		clock_gettime(CLOCK_MONOTONIC, &_t1);			\
		if (_t1.tv_sec - _t0.tv_sec >= (secs)) break;		\
		nanosleep(&_nap, NULL);					\
	}								\
	_ok; })

/* The scheduling state of thread @tid ('S': blocked), from /proc. */
static inline char thread_state(pid_t tid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/*
 * Whether thread @tid is blocked in a page fault (not in a system call):
 * /proc's kernel stack says handle_userfault where it is readable (root);
 * otherwise sleeping ('S') outside any system call ("-1" in .../syscall).
 */
static inline int blocked_in_fault(pid_t tid)
{
	char path[64], buf[4096];
	size_t n;
	FILE *f;

	if (tid <= 0 || thread_state(tid) != 'S')
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stack", (int)tid);
	f = fopen(path, "r");
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		if (n > 0)
			return strstr(buf, "handle_userfault") != NULL;
	}
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return strncmp(buf, "-1 ", 3) == 0;
}

/* A thread that reads *p (faulting on it, typically) and records its
 * thread id first, so that blocked_in_fault() can watch it. */
struct sleeper {
	volatile uint64_t *p;
	_Atomic pid_t tid;
	uint64_t seen;
};

static inline void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;

	atomic_store(&s->tid, gettid());
	s->seen = *s->p;
	return NULL;
}

/* ---- CUnit main --------------------------------------------------------- */

struct t_case {
	const char *name;
	void (*fn)(void);
};

static void t_watchdog(int sig)
{
	static const char msg[] = "\nwatchdog: a test hung; failing\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(98);
	_exit(99);
}

/* Run @cases as one suite; exit status 1 if any assertion failed, 99 if
 * the watchdog fired (a hang). */
static inline int t_main(const char *suite, const struct t_case *cases)
{
	CU_pSuite s;
	unsigned int fails;

	signal(SIGALRM, t_watchdog);
	alarm(getenv("T_WATCHDOG") ? (unsigned)atoi(getenv("T_WATCHDOG")) : 240);
	t_install_segv();
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite(suite, NULL, NULL);
	for (; cases->name; cases++)
		CU_add_test(s, cases->name, cases->fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	if (t_skipped)
		printf("\nT_SKIPPED: %u case(s) of %s\n", t_skipped, suite);
	CU_cleanup_registry();
	return fails ? 1 : 0;
}

#endif /* GMAP_TEST_HELPERS_H */
