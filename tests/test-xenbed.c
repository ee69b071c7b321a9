/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-xenbed.c - the xen backend on a real hypervisor.
 *
 * Runs inside dom0 of the test bed (tests/xenbed/run.sh, make check-xen):
 * this domain grants its own pages to itself with gntalloc (the granter in
 * tools/common/granter.c) and maps them back through a window on the xen
 * backend, so the grants, the hypervisor's checks and gntdev are all real.  Each
 * claim made on sim is checked again here.  Outside a Xen domain it has
 * nothing to run against and exits 77 (skipped).
 */
#include <sys/mman.h>

#include "helpers.h"
#include "granter.h"
#include "gmap-pattern.h"

#define SELF 0               /* dom0 grants to itself */
#define WIN_REFS 65536       /* dom0's table holds 32760 refs by default */

static struct xg xg;

static void fill(struct xg_grant *g, uint32_t seed)
{
	gmap_pattern_fill(g->page, g->ref, seed);
}

static int page_is(const volatile uint8_t *p, uint32_t ref, uint32_t seed)
{
	return gmap_pattern_diff(p, ref, seed) == GMAP_PATTERN_PAGE;
}

static struct gmap_window *open_xen(unsigned int handlers)
{
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_XEN,
		.nr_refs = WIN_REFS, .handler_threads = handlers,
		.logger = &t_log.xtl,
	};

	struct gmap_window *w;

	t_log_clear();
	w = gmap_open(SELF, &o);
	if (!w)
		printf("gmap_open: %s; log:\n%.*s", strerror(errno),
		       (int)t_log.len, t_log.buf);
	return w;
}

static uint8_t *at(struct gmap_window *w, uint32_t ref)
{
	return gmap_ref_ptr(w, ref);
}

/* First touch maps the right page, and writes are seen both ways. */
static void test_first_touch(void)
{
	struct xg_grant *g[4];
	struct gmap_window *w;
	struct gmap_stats st;
	uint8_t *p;
	int i;

	for (i = 0; i < 4; i++) {
		g[i] = xg_grant(&xg, SELF, true);
		CU_ASSERT_FATAL(g[i] != NULL);
		fill(g[i], 1);
	}
	w = open_xen(1);
	CU_ASSERT_FATAL(w != NULL);
	for (i = 0; i < 4; i++) {
		p = at(w, g[i]->ref);
		CU_ASSERT(page_is(p, g[i]->ref, 1));
		p[10] = 0xa5;                         /* backend -> guest */
		CU_ASSERT_EQUAL(g[i]->page[10], 0xa5);
		g[i]->page[20] = 0x5a;                /* guest -> backend */
		CU_ASSERT_EQUAL(p[20], 0x5a);
	}
	gmap_stats(w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.maps, 4);
	CU_ASSERT_EQUAL(st.mapped_now, 4);
	printf("4 grants: %llu faults, %llu maps, data both ways ",
	       (unsigned long long)st.faults, (unsigned long long)st.maps);
	gmap_close(w);
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(xg_end(&xg, g[i]), 0);
}

struct racer {
	uint8_t *p;
	uint32_t ref;
	_Atomic int *go;
	int ok;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	while (!atomic_load(r->go))
		;
	r->ok = page_is(r->p, r->ref, 2);
	return NULL;
}

/* N threads faulting one grant make one map. */
static void test_threads_one_map(void)
{
	enum { N = 8 };
	struct racer r[N];
	pthread_t th[N];
	_Atomic int go = 0;
	struct xg_grant *g = xg_grant(&xg, SELF, true);
	struct gmap_window *w;
	struct gmap_stats st;
	int i, ok = 0;

	CU_ASSERT_FATAL(g != NULL);
	fill(g, 2);
	w = open_xen(2);
	CU_ASSERT_FATAL(w != NULL);
	for (i = 0; i < N; i++) {
		r[i] = (struct racer){ at(w, g->ref), g->ref, &go, 0 };
		pthread_create(&th[i], NULL, race, &r[i]);
	}
	atomic_store(&go, 1);
	for (i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(t_join_within(th[i], 30), 0);
		ok += r[i].ok;
	}
	gmap_stats(w, &st, sizeof(st));
	CU_ASSERT_EQUAL(ok, N);
	CU_ASSERT_EQUAL(st.maps, 1);
	printf("%d threads: %d read the page, %llu faults, %llu map ", N, ok,
	       (unsigned long long)st.faults, (unsigned long long)st.maps);
	gmap_close(w);
	CU_ASSERT_EQUAL(xg_end(&xg, g), 0);
}

/* A read-only grant reads, and a write never reaches the page. */
static void test_readonly(void)
{
	struct xg_grant *g = xg_grant(&xg, SELF, false);
	struct gmap_window *w;
	struct gmap_error err;
	void *addr = NULL;

	CU_ASSERT_FATAL(g != NULL);
	fill(g, 3);
	w = open_xen(1);
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT(page_is(at(w, g->ref), g->ref, 3));
	CU_ASSERT_EQUAL(t_touch((volatile uint64_t *)at(w, g->ref), 1, 0, NULL,
				&addr), 1);
	CU_ASSERT_PTR_EQUAL(addr, at(w, g->ref));
	CU_ASSERT(t_log_has("read-only"));
	CU_ASSERT(page_is(g->page, g->ref, 3));
	/* A writable pin of it is refused with Xen's status. */
	CU_ASSERT_EQUAL(gmap_pin(w, g->ref, 1, GMAP_PIN_WRITE, &err), -1);
	CU_ASSERT(err.status != 0);
	gmap_close(w);
	CU_ASSERT_EQUAL(xg_end(&xg, g), 0);
}

/* A grant that does not exist: SIGSEGV with Xen's status, no hang. */
static void test_bad_grant(void)
{
	struct gmap_window *w = open_xen(1);
	struct gmap_error err;
	uint32_t ref = 32000;   /* in dom0's table, never granted here */
	void *addr = NULL;

	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT_EQUAL(t_touch((volatile uint64_t *)at(w, ref), 0, 0, NULL,
				&addr), 1);
	CU_ASSERT_PTR_EQUAL(addr, at(w, ref));
	CU_ASSERT(t_log_has("GNTST_"));
	CU_ASSERT_EQUAL(gmap_pin(w, ref, 1, GMAP_PIN_READ, &err), -1);
	CU_ASSERT(err.status != 0 && err.ref == ref);
	printf("ref %u: status %d (%s) ", ref, err.status,
	       gmap_status_str(err.status));
	gmap_close(w);
}

/* After the last unpin the granter can end access: the grant is gone,
 * a new map of it fails. */
static void test_last_unpin_frees(void)
{
	struct xg_grant *g = xg_grant(&xg, SELF, true);
	struct gmap_window *w;
	struct gmap_error err;
	uint32_t ref;

	CU_ASSERT_FATAL(g != NULL);
	ref = g->ref;
	fill(g, 4);
	w = open_xen(1);
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT_EQUAL(gmap_pin(w, ref, 1, GMAP_PIN_WRITE, &err), 0);
	CU_ASSERT_EQUAL(gmap_pin(w, ref, 1, GMAP_PIN_WRITE, &err), 0);
	CU_ASSERT(page_is(at(w, ref), ref, 4));
	CU_ASSERT_EQUAL(gmap_unpin(w, ref, 1), 0);   /* one pin left */
	CU_ASSERT_EQUAL(gmap_unpin(w, ref, 1), 0);   /* unmapped now  */
	CU_ASSERT_EQUAL(xg_end(&xg, g), 0);
	/* Ended at once (not deferred): the entry is cleared, so the
	 * hypervisor refuses a new map. */
	CU_ASSERT_EQUAL(gmap_pin(w, ref, 1, GMAP_PIN_READ, &err), -1);
	printf("ref %u after end: status %d ", ref, err.status);
	gmap_close(w);
}

/* VMAs of this process overlapping [@p, @p + @len). */
static unsigned int vmas_in(const void *p, size_t len)
{
	uintptr_t lo = (uintptr_t)p, hi = lo + len, a, b;
	unsigned int n = 0;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a < hi && b > lo)
			n++;
	if (f)
		fclose(f);
	return n;
}

static int by_ref(const void *a, const void *b)
{
	const struct xg_grant *x = *(struct xg_grant *const *)a;
	const struct xg_grant *y = *(struct xg_grant *const *)b;

	return x->ref < y->ref ? -1 : x->ref > y->ref;
}

/*
 * A pin of a run of refs is one gntdev map (one VMA), and its grants still
 * come back one by one: unpinning one in the middle unmaps that grant at
 * once (the granter ends it, and it can no longer be mapped) while the
 * rest of the run stays; the last unpin frees the run.
 */
static void test_run_is_one_map(void)
{
	enum { N = 16, RUN = 8 };
	struct xg_grant *g[N], **run = NULL;
	struct gmap_window *w;
	struct gmap_error err;
	uint32_t first, i;
	unsigned int vmas;
	uint8_t *p;

	for (i = 0; i < N; i++) {
		g[i] = xg_grant(&xg, SELF, true);
		CU_ASSERT_FATAL(g[i] != NULL);
		fill(g[i], 6);
	}
	/* The kernel picks the refs: find RUN in a row. */
	qsort(g, N, sizeof(g[0]), by_ref);
	for (i = 0; i + RUN <= N && !run; i++)
		if (g[i + RUN - 1]->ref == g[i]->ref + RUN - 1)
			run = &g[i];
	CU_ASSERT_FATAL(run != NULL);
	first = run[0]->ref;
	w = open_xen(1);
	CU_ASSERT_FATAL(w != NULL);
	p = at(w, first);
	CU_ASSERT_EQUAL(gmap_pin(w, first, RUN, GMAP_PIN_WRITE, &err), 0);
	vmas = vmas_in(p, RUN * GMAP_PAGE_SIZE);
	CU_ASSERT_EQUAL(vmas, 1);
	CU_ASSERT(vmas_agree(w));
	for (i = 0; i < RUN; i++)
		CU_ASSERT(page_is(p + i * GMAP_PAGE_SIZE, first + i, 6));

	/* One grant of the run goes back alone. */
	CU_ASSERT_EQUAL(gmap_unpin(w, first + 3, 1), 0);
	CU_ASSERT_EQUAL(xg_end(&xg, run[3]), 0);
	CU_ASSERT_EQUAL(gmap_pin(w, first + 3, 1, GMAP_PIN_READ, &err), -1);
	for (i = 0; i < RUN; i++)
		if (i != 3)
			CU_ASSERT(page_is(p + i * GMAP_PAGE_SIZE, first + i, 6));
	CU_ASSERT(vmas_agree(w));
	printf("%u refs pinned as %u VMA(s); ref %u given back alone ",
	       (unsigned int)RUN, vmas, first + 3);

	/* The rest, then all of them are gone. */
	CU_ASSERT_EQUAL(gmap_unpin(w, first, 3), 0);
	CU_ASSERT_EQUAL(gmap_unpin(w, first + 4, RUN - 4), 0);
	for (i = 0; i < RUN; i++)
		if (i != 3)
			CU_ASSERT_EQUAL(xg_end(&xg, run[i]), 0);
	for (i = 0; i < RUN; i++)
		CU_ASSERT_EQUAL(gmap_pin(w, first + i, 1, GMAP_PIN_READ, &err), -1);
	gmap_close(w);
	for (i = 0; i < N; i++)
		if (g[i]->page)
			CU_ASSERT_EQUAL(xg_end(&xg, g[i]), 0);
}

/*
 * Fault-around next to a read-only grant: the writable run that includes
 * it is refused by gntdev after its mmap took the placeholders away; they
 * must be placeholders again, so that the read-only grant still maps on
 * its own touch (a hole would fault for ever).
 */
static void test_around_readonly(void)
{
	enum { N = 8 };
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_XEN,
		.nr_refs = WIN_REFS, .logger = &t_log.xtl, .fault_around = 4,
		.fault_around_dir = GMAP_AROUND_FORWARD,
		.bad_policy = GMAP_BAD_SIGNAL_QUIET,
	};
	struct xg_grant *g[N], *wr = NULL, *ro = NULL;
	struct gmap_window *w;
	uint64_t seen = 0;
	uint32_t i;

	for (i = 0; i < N; i++) {
		g[i] = xg_grant(&xg, SELF, i % 2);
		CU_ASSERT_FATAL(g[i] != NULL);
		fill(g[i], 7);
	}
	qsort(g, N, sizeof(g[0]), by_ref);
	for (i = 0; i + 1 < N && !wr; i++)
		if (g[i]->writable && !g[i + 1]->writable &&
		    g[i + 1]->ref == g[i]->ref + 1) {
			wr = g[i];
			ro = g[i + 1];
		}
	CU_ASSERT_FATAL(wr != NULL);
	w = gmap_open(SELF, &o);
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT(page_is(at(w, wr->ref), wr->ref, 7));
	CU_ASSERT_EQUAL(t_touch((volatile uint64_t *)at(w, ro->ref), 0, 0,
				&seen, NULL), 0);
	CU_ASSERT(page_is(at(w, ro->ref), ro->ref, 7));
	CU_ASSERT_EQUAL(t_touch((volatile uint64_t *)at(w, ro->ref), 1, 1,
				NULL, NULL), 1);
	CU_ASSERT(page_is(ro->page, ro->ref, 7));
	gmap_close(w);
	for (i = 0; i < N; i++)
		CU_ASSERT_EQUAL(xg_end(&xg, g[i]), 0);
}

/* A 1000-grant window, every page touched and checked. */
static void test_thousand(void)
{
	enum { N = 1000 };
	struct xg_grant *g[N];
	struct gmap_window *w;
	struct gmap_stats st;
	unsigned int i, good = 0, seen = 0;

	for (i = 0; i < N; i++) {
		g[i] = xg_grant(&xg, SELF, true);
		CU_ASSERT_FATAL(g[i] != NULL);
		fill(g[i], 5);
	}
	w = open_xen(2);
	CU_ASSERT_FATAL(w != NULL);
	for (i = 0; i < N; i++) {
		uint8_t *p = at(w, g[i]->ref);

		good += page_is(p, g[i]->ref, 5);
		p[4095] = (uint8_t)i;
		seen += g[i]->page[4095] == (uint8_t)i;
	}
	gmap_stats(w, &st, sizeof(st));
	CU_ASSERT_EQUAL(good, N);
	CU_ASSERT_EQUAL(seen, N);
	CU_ASSERT_EQUAL(st.maps, N);
	CU_ASSERT_EQUAL(st.map_failures, 0);
	printf("%u grants: %u pages verified (4 KiB each), %u writes seen by "
	       "the granter, %llu faults, %llu maps ", (unsigned int)N, good, seen,
	       (unsigned long long)st.faults, (unsigned long long)st.maps);
	gmap_close(w);
	for (i = 0; i < N; i++)
		CU_ASSERT_EQUAL(xg_end(&xg, g[i]), 0);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "first touch maps the right page, writes both ways", test_first_touch },
		{ "threads faulting one grant make one map", test_threads_one_map },
		{ "a read-only grant refuses writes", test_readonly },
		{ "a bad grant ends in SIGSEGV with Xen's status", test_bad_grant },
		{ "after the last unpin the granter ends access", test_last_unpin_frees },
		{ "a pinned run is one gntdev map, given back grant by grant", test_run_is_one_map },
		{ "fault-around next to a read-only grant leaves it mappable", test_around_readonly },
		{ "a 1000-grant window touched fully, verified", test_thousand },
		{ NULL, NULL },
	};
	int rc;

	if (xg_open(&xg, 1100) < 0) {
		printf("test-xenbed: no /dev/xen/gntalloc (%s): not in a Xen "
		       "domain, skipped\n", strerror(errno));
		return 77;
	}
	rc = t_main("xenbed", cases);
	xg_close(&xg);
	return rc;
}
