/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-evict.c - the budget of mapped grants, the evictor, and
 * fault-around: the window stays within its budget (counted by the
 * simulated hypervisor and in /proc/self/maps), eviction loses no data, a
 * full budget of pinned grants ends in a clear error, and fault-around
 * maps the right neighbours and stops where it must.
 */
#include "helpers.h"

static struct gmap_open_opts opts_of(uint64_t max_mapped, unsigned int around,
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

struct watch {
	struct t_fx *fx;
	_Atomic bool stop;
	uint64_t max_live, samples;
	unsigned int max_vmas;
};

static void *watcher(void *arg)
{
	struct watch *wt = arg;
	struct gmap_sim_domain_info di;

	while (!atomic_load(&wt->stop)) {
		unsigned int v;

		gmap_sim_domain_info(wt->fx->d, &di);
		if (di.maps_now > wt->max_live)
			wt->max_live = di.maps_now;
		if (++wt->samples % 64 == 0 &&
		    (v = t_window_vmas(wt->fx->w)) > wt->max_vmas)
			wt->max_vmas = v;
	}
	return NULL;
}

struct toucher {
	struct t_fx *fx;
	uint64_t seed;
	unsigned int n, bad, writes;
};

/* Random reads and writes over all 2048 pages, each checked. */
static void *touch_random(void *arg)
{
	struct toucher *t = arg;
	uint64_t s = t->seed;

	for (unsigned int i = 0; i < t->n; i++) {
		uint32_t ref, word;
		volatile uint64_t *p;

		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		ref = (uint32_t)(s >> 33) % 2048;
		p = gmap_ref_ptr(t->fx->w, ref);
		word = 1 + (uint32_t)(s >> 20) % 255;
		if (p[word] != t_sig(ref, word))
			t->bad++;
		if ((s >> 60) == 0) {
			/* Word 256 + thread: ours alone. */
			word = 256 + (uint32_t)(t->seed & 7);
			p[word] = s | 1;
			if (t_guest_word(t->fx, ref, word) != (s | 1))
				t->bad++;
			t->writes++;
		}
	}
	return NULL;
}

/* 4 threads touch 2048 pages through a budget of 64 mapped grants. */
static void test_budget_bounds(void)
{
	struct gmap_open_opts o = opts_of(64, 0, GMAP_AROUND_FORWARD);
	struct toucher tt[4];
	struct watch wt = { 0 };
	struct gmap_stats st;
	struct gmap_sim_domain_info di;
	pthread_t th[4], wth;
	struct t_fx fx;
	unsigned int bad = 0, hung = 0, vmas;

	CU_ASSERT_FATAL(t_setup_opts(&fx, 2048, &o) == 0);
	wt.fx = &fx;
	pthread_create(&wth, NULL, watcher, &wt);
	for (int i = 0; i < 4; i++) {
		tt[i] = (struct toucher){ &fx, 0x1234 + (uint64_t)i, 20000, 0, 0 };
		pthread_create(&th[i], NULL, touch_random, &tt[i]);
	}
	for (int i = 0; i < 4; i++) {
		if (t_join_within(th[i], 120)) {
			hung++;
			continue;
		}
		bad += tt[i].bad;
	}
	atomic_store(&wt.stop, true);
	pthread_join(wth, NULL);
	/* The evictor may still be at work after the threads stopped: take
	 * the VMA count between two identical snapshots with no eviction in
	 * flight, so that it and mapped_now describe one moment. */
	{
		struct gmap_stats st0;
		uint64_t t0 = (uint64_t)time(NULL);

		do {
			gmap_stats(fx.w, &st0, sizeof(st0));
			vmas = t_window_vmas(fx.w);
			gmap_stats(fx.w, &st, sizeof(st));
		} while ((st0.evicting_now || st.evicting_now ||
			  st0.evictions != st.evictions ||
			  st0.mapped_now != st.mapped_now) &&
			 (uint64_t)time(NULL) - t0 < 10);
	}
	gmap_sim_domain_info(fx.d, &di);
	printf("\n    4 threads x 20000 checked accesses over 2048 pages, "
	       "budget %llu: %u bad, %llu evictions, peak %llu mapped (the "
	       "sim: %llu; sampled: %llu in %llu samples), %u VMAs at the end "
	       "(%u at most while running, from non-atomic reads of /proc; "
	       "%llu by the window's count) ",
	       (unsigned long long)st.max_mapped, bad,
	       (unsigned long long)st.evictions,
	       (unsigned long long)st.mapped_peak,
	       (unsigned long long)di.maps_peak,
	       (unsigned long long)wt.max_live,
	       (unsigned long long)wt.samples, vmas, wt.max_vmas,
	       (unsigned long long)st.vmas_peak);
	CU_ASSERT_EQUAL(hung, 0);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(st.max_mapped, 64);
	CU_ASSERT(st.mapped_peak <= 64);
	CU_ASSERT(wt.max_live <= 64);
	CU_ASSERT(wt.samples > 0);
	CU_ASSERT(di.maps_peak <= 64);
	CU_ASSERT(di.maps_peak >= 32);
	/* Quiescent now: each mapped grant splits off at most two VMAs. */
	CU_ASSERT(vmas <= 2 * st.mapped_now + 1);
	/* ... and the window's own count says so. */
	CU_ASSERT(kernel_has_procmap_query() ? st.vmas_now == vmas :
		  st.vmas_now <= vmas);
	CU_ASSERT(st.mapped_now <= 64);
	CU_ASSERT(st.evictions >= 2048 - 64);
	CU_ASSERT_EQUAL(st.bad_grants, 0);
	t_teardown(&fx);
}

/*
 * The evictor stops at the low watermark: one thread touches 400
 * scattered pages through a budget of 32 (evict from 31 down to 28).
 * Once it is at rest, 28 to 31 grants are mapped, whatever the budget of
 * VMAs (here far above the window: it once overflowed and made the
 * evictor take whole batches).
 */
static void test_low_watermark(void)
{
	struct gmap_open_opts o = opts_of(32, 0, GMAP_AROUND_FORWARD);
	struct gmap_stats st;
	struct t_fx fx;
	unsigned int ok = 0;

	CU_ASSERT_FATAL(t_setup_opts(&fx, 4096, &o) == 0);
	for (uint32_t i = 0; i < 400; i++)
		ok += ((volatile uint64_t *)gmap_ref_ptr(fx.w, i * 10))[3] ==
		      t_sig(i * 10, 3);
	T_WAIT_UNTIL((gmap_stats(fx.w, &st, sizeof(st)), !st.evicting_now &&
		      st.mapped_now < 31), 10);
	gmap_stats(fx.w, &st, sizeof(st));
	printf("\n    400 reads through 32 slots: %u right, %llu mapped at "
	       "rest, %llu maps ", ok, (unsigned long long)st.mapped_now,
	       (unsigned long long)st.maps);
	CU_ASSERT_EQUAL(ok, 400);
	CU_ASSERT(st.mapped_now >= 28 && st.mapped_now <= 31);
	/* Nothing evicted under the reader before it used its page. */
	CU_ASSERT_EQUAL(st.maps, 400);
	t_teardown(&fx);
}

/* Every slot of the budget pinned: a pin fails with ENOSPC and the
 * status, a fault with SIGSEGV and the reason; an unpin lets maps go on. */
static void test_all_pinned(void)
{
	struct gmap_open_opts o = opts_of(16, 0, GMAP_AROUND_FORWARD);
	struct gmap_error err;
	struct t_fx fx;
	uint64_t seen = 0;
	void *addr = NULL;

	CU_ASSERT_FATAL(t_setup_opts(&fx, 64, &o) == 0);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 0, 16, GMAP_PIN_WRITE, NULL), 0);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 20, 1, 0, &err), -1);
	CU_ASSERT_EQUAL(errno, ENOSPC);
	CU_ASSERT_EQUAL(err.ref, 20);
	CU_ASSERT_EQUAL(err.status, -102);
	CU_ASSERT(t_log_has("budget of mapped grants stayed used up"));
	t_log_clear();
	CU_ASSERT_EQUAL(t_touch(gmap_ref_ptr(fx.w, 21), 0, 0, &seen, &addr), 1);
	CU_ASSERT_PTR_EQUAL(addr, gmap_ref_ptr(fx.w, 21));
	CU_ASSERT(t_log_has("d7 ref 21"));
	CU_ASSERT(t_log_has("budget of mapped grants stayed used up"));
	/* One unpin frees a slot: the next map works. */
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 3, 1), 0);
	CU_ASSERT_EQUAL(t_touch(gmap_ref_ptr(fx.w, 22), 0, 0, &seen, &addr), 0);
	CU_ASSERT_EQUAL(seen, t_sig(22, 0));
	/* A poisoned page (21) between maps is counted too. */
	CU_ASSERT(vmas_agree(fx.w));
	t_teardown(&fx);
}

/* A fault that meets a full budget waits for an unpin, then is served. */
static void test_fault_waits_for_unpin(void)
{
	struct gmap_open_opts o = opts_of(16, 0, GMAP_AROUND_FORWARD);
	struct sleeper s = { 0 };
	struct gmap_stats st;
	struct t_fx fx;
	pthread_t th;

	CU_ASSERT_FATAL(t_setup_opts(&fx, 64, &o) == 0);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 0, 16, 0, NULL), 0);
	s.p = (volatile uint64_t *)gmap_ref_ptr(fx.w, 40) + 7;
	pthread_create(&th, NULL, sleeper_main, &s);
	CU_ASSERT_FATAL(T_WAIT_UNTIL(blocked_in_fault(atomic_load(&s.tid)), 10));
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 0, 1), 0);
	CU_ASSERT_EQUAL(t_join_within(th, 10), 0);
	CU_ASSERT_EQUAL(s.seen, t_sig(40, 7));
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.bad_grants, 0);
	t_teardown(&fx);
}

static bool mapped(struct t_fx *fx, uint32_t ref)
{
	return t_ref(fx, ref).maps_now == 1;
}

/* Fault-around maps the untouched neighbours and stops where it must. */
static void test_fault_around(void)
{
	struct gmap_open_opts o = opts_of(0, 8, GMAP_AROUND_FORWARD);
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
	o = opts_of(0, 8, GMAP_AROUND_BACKWARD);
	CU_ASSERT_FATAL(t_setup_opts(&fx, 64, &o) == 0);
	CU_ASSERT_EQUAL(((volatile uint64_t *)gmap_ref_ptr(fx.w, 30))[0], t_sig(30, 0));
	for (uint32_t r = 23; r <= 30; r++)
		CU_ASSERT(mapped(&fx, r));
	CU_ASSERT(!mapped(&fx, 22));
	CU_ASSERT(!mapped(&fx, 31));
	CU_ASSERT(vmas_agree(fx.w));
	t_teardown(&fx);
	o = opts_of(0, 5, GMAP_AROUND_BOTH);
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

static unsigned int live_maps(struct t_fx *fx)
{
	struct gmap_sim_domain_info di;

	gmap_sim_domain_info(fx->d, &di);
	return (unsigned int)di.maps_now;
}

/* The idle timeout hands untouched-but-mapped grants back to the guest;
 * pinned ones stay. */
static void test_idle_timeout(void)
{
	struct gmap_open_opts o = opts_of(0, 0, GMAP_AROUND_FORWARD);
	struct gmap_stats st;
	struct t_fx fx;

	o.idle_ms = 100;
	CU_ASSERT_FATAL(t_setup_opts(&fx, 64, &o) == 0);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 5, 1, 0, NULL), 0);
	for (uint32_t r = 10; r < 20; r++)
		CU_ASSERT_EQUAL(((volatile uint64_t *)gmap_ref_ptr(fx.w, r))[1],
				t_sig(r, 1));
	CU_ASSERT_EQUAL(live_maps(&fx), 11);
	/* The guest cannot take them back while they are mapped... */
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 12), -1);
	/* ...and can once the timeout has passed (bounded wait). */
	CU_ASSERT(T_WAIT_UNTIL(live_maps(&fx) == 1, 10));
	/* The guest sees the unmap before the evictor has re-armed the
	 * pages and counted the evictions: wait for the count too. */
	CU_ASSERT(T_WAIT_UNTIL((gmap_stats(fx.w, &st, sizeof(st)),
				!st.evicting_now && st.evictions >= 10), 10));
	CU_ASSERT_EQUAL(st.idle_evictions, 10);
	CU_ASSERT_EQUAL(st.evictions, 10);
	CU_ASSERT_EQUAL(t_ref(&fx, 5).maps_now, 1);
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 12), 0);
	/* A page the guest still grants faults back in, with its data. */
	CU_ASSERT_EQUAL(((volatile uint64_t *)gmap_ref_ptr(fx.w, 13))[2],
			t_sig(13, 2));
	CU_ASSERT_EQUAL(t_ref(&fx, 13).maps_total, 2);
	t_teardown(&fx);

	o.idle_ms = 3600001;
	t_log_clear();
	fx.d = gmap_sim_domain_create(T_DOMID, 4, 4);
	CU_ASSERT_FATAL(fx.d != NULL);
	CU_ASSERT_PTR_NULL(gmap_open(T_DOMID, &o));
	CU_ASSERT(t_log_has("idle_ms 3600001 is too long"));
	gmap_sim_domain_destroy(fx.d);
}

/* Bad settings are refused by name; good ones take effect. */
/* The page count of the VMA holding window page @ref (0: none). */
static unsigned long vma_pages_at(struct t_fx *fx, uint32_t ref, uint32_t *first)
{
	uintptr_t lo, hi, base = (uintptr_t)gmap_base(fx->w);

	if (!t_vma_of((uint8_t *)gmap_base(fx->w) + ((size_t)ref << 12), &lo, &hi))
		return 0;
	*first = (uint32_t)((lo - base) >> 12);
	return (hi - lo) >> 12;
}

/*
 * How the sim places runs, as gntdev does: one map of contiguous frames is
 * one VMA, and two maps never merge, even of adjacent frames (the budget
 * counts on each map costing a VMA).  A run of scattered frames is a VMA
 * per piece of contiguous frames on sim (one VMA on xen).
 */
static void test_runs_are_vmas(void)
{
	struct gmap_open_opts o = opts_of(0, 0, GMAP_AROUND_FORWARD);
	static const uint32_t scattered[4] = { 300, 200, 201, 50 };
	struct t_fx fx;
	uint32_t first = 0, i;
	unsigned int v0;

	CU_ASSERT_FATAL(t_setup_opts(&fx, 512, &o) == 0);
	v0 = t_window_vmas(fx.w);
	CU_ASSERT(v0 == 1);
	CU_ASSERT(vmas_agree(fx.w));
	/* Refs 0..15, frames 0..15: one map, one VMA. */
	CU_ASSERT_FATAL(gmap_pin(fx.w, 0, 16, GMAP_PIN_WRITE, NULL) == 0);
	CU_ASSERT(vma_pages_at(&fx, 5, &first) == 16 && first == 0);
	/* Refs 16..31 next to it, frames 16..31 next to its frames: a map
	 * of its own, not merged. */
	CU_ASSERT_FATAL(gmap_pin(fx.w, 16, 16, GMAP_PIN_WRITE, NULL) == 0);
	CU_ASSERT(vma_pages_at(&fx, 0, &first) == 16 && first == 0);
	CU_ASSERT(vma_pages_at(&fx, 16, &first) == 16 && first == 16);
	/* Ref 32 alone, then ref 33 alone: two maps, two VMAs. */
	CU_ASSERT_FATAL(gmap_pin(fx.w, 32, 1, 0, NULL) == 0);
	CU_ASSERT_FATAL(gmap_pin(fx.w, 33, 1, 0, NULL) == 0);
	CU_ASSERT(vma_pages_at(&fx, 32, &first) == 1 && first == 32);
	CU_ASSERT(vma_pages_at(&fx, 33, &first) == 1 && first == 33);
	/* The window: 4 maps and the placeholder after them. */
	CU_ASSERT(t_window_vmas(fx.w) == 5);
	CU_ASSERT(vmas_agree(fx.w));
	/* Ref 8 given back: the first map splits around its placeholder. */
	CU_ASSERT(gmap_unpin(fx.w, 8, 1) == 0);
	CU_ASSERT(vma_pages_at(&fx, 7, &first) == 8 && first == 0);
	CU_ASSERT(vma_pages_at(&fx, 8, &first) == 1 && first == 8);
	CU_ASSERT(vma_pages_at(&fx, 9, &first) == 7 && first == 9);
	CU_ASSERT(t_window_vmas(fx.w) == 7);
	CU_ASSERT(vmas_agree(fx.w));
	/* Refs 100..103 granted scattered frames: one run, a VMA per piece
	 * of contiguous frames (300 | 200 201 | 50), each the right page. */
	for (i = 0; i < 4; i++) {
		CU_ASSERT(gmap_sim_end_access(fx.d, 100 + i) == 0);
		CU_ASSERT(gmap_sim_grant(fx.d, 100 + i, scattered[i], T_SELF, 0) == 0);
	}
	CU_ASSERT_FATAL(gmap_pin(fx.w, 100, 4, 0, NULL) == 0);
	CU_ASSERT(vma_pages_at(&fx, 100, &first) == 1 && first == 100);
	CU_ASSERT(vma_pages_at(&fx, 101, &first) == 2 && first == 101);
	CU_ASSERT(vma_pages_at(&fx, 103, &first) == 1 && first == 103);
	for (i = 0; i < 4; i++)
		CU_ASSERT(*(volatile uint64_t *)(void *)((uint8_t *)gmap_base(fx.w) +
			  ((size_t)(100 + i) << 12) + 8) == t_sig(scattered[i], 1));
	CU_ASSERT(vmas_agree(fx.w));
	/* Unpinned one by one from the middle out: each unmap is counted. */
	for (i = 0; i < 34; i++) {
		uint32_t r = (i * 7) % 34;

		if (r == 8)
			continue;
		CU_ASSERT(gmap_unpin(fx.w, r, 1) == 0);
		if (!vmas_agree(fx.w)) {
			CU_FAIL("VMA count off after an unpin");
			break;
		}
	}
	CU_ASSERT(gmap_unpin(fx.w, 101, 2) == 0);
	CU_ASSERT(vmas_agree(fx.w));
	printf("\n    VMAs: %u at open, 7 after 4 maps and a split, then 3 "
	       "pieces of a scattered run ", v0);
	t_teardown(&fx);
}

/*
 * The window's count of its VMAs after each of 20000 random operations,
 * one thread (so that nothing is in flight): touches that read and write
 * (writes give placeholders anon_vmas, which can keep the kernel from
 * merging them), pins, unpins, releases, prefaults, re-grants with other
 * frames and read-only, with fault-around and without.  It must be what
 * /proc/self/maps shows, or, on a kernel without PROCMAP_QUERY, never
 * more.
 */
static void test_vma_count_follows(void)
{
	bool exact = kernel_has_procmap_query();
	unsigned int worst = 0, checked = 0;

	for (unsigned int around = 0; around <= 4; around += 4) {
		struct gmap_open_opts o = opts_of(0, around, GMAP_AROUND_BOTH);
		static unsigned int pinned[256];
		struct gmap_stats st;
		struct t_fx fx;
		unsigned int seed = 1 + around, v;
		uint64_t seen;

		o.nr_refs = 256;
		memset(pinned, 0, sizeof(pinned));
		CU_ASSERT_FATAL(t_setup_opts(&fx, 200, &o) == 0);
		for (int step = 0; step < 10000; step++) {
			uint32_t r = (uint32_t)rand_r(&seed) % 250,
				 n = 1 + (uint32_t)rand_r(&seed) % 8, i;

			switch (rand_r(&seed) % 6) {
			case 0:
				t_touch(gmap_ref_ptr(fx.w, r), rand_r(&seed) & 1,
					1, &seen, NULL);
				break;
			case 1:
				if (gmap_pin(fx.w, r, n, 0, NULL) == 0)
					for (i = 0; i < n; i++)
						pinned[r + i]++;
				break;
			case 2:
				for (i = 0; i < n && pinned[r + i]; i++)
					pinned[r + i]--;
				if (i)
					gmap_unpin(fx.w, r, i);
				break;
			case 3:
				gmap_release(fx.w, r, n);
				break;
			case 4:
				gmap_prefault(fx.w, r, n, 0, NULL);
				break;
			default:
				if (gmap_sim_end_access(fx.d, r) == 0)
					gmap_sim_grant(fx.d, r, (r * 7 + (uint32_t)step) % 200,
						       T_SELF, rand_r(&seed) % 4 == 0);
				break;
			}
			gmap_stats(fx.w, &st, sizeof(st));
			v = t_window_vmas(fx.w);
			checked++;
			if (v < st.vmas_now || (exact && v != st.vmas_now)) {
				fprintf(stderr, "step %d: the window counts %llu VMAs, "
					"/proc/self/maps %u\n", step,
					(unsigned long long)st.vmas_now, v);
				CU_FAIL("the window's count of VMAs is off");
				break;
			}
			if (v - st.vmas_now > worst)
				worst = v - st.vmas_now;
		}
		t_teardown(&fx);
	}
	printf("\n    %u checks against /proc/self/maps (%s), most VMAs "
	       "unseen: %u ", checked, exact ? "PROCMAP_QUERY: exact" :
	       "no PROCMAP_QUERY: at most", worst);
}

/*
 * The budget of VMAs holds where the budget of mapped grants does not
 * bind: scattered grants under a large max_mapped are evicted to keep the
 * window's VMAs within max_vmas, and when poisoned pages use the VMAs up a
 * map fails with the VMA budget's reason until they are released.
 */
static void test_vma_budget(void)
{
	struct gmap_open_opts o = opts_of(2048, 0, GMAP_AROUND_FORWARD);
	struct gmap_error err;
	struct gmap_stats st;
	struct t_fx fx;
	uint32_t r, bad = 0, verified = 0, segv = 0;
	uint64_t seen;

	o.max_vmas = 64;
	CU_ASSERT_FATAL(t_setup_opts(&fx, 2048, &o) == 0);
	/* Every other ref: each mapped grant is two VMAs of its own. */
	for (r = 0; r < 2048; r += 2) {
		seen = 0;
		if (t_touch(gmap_ref_ptr(fx.w, r), 0, 0, &seen, NULL)) {
			bad++;
			continue;
		}
		if (seen == t_sig(r, 0))
			verified++;
	}
	/* The evictor is done when the window is back under the high
	 * watermark (or it is at rest, for the equality with /proc). */
	T_WAIT_UNTIL((gmap_stats(fx.w, &st, sizeof(st)),
		      !st.evicting_now && st.vmas_now <= 64), 10);
	gmap_stats(fx.w, &st, sizeof(st));
	printf("\n    1024 scattered grants, budget 64 VMAs: %u verified, %u "
	       "bad, %llu evictions, VMAs peak %llu, mapped peak %llu ",
	       verified, bad, (unsigned long long)st.evictions,
	       (unsigned long long)st.vmas_peak,
	       (unsigned long long)st.mapped_peak);
	CU_ASSERT_EQUAL(verified, 1024);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(st.max_vmas, 64);
	CU_ASSERT_EQUAL(st.max_mapped, 2048);
	/* One fault in flight at a time: at most its two over. */
	CU_ASSERT(st.vmas_peak <= 64 + 2);
	CU_ASSERT(st.mapped_peak <= 32);
	CU_ASSERT(st.evictions >= 1024 - 32);
	CU_ASSERT(vmas_agree(fx.w));

	/* Poisoned pages count too: touch 31 ungranted refs, every other
	 * one, which leaves 1 + 2 * 31 = 63 VMAs and no room for a map; the
	 * evictor frees the mapped grants, then a pin fails with the VMA
	 * budget's status. */
	for (r = 2049; r < 2049 + 2 * 31; r += 2)
		segv += t_touch(gmap_ref_ptr(fx.w, r), 0, 0, &seen, NULL);
	CU_ASSERT_EQUAL(segv, 31);
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.bad_grants, 31);
	t_log_clear();
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 100, 1, 0, &err), -1);
	CU_ASSERT_EQUAL(errno, ENOSPC);
	CU_ASSERT_EQUAL(err.status, -103);
	CU_ASSERT(t_log_has("budget of VMAs stayed used up"));
	/* Released, the poisoned pages give their VMAs back. */
	CU_ASSERT_EQUAL(gmap_release(fx.w, 2049, 62), 31);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 100, 1, 0, &err), 0);
	CU_ASSERT_EQUAL(*(volatile uint64_t *)gmap_ref_ptr(fx.w, 100), t_sig(100, 0));
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 100, 1), 0);
	CU_ASSERT(vmas_agree(fx.w));
	t_teardown(&fx);
}

/* Refs 128 apart: each touched ref has a leaf of its own. */
#define META_REFS 2048
#define META_STEP 128

struct meta_toucher {
	struct gmap_window *w;
	uint64_t seed;
	unsigned int n, bad;
};

static int meta_read(struct gmap_window *w, uint32_t i)
{
	const volatile uint64_t *p = gmap_ref_ptr(w, i * META_STEP);

	return p[7] == t_sig(i, 7);
}

static void *meta_touch(void *arg)
{
	struct meta_toucher *t = arg;
	uint64_t s = t->seed;

	for (unsigned int k = 0; k < t->n; k++) {
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		t->bad += !meta_read(t->w, (uint32_t)(s >> 33) % META_REFS);
	}
	return NULL;
}

/*
 * The budget of metadata: a window that touches 2048 refs, each in a leaf
 * of its own (about 550 KiB of state), through 32 mapped grants and 64 KiB
 * of metadata.  The evictor frees the leaves of evicted grants; every read
 * is right, before and after its leaf was freed, and with 4 threads
 * reading while leaves are freed under them.
 */
static void test_meta_budget(void)
{
	struct gmap_open_opts o = opts_of(32, 0, GMAP_AROUND_FORWARD);
	struct meta_toucher mt[4];
	struct gmap_sim_domain *d;
	struct gmap_stats st;
	struct gmap_window *w;
	unsigned int ok = 0, bad = 0, hung = 0;
	pthread_t th[4];
	uint64_t page[512], base;

	d = gmap_sim_domain_create(T_DOMID, META_REFS, META_REFS * META_STEP);
	CU_ASSERT_FATAL(d != NULL);
	for (uint32_t i = 0; i < META_REFS; i++) {
		for (unsigned int j = 0; j < 512; j++)
			page[j] = t_sig(i, j);
		gmap_sim_write(d, i, 0, page, sizeof(page));
		gmap_sim_grant(d, i * META_STEP, i, T_SELF, 0);
	}
	o.nr_refs = META_REFS * META_STEP;
	o.max_meta = 65536;
	w = gmap_open(T_DOMID, &o);
	CU_ASSERT_FATAL(w != NULL);
	/* What gmap_stats() counts before any grant: the window itself. */
	gmap_stats(w, &st, sizeof(st));
	base = st.meta_bytes;
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 0; i < META_REFS; i++)
			ok += meta_read(w, i);
	/* The evictor frees leaves behind the reads: once it is done, the
	 * metadata is back under the budget. */
	T_WAIT_UNTIL((gmap_stats(w, &st, sizeof(st)),
		      !st.evicting_now && st.meta_bytes - base <= 65536), 10);
	gmap_stats(w, &st, sizeof(st));
	printf("\n    2 x 2048 reads, one leaf each, budget 64 KiB: %u right, "
	       "%llu bytes of metadata now, %llu freed, %llu evictions ",
	       ok, (unsigned long long)st.meta_bytes,
	       (unsigned long long)st.meta_freed,
	       (unsigned long long)st.evictions);
	CU_ASSERT_EQUAL(ok, 2 * META_REFS);
	CU_ASSERT_EQUAL(st.max_meta, 65536);
	CU_ASSERT(st.meta_bytes - base <= 65536);
	CU_ASSERT(st.meta_freed >= 2 * META_REFS * 256 - 65536);
	CU_ASSERT(vmas_agree(w));

	/* 4 threads reading at random while leaves come and go. */
	for (int i = 0; i < 4; i++) {
		mt[i] = (struct meta_toucher){ w, 77 + (uint64_t)i, 5000, 0 };
		pthread_create(&th[i], NULL, meta_touch, &mt[i]);
	}
	for (int i = 0; i < 4; i++) {
		if (t_join_within(th[i], 120)) {
			hung++;
			continue;
		}
		bad += mt[i].bad;
	}
	gmap_stats(w, &st, sizeof(st));
	printf("then 4 x 5000 random reads: %u wrong, %llu bytes freed ", bad,
	       (unsigned long long)st.meta_freed);
	CU_ASSERT_EQUAL(hung, 0);
	CU_ASSERT_EQUAL(bad, 0);
	gmap_close(w);
	gmap_sim_domain_destroy(d);
}

/* @o (and the environment) refused: EINVAL, and the log says @needle. */
static int refused(const struct gmap_open_opts *o, const char *needle)
{
	struct gmap_window *w;

	t_log_clear();
	errno = 0;
	w = gmap_open(T_DOMID, o);
	if (w) {
		gmap_close(w);
		return 0;
	}
	return errno == EINVAL && t_log_has(needle);
}

/* The budgets of a window opened with @o and @var=@value in the
 * environment. */
static struct gmap_stats opened_with(const struct gmap_open_opts *o,
				     const char *var, const char *value)
{
	struct gmap_window *w;
	struct gmap_stats st;

	setenv(var, value, 1);
	w = gmap_open(T_DOMID, o);
	unsetenv(var);
	memset(&st, 0, sizeof(st));
	CU_ASSERT_FATAL(w != NULL);
	gmap_stats(w, &st, sizeof(st));
	gmap_close(w);
	return st;
}

static void test_settings(void)
{
	struct gmap_open_opts o = opts_of(0, 0, GMAP_AROUND_FORWARD);
	struct gmap_sim_domain *d = gmap_sim_domain_create(T_DOMID, 4, 4);
	struct gmap_window *w;
	struct gmap_stats st;

	CU_ASSERT_FATAL(d != NULL);
	setenv("GMAP_MAX_MAPPED", "12abc", 1);
	CU_ASSERT(refused(&o, "GMAP_MAX_MAPPED='12abc' is not valid: expected a number from 1"));
	setenv("GMAP_MAX_MAPPED", "0", 1);
	CU_ASSERT(refused(&o, "GMAP_MAX_MAPPED='0' is not valid"));
	/* Digits only: no white space of any kind, no sign, nothing after
	 * (strtoull() would take the first three as 100, and the last as
	 * 5). */
	{
		static const char *const bad[] = { "\t100", "\n100", "\v100",
			" 100", "+100", "100 ", "0x64", "-18446744073709551611",
			"\t-18446744073709551611", "", NULL };

		for (int i = 0; bad[i]; i++) {
			char want[96];

			setenv("GMAP_MAX_MAPPED", bad[i], 1);
			snprintf(want, sizeof(want), "GMAP_MAX_MAPPED='%s' is not "
				 "valid: expected a number", bad[i]);
			CU_ASSERT(refused(&o, want));
		}
	}
	unsetenv("GMAP_MAX_MAPPED");
	setenv("GMAP_FAULT_AROUND", "257", 1);
	CU_ASSERT(refused(&o, "GMAP_FAULT_AROUND='257' is not valid: expected a number from 0 to 256"));
	unsetenv("GMAP_FAULT_AROUND");
	o.fault_around = 300;
	CU_ASSERT(refused(&o, "fault_around 300 is too many"));
	o.fault_around = 0;
	o.fault_around_dir = (enum gmap_around_dir)9;
	CU_ASSERT(refused(&o, "fault_around_dir 9 is not a gmap_around_dir"));
	o.fault_around_dir = GMAP_AROUND_FORWARD;
	o.max_vmas = 7;
	CU_ASSERT(refused(&o, "max_vmas 7 is out of range: expected 0 or 8 .. 2^31"));
	o.max_vmas = 0;
	o.max_meta = 4096;
	CU_ASSERT(refused(&o, "max_meta 4096 is out of range: expected 0 or 65536 .. 2^40 bytes"));
	o.max_meta = 0;
	setenv("GMAP_MAX_META", "1k", 1);
	CU_ASSERT(refused(&o, "GMAP_MAX_META='1k' is not valid: expected a number from 65536"));
	unsetenv("GMAP_MAX_META");
	setenv("GMAP_MAX_VMAS", "4", 1);
	CU_ASSERT(refused(&o, "GMAP_MAX_VMAS='4' is not valid: expected a number from 8"));
	unsetenv("GMAP_MAX_VMAS");
	/* A variable overrides its option. */
	o.max_meta = 65536;
	CU_ASSERT_EQUAL(opened_with(&o, "GMAP_MAX_META", "1048576").max_meta,
			1048576);
	o.max_meta = 0;
	o.max_vmas = 5000;
	st = opened_with(&o, "GMAP_MAX_VMAS", "100");
	CU_ASSERT_EQUAL(st.max_vmas, 100);
	/* max_mapped follows the VMAs when not set: two per grant. */
	CU_ASSERT_EQUAL(st.max_mapped, 50);
	o = opts_of(100, 0, GMAP_AROUND_FORWARD);
	CU_ASSERT_EQUAL(opened_with(&o, "GMAP_MAX_MAPPED", "32").max_mapped, 32);
	/* The default is derived. */
	o = opts_of(0, 0, GMAP_AROUND_FORWARD);
	o.nr_refs = 1u << 20;
	w = gmap_open(T_DOMID, &o);
	CU_ASSERT_FATAL(w != NULL);
	gmap_stats(w, &st, sizeof(st));
	/* At most 3/8 of vm.max_map_count, and some thousands on any
	 * usual system (the default count is 65530). */
	printf("\n    default budget: %llu mapped grants, %llu VMAs, %llu "
	       "bytes of metadata ", (unsigned long long)st.max_mapped,
	       (unsigned long long)st.max_vmas, (unsigned long long)st.max_meta);
	CU_ASSERT_EQUAL(st.max_meta, st.max_vmas * 2304 < (16u << 20) ?
			16u << 20 : st.max_vmas * 2304);
	CU_ASSERT(st.max_vmas / 2 == st.max_mapped);
	CU_ASSERT(st.max_mapped >= 1000);
	CU_ASSERT(st.max_mapped < (1u << 20));
	{
		/* A second window's default leaves room for the first's. */
		struct gmap_sim_domain *d2 = gmap_sim_domain_create(T_DOMID + 1, 4, 4);
		struct gmap_window *w2;
		struct gmap_stats st2;
		long max = 0;
		FILE *f = fopen("/proc/sys/vm/max_map_count", "r");

		if (f) {
			if (fscanf(f, "%ld", &max) != 1)
				max = 0;
			fclose(f);
		}
		CU_ASSERT_FATAL(d2 != NULL);
		w2 = gmap_open(T_DOMID + 1, &o);
		CU_ASSERT_FATAL(w2 != NULL);
		gmap_stats(w2, &st2, sizeof(st2));
		printf("and a second window's: %llu ",
		       (unsigned long long)st2.max_mapped);
		CU_ASSERT(st2.max_mapped < st.max_mapped);
		if (max > 0)
			CU_ASSERT(st.max_vmas + st2.max_vmas < (uint64_t)max);
		gmap_close(w2);
		gmap_sim_domain_destroy(d2);
	}
	gmap_close(w);
	gmap_sim_domain_destroy(d);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "4 threads through a budget of 64: bounded, nothing lost", test_budget_bounds },
		{ "the evictor stops at the low watermark", test_low_watermark },
		{ "budget all pinned: ENOSPC for a pin, SIGSEGV for a fault", test_all_pinned },
		{ "a fault waits for an unpin when the budget is full", test_fault_waits_for_unpin },
		{ "fault-around: forward, backward, both; stops at holes and r/o", test_fault_around },
		{ "idle timeout: unpinned grants go back to the guest", test_idle_timeout },
		{ "a map is a VMA: runs whole, neighbours never merged", test_runs_are_vmas },
		{ "the window's count of VMAs follows random operations", test_vma_count_follows },
		{ "a budget of VMAs: scattered grants evicted, bad pages count", test_vma_budget },
		{ "a budget of metadata: idle leaves freed, reads right", test_meta_budget },
		{ "settings: bad values refused by name", test_settings },
		{ NULL, NULL },
	};
	return t_main("evict", cases);
}
