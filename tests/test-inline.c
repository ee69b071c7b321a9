/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-inline.c - the inline fault mode (GMAP_FAULT_INLINE): the faulting
 * thread maps its own page from libgmap's SIGBUS handler.  Many threads at
 * once, with fault-around and a budget that forces eviction; what a system
 * call into an untouched page gets; that a SIGBUS outside the windows
 * reaches the application's own handler; that bad grants and writes to
 * read-only grants end in SIGSEGV as in the thread mode.
 */
#include <sys/mman.h>
#include <sys/resource.h>

#include "helpers.h"

#define NR 4096
#define THREADS 4

static struct gmap_open_opts inline_opts(uint64_t max_mapped,
					 unsigned int around)
{
	struct gmap_open_opts o = t_budget_opts(max_mapped, around,
						GMAP_AROUND_FORWARD);

	o.fault_mode = GMAP_FAULT_INLINE;
	return o;
}

struct toucher {
	struct gmap_window *w;
	unsigned int id;
	uint64_t checked, bad;
};

/* A 64-ref inline window whose bad grants are reported without a
 * backtrace: the cases about single pages. */
static int setup_quiet(struct t_fx *fx)
{
	struct gmap_open_opts o = inline_opts(0, 0);

	o.bad_policy = GMAP_BAD_SIGNAL_QUIET;
	return t_setup_opts(fx, 64, &o);
}

/* Every page, each thread in its own order (a stride prime to NR), every
 * word read and checked against the guest's signature; every page also
 * written by one thread. */
static void *toucher_main(void *arg)
{
	struct toucher *t = arg;
	uint32_t step = 2 * t->id + 1, ref = t->id * 997;

	for (uint32_t i = 0; i < NR; i++, ref = (ref + step) % NR) {
		volatile uint64_t *p = gmap_ref_ptr(t->w, ref);

		for (uint32_t k = 0; k < 512; k += 64, t->checked++)
			if (p[k] != t_sig(ref, k))
				t->bad++;
		if (ref % THREADS == t->id)
			p[1] = t_sig(ref, 1);  /* the same value: a write fault */
	}
	return NULL;
}

static void run_touchers(struct t_fx *fx, uint64_t *checked, uint64_t *bad)
{
	struct toucher t[THREADS];
	pthread_t th[THREADS];

	*checked = *bad = 0;
	for (unsigned int i = 0; i < THREADS; i++) {
		t[i] = (struct toucher){ fx->w, i, 0, 0 };
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL, toucher_main,
					       &t[i]) == 0);
	}
	for (unsigned int i = 0; i < THREADS; i++) {
		CU_ASSERT_EQUAL(t_join_within(th[i], 60), 0);
		*checked += t[i].checked;
		*bad += t[i].bad;
	}
}

/* 4 threads over 4096 pages: each page mapped once, whoever faults it. */
static void test_threads(void)
{
	struct gmap_open_opts o = inline_opts(0, 0);
	uint64_t checked, bad;
	struct gmap_stats st;
	struct t_fx fx;

	CU_ASSERT_FATAL(t_setup_opts(&fx, NR, &o) == 0);
	run_touchers(&fx, &checked, &bad);
	gmap_stats(fx.w, &st, sizeof(st));
	printf("[%llu words checked, %llu faults, %llu maps] ",
	       (unsigned long long)checked, (unsigned long long)st.faults,
	       (unsigned long long)st.maps);
	CU_ASSERT_EQUAL(st.fault_mode, GMAP_FAULT_INLINE);
	CU_ASSERT_EQUAL(checked, (uint64_t)THREADS * NR * 8);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(st.maps, NR);
	CU_ASSERT_EQUAL(st.mapped_now, NR);
	/* Each page faulted at least once, and no thread needed many
	 * tries: a fault that met another's map in flight waits for it. */
	CU_ASSERT(st.faults >= NR);
	CU_ASSERT(st.faults <= (uint64_t)NR * THREADS);
	CU_ASSERT_EQUAL(st.bad_grants, 0);
	for (uint32_t r = 0; r < NR; r += 511)
		CU_ASSERT_EQUAL(t_ref(&fx, r).maps_total, 1);
	t_teardown(&fx);
}

/* The same with fault-around 16 and a budget of 256 grants: the evictor
 * unmaps behind the threads, and their next touches fault in again. */
static void test_threads_budget_around(void)
{
	struct gmap_open_opts o = inline_opts(256, 16);
	uint64_t checked, bad;
	struct gmap_stats st;
	struct t_fx fx;

	CU_ASSERT_FATAL(t_setup_opts(&fx, NR, &o) == 0);
	run_touchers(&fx, &checked, &bad);
	gmap_stats(fx.w, &st, sizeof(st));
	printf("[%llu words checked, %llu faults, %llu maps, %llu evictions, "
	       "%llu pages by fault-around] ", (unsigned long long)checked,
	       (unsigned long long)st.faults, (unsigned long long)st.maps,
	       (unsigned long long)st.evictions,
	       (unsigned long long)st.around_pages);
	CU_ASSERT_EQUAL(checked, (uint64_t)THREADS * NR * 8);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(st.evictions > 0);
	CU_ASSERT(st.around_pages > 0);
	CU_ASSERT(st.mapped_peak <= 256);
	CU_ASSERT_EQUAL(st.bad_grants, 0);
	t_teardown(&fx);
}

/* A system call into an untouched page fails with EFAULT (nobody serves
 * kernel-mode faults inline); after a pin it works. */
static void test_syscall_efault(void)
{
	struct gmap_open_opts o = inline_opts(0, 0);
	struct t_fx fx;
	char *p;
	int fd;

	CU_ASSERT_FATAL(t_setup_opts(&fx, 64, &o) == 0);
	fd = open("/dev/zero", O_RDONLY);
	CU_ASSERT_FATAL(fd >= 0);
	p = gmap_ref_ptr(fx.w, 5);
	errno = 0;
	CU_ASSERT_EQUAL(read(fd, p, 64), -1);
	CU_ASSERT_EQUAL(errno, EFAULT);
	/* Nothing was mapped or spoiled by the failed call. */
	CU_ASSERT_EQUAL(t_ref(&fx, 5).maps_total, 0);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 5, 1, GMAP_PIN_WRITE, NULL), 0);
	CU_ASSERT_EQUAL(read(fd, p, 64), 64);
	CU_ASSERT_EQUAL(t_guest_word(&fx, 5, 0), 0);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 5, 1), 0);
	close(fd);
	t_teardown(&fx);
}

/* ---- a SIGBUS of the application's own ---------------------------------- */

static sigjmp_buf bus_jmp;
static void *volatile bus_addr;
static volatile int bus_seen;

static void app_bus_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	bus_seen++;
	bus_addr = si->si_addr;
	siglongjmp(bus_jmp, 1);
}

/* The first case, so that the application's handler is installed before
 * the process's first inline window installs libgmap's (which keeps it to
 * chain to), as a program that handles SIGBUS itself does: one installed
 * later replaces libgmap's, as for SIGSEGV.  0, or the failed step. */
static int chain_steps(void)
{
	struct gmap_open_opts o = inline_opts(0, 0);
	char path[] = "/tmp/gmap-inline-XXXXXX";
	struct sigaction sa;
	volatile uint64_t *q;
	struct t_fx fx;
	void *m;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = app_bus_handler;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGBUS, &sa, NULL) < 0)
		return 10;
	if (t_setup_opts(&fx, 64, &o) < 0)
		return 11;
	fd = mkstemp(path);
	if (fd < 0)
		return 12;
	unlink(path);
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);  /* size 0 */
	if (m == MAP_FAILED)
		return 13;
	if (!sigsetjmp(bus_jmp, 1))
		(void)*(volatile char *)m;
	if (bus_seen != 1 || bus_addr != m) {
		printf("[seen %d at %p, mapped at %p] ", bus_seen, bus_addr, m);
		return 14;
	}
	/* The window still serves its own, without the application's
	 * handler hearing of it. */
	q = gmap_ref_ptr(fx.w, 9);
	if (q[2] != t_sig(9, 2) || bus_seen != 1)
		return 15;
	munmap(m, 4096);
	close(fd);
	t_teardown(&fx);
	return 0;
}

/* A file mapping past its end raises SIGBUS that is none of libgmap's:
 * the handler installed before the window gets it, address and all. */
static void test_chains_foreign_sigbus(void)
{
	int step = chain_steps();

	if (step)
		printf("failed at step %d ", step);
	CU_ASSERT_EQUAL(step, 0);
}

/* ---- outcomes that end in SIGSEGV ---------------------------------------- */

/* A ref that is not granted: SIGSEGV at the address, reported with the
 * status, as in the thread mode. */
static void test_bad_grant_segv(void)
{
	struct gmap_stats st;
	struct t_fx fx;
	void *addr = NULL;
	volatile uint64_t *p;

	CU_ASSERT_FATAL(setup_quiet(&fx) == 0);
	gmap_sim_end_access(fx.d, 30);
	p = gmap_ref_ptr(fx.w, 30);
	CU_ASSERT_EQUAL(t_touch(p, 0, 0, NULL, &addr), 1);
	CU_ASSERT_PTR_EQUAL(addr, (void *)p);
	CU_ASSERT(t_log_has("ref 30"));
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.bad_grants, 1);
	/* Its neighbours are fine. */
	CU_ASSERT_EQUAL(((volatile uint64_t *)gmap_ref_ptr(fx.w, 31))[0],
			t_sig(31, 0));
	t_teardown(&fx);
}

/* A read-only grant: reads are served, a write gets SIGSEGV and does not
 * reach the page. */
static void test_readonly_write_segv(void)
{
	struct t_fx fx;
	void *addr = NULL;
	uint64_t seen = 0;
	volatile uint64_t *p;

	CU_ASSERT_FATAL(setup_quiet(&fx) == 0);
	gmap_sim_end_access(fx.d, 12);
	gmap_sim_grant(fx.d, 12, 12, T_SELF, GTF_readonly);
	p = gmap_ref_ptr(fx.w, 12);
	CU_ASSERT_EQUAL(t_touch(p + 4, 0, 0, &seen, NULL), 0);
	CU_ASSERT_EQUAL(seen, t_sig(12, 4));
	CU_ASSERT_EQUAL(t_touch(p + 4, 1, 0xbad, NULL, &addr), 1);
	CU_ASSERT_PTR_EQUAL(addr, (void *)(p + 4));
	CU_ASSERT_EQUAL(t_guest_word(&fx, 12, 4), t_sig(12, 4));
	CU_ASSERT(t_log_has("read-only"));
	t_teardown(&fx);
}

/* The permissions of the page at @addr in /proc/self/maps ("rw-p"), and
 * whether it is an unarmed page (the window's memfd, by name). */
static void page_perms_of(const void *addr, char perms[5], bool *unarmed)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	strcpy(perms, "none");
	*unarmed = false;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char p[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 &&
		    (uintptr_t)addr >= lo && (uintptr_t)addr < hi) {
			memcpy(perms, p, 5);
			*unarmed = strstr(line, "libgmap-unarmed") != NULL;
			break;
		}
	}
	fclose(f);
}

static void page_perms(const void *addr, char perms[5])
{
	bool unarmed;

	page_perms_of(addr, perms, &unarmed);
}

/*
 * A pin over an unarmed page (left so by the last unpin): a read-only
 * grant pinned for reading (writable tried first) is mapped read-only; a
 * revoked one fails both tries and leaves the page an untouched page
 * again (PROT_NONE and anonymous, not the unarmed page's memfd), whose
 * touch is then reported.
 */
static void test_pin_over_unarmed(void)
{
	struct t_fx fx;
	struct gmap_error ge;
	void *addr = NULL;
	volatile uint64_t *p;
	char perms[5];
	bool unarmed;

	CU_ASSERT_FATAL(setup_quiet(&fx) == 0);
	p = gmap_ref_ptr(fx.w, 20);
	CU_ASSERT_FATAL(gmap_pin(fx.w, 20, 1, GMAP_PIN_WRITE, &ge) == 0);
	CU_ASSERT_EQUAL(p[3], t_sig(20, 3));
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 20, 1), 0);
	page_perms((void *)p, perms);
	CU_ASSERT_STRING_EQUAL(perms, "---p");

	gmap_sim_end_access(fx.d, 20);
	gmap_sim_grant(fx.d, 20, 20, T_SELF, GTF_readonly);
	CU_ASSERT_FATAL(gmap_pin(fx.w, 20, 1, GMAP_PIN_READ, &ge) == 0);
	page_perms((void *)p, perms);
	CU_ASSERT_STRING_EQUAL(perms, "r--s");
	CU_ASSERT_EQUAL(p[3], t_sig(20, 3));
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 20, 1), 0);
	page_perms((void *)p, perms);
	CU_ASSERT_STRING_EQUAL(perms, "---p");

	gmap_sim_end_access(fx.d, 20);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 20, 1, GMAP_PIN_READ, &ge), -1);
	page_perms_of((void *)p, perms, &unarmed);
	CU_ASSERT_STRING_EQUAL(perms, "---p");
	CU_ASSERT(!unarmed);
	CU_ASSERT_EQUAL(t_touch(p, 0, 0, NULL, &addr), 1);
	CU_ASSERT_PTR_EQUAL(addr, (void *)p);
	t_teardown(&fx);
}

/* Whether ref @r's page lies in a VMA of exactly refs [@lo, @hi). */
static bool vma_is(struct gmap_window *w, uint32_t r, uint32_t lo, uint32_t hi)
{
	uintptr_t base = (uintptr_t)gmap_base(w), a, b;

	return t_vma_of(gmap_ref_ptr(w, r), &a, &b) &&
	       a == base + ((uintptr_t)lo << GMAP_PAGE_SHIFT) &&
	       b == base + ((uintptr_t)hi << GMAP_PAGE_SHIFT);
}

/*
 * Unarmed pages are a mapping of the window's memfd: one system call per
 * unpin, no madvise.  Each unpin's pages are a VMA of their own, merged
 * with no unarmed neighbour (their colours differ), so that the next pin
 * of a page replaces a VMA instead of splitting one; a poisoned (bad)
 * page next to them is apart too; the window's count of its VMAs says
 * what /proc/self/maps says at each step; and a pin over them, a touch of
 * one, work as over any placeholder.
 */
static void test_unarmed_vmas(void)
{
	struct gmap_error ge;
	struct t_fx fx;
	void *addr = NULL;
	uintptr_t lo, hi;
	unsigned int before;

	CU_ASSERT_FATAL(setup_quiet(&fx) == 0);
	before = t_window_vmas(fx.w);
	CU_ASSERT_FATAL(gmap_pin(fx.w, 10, 4, GMAP_PIN_WRITE, &ge) == 0);
	for (uint32_t r = 10; r < 14; r++)
		CU_ASSERT_EQUAL(gmap_unpin(fx.w, r, 1), 0);
	/* 10-13 unpinned one by one: four VMAs, between placeholders. */
	for (uint32_t r = 10; r < 14; r++)
		CU_ASSERT(vma_is(fx.w, r, r, r + 1));
	CU_ASSERT_EQUAL(t_window_vmas(fx.w), before + 5);
	CU_ASSERT(vmas_agree(fx.w));
	/* A bad grant at 14: poisoned, next to the unarmed pages, apart,
	 * and one VMA with the untouched pages after it (both PROT_NONE,
	 * anonymous). */
	gmap_sim_end_access(fx.d, 14);
	CU_ASSERT_EQUAL(t_touch(gmap_ref_ptr(fx.w, 14), 0, 0, NULL, &addr), 1);
	CU_ASSERT(t_vma_of(gmap_ref_ptr(fx.w, 14), &lo, &hi));
	CU_ASSERT_EQUAL(lo, (uintptr_t)gmap_ref_ptr(fx.w, 14));
	CU_ASSERT(hi > (uintptr_t)gmap_ref_ptr(fx.w, 15));
	CU_ASSERT(vmas_agree(fx.w));
	/* A touch of one, and a pin over another: mapped as placeholders. */
	CU_ASSERT_EQUAL(((volatile uint64_t *)gmap_ref_ptr(fx.w, 12))[2],
			t_sig(12, 2));
	CU_ASSERT_FATAL(gmap_pin(fx.w, 13, 1, GMAP_PIN_WRITE, &ge) == 0);
	CU_ASSERT_EQUAL(((volatile uint64_t *)gmap_ref_ptr(fx.w, 13))[5],
			t_sig(13, 5));
	CU_ASSERT(vma_is(fx.w, 13, 13, 14));
	CU_ASSERT(vmas_agree(fx.w));
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 13, 1), 0);
	CU_ASSERT(vma_is(fx.w, 13, 13, 14));
	CU_ASSERT(vmas_agree(fx.w));
	/* One unpin of four pages: one VMA.  A page of it pinned and
	 * unpinned again is a VMA apart from the two pieces around it,
	 * which have the same colour. */
	CU_ASSERT_FATAL(gmap_pin(fx.w, 20, 4, GMAP_PIN_WRITE, &ge) == 0);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 20, 4), 0);
	CU_ASSERT(vma_is(fx.w, 22, 20, 24));
	CU_ASSERT(vmas_agree(fx.w));
	CU_ASSERT_FATAL(gmap_pin(fx.w, 21, 1, GMAP_PIN_WRITE, &ge) == 0);
	CU_ASSERT(vmas_agree(fx.w));
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 21, 1), 0);
	CU_ASSERT(vma_is(fx.w, 20, 20, 21));
	CU_ASSERT(vma_is(fx.w, 21, 21, 22));
	CU_ASSERT(vma_is(fx.w, 22, 22, 24));
	CU_ASSERT(vmas_agree(fx.w));
	/* Unpinned next to pages of both other colours: the third. */
	CU_ASSERT_FATAL(gmap_pin(fx.w, 22, 1, GMAP_PIN_WRITE, &ge) == 0);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 22, 1), 0);
	CU_ASSERT(vma_is(fx.w, 21, 21, 22));
	CU_ASSERT(vma_is(fx.w, 22, 22, 23));
	CU_ASSERT(vma_is(fx.w, 23, 23, 24));
	CU_ASSERT(vmas_agree(fx.w));
	t_teardown(&fx);
}

/* GMAP_FAULT_MODE chooses the mode of a window whose options do not, and
 * a bad value is refused at open, named. */
static void test_env(void)
{
	struct gmap_open_opts o = t_budget_opts(0, 0, GMAP_AROUND_FORWARD);
	char *saved = getenv("GMAP_FAULT_MODE");
	struct gmap_stats st;
	struct t_fx fx;

	saved = saved ? strdup(saved) : NULL;
	setenv("GMAP_FAULT_MODE", "thread", 1);
	CU_ASSERT_FATAL(t_setup_opts(&fx, 16, &o) == 0);
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.fault_mode, GMAP_FAULT_THREAD);
	t_teardown(&fx);
	setenv("GMAP_FAULT_MODE", "inline", 1);
	CU_ASSERT_FATAL(t_setup_opts(&fx, 16, &o) == 0);
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.fault_mode, GMAP_FAULT_INLINE);
	CU_ASSERT_EQUAL(((volatile uint64_t *)gmap_ref_ptr(fx.w, 3))[1],
			t_sig(3, 1));
	t_teardown(&fx);
	setenv("GMAP_FAULT_MODE", "sigbus", 1);
	CU_ASSERT_EQUAL(t_setup_opts(&fx, 16, &o), -1);
	CU_ASSERT(t_log_has("GMAP_FAULT_MODE"));
	if (saved)
		setenv("GMAP_FAULT_MODE", saved, 1);
	else
		unsetenv("GMAP_FAULT_MODE");
	free(saved);
	/* And the option is checked. */
	o.fault_mode = (enum gmap_fault_mode)7;
	CU_ASSERT_EQUAL(t_setup_opts(&fx, 16, &o), -1);
}

/*
 * Handler threads need a placeholder file as long as the window
 * (libgmap/placeholder.c), which a small RLIMIT_FSIZE forbids: asking for
 * them is refused at open with EFBIG and the limit named, never with the
 * SIGXFSZ that setting the file's size would raise (it kills); the auto
 * mode serves faults inline instead.
 */
static void test_fsize_limit(void)
{
	struct gmap_open_opts o = t_budget_opts(0, 0, GMAP_AROUND_FORWARD);
	struct rlimit saved, small;
	struct gmap_stats st;
	struct t_fx fx;
	int auto_mode;

	o.nr_refs = 1024;  /* 4 MiB of window */
	o.fault_mode = GMAP_FAULT_AUTO;
	CU_ASSERT_FATAL(t_setup_opts(&fx, 16, &o) == 0);
	gmap_stats(fx.w, &st, sizeof(st));
	auto_mode = st.fault_mode;
	t_teardown(&fx);

	CU_ASSERT_FATAL(getrlimit(RLIMIT_FSIZE, &saved) == 0);
	small = saved;
	small.rlim_cur = 1 << 20;
	CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &small) == 0);
	o.fault_mode = GMAP_FAULT_THREAD;
	t_log_clear();
	errno = 0;
	CU_ASSERT_EQUAL(t_setup_opts(&fx, 16, &o), -1);
	CU_ASSERT_EQUAL(errno, EFBIG);
	CU_ASSERT(t_log_has("RLIMIT_FSIZE (ulimit -f) allows 1048576"));
	o.fault_mode = GMAP_FAULT_AUTO;
	CU_ASSERT_FATAL(t_setup_opts(&fx, 16, &o) == 0);
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.fault_mode, GMAP_FAULT_INLINE);
	CU_ASSERT_EQUAL(((volatile uint64_t *)gmap_ref_ptr(fx.w, 5))[1],
			t_sig(5, 1));
	t_teardown(&fx);
	CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &saved) == 0);
	printf("\n    auto: %s with the limit unset, inline under 1 MiB; "
	       "thread refused with EFBIG ",
	       auto_mode == GMAP_FAULT_THREAD ? "handler threads" : "inline");
}

int main(void)
{
	static const struct t_case cases[] = {
		/* First: see chain_steps(). */
		{ "a SIGBUS outside the windows reaches the application",
		  test_chains_foreign_sigbus },
		{ "4 threads, 4096 pages: one map each", test_threads },
		{ "4 threads, budget 256, fault-around 16: evicted and back",
		  test_threads_budget_around },
		{ "read(2) into an untouched page: EFAULT, then pinned",
		  test_syscall_efault },
		{ "bad grant: SIGSEGV at the address", test_bad_grant_segv },
		{ "a pin over an unarmed page: read-only at once, or armed again",
		  test_pin_over_unarmed },
		{ "unarmed pages: a VMA per unpin, counted as maps shows",
		  test_unarmed_vmas },
		{ "read-only grant: read served, write SIGSEGV",
		  test_readonly_write_segv },
		{ "GMAP_FAULT_MODE and the option", test_env },
		{ "RLIMIT_FSIZE below the window: no handler threads",
		  test_fsize_limit },
		{ NULL, NULL },
	};
	/* Each case chooses its mode: the variable would override it. */
	unsetenv("GMAP_FAULT_MODE");
	return t_main("inline", cases);
}
