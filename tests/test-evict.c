/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-evict.c - the budget of mapped grants, the evictor and the budget
 * of metadata: the window stays within its budget (counted by the
 * simulated hypervisor and in /proc/self/maps), eviction loses no data, a
 * full budget of pinned grants ends in a clear error, idle grants go back
 * to the guest.  Fault-around is test-around's, VMAs test-vmas', and the
 * settings test-options'.
 */
#include "helpers.h"
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
	struct gmap_open_opts o = t_budget_opts(64, 0, GMAP_AROUND_FORWARD);
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
	       "%llu by the window's count, at most %llu) ",
	       (unsigned long long)st.max_mapped, bad,
	       (unsigned long long)st.evictions,
	       (unsigned long long)st.mapped_peak,
	       (unsigned long long)di.maps_peak,
	       (unsigned long long)wt.max_live,
	       (unsigned long long)wt.samples, vmas, wt.max_vmas,
	       (unsigned long long)st.vmas_now,
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
	CU_ASSERT_EQUAL(st.vmas_now, vmas);
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
	struct gmap_open_opts o = t_budget_opts(32, 0, GMAP_AROUND_FORWARD);
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
	struct gmap_open_opts o = t_budget_opts(16, 0, GMAP_AROUND_FORWARD);
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
	struct gmap_open_opts o = t_budget_opts(16, 0, GMAP_AROUND_FORWARD);
	struct sleeper s = { 0 };
	struct gmap_stats st;
	struct t_fx fx;
	pthread_t th;

	CU_ASSERT_FATAL(t_setup_opts(&fx, 64, &o) == 0);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 0, 16, 0, NULL), 0);
	s.p = (volatile uint64_t *)gmap_ref_ptr(fx.w, 40) + 7;
	pthread_create(&th, NULL, sleeper_main, &s);
	/* Inline, it waits in libgmap's SIGBUS handler, asleep. */
	CU_ASSERT_FATAL(T_WAIT_UNTIL(t_inline(fx.w) ?
				     atomic_load(&s.tid) > 0 &&
				     thread_state(atomic_load(&s.tid)) == 'S' :
				     blocked_in_fault(atomic_load(&s.tid)), 10));
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 0, 1), 0);
	CU_ASSERT_EQUAL(t_join_within(th, 10), 0);
	CU_ASSERT_EQUAL(s.seen, t_sig(40, 7));
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.bad_grants, 0);
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
	struct gmap_open_opts o = t_budget_opts(0, 0, GMAP_AROUND_FORWARD);
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

/*
 * A map waits while the evictor unmaps a batch (evict.c: a thread asleep
 * leaves its CPU idle, and the unmaps' TLB flushes need no IPI to it).
 * A budget of 16 is evicted from 15 down to 8: touching refs 0..14 makes
 * the evictor take 0..6, and the sim holds the unmap of ref 0
 * (GMAP_SIM_INJECT_STALL_UNMAP).  A touch of ref 40 meanwhile waits,
 * unmapped; once the unmap goes on, it is served, with its data.
 */
static void test_map_waits_for_batch(void)
{
	struct gmap_open_opts o = t_budget_opts(16, 0, GMAP_AROUND_FORWARD);
	struct sleeper s = { 0 };
	struct gmap_stats st;
	struct t_fx fx;
	unsigned int ok = 0, seen_waiting;
	bool waited;
	pthread_t th;

	CU_ASSERT_FATAL(t_setup_opts(&fx, 64, &o) == 0);
	for (uint32_t r = 0; r < 14; r++)
		ok += ((volatile uint64_t *)gmap_ref_ptr(fx.w, r))[1] ==
		      t_sig(r, 1);
	CU_ASSERT_EQUAL(gmap_sim_inject(fx.d, 0, GMAP_SIM_INJECT_STALL_UNMAP,
					1), 0);
	ok += ((volatile uint64_t *)gmap_ref_ptr(fx.w, 14))[1] == t_sig(14, 1);
	CU_ASSERT_FATAL(T_WAIT_UNTIL((gmap_stats(fx.w, &st, sizeof(st)),
				      st.evicting_now == 7), 10));
	s.p = (volatile uint64_t *)gmap_ref_ptr(fx.w, 40) + 7;
	pthread_create(&th, NULL, sleeper_main, &s);
	waited = T_WAIT_UNTIL((gmap_stats(fx.w, &st, sizeof(st)),
			       st.evict_waits == 1), 10);
	seen_waiting = (unsigned int)t_ref(&fx, 40).maps_total;
	CU_ASSERT(waited);
	/* Not mapped while the batch is in flight. */
	CU_ASSERT_EQUAL(seen_waiting, 0);
	CU_ASSERT_EQUAL(st.evicting_now, 7);
	CU_ASSERT_EQUAL(gmap_sim_inject(fx.d, 0, GMAP_SIM_INJECT_NONE, 0), 0);
	CU_ASSERT_EQUAL(t_join_within(th, 10), 0);
	CU_ASSERT_EQUAL(s.seen, t_sig(40, 7));
	CU_ASSERT(T_WAIT_UNTIL((gmap_stats(fx.w, &st, sizeof(st)),
				!st.evicting_now), 10));
	printf("\n    15 reads, %u right; a fault during a held batch of %llu "
	       "evictions waited (%llu wait), mapped %u times meanwhile, then "
	       "read %s ", ok, (unsigned long long)st.evictions,
	       (unsigned long long)st.evict_waits, seen_waiting,
	       s.seen == t_sig(40, 7) ? "right" : "wrong");
	CU_ASSERT_EQUAL(ok, 15);
	CU_ASSERT_EQUAL(st.evictions, 7);
	CU_ASSERT_EQUAL(st.evict_waits, 1);
	CU_ASSERT_EQUAL(t_ref(&fx, 40).maps_total, 1);
	CU_ASSERT_EQUAL(t_ref(&fx, 0).maps_now, 0);
	CU_ASSERT_EQUAL(st.bad_grants, 0);
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
	struct gmap_open_opts o = t_budget_opts(32, 0, GMAP_AROUND_FORWARD);
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

int main(void)
{
	static const struct t_case cases[] = {
		{ "4 threads through a budget of 64: bounded, nothing lost", test_budget_bounds },
		{ "the evictor stops at the low watermark", test_low_watermark },
		{ "budget all pinned: ENOSPC for a pin, SIGSEGV for a fault", test_all_pinned },
		{ "a fault waits for an unpin when the budget is full", test_fault_waits_for_unpin },
		{ "a map waits for the evictor's batch in flight", test_map_waits_for_batch },
		{ "idle timeout: unpinned grants go back to the guest", test_idle_timeout },
		{ "a budget of metadata: idle leaves freed, reads right", test_meta_budget },
		{ NULL, NULL },
	};
	return t_main("evict", cases);
}
