/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-api.c - every exported function is linked and called (a broken
 * version script fails here at link or load time), stats add up, and a
 * forked child does not inherit a usable window.
 */
#include <sys/resource.h>
#include <sys/wait.h>

#include "helpers.h"

static void test_every_symbol(void)
{
	struct gmap_sim_domain *d = gmap_sim_domain_create(T_DOMID, 4, 4);
	struct gmap_sim_domain_info di;
	struct gmap_sim_ref_info ri;
	struct gmap_open_opts o = { .size = sizeof(o), .nr_refs = 16,
				    .logger = &t_log.xtl };
	struct gmap_window *w;
	struct gmap_stats st;
	struct gmap_error err;
	uint64_t dma, v = 42;
	int ctl, mem;

	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT_EQUAL(gmap_sim_grant(d, 1, 1, 0, 0), 0);
	CU_ASSERT_EQUAL(gmap_sim_write(d, 1, 0, &v, 8), 0);
	w = gmap_open(T_DOMID, &o);
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT_PTR_NOT_NULL(gmap_base(w));
	CU_ASSERT_EQUAL(gmap_nr_refs(w), 16);
	CU_ASSERT_EQUAL(gmap_domid(w), T_DOMID);
	CU_ASSERT_STRING_EQUAL(gmap_backend_name(w), "sim");
	CU_ASSERT_PTR_EQUAL(gmap_translate(w, GMAP_DMA_GRANT_BIT | 4096, 8),
			    gmap_ref_ptr(w, 1));
	CU_ASSERT_EQUAL(gmap_dma_of(w, gmap_ref_ptr(w, 1), &dma), 0);
	CU_ASSERT_EQUAL(gmap_pin(w, 1, 1, GMAP_PIN_WRITE, &err), 0);
	CU_ASSERT_EQUAL(*(uint64_t *)gmap_ref_ptr(w, 1), 42);
	CU_ASSERT_EQUAL(gmap_unpin(w, 1, 1), 0);
	CU_ASSERT_EQUAL(gmap_prefault(w, 1, 1, 0, &err), 0);
	CU_ASSERT_EQUAL(gmap_release(w, 1, 1), 1);
	CU_ASSERT_EQUAL(gmap_stats(w, &st, sizeof(st)), 0);
	CU_ASSERT_EQUAL(st.maps, 2);
	CU_ASSERT_EQUAL(st.unmaps, 2);
	CU_ASSERT_EQUAL(st.pins, 1);
	CU_ASSERT_EQUAL(st.unpins, 1);
	CU_ASSERT_EQUAL(st.mapped_now, 0);
	/* Inline, the released page is left unarmed: a VMA of its own. */
	CU_ASSERT_EQUAL(st.vmas_now, t_inline(w) ? 3 : 1);
	CU_ASSERT_EQUAL(st.vmas_peak, 3);
	/* The size says how much of the structure the caller knows: a
	 * caller of the first layout (up to around_pages) gets that much
	 * and no more; one that knows more than the library gets zeros. */
	{
		const size_t first = offsetof(struct gmap_stats, around_pages) +
				     sizeof(uint64_t);
		unsigned char big[sizeof(st) + 16];

		memset(&st, 0xa5, sizeof(st));
		errno = 0;
		CU_ASSERT_EQUAL(gmap_stats(w, &st, first - 1), -1);
		CU_ASSERT_EQUAL(errno, EINVAL);
		CU_ASSERT_EQUAL(st.maps, 0xa5a5a5a5a5a5a5a5ull);
		CU_ASSERT_EQUAL(gmap_stats(w, &st, first), 0);
		CU_ASSERT_EQUAL(st.maps, 2);
		CU_ASSERT_EQUAL(st.vmas_now, 0xa5a5a5a5a5a5a5a5ull);
		memset(big, 0xa5, sizeof(big));
		CU_ASSERT_EQUAL(gmap_stats(w, (struct gmap_stats *)(void *)big,
					   sizeof(big)), 0);
		memcpy(&st, big, sizeof(st));
		CU_ASSERT_EQUAL(st.vmas_now, t_inline(w) ? 3 : 1);
		CU_ASSERT(big[sizeof(st)] == 0 && big[sizeof(big) - 1] == 0);
	}
	CU_ASSERT(strstr(gmap_status_str(GNTST_bad_gntref), "GNTST_bad_gntref") != NULL);
	CU_ASSERT_STRING_EQUAL(gmap_status_str(-77), "unknown grant status");
	CU_ASSERT_STRING_EQUAL(gmap_version(), PACKAGE_VERSION);
	CU_ASSERT_EQUAL(gmap_sim_ref_info(d, 1, &ri), 0);
	CU_ASSERT_EQUAL(ri.maps_total, 2);
	CU_ASSERT_EQUAL(gmap_sim_domain_info(d, &di), 0);
	CU_ASSERT_EQUAL(di.maps_now, 0);
	CU_ASSERT_EQUAL(gmap_sim_inject(d, 1, GMAP_SIM_INJECT_NONE, 0), 0);
	CU_ASSERT_EQUAL(gmap_sim_read(d, 1, 0, &v, 8), 0);
	CU_ASSERT_EQUAL(gmap_sim_domain_fds(d, &ctl, &mem), 0);
	errno = 0;
	/* Attaching in the process that owns the domain: same domid. */
	CU_ASSERT_PTR_NULL(gmap_sim_domain_attach(ctl, mem));
	CU_ASSERT_EQUAL(errno, EEXIST);
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_sim_domain_attach(mem, ctl));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(gmap_sim_revoke(d, 1), 0);
	CU_ASSERT_EQUAL(gmap_sim_end_access(d, 1), 0);
	gmap_close(w);
	gmap_sim_domain_destroy(d);
	gmap_close(NULL);
	gmap_sim_domain_destroy(NULL);
}

/* The header's macro works in #if, and agrees with its own numbers. */
#if !GMAP_CHECK_VERSION(GMAP_VERSION_MAJOR, GMAP_VERSION_MINOR, GMAP_VERSION_MICRO) || \
	GMAP_CHECK_VERSION(GMAP_VERSION_MAJOR, GMAP_VERSION_MINOR, GMAP_VERSION_MICRO + 1) || \
	GMAP_CHECK_VERSION(GMAP_VERSION_MAJOR + 1, 0, 0)
#error "GMAP_CHECK_VERSION disagrees with GMAP_VERSION_*"
#endif

/*
 * gmap_check_version(): the library's own version and older ones of its
 * major pass; a newer one, another major and negative numbers fail with
 * EINVAL.  Checked against what gmap_version() says, so a library whose
 * numbers are not the ones it reports fails here.
 */
static void test_check_version(void)
{
	int major, minor, micro;

	CU_ASSERT_FATAL(sscanf(gmap_version(), "%d.%d.%d", &major, &minor,
			       &micro) == 3);
	CU_ASSERT_EQUAL(major, GMAP_VERSION_MAJOR);
	CU_ASSERT_EQUAL(gmap_check_version(major, minor, micro), 0);
	CU_ASSERT_EQUAL(gmap_check_version(major, 0, 0), 0);
	if (minor > 0)
		CU_ASSERT_EQUAL(gmap_check_version(major, minor - 1, micro + 9), 0);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_check_version(major, minor, micro + 1), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_check_version(major, minor + 1, 0), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_check_version(major + 1, 0, 0), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_check_version(major - 1, minor, micro), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_check_version(major, -1, 0), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_check_version(major, 0, -1), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
}

/* A child after fork() sees the window inaccessible, never as zeros. */
static void test_fork_child(void)
{
	struct t_fx fx;
	volatile uint64_t *p;
	int status;
	pid_t pid;

	CU_ASSERT_FATAL(t_setup(&fx, 16, 64, 1) == 0);
	p = gmap_ref_ptr(fx.w, 3);
	CU_ASSERT_EQUAL(p[0], t_sig(3, 0));
	pid = fork();
	if (pid == 0) {
		uint64_t seen = 0;
		void *addr = NULL;

		/* Mapped page (3) and untouched page (4): both must fault. */
		if (!t_touch(p, 0, 0, &seen, &addr) || addr != (void *)p)
			_exit(1);
		p = gmap_ref_ptr(fx.w, 4);
		if (!t_touch(p, 1, 7, NULL, &addr) || addr != (void *)p)
			_exit(2);
		_exit(0);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The parent's window is untouched by the child's fate. */
	CU_ASSERT_EQUAL(p[1], t_sig(3, 1));
	p = gmap_ref_ptr(fx.w, 4);
	CU_ASSERT_EQUAL(p[1], t_sig(4, 1));
	CU_ASSERT_EQUAL(t_guest_word(&fx, 4, 0), t_sig(4, 0));
	t_teardown(&fx);
}

/*
 * Out of file descriptors, gmap_open() says so (EMFILE), and not that the
 * domain is missing: the sim backend used to turn any failure to get the
 * domain's files into ESRCH "no simulated domain".
 */
static void test_open_out_of_fds(void)
{
	struct gmap_sim_domain *d = gmap_sim_domain_create(T_DOMID, 4, 4);
	struct gmap_open_opts o = { .size = sizeof(o), .nr_refs = 16,
				    .logger = &t_log.xtl };
	struct rlimit old, low;
	struct gmap_window *w;
	int e, n;

	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT_FATAL(getrlimit(RLIMIT_NOFILE, &old) == 0);
	/* The lowest free descriptor number is the limit: no new one at
	 * all, so the first step that needs one (the sim backend's dup of
	 * the domain's files) fails. */
	n = dup(0);
	CU_ASSERT_FATAL(n > 0);
	close(n);
	low = old;
	low.rlim_cur = (rlim_t)n;
	t_log_clear();
	CU_ASSERT_FATAL(setrlimit(RLIMIT_NOFILE, &low) == 0);
	errno = 0;
	w = gmap_open(T_DOMID, &o);
	e = errno;
	setrlimit(RLIMIT_NOFILE, &old);
	CU_ASSERT_PTR_NULL(w);
	CU_ASSERT_EQUAL(e, EMFILE);
	CU_ASSERT(!t_log_has("no simulated domain"));
	if (w)
		gmap_close(w);
	/* With descriptors again, it opens. */
	w = gmap_open(T_DOMID, &o);
	CU_ASSERT_PTR_NOT_NULL(w);
	gmap_close(w);
	gmap_sim_domain_destroy(d);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "every exported function", test_every_symbol },
		{ "fork: the child cannot use the window", test_fork_child },
		{ "out of file descriptors: EMFILE, not a missing domain", test_open_out_of_fds },
		{ "gmap_check_version: this one and older pass, newer fail", test_check_version },
		{ NULL, NULL },
	};
	return t_main("api", cases);
}
