/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-rearm.c - turning mapped pages back into fault-armed placeholders
 * while other threads read and write them.  A zero read or a lost write
 * here means an access was served by a fresh anonymous page.
 */
#include "helpers.h"

#define PAGES 8
#define WORKERS 4

struct shared {
	struct t_fx *fx;
	atomic_bool stop;
	atomic_uint_fast64_t accesses, zero_reads, wrong_reads, lost_writes;
	uint64_t last[WORKERS];
};

struct worker {
	struct shared *sh;
	unsigned int id;
};

/*
 * Worker i owns word 100+i of every page: it writes a counter there and
 * reads it straight back, and checks the guest's signature word.  A write
 * into a private page would read back fine but never reach the guest: the
 * final check against guest memory catches that.
 */
static void *work(void *arg)
{
	struct worker *wk = arg;
	struct shared *sh = wk->sh;
	uint64_t n = 0;

	while (!atomic_load(&sh->stop)) {
		for (uint32_t r = 0; r < PAGES; r++) {
			volatile uint64_t *p = gmap_ref_ptr(sh->fx->w, r);
			uint64_t v = ((uint64_t)wk->id << 56) | ++n, sig;

			p[100 + wk->id] = v;
			sig = p[5];
			if (sig == 0)
				atomic_fetch_add(&sh->zero_reads, 1);
			else if (sig != t_sig(r, 5))
				atomic_fetch_add(&sh->wrong_reads, 1);
			if (p[100 + wk->id] != v)
				atomic_fetch_add(&sh->lost_writes, 1);
			atomic_fetch_add(&sh->accesses, 1);
		}
	}
	sh->last[wk->id] = n;
	return NULL;
}

static void churn(int use_pins)
{
	struct t_fx fx;
	struct shared sh = { .fx = &fx };
	struct worker wk[WORKERS];
	pthread_t th[WORKERS];
	struct gmap_stats st;
	unsigned int i, hung = 0, rounds = 0, lost_final = 0;
	struct timespec t0, t1;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 2) == 0);
	for (i = 0; i < WORKERS; i++) {
		wk[i] = (struct worker){ &sh, i };
		pthread_create(&th[i], NULL, work, &wk[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		/* Unmap and re-arm every page while the workers hammer it. */
		if (use_pins) {
			gmap_pin(fx.w, 0, PAGES, GMAP_PIN_WRITE, NULL);
			gmap_unpin(fx.w, 0, PAGES);
		} else {
			gmap_release(fx.w, 0, PAGES);
		}
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 1500);
	atomic_store(&sh.stop, true);
	for (i = 0; i < WORKERS; i++)
		hung += t_join_within(th[i], 30) != 0;
	/* Every worker's last write must be in the guest's memory. */
	for (i = 0; i < WORKERS; i++)
		for (uint32_t r = 0; r < PAGES; r++)
			if (t_guest_word(&fx, r, 100 + i) >> 56 != i ||
			    (t_guest_word(&fx, r, 100 + i) & ((1ull << 56) - 1)) >
			    sh.last[i])
				lost_final++;
	gmap_stats(fx.w, &st, sizeof(st));
	printf("\n    %s x %u rounds under %d workers: %llu accesses, %llu "
	       "unmaps, %llu faults, %llu re-arm waits; zero reads %llu, wrong "
	       "%llu, lost writes %llu, last writes missing %u ",
	       use_pins ? "pin/unpin" : "release", rounds, WORKERS,
	       (unsigned long long)sh.accesses, (unsigned long long)st.unmaps,
	       (unsigned long long)st.faults, (unsigned long long)st.rearm_waits,
	       (unsigned long long)sh.zero_reads,
	       (unsigned long long)sh.wrong_reads,
	       (unsigned long long)sh.lost_writes, lost_final);
	CU_ASSERT_EQUAL(hung, 0);
	CU_ASSERT(rounds > 10);
	CU_ASSERT(st.unmaps > 10);
	CU_ASSERT(sh.accesses > 1000);
	CU_ASSERT_EQUAL(sh.zero_reads, 0);
	CU_ASSERT_EQUAL(sh.wrong_reads, 0);
	CU_ASSERT_EQUAL(sh.lost_writes, 0);
	CU_ASSERT_EQUAL(lost_final, 0);
	t_teardown(&fx);
}

static void test_release_under_access(void)
{
	churn(0);
}

static void test_unpin_under_access(void)
{
	churn(1);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "release while 4 threads read and write", test_release_under_access },
		{ "last unpin while 4 threads read and write", test_unpin_under_access },
		{ NULL, NULL },
	};
	return t_main("rearm", cases);
}
