/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-badgrant.c - every kind of grant that cannot be mapped ends in
 * SIGSEGV in the touching thread, carrying the exact faulting address,
 * with a diagnostic line and a backtrace on the logger; none hangs.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include "helpers.h"

struct toucher {
	volatile uint64_t *p;
	int write;
	int caught;
	void *addr;
	uint64_t seen;
};

static void *touch_thread(void *arg)
{
	struct toucher *t = arg;

	t->caught = t_touch(t->p, t->write, 0x1234, &t->seen, &t->addr);
	return NULL;
}

/* Touch @ref at a word offset in a fresh thread; bounded. */
static struct toucher touch(struct t_fx *fx, uint32_t ref, int write)
{
	struct toucher t = { 0 };
	pthread_t th;

	t.p = (volatile uint64_t *)gmap_ref_ptr(fx->w, ref) + 37;
	t.write = write;
	pthread_create(&th, NULL, touch_thread, &t);
	if (t_join_within(th, 30)) {
		CU_FAIL("the touching thread hung");
		t.caught = -1;
	}
	return t;
}

static void expect_bad(struct t_fx *fx, uint32_t ref, int write,
		       const char *status_name)
{
	struct toucher t = touch(fx, ref, write);
	char line[128];

	CU_ASSERT_EQUAL(t.caught, 1);
	CU_ASSERT_PTR_EQUAL(t.addr, (void *)t.p);
	snprintf(line, sizeof(line), "d%u ref %u addr %p: cannot map grant",
		 (unsigned int)T_DOMID, ref, gmap_ref_ptr(fx->w, ref));
	CU_ASSERT(t_log_has(line));
	CU_ASSERT(t_log_has(status_name));
	/* The faulting thread's backtrace, taken with libunwind. */
	CU_ASSERT(t_log_has("SIGSEGV to thread"));
	CU_ASSERT(t_log_has("  #0 "));
	/* Frame #0 is the faulting access itself (t_touch, inlined into
	 * touch_thread), not a caller of it. */
	CU_ASSERT(t_log_has(" touch_thread+"));
	/* A second touch of the poisoned page: the same outcome, at once. */
	t = touch(fx, ref, 0);
	CU_ASSERT_EQUAL(t.caught, 1);
	CU_ASSERT_PTR_EQUAL(t.addr, (void *)t.p);
}

static void test_not_granted(void)
{
	struct t_fx fx;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	gmap_sim_end_access(fx.d, 4);
	expect_bad(&fx, 4, 0, "GNTST_general_error");
	t_teardown(&fx);
}

static void test_out_of_table(void)
{
	struct t_fx fx;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	expect_bad(&fx, 500, 0, "GNTST_bad_gntref");
	t_teardown(&fx);
}

static void test_wrong_domain(void)
{
	struct t_fx fx;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	/* Granted, but to domain 3, not to us. */
	gmap_sim_end_access(fx.d, 6);
	CU_ASSERT_EQUAL(gmap_sim_grant(fx.d, 6, 6, 3, 0), 0);
	expect_bad(&fx, 6, 1, "GNTST_general_error");
	CU_ASSERT_EQUAL(t_ref(&fx, 6).maps_total, 0);
	t_teardown(&fx);
}

static void test_revoked(void)
{
	struct t_fx fx;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	CU_ASSERT_EQUAL(gmap_sim_revoke(fx.d, 8), 0);
	expect_bad(&fx, 8, 0, "GNTST_general_error");
	t_teardown(&fx);
}

static void test_bad_frame(void)
{
	struct t_fx fx;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	gmap_sim_end_access(fx.d, 9);
	gmap_sim_grant(fx.d, 9, 99999, T_SELF, 0);
	expect_bad(&fx, 9, 0, "GNTST_bad_page");
	t_teardown(&fx);
}

static void test_domain_gone(void)
{
	struct t_fx fx;
	struct toucher t;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	t = touch(&fx, 1, 0);
	CU_ASSERT_EQUAL(t.caught, 0);
	gmap_sim_domain_destroy(fx.d);
	fx.d = NULL;
	t = touch(&fx, 2, 0);
	CU_ASSERT_EQUAL(t.caught, 1);
	CU_ASSERT(t_log_has("GNTST_bad_domain"));
	gmap_close(fx.w);
}

static void test_handler_error(void)
{
	struct t_fx fx;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	/* A fault's map is tried again once before the page is poisoned
	 * (see test_stale_fault_message): one failure is survived... */
	CU_ASSERT_EQUAL(gmap_sim_inject(fx.d, 13, GMAP_SIM_INJECT_EIO, 1), 0);
	CU_ASSERT_EQUAL(touch(&fx, 13, 0).caught, 0);
	CU_ASSERT_EQUAL(t_ref(&fx, 13).maps_total, 1);
	/* ...two in a row are not. */
	CU_ASSERT_EQUAL(gmap_sim_inject(fx.d, 12, GMAP_SIM_INJECT_EIO, 2), 0);
	expect_bad(&fx, 12, 0, "backend failure");
	/* Poisoned until released; then the next touch tries again. */
	CU_ASSERT_EQUAL(gmap_release(fx.w, 12, 1), 1);
	CU_ASSERT_EQUAL(touch(&fx, 12, 0).caught, 0);
	CU_ASSERT_EQUAL(t_ref(&fx, 12).maps_total, 1);
	t_teardown(&fx);
}

/*
 * A refused gntdev map leaves a hole where the placeholders were (the
 * kernel unmaps before gntdev's mmap handler says no), and until it is
 * filled another thread's mmap can be handed it.  A hole libgmap fills
 * itself is armed again: the touch that met the refusal is served by the
 * next map.  A page another mapping took first is that mapping's for
 * good: never mapped over, released or unmapped by libgmap, even at close.
 */
static void test_refused_map_leaves_a_hole(void)
{
	volatile uint8_t *thief;
	struct gmap_stats st;
	struct gmap_error ge;
	struct t_fx fx;
	int same = 1;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	CU_ASSERT_EQUAL(gmap_sim_inject(fx.d, 13, GMAP_SIM_INJECT_HOLE, 1), 0);
	CU_ASSERT_EQUAL(touch(&fx, 13, 0).caught, 0);
	CU_ASSERT_EQUAL(t_ref(&fx, 13).maps_total, 1);
	CU_ASSERT_EQUAL(touch(&fx, 13, 0).seen, t_sig(13, 37));
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT(st.map_failures >= 1);

	/* The same in a pin, and another mapping gets the hole first. */
	thief = gmap_ref_ptr(fx.w, 9);
	CU_ASSERT_EQUAL(gmap_sim_inject(fx.d, 9, GMAP_SIM_INJECT_HOLE_TAKEN, 1), 0);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 9, 1, GMAP_PIN_READ, &ge), -1);
	CU_ASSERT_EQUAL(errno, EEXIST);
	CU_ASSERT_EQUAL(ge.status, -104 /* GMAP_ST_LOST */);
	CU_ASSERT(t_log_has("d7 ref 9: a refused map left a hole"));
	CU_ASSERT_EQUAL(thief[100], 0x5a);
	/* Never again: no map (the sim saw one try only), no re-arm. */
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 9, 1, GMAP_PIN_READ, &ge), -1);
	CU_ASSERT_EQUAL(ge.status, -104 /* GMAP_ST_LOST */);
	CU_ASSERT_EQUAL(t_ref(&fx, 9).maps_total, 0);
	/* Only ref 13 goes (mapped by the touch); 9 is not ours. */
	CU_ASSERT_EQUAL(gmap_release(fx.w, 0, 64), 1);
	CU_ASSERT_EQUAL(thief[100], 0x5a);
	/* Its neighbours work as before. */
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 8, 1, GMAP_PIN_WRITE, NULL), 0);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 10, 1, GMAP_PIN_WRITE, NULL), 0);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 8, 1), 0);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 10, 1), 0);
	t_teardown(&fx);
	/* The close left it alone too. */
	for (int i = 0; i < 4096; i++)
		same &= thief[i] == 0x5a;
	CU_ASSERT(same);
	munmap((void *)thief, 4096);
}

/*
 * A refused map after which the kernel put the range back as it was (as
 * newer kernels do when an mmap fails early): libgmap looks at each page
 * and must know every one for its own, an armed placeholder with handler
 * threads (registered with the window's userfaultfd, and marked
 * MADV_DONTFORK only once a fork has marked the window) or an untouched
 * page of an inline window.  A page taken for another mapping's would be
 * lost to the ref for good: its next map would fail with status -104.
 */
static void test_refused_map_in_place(void)
{
	struct gmap_error ge;
	struct t_fx fx;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	/* A pin of an untouched page, and one of a page re-armed by an
	 * unpin (a placeholder made since the window opened). */
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 21, 1, GMAP_PIN_WRITE, NULL), 0);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 21, 1), 0);
	for (uint32_t ref = 20; ref <= 21; ref++) {
		CU_ASSERT_EQUAL(gmap_sim_inject(fx.d, ref,
			GMAP_SIM_INJECT_REFUSED_IN_PLACE, 1), 0);
		CU_ASSERT_EQUAL(gmap_pin(fx.w, ref, 1, GMAP_PIN_WRITE, &ge), -1);
		CU_ASSERT_EQUAL(ge.status, -1 /* GNTST_general_error */);
		CU_ASSERT_EQUAL(gmap_pin(fx.w, ref, 1, GMAP_PIN_WRITE, &ge), 0);
		CU_ASSERT_EQUAL(touch(&fx, ref, 0).seen, t_sig(ref, 37));
		CU_ASSERT_EQUAL(gmap_unpin(fx.w, ref, 1), 0);
	}
	CU_ASSERT(!t_log_has("another mapping of this process took it"));
	/* And by a touch: the fault's first failure retries at once. */
	CU_ASSERT_EQUAL(gmap_sim_inject(fx.d, 22, GMAP_SIM_INJECT_REFUSED_IN_PLACE, 1), 0);
	CU_ASSERT_EQUAL(touch(&fx, 22, 0).caught, 0);
	CU_ASSERT_EQUAL(touch(&fx, 22, 0).seen, t_sig(22, 37));
	t_teardown(&fx);
}

/*
 * A fault message can be served after its thread stopped waiting: the
 * handler reads messages in batches, and while it serves the first of a
 * batch (here a map of ref 20 held by a stall injection), a pin of ref 30
 * wakes the thread behind the second message, the unpin unmaps 30 and the
 * guest ends access.  When the handler reaches the stale message the map fails; that
 * must not poison the page, or the next legitimate touch, after the guest
 * grants 30 again, would get SIGSEGV.
 */
static void test_stale_fault_message(void)
{
	struct t_fx fx;
	struct gmap_stats st;
	struct toucher t;
	struct sleeper s0 = { 0 }, a = { 0 }, b = { 0 };
	pthread_t t0, ta, tb;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	T_SKIP_IF_INLINE(&fx, "no fault messages to go stale");
	CU_ASSERT_EQUAL(gmap_sim_inject(fx.d, 10, GMAP_SIM_INJECT_STALL, 1), 0);
	CU_ASSERT_EQUAL(gmap_sim_inject(fx.d, 20, GMAP_SIM_INJECT_STALL, 1), 0);
	/* 1. The only handler is held in a map of ref 10... */
	s0.p = gmap_ref_ptr(fx.w, 10);
	pthread_create(&t0, NULL, sleeper_main, &s0);
	CU_ASSERT_FATAL(T_WAIT_UNTIL((gmap_stats(fx.w, &st, sizeof(st)), st.faults >= 1), 10));
	/* 2. ...while A faults on 20 and B on 30: two messages queue. */
	/* In this order: the handler reads the oldest message first. */
	a.p = gmap_ref_ptr(fx.w, 20);
	pthread_create(&ta, NULL, sleeper_main, &a);
	CU_ASSERT_FATAL(T_WAIT_UNTIL(blocked_in_fault(atomic_load(&a.tid)), 10));
	b.p = (volatile uint64_t *)gmap_ref_ptr(fx.w, 30) + 5;
	pthread_create(&tb, NULL, sleeper_main, &b);
	CU_ASSERT_FATAL(T_WAIT_UNTIL(blocked_in_fault(atomic_load(&b.tid)), 10));
	/* 3. Released, it reads both messages and is held in the map of
	 * 20. */
	CU_ASSERT_EQUAL(gmap_sim_inject(fx.d, 10, GMAP_SIM_INJECT_NONE, 0), 0);
	CU_ASSERT_FATAL(T_WAIT_UNTIL((gmap_stats(fx.w, &st, sizeof(st)), st.faults >= 2), 10));
	CU_ASSERT_EQUAL(t_join_within(t0, 10), 0);
	/* 4. Meanwhile the backend pins 30 (B wakes), unpins it, and the
	 * guest takes it back. */
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 30, 1, 0, NULL), 0);
	CU_ASSERT_EQUAL(t_join_within(tb, 10), 0);
	CU_ASSERT_EQUAL(b.seen, t_sig(30, 5));
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 30, 1), 0);
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 30), 0);
	/* 5. Released, the handler finishes 20, then serves B's stale
	 * message. */
	CU_ASSERT_EQUAL(gmap_sim_inject(fx.d, 20, GMAP_SIM_INJECT_NONE, 0), 0);
	CU_ASSERT_EQUAL(t_join_within(ta, 10), 0);
	CU_ASSERT_EQUAL(a.seen, t_sig(20, 0));
	if (!T_WAIT_UNTIL((gmap_stats(fx.w, &st, sizeof(st)), st.faults >= 3 &&
			   st.map_failures >= 1), 10)) {
		printf("\n    no stale message served: faults %llu, maps %llu, "
		       "map failures %llu ", (unsigned long long)st.faults,
		       (unsigned long long)st.maps,
		       (unsigned long long)st.map_failures);
		CU_FAIL("the handler served no stale message");
	}
	/* 6. The guest grants 30 again and the backend uses it. */
	CU_ASSERT_EQUAL(gmap_sim_grant(fx.d, 30, 30, T_SELF, 0), 0);
	t = touch(&fx, 30, 0);
	CU_ASSERT_EQUAL(t.caught, 0);
	CU_ASSERT_EQUAL(t.seen, t_sig(30, 37));
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.bad_grants, 0);
	t_teardown(&fx);
}

static void test_eagain_exhausted(void)
{
	struct t_fx fx;
	struct gmap_sim_domain_info di;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	/* A page that stays "paged out": retried for a bounded time. */
	gmap_sim_inject(fx.d, 13, GMAP_SIM_INJECT_EAGAIN, 100000);
	expect_bad(&fx, 13, 0, "GNTST_eagain");
	gmap_sim_domain_info(fx.d, &di);
	CU_ASSERT(di.eagain > 1);
	/* A page that comes back after two tries is simply mapped. */
	gmap_sim_inject(fx.d, 14, GMAP_SIM_INJECT_EAGAIN, 2);
	CU_ASSERT_EQUAL(touch(&fx, 14, 0).caught, 0);
	t_teardown(&fx);
}

static void test_kernel_mode_touch_of_bad_grant(void)
{
	struct t_fx fx;
	int fd = open("/dev/zero", O_RDONLY);

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	gmap_sim_end_access(fx.d, 15);
	/* read(2) into it: EFAULT, no signal, no hang. */
	errno = 0;
	CU_ASSERT_EQUAL(read(fd, gmap_ref_ptr(fx.w, 15), 64), -1);
	CU_ASSERT_EQUAL(errno, EFAULT);
	close(fd);
	t_teardown(&fx);
}

static void test_read_only(void)
{
	struct t_fx fx;
	struct toucher t;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	gmap_sim_end_access(fx.d, 20);
	gmap_sim_end_access(fx.d, 21);
	CU_ASSERT_EQUAL(gmap_sim_grant(fx.d, 20, 20, T_SELF, 1), 0);
	CU_ASSERT_EQUAL(gmap_sim_grant(fx.d, 21, 21, T_SELF, 1), 0);

	/* Reads work and see the guest's data. */
	t = touch(&fx, 20, 0);
	CU_ASSERT_EQUAL(t.caught, 0);
	CU_ASSERT_EQUAL(t.seen, t_sig(20, 37));
	CU_ASSERT(!(t_ref(&fx, 20).flags & GTF_writing));
	/* A write after a read: SIGSEGV at the address, page unchanged. */
	t = touch(&fx, 20, 1);
	CU_ASSERT_EQUAL(t.caught, 1);
	CU_ASSERT_PTR_EQUAL(t.addr, (void *)t.p);
	CU_ASSERT_EQUAL(t_guest_word(&fx, 20, 37), t_sig(20, 37));
	CU_ASSERT(t_log_has("d7 ref 20"));
	CU_ASSERT(t_log_has("write to a read-only grant"));
	/* A write as the very first touch: the same. */
	t_log_clear();
	t = touch(&fx, 21, 1);
	CU_ASSERT_EQUAL(t.caught, 1);
	CU_ASSERT_PTR_EQUAL(t.addr, (void *)t.p);
	CU_ASSERT_EQUAL(t_guest_word(&fx, 21, 37), t_sig(21, 37));
	CU_ASSERT(t_log_has("write to a read-only grant"));
	/* The grant is mapped once, read-only, and still readable. */
	CU_ASSERT_EQUAL(t_ref(&fx, 21).maps_total, 1);
	t = touch(&fx, 21, 0);
	CU_ASSERT_EQUAL(t.caught, 0);
	CU_ASSERT_EQUAL(t.seen, t_sig(21, 37));
	/* A kernel write into it fails the same way, and lands nowhere. */
	{
		int fd = open("/dev/zero", O_RDONLY);

		errno = 0;
		CU_ASSERT_EQUAL(read(fd, (char *)gmap_ref_ptr(fx.w, 21) + 8, 8), -1);
		CU_ASSERT_EQUAL(errno, EFAULT);
		CU_ASSERT_EQUAL(t_guest_word(&fx, 21, 1), t_sig(21, 1));
		close(fd);
	}
	t_teardown(&fx);
}

static void test_quiet_policy(void)
{
	struct gmap_sim_domain *d = gmap_sim_domain_create(T_DOMID, 8, 8);
	struct gmap_open_opts o = { .size = sizeof(o), .logger = &t_log.xtl,
				    .bad_policy = GMAP_BAD_SIGNAL_QUIET,
				    .nr_refs = 64 };
	struct t_fx fx = { .d = d };
	struct toucher t;

	fx.w = gmap_open(T_DOMID, &o);
	CU_ASSERT_FATAL(fx.w != NULL);
	t_log_clear();
	t = touch(&fx, 3, 0);
	CU_ASSERT_EQUAL(t.caught, 1);
	CU_ASSERT(t_log_has("cannot map grant"));
	CU_ASSERT(!t_log_has("  #0 "));
	t_teardown(&fx);
}

/* ---- the process out of VMAs (vm.max_map_count reached) ----------------- */

struct waiting_toucher {
	struct toucher t;
	_Atomic int go;
};

static void *wait_then_touch(void *arg)
{
	struct waiting_toucher *wt = arg;

	while (!atomic_load(&wt->go))
		sched_yield();
	touch_thread(&wt->t);
	return NULL;
}

/* Take every VMA the process has left: single pages, alternately
 * readable and not, so that none merge.  Returns how many. */
static size_t fill_vmas(void **pages, size_t max)
{
	size_t n = 0;

	while (n < max) {
		void *p = mmap(NULL, 4096, n & 1 ? PROT_READ : PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			break;
		pages[n++] = p;
	}
	return n;
}

static int stats_of(struct gmap_window *w, struct gmap_stats *st)
{
	return gmap_stats(w, st, sizeof(*st));
}

#define CHILD_CHECK(cond, code, ...) do {				\
	if (!(cond)) {							\
		fprintf(stderr, "\n    child: " __VA_ARGS__);		\
		fprintf(stderr, "\n");					\
		_exit(code);						\
	}								\
} while (0)

/*
 * In a child process that has used up every VMA vm.max_map_count allows:
 * an unmap the kernel refuses is retried until it succeeds, and a fault
 * whose map and poison both fail ends in SIGSEGV at the page instead of
 * a hang.  Exit status 0 when all held.
 */
static void vmas_exhausted_child(void)
{
	size_t max = 1u << 20, n, filled;
	uint64_t budget0;
	void **pages = mmap(NULL, max * sizeof(void *), PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	struct waiting_toucher wt = { 0 };
	struct gmap_sim_ref_info ri;
	struct gmap_stats st;
	struct toucher t;
	struct t_fx fx;
	pthread_t th;

	CHILD_CHECK(pages != MAP_FAILED, 2, "no memory");
	CHILD_CHECK(t_setup(&fx, 64, 64, 1) == 0, 3, "no window");
	/* Refs 0-3 mapped by one map: one VMA, which unmapping ref 1 alone
	 * splits in three. */
	CHILD_CHECK(gmap_pin(fx.w, 0, 4, GMAP_PIN_WRITE, NULL) == 0, 4, "pin");
	stats_of(fx.w, &st);
	budget0 = st.max_vmas;
	wt.t.p = (volatile uint64_t *)gmap_ref_ptr(fx.w, 10) + 37;
	CHILD_CHECK(pthread_create(&th, NULL, wait_then_touch, &wt) == 0, 5,
		    "thread");
	n = fill_vmas(pages, max);
	CHILD_CHECK(n < max && errno == ENOMEM, 6, "filled %zu VMAs without "
		    "reaching the limit (errno %d)", n, errno);
	filled = n;

	/* 1. The unmap of ref 1 is refused: ref 1 stays mapped, due. */
	CHILD_CHECK(gmap_unpin(fx.w, 1, 1) == 0, 10, "unpin: %s", strerror(errno));
	stats_of(fx.w, &st);
	CHILD_CHECK(st.unmap_failures >= 1 && st.unmaps_due == 1, 11,
		    "after a refused unmap: unmap_failures %llu, unmaps_due "
		    "%llu", (unsigned long long)st.unmap_failures,
		    (unsigned long long)st.unmaps_due);
	gmap_sim_ref_info(fx.d, 1, &ri);
	CHILD_CHECK(ri.maps_now == 1, 12, "ref 1 maps_now %u", ri.maps_now);
	/* The budget of VMAs followed: down to what the window holds. */
	CHILD_CHECK(st.max_vmas < budget0 && st.max_vmas <= 8, 13, "budget of "
		    "VMAs %llu after ENOMEM, %llu at open",
		    (unsigned long long)st.max_vmas, (unsigned long long)budget0);

	/* 2. A fault whose map and poison both fail: SIGSEGV at the page,
	 * not a hang (the old code blocked the thread for ever). */
	atomic_store(&wt.go, 1);
	CHILD_CHECK(t_join_within(th, 20) == 0, 20, "the faulting thread hung "
		    "(still blocked after 20 s); log:\n%s", t_log.buf);
	CHILD_CHECK(wt.t.caught == 1, 21, "the touch did not fault");
	CHILD_CHECK(((uintptr_t)wt.t.addr & ~(uintptr_t)4095) ==
		    (uintptr_t)gmap_ref_ptr(fx.w, 10), 22,
		    "SIGSEGV at %p, not in ref 10's page", wt.t.addr);

	/* 3. Room again: the next map restarts the retries, and ref 1 goes. */
	while (n)
		munmap(pages[--n], 4096);
	t = touch(&fx, 20, 0);
	CHILD_CHECK(t.caught == 0 && t.seen == t_sig(20, 37), 30,
		    "ref 20 after the room came back");
	CHILD_CHECK(T_WAIT_UNTIL((stats_of(fx.w, &st), st.unmaps_due == 0), 10),
		    31, "ref 1's unmap still due after 10 s (failures %llu)",
		    (unsigned long long)st.unmap_failures);
	gmap_sim_ref_info(fx.d, 1, &ri);
	CHILD_CHECK(ri.maps_now == 0, 32, "ref 1 still mapped at the sim");
	/* Ref 1 is a placeholder again: a touch maps it anew. */
	t = touch(&fx, 1, 0);
	CHILD_CHECK(t.caught == 0 && t.seen == t_sig(1, 37), 33, "ref 1 again");
	CHILD_CHECK(t_log_has("cannot unmap") && t_log_has("cannot poison") &&
		    (t_log_has("could not be made inaccessible") ||
		     t_log_has("could not be poisoned either")) &&
		    t_log_has("unmapped on retry"), 34, "log:\n%s", t_log.buf);
	printf("\n    %zu VMAs filled; 1 unmap refused then retried (%llu "
	       "failures); ref 10's fault ended in SIGSEGV ",
	       filled, (unsigned long long)st.unmap_failures);
	t_teardown(&fx);
	_exit(0);
}

static void test_vmas_exhausted(void)
{
	int status = 0, waited;
	pid_t pid;

	/* The sanitizers' runtimes abort when one of their own allocations
	 * finds no VMA left (ASan's allocator and error reports, a thread's
	 * creation): this case runs in the plain build only. */
	if (T_UNDER_ASAN || T_UNDER_TSAN)
		T_SKIP("under a sanitizer: its runtime aborts when its own "
		       "mmap fails");
	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		alarm(60);
		vmas_exhausted_child();
	}
	waited = T_WAIT_UNTIL(waitpid(pid, &status, WNOHANG) == pid, 60);
	if (!waited) {
		printf("\n    child still running after 60 s: killed ");
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		CU_FAIL("timed out after 60 s");
		return;
	}
	if (WIFSIGNALED(status))
		printf("\n    child died of signal %d ", WTERMSIG(status));
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "a stale fault message does not poison a page", test_stale_fault_message },
		{ "never granted -> SIGSEGV at the address", test_not_granted },
		{ "past the grant table -> SIGSEGV", test_out_of_table },
		{ "granted to another domain -> SIGSEGV", test_wrong_domain },
		{ "revoked -> SIGSEGV", test_revoked },
		{ "bad frame -> SIGSEGV", test_bad_frame },
		{ "destroyed domain -> SIGSEGV", test_domain_gone },
		{ "handler (backend) error -> SIGSEGV, release retries", test_handler_error },
		{ "a refused map's hole is filled, or left to whoever took it", test_refused_map_leaves_a_hole },
		{ "a refused map that left its range in place loses no page", test_refused_map_in_place },
		{ "paged out beyond the retry bound -> SIGSEGV", test_eagain_exhausted },
		{ "read(2) into a bad grant -> EFAULT", test_kernel_mode_touch_of_bad_grant },
		{ "read-only grants: reads work, writes never land", test_read_only },
		{ "quiet policy: diagnostic without backtrace", test_quiet_policy },
		{ "out of VMAs: unmaps retried, faults end in SIGSEGV", test_vmas_exhausted },
		{ NULL, NULL },
	};
	return t_main("badgrant", cases);
}
