/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-around.c - fault-around: a fault maps the untouched neighbours of
 * its page in the direction asked (forward, backward, both) and stops at
 * the first that is mapped already, not granted or read-only.
 */
#include "helpers.h"

static bool mapped(struct t_fx *fx, uint32_t ref)
{
	return t_ref(fx, ref).maps_now == 1;
}

/* Fault-around maps the untouched neighbours and stops where it must. */
static void test_fault_around(void)
{
	struct gmap_open_opts o = t_budget_opts(0, 8, GMAP_AROUND_FORWARD);
	struct gmap_stats st, st2;
	struct t_fx fx;
	volatile uint64_t *p;

	CU_ASSERT_FATAL(t_setup_opts(&fx, 64, &o) == 0);
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 20), 0);    /* a hole   */
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 50), 0);
	CU_ASSERT_EQUAL(gmap_sim_grant(fx.d, 50, 50, T_SELF, 1), 0); /* r/o */
	/* Forward from 14: 14..19, stopped by the ungranted 20. */
	p = gmap_ref_ptr(fx.w, 14);
	CU_ASSERT_EQUAL(p[0], t_sig(14, 0));
	for (uint32_t r = 14; r < 20; r++)
		CU_ASSERT(mapped(&fx, r));
	CU_ASSERT(!mapped(&fx, 20));
	CU_ASSERT(!mapped(&fx, 21));
	CU_ASSERT(!mapped(&fx, 13));
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.around_runs, 1);
	CU_ASSERT_EQUAL(st.around_pages, 5);
	/* The neighbours are there without a fault, with the guest's data. */
	p = gmap_ref_ptr(fx.w, 19);
	CU_ASSERT_EQUAL(p[9], t_sig(19, 9));
	p[10] = 0x1919;
	CU_ASSERT_EQUAL(t_guest_word(&fx, 19, 10), 0x1919);
	gmap_stats(fx.w, &st2, sizeof(st2));
	CU_ASSERT_EQUAL(st2.faults, st.faults);
	/* A writable run stops before a read-only grant: 48, 49. */
	p = gmap_ref_ptr(fx.w, 48);
	CU_ASSERT_EQUAL(p[0], t_sig(48, 0));
	CU_ASSERT(mapped(&fx, 49));
	CU_ASSERT(!mapped(&fx, 50));
	CU_ASSERT(!mapped(&fx, 51));
	/* Nothing was poisoned or logged for the neighbours that failed. */
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.bad_grants, 0);
	CU_ASSERT(!t_log_has("cannot map"));
	/* ...and the read-only grant maps on its own touch; its writable
	 * neighbours are mapped writable (a read-only map of a writable
	 * grant would refuse writes the guest allows). */
	p = gmap_ref_ptr(fx.w, 50);
	CU_ASSERT_EQUAL(p[3], t_sig(50, 3));
	CU_ASSERT(mapped(&fx, 51));
	{
		uint64_t seen;
		void *addr;

		CU_ASSERT_EQUAL(t_touch((volatile uint64_t *)gmap_ref_ptr(fx.w, 51) + 4,
					1, 0x5151, &seen, &addr), 0);
	}
	CU_ASSERT_EQUAL(t_guest_word(&fx, 51, 4), 0x5151);
	CU_ASSERT(t_ref(&fx, 51).flags & GTF_writing);
	CU_ASSERT(vmas_agree(fx.w));
	t_teardown(&fx);

	/* Backward from 30: 23..30.  Both ways from 40, 5 pages: 38..42. */
	o = t_budget_opts(0, 8, GMAP_AROUND_BACKWARD);
	CU_ASSERT_FATAL(t_setup_opts(&fx, 64, &o) == 0);
	CU_ASSERT_EQUAL(((volatile uint64_t *)gmap_ref_ptr(fx.w, 30))[0], t_sig(30, 0));
	for (uint32_t r = 23; r <= 30; r++)
		CU_ASSERT(mapped(&fx, r));
	CU_ASSERT(!mapped(&fx, 22));
	CU_ASSERT(!mapped(&fx, 31));
	CU_ASSERT(vmas_agree(fx.w));
	t_teardown(&fx);
	o = t_budget_opts(0, 5, GMAP_AROUND_BOTH);
	CU_ASSERT_FATAL(t_setup_opts(&fx, 64, &o) == 0);
	CU_ASSERT_EQUAL(((volatile uint64_t *)gmap_ref_ptr(fx.w, 40))[0], t_sig(40, 0));
	for (uint32_t r = 38; r <= 42; r++)
		CU_ASSERT(mapped(&fx, r));
	CU_ASSERT(!mapped(&fx, 37));
	CU_ASSERT(!mapped(&fx, 43));
	/* At the window's first ref, "both" goes on forward only. */
	CU_ASSERT_EQUAL(((volatile uint64_t *)gmap_ref_ptr(fx.w, 0))[0], t_sig(0, 0));
	for (uint32_t r = 0; r <= 4; r++)
		CU_ASSERT(mapped(&fx, r));
	CU_ASSERT(!mapped(&fx, 5));
	t_teardown(&fx);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "fault-around: forward, backward, both; stops at holes and r/o", test_fault_around },
		{ NULL, NULL },
	};
	return t_main("around", cases);
}
