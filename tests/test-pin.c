/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-pin.c - pins and unpins: nesting, errors, prompt release so the
 * granter can end access, and pins racing across threads. */
#include "helpers.h"

static void test_pin_basic(void)
{
	struct t_fx fx;
	struct gmap_stats st;
	volatile uint64_t *p;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 10, 4, GMAP_PIN_WRITE, NULL), 0);
	for (uint32_t r = 10; r < 14; r++)
		CU_ASSERT_EQUAL(t_ref(&fx, r).maps_now, 1);
	/* A pinned page needs no fault. */
	gmap_stats(fx.w, &st, sizeof(st));
	p = gmap_ref_ptr(fx.w, 12);
	CU_ASSERT_EQUAL(p[2], t_sig(12, 2));
	p[2] = 77;
	CU_ASSERT_EQUAL(t_guest_word(&fx, 12, 2), 77);
	{
		struct gmap_stats st2;

		gmap_stats(fx.w, &st2, sizeof(st2));
		CU_ASSERT_EQUAL(st2.faults, st.faults);
		CU_ASSERT_EQUAL(st2.pinned_now, 4);
	}
	/* Nested pin of an overlapping range: still one mapping each. */
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 12, 4, 0, NULL), 0);
	CU_ASSERT_EQUAL(t_ref(&fx, 12).maps_total, 1);
	CU_ASSERT_EQUAL(t_ref(&fx, 15).maps_total, 1);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 10, 4), 0);
	/* 10, 11 lost their only pin: unmapped at once. 12, 13 still held. */
	CU_ASSERT_EQUAL(t_ref(&fx, 10).maps_now, 0);
	CU_ASSERT_EQUAL(t_ref(&fx, 11).maps_now, 0);
	CU_ASSERT_EQUAL(t_ref(&fx, 12).maps_now, 1);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 12, 4), 0);
	for (uint32_t r = 10; r < 16; r++)
		CU_ASSERT_EQUAL(t_ref(&fx, r).maps_now, 0);
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.pinned_now, 0);
	CU_ASSERT_EQUAL(st.mapped_now, 0);
	t_teardown(&fx);
}

static void test_end_access_after_last_unpin(void)
{
	struct t_fx fx;
	volatile uint64_t *p;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	/* Touched and pinned twice: only the last unpin lets go. */
	p = gmap_ref_ptr(fx.w, 30);
	(void)p[0];
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 30, 1, GMAP_PIN_WRITE, NULL), 0);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 30, 1, GMAP_PIN_WRITE, NULL), 0);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 30), -1);
	CU_ASSERT_EQUAL(errno, EBUSY);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 30, 1), 0);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 30), -1);
	CU_ASSERT_EQUAL(errno, EBUSY);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 30, 1), 0);
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 30), 0);
	CU_ASSERT_EQUAL(t_ref(&fx, 30).maps_total, 1);
	t_teardown(&fx);
}

static void test_unpin_errors(void)
{
	struct t_fx fx;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 5, 2, 0, NULL), 0);
	/* 7 is not pinned: nothing of 5..7 changes. */
	errno = 0;
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 5, 3), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT(t_log_has("unpin of ref 7, which is not pinned"));
	CU_ASSERT_EQUAL(t_ref(&fx, 5).maps_now, 1);
	CU_ASSERT_EQUAL(t_ref(&fx, 6).maps_now, 1);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 5, 2), 0);
	/* Unbalanced: the second unpin is refused. */
	errno = 0;
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 5, 2), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 5, 0, 0, NULL), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 5, 1, 0x80, NULL), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 1020, 5, 0, NULL), -1);
	CU_ASSERT_EQUAL(errno, ERANGE);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 0xffffffffu, 2, 0, NULL), -1);
	CU_ASSERT_EQUAL(errno, ERANGE);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 1023, 2), -1);
	CU_ASSERT_EQUAL(errno, ERANGE);
	t_teardown(&fx);
}

static void test_pin_bad_grants(void)
{
	struct t_fx fx;
	struct gmap_error err;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	/* 3 and 4 are fine, 5 was never granted: all or nothing. */
	gmap_sim_end_access(fx.d, 5);
	memset(&err, 0, sizeof(err));
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 3, 3, 0, &err), -1);
	CU_ASSERT_EQUAL(errno, EACCES);
	CU_ASSERT_EQUAL(err.ref, 5);
	CU_ASSERT_EQUAL(err.status, GNTST_general_error);
	CU_ASSERT_EQUAL(err.err, EACCES);
	CU_ASSERT_EQUAL(t_ref(&fx, 3).maps_now, 0);
	CU_ASSERT_EQUAL(t_ref(&fx, 4).maps_now, 0);
	CU_ASSERT(t_log_has("d7 ref 5: pin failed: GNTST_general_error"));
	/* Past the granter's table (64 entries) but inside the window. */
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 100, 1, 0, &err), -1);
	CU_ASSERT_EQUAL(errno, ENXIO);
	CU_ASSERT_EQUAL(err.status, GNTST_bad_gntref);
	/* Write pin of a read-only grant; a read pin of it works. */
	gmap_sim_end_access(fx.d, 9);
	CU_ASSERT_EQUAL(gmap_sim_grant(fx.d, 9, 9, T_SELF, 1), 0);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 9, 1, GMAP_PIN_WRITE, &err), -1);
	CU_ASSERT_EQUAL(errno, EACCES);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 9, 1, GMAP_PIN_READ, &err), 0);
	CU_ASSERT(!(t_ref(&fx, 9).flags & GTF_writing));
	/* ...and while it is mapped read-only a write pin is refused. */
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 9, 1, GMAP_PIN_WRITE, &err), -1);
	CU_ASSERT_EQUAL(errno, EACCES);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 9, 1), 0);
	/* A frame past the guest's memory. */
	gmap_sim_end_access(fx.d, 11);
	CU_ASSERT_EQUAL(gmap_sim_grant(fx.d, 11, 5000, T_SELF, 0), 0);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 11, 1, 0, &err), -1);
	CU_ASSERT_EQUAL(errno, EFAULT);
	CU_ASSERT_EQUAL(err.status, GNTST_bad_page);
	/* The entry is not left marked in use by the refused map. */
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 11), 0);
	t_teardown(&fx);
}

/*
 * GMAP_PIN_READONLY: a read-only grant is mapped at once, with no refused
 * writable try (GMAP_PIN_READ makes one per grant, which on xen costs a
 * refused gntdev map and the hole it leaves); a run of them is one map; a
 * writable grant pinned so is mapped read-only, and a write pin of it is
 * refused until it is unmapped.
 */
static void test_pin_readonly(void)
{
	struct gmap_sim_domain_info d0, d1;
	struct gmap_stats st0, st1;
	struct gmap_error err;
	struct t_fx fx;
	volatile uint64_t *p;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	for (uint32_t r = 20; r < 28; r++) {
		gmap_sim_end_access(fx.d, r);
		CU_ASSERT_EQUAL(gmap_sim_grant(fx.d, r, r, T_SELF, 1), 0);
	}
	/* GMAP_PIN_READ of a read-only grant: one refused writable map. */
	gmap_stats(fx.w, &st0, sizeof(st0));
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 20, 1, GMAP_PIN_READ, &err), 0);
	gmap_stats(fx.w, &st1, sizeof(st1));
	CU_ASSERT_EQUAL(st1.map_failures - st0.map_failures, 1);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 20, 1), 0);
	/* GMAP_PIN_READONLY of 8 of them: none refused, one map call. */
	gmap_stats(fx.w, &st0, sizeof(st0));
	gmap_sim_domain_info(fx.d, &d0);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 20, 8, GMAP_PIN_READONLY, &err), 0);
	gmap_stats(fx.w, &st1, sizeof(st1));
	gmap_sim_domain_info(fx.d, &d1);
	CU_ASSERT_EQUAL(st1.map_failures, st0.map_failures);
	CU_ASSERT_EQUAL(d1.map_fails, d0.map_fails);
	CU_ASSERT_EQUAL(d1.maps_total - d0.maps_total, 8);
	CU_ASSERT_EQUAL(st1.maps - st0.maps, 8);
	p = gmap_ref_ptr(fx.w, 23);
	CU_ASSERT_EQUAL(p[1], t_sig(23, 1));
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 20, 8), 0);
	for (uint32_t r = 20; r < 28; r++)
		CU_ASSERT_EQUAL(t_ref(&fx, r).maps_now, 0);
	/* A writable grant pinned read-only is mapped read-only ... */
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 40, 1, GMAP_PIN_READONLY, &err), 0);
	CU_ASSERT_EQUAL(t_ref(&fx, 40).maps_now, 1);
	CU_ASSERT(!(t_ref(&fx, 40).flags & GTF_writing));
	/* ... so a write pin of it is refused while that lasts ... */
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 40, 1, GMAP_PIN_WRITE, &err), -1);
	CU_ASSERT_EQUAL(errno, EACCES);
	/* ... and works once it is unmapped. */
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 40, 1), 0);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 40, 1, GMAP_PIN_WRITE, &err), 0);
	CU_ASSERT(t_ref(&fx, 40).flags & GTF_writing);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 40, 1), 0);
	/* Both flags at once make no sense. */
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 41, 1, GMAP_PIN_WRITE |
				 GMAP_PIN_READONLY, &err), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(t_ref(&fx, 41).maps_total, 0);
	t_teardown(&fx);
}

static void test_prefault(void)
{
	struct t_fx fx;
	struct gmap_stats st;
	volatile uint64_t *p;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	CU_ASSERT_EQUAL(gmap_prefault(fx.w, 0, 16, GMAP_PIN_WRITE, NULL), 0);
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.maps, 16);
	CU_ASSERT_EQUAL(st.pinned_now, 0);
	p = gmap_ref_ptr(fx.w, 15);
	CU_ASSERT_EQUAL(p[15], t_sig(15, 15));
	{
		struct gmap_stats st2;

		gmap_stats(fx.w, &st2, sizeof(st2));
		CU_ASSERT_EQUAL(st2.faults, st.faults);
	}
	/* Prefault again: nothing new is mapped. */
	CU_ASSERT_EQUAL(gmap_prefault(fx.w, 0, 16, 0, NULL), 0);
	CU_ASSERT_EQUAL(t_ref(&fx, 3).maps_total, 1);
	CU_ASSERT_EQUAL(gmap_release(fx.w, 0, 16), 16);
	t_teardown(&fx);
}

struct pinner {
	struct t_fx *fx;
	unsigned int id, iters;
	unsigned int errors, verified;
};

static void *pin_loop(void *arg)
{
	struct pinner *pn = arg;
	unsigned int i;

	for (i = 0; i < pn->iters; i++) {
		uint32_t ref = (i * 7 + pn->id * 3) % 32;
		volatile uint64_t *p;

		if (gmap_pin(pn->fx->w, ref, 4, GMAP_PIN_WRITE, NULL) < 0) {
			pn->errors++;
			continue;
		}
		p = gmap_ref_ptr(pn->fx->w, ref + 1);
		if (p[1] == t_sig(ref + 1, 1))
			pn->verified++;
		else
			pn->errors++;
		if (gmap_unpin(pn->fx->w, ref, 4) < 0)
			pn->errors++;
	}
	return NULL;
}

struct watcher {
	struct t_fx *fx;
	atomic_bool stop;
	unsigned int max_live, samples;
};

/* Samples the sim's live mapping count of every ref: never above 1. */
static void *watch_loop(void *arg)
{
	struct watcher *wt = arg;

	while (!atomic_load(&wt->stop)) {
		for (uint32_t r = 0; r < 36; r++) {
			unsigned int n = t_ref(wt->fx, r).maps_now;

			if (n > wt->max_live)
				wt->max_live = n;
		}
		wt->samples++;
	}
	return NULL;
}

static void test_pins_across_threads(void)
{
	struct t_fx fx;
	struct pinner pn[8];
	struct watcher wt = { .fx = &fx };
	pthread_t th[8], wth;
	unsigned int i, errors = 0, verified = 0, hung = 0;
	struct gmap_sim_domain_info di;
	struct gmap_stats st;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 2) == 0);
	pthread_create(&wth, NULL, watch_loop, &wt);
	for (i = 0; i < 8; i++) {
		pn[i] = (struct pinner){ &fx, i, 2000, 0, 0 };
		pthread_create(&th[i], NULL, pin_loop, &pn[i]);
	}
	for (i = 0; i < 8; i++) {
		if (t_join_within(th[i], 60)) {
			hung++;
			continue;
		}
		errors += pn[i].errors;
		verified += pn[i].verified;
	}
	atomic_store(&wt.stop, true);
	pthread_join(wth, NULL);
	gmap_sim_domain_info(fx.d, &di);
	gmap_stats(fx.w, &st, sizeof(st));
	printf("\n    8 threads x 2000 pin/touch/unpin: %u verified, %u errors, "
	       "%llu maps, %u watcher samples, max live maps of a ref %u ",
	       verified, errors, (unsigned long long)di.maps_total, wt.samples,
	       wt.max_live);
	CU_ASSERT_EQUAL(hung, 0);
	CU_ASSERT_EQUAL(errors, 0);
	CU_ASSERT_EQUAL(verified, 8 * 2000);
	CU_ASSERT(wt.max_live <= 1);
	CU_ASSERT(wt.samples > 0);
	CU_ASSERT_EQUAL(di.maps_now, 0);
	CU_ASSERT_EQUAL(st.pinned_now, 0);
	CU_ASSERT_EQUAL(st.maps, st.unmaps);
	CU_ASSERT_EQUAL(st.maps, di.maps_total);
	t_teardown(&fx);
}

/* GMAP_UNPIN_KEEP: the last unpin leaves the grant mapped (a pin of it
 * costs no map), and gmap_release() lets the granter end access. */
static void test_unpin_keep(void)
{
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM, .nr_refs = 1024,
		.logger = &t_log.xtl, .self_domid = T_SELF,
		.unpin_policy = GMAP_UNPIN_KEEP,
	};
	struct t_fx fx;
	struct gmap_stats st;
	int i;

	CU_ASSERT_FATAL(t_setup_opts(&fx, 64, &o) == 0);
	for (i = 0; i < 100; i++) {
		CU_ASSERT_EQUAL(gmap_pin(fx.w, 20, 4, GMAP_PIN_WRITE, NULL), 0);
		((volatile uint64_t *)gmap_ref_ptr(fx.w, 21))[3] = (uint64_t)i;
		CU_ASSERT_EQUAL(gmap_unpin(fx.w, 20, 4), 0);
	}
	CU_ASSERT_EQUAL(t_guest_word(&fx, 21, 3), 99);
	/* Said once, at the first grant kept: what keep means to a
	 * frontend without persistent grants. */
	CU_ASSERT(t_log_has("ref 20 stays mapped after its last unpin"));
	CU_ASSERT(t_log_has("backed has not unmapped grant"));
	CU_ASSERT(!t_log_has("ref 21 stays mapped"));
	CU_ASSERT_EQUAL(t_ref(&fx, 20).maps_total, 1);
	CU_ASSERT_EQUAL(t_ref(&fx, 23).maps_now, 1);
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.pinned_now, 0);
	CU_ASSERT_EQUAL(st.mapped_now, 4);
	/* Still a mapping of the grant: the granter cannot end access... */
	errno = 0;
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 20), -1);
	CU_ASSERT_EQUAL(errno, EBUSY);
	/* ...until the backend releases it. */
	CU_ASSERT_EQUAL(gmap_release(fx.w, 20, 4), 4);
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 20), 0);
	/* The page is re-armed: a touch maps it again, from the guest. */
	CU_ASSERT_EQUAL(((volatile uint64_t *)gmap_ref_ptr(fx.w, 22))[5],
			t_sig(22, 5));
	CU_ASSERT_EQUAL(t_ref(&fx, 22).maps_total, 2);
	t_teardown(&fx);

	/* A policy that is not one is refused by name. */
	o.unpin_policy = (enum gmap_unpin_policy)7;
	t_log_clear();
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_open(T_DOMID, &o));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT(t_log_has("unpin_policy 7"));
}

struct big_unpin {
	struct gmap_window *w;
	int rc, err;
};

static void *big_unpin_thread(void *arg)
{
	struct big_unpin *b = arg;

	errno = 0;
	b->rc = gmap_unpin(b->w, 0, 0xffffffffu);
	b->err = errno;
	return NULL;
}

/*
 * An unpin of the whole 32-bit space with one ref pinned is refused at
 * once: its work is bounded by what is pinned, not by the count (it used
 * to allocate 16 GiB and walk 4 billion refs under the window lock, 7 to
 * 24 s, holding up every other call on the window).  A watchdog of 5 s
 * on each call counts a hang as a failure.
 */
static void test_unpin_huge_count(void)
{
	struct big_unpin b;
	struct t_fx fx;
	pthread_t t;

	T_SKIP_UNDER_TSAN();
	CU_ASSERT_FATAL(t_setup(&fx, 16, GMAP_MAX_REFS, 1) == 0);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 3, 1, GMAP_PIN_READ, NULL), 0);
	b.w = fx.w;
	CU_ASSERT_FATAL(pthread_create(&t, NULL, big_unpin_thread, &b) == 0);
	if (t_join_within(t, 5)) {
		CU_FAIL("gmap_unpin(0, 0xffffffff) still running after 5 s");
		pthread_join(t, NULL);
	}
	CU_ASSERT_EQUAL(b.rc, -1);
	CU_ASSERT_EQUAL(b.err, EINVAL);
	CU_ASSERT(t_log_has("unpin of ref 0, which is not pinned"));
	/* Nothing changed: ref 3 is still pinned, and unpins once. */
	CU_ASSERT_EQUAL(t_ref(&fx, 3).maps_now, 1);
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 3, 1), 0);
	CU_ASSERT_EQUAL(t_ref(&fx, 3).maps_now, 0);
	t_teardown(&fx);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "pin, nest, unpin", test_pin_basic },
		{ "end access fails while pinned, works after last unpin", test_end_access_after_last_unpin },
		{ "unpin refuses what is not pinned, changing nothing", test_unpin_errors },
		{ "unpin of 2^32 - 1 refs is refused at once", test_unpin_huge_count },
		{ "pin of bad grants: error, ref, status, rollback", test_pin_bad_grants },
		{ "prefault maps without pinning", test_prefault },
		{ "read-only pins: no refused writable try, mapped read-only", test_pin_readonly },
		{ "unpin policy keep: stays mapped until released", test_unpin_keep },
		{ "pins across 8 threads: at most one live map per ref", test_pins_across_threads },
		{ NULL, NULL },
	};
	return t_main("pin", cases);
}
