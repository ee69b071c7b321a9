/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-close.c - closing a window: threads waiting on faults are woken
 * (SIGSEGV, never left blocked) and every grant is given back. */
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

int main(void)
{
	static const struct t_case cases[] = {
		{ "close wakes threads waiting on a fault", test_close_with_waiters },
		{ "close unmaps touched and pinned grants", test_close_gives_back },
		{ NULL, NULL },
	};
	return t_main("close", cases);
}
