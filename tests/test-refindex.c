/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-refindex.c - the xen backend's ref -> run index (refindex.c),
 * against a model: random puts, takes and finds, and probe runs that wrap
 * round the end of the table, where backward-shift deletion is subtle.
 * The index is otherwise exercised only on real Xen (make check-xen).
 */
#include "helpers.h"
#include "refindex.h"

/* The index's own hash, to build probe runs on purpose. */
static size_t home(uint32_t ref, size_t cap)
{
	return (size_t)((ref * 2654435761u) & (cap - 1));
}

/* The first @n refs from @from whose home slot in a table of @cap is @slot. */
static void refs_with_home(size_t slot, size_t cap, uint32_t from, int n,
			   uint32_t *out)
{
	for (uint32_t r = from; n > 0; r++)
		if (home(r, cap) == slot) {
			*out++ = r;
			n--;
		}
}

static void *val(uint32_t ref)
{
	return (void *)(uintptr_t)(((uint64_t)ref << 4) | 8);
}

/*
 * Four refs at home 254 and two at home 0 of a 256-slot table fill slots
 * 254, 255, 0, 1, 2, 3: a probe run across the end.  Taking them out one
 * by one, in every order of a few, must leave every other one findable.
 */
static void test_wrapping_run(void)
{
	uint32_t a[4], b[2], all[6];
	int orders = 0, checks = 0;
	size_t grown = 0;

	refs_with_home(254, 256, 1, 4, a);
	refs_with_home(0, 256, 1, 2, b);
	memcpy(all, a, sizeof(a));
	memcpy(all + 4, b, sizeof(b));
	/* Take order: rotate the six refs, and also reverse them. */
	for (int rot = 0; rot < 6; rot++)
		for (int rev = 0; rev < 2; rev++) {
			struct gmap_refindex x = { 0 };
			bool gone[6] = { false };

			for (int i = 0; i < 6; i++)
				CU_ASSERT_EQUAL_FATAL(gmap_refindex_put(&x, all[i],
						      val(all[i]), &grown), 0);
			CU_ASSERT_EQUAL(x.cap, 256);
			for (int t = 0; t < 6; t++) {
				int k = rev ? (rot + 5 - t) % 6 : (rot + t) % 6;
				void *v = NULL;

				CU_ASSERT_EQUAL(gmap_refindex_take(&x, all[k], &v), 0);
				CU_ASSERT_PTR_EQUAL(v, val(all[k]));
				gone[k] = true;
				for (int i = 0; i < 6; i++, checks++)
					CU_ASSERT_PTR_EQUAL(gmap_refindex_find(&x, all[i]),
							    gone[i] ? NULL : val(all[i]));
			}
			CU_ASSERT_EQUAL(x.len, 0);
			gmap_refindex_free(&x);
			orders++;
		}
	printf("%d take orders of a run across the table's end, %d lookups ",
	       orders, checks);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/*
 * 300,000 random operations over a pool of 3000 refs (small ones, which
 * collide in the low bits, and any up to 2^32 - 1): put of a ref not in,
 * take of one in, take of one not in; the length after each, and every
 * ref of the pool looked up every 1000 operations.
 */
static void test_against_model(void)
{
	enum { POOL = 3000, OPS = 300000 };
	static uint32_t pool[POOL];
	static bool in[POOL];
	struct gmap_refindex x = { 0 };
	size_t grown = 0, n = 0, lookups = 0, puts = 0, takes = 0;

	for (int i = 0; i < POOL; i++)
		pool[i] = i < POOL / 2 ? (uint32_t)i * 64 : (uint32_t)next();
	pool[POOL - 1] = UINT32_MAX;
	for (int op = 0; op < OPS; op++) {
		int i = (int)(next() % POOL);
		void *v = NULL;

		if (!in[i] && next() % 3) {
			CU_ASSERT_EQUAL_FATAL(gmap_refindex_put(&x, pool[i],
					      val(pool[i]), &grown), 0);
			in[i] = true;
			n++;
			puts++;
		} else if (in[i]) {
			CU_ASSERT_EQUAL_FATAL(gmap_refindex_take(&x, pool[i], &v), 0);
			CU_ASSERT_PTR_EQUAL_FATAL(v, val(pool[i]));
			in[i] = false;
			n--;
			takes++;
		} else {
			CU_ASSERT_EQUAL_FATAL(gmap_refindex_take(&x, pool[i], &v), -1);
		}
		CU_ASSERT_EQUAL_FATAL(x.len, n);
		if (op % 1000 == 999)
			for (int k = 0; k < POOL; k++, lookups++)
				if (gmap_refindex_find(&x, pool[k]) !=
				    (in[k] ? val(pool[k]) : NULL)) {
					printf("\n    op %d: ref %u %s ", op, pool[k],
					       in[k] ? "lost" : "found after its take");
					CU_FAIL_FATAL("the index disagrees with the model");
				}
	}
	/* At most half full: the table grew with what it held. */
	CU_ASSERT(x.len * 2 <= x.cap);
	CU_ASSERT_EQUAL(grown, x.cap * sizeof(struct gmap_refindex_slot));
	gmap_refindex_free(&x);
	printf("%zu puts, %zu takes, %zu lookups agreed with the model ", puts,
	       takes, lookups);
}

static void test_empty(void)
{
	struct gmap_refindex x = { 0 };
	void *v = NULL;

	CU_ASSERT_EQUAL(gmap_refindex_take(&x, 5, &v), -1);
	CU_ASSERT_PTR_NULL(gmap_refindex_find(&x, 5));
	gmap_refindex_free(&x);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "an empty index has nothing", test_empty },
		{ "a probe run across the table's end, taken in any order", test_wrapping_run },
		{ "random puts and takes agree with a model", test_against_model },
		{ NULL, NULL },
	};
	return t_main("refindex", cases);
}
