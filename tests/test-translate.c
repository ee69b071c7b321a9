/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-translate.c - grant DMA address <-> pointer, and opening windows
 * with good and bad options. */
#include "helpers.h"

static void test_translate_valid(void)
{
	struct t_fx fx;
	uint8_t *base;
	void *p;
	uint64_t dma;

	CU_ASSERT_FATAL(t_setup(&fx, 16, 1024, 1) == 0);
	base = gmap_base(fx.w);
	/* ref 5, offset 0x123: bit 63 | 5 << 12 | 0x123 */
	p = gmap_translate(fx.w, (1ULL << 63) | (5ULL << 12) | 0x123, 16);
	CU_ASSERT_PTR_EQUAL(p, base + 5 * 4096 + 0x123);
	CU_ASSERT_PTR_EQUAL(gmap_ref_ptr(fx.w, 5), base + 5 * 4096);
	CU_ASSERT_EQUAL(gmap_dma_of(fx.w, base + 5 * 4096 + 0x123, &dma), 0);
	CU_ASSERT_EQUAL(dma, (1ULL << 63) | (5ULL << 12) | 0x123);
	/* The last byte of the window, and a buffer ending exactly there. */
	p = gmap_translate(fx.w, (1ULL << 63) | (1023ULL << 12) | 0xfff, 1);
	CU_ASSERT_PTR_EQUAL(p, base + 1024 * 4096 - 1);
	p = gmap_translate(fx.w, (1ULL << 63) | (1022ULL << 12), 8192);
	CU_ASSERT_PTR_EQUAL(p, base + 1022 * 4096);
	/* len 0 is a 1-byte check */
	CU_ASSERT_PTR_NOT_NULL(gmap_translate(fx.w, (1ULL << 63), 0));
	/* Translation maps nothing. */
	CU_ASSERT_EQUAL(t_ref(&fx, 5).maps_total, 0);
	CU_ASSERT_EQUAL(gmap_nr_refs(fx.w), 1024);
	CU_ASSERT_EQUAL(gmap_domid(fx.w), T_DOMID);
	CU_ASSERT_STRING_EQUAL(gmap_backend_name(fx.w), "sim");
	t_teardown(&fx);
}

static void test_translate_invalid(void)
{
	struct t_fx fx;
	uint64_t dma = 0;
	uint8_t *base;

	CU_ASSERT_FATAL(t_setup(&fx, 16, 1024, 1) == 0);
	base = gmap_base(fx.w);
	/* No grant bit: a guest-physical address is not ours to map. */
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_translate(fx.w, 5ULL << 12, 1));
	CU_ASSERT_EQUAL(errno, EINVAL);
	/* First ref past the window. */
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_translate(fx.w, (1ULL << 63) | (1024ULL << 12), 1));
	CU_ASSERT_EQUAL(errno, ERANGE);
	/* Every bit set: the largest ref a guest can send. */
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_translate(fx.w, ~0ULL, 1));
	CU_ASSERT_EQUAL(errno, ERANGE);
	/* A buffer that starts inside and runs past the end. */
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_translate(fx.w, (1ULL << 63) | (1023ULL << 12), 4097));
	CU_ASSERT_EQUAL(errno, ERANGE);
	/* A length that would wrap the address space. */
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_translate(fx.w, (1ULL << 63) | 4096, SIZE_MAX));
	CU_ASSERT_EQUAL(errno, ERANGE);
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_ref_ptr(fx.w, 1024));
	CU_ASSERT_EQUAL(errno, ERANGE);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_dma_of(fx.w, base - 1, &dma), -1);
	CU_ASSERT_EQUAL(errno, ERANGE);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_dma_of(fx.w, base + 1024 * 4096, &dma), -1);
	CU_ASSERT_EQUAL(errno, ERANGE);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_dma_of(fx.w, &dma, &dma), -1);
	CU_ASSERT_EQUAL(errno, ERANGE);
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_translate(NULL, 1ULL << 63, 1));
	CU_ASSERT_EQUAL(errno, EINVAL);
	t_teardown(&fx);
}

static void test_full_space(void)
{
	struct t_fx fx;
	void *p;

	T_SKIP_UNDER_TSAN();
	CU_ASSERT_FATAL(t_setup(&fx, 16, GMAP_MAX_REFS, 1) == 0);
	CU_ASSERT_EQUAL(gmap_nr_refs(fx.w), GMAP_MAX_REFS);
	p = gmap_translate(fx.w, (1ULL << 63) | (0xffffffffULL << 12) | 0xfff, 1);
	CU_ASSERT_PTR_EQUAL(p, (uint8_t *)gmap_base(fx.w) + (16ULL << 40) - 1);
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_translate(fx.w, (1ULL << 63) | (1ULL << 44), 1));
	CU_ASSERT_EQUAL(errno, ERANGE);
	t_teardown(&fx);
}

static struct gmap_window *open_with(struct gmap_open_opts *o)
{
	o->size = sizeof(*o);
	o->logger = &t_log.xtl;
	if (!o->nr_refs)
		o->nr_refs = 64;
	return gmap_open(T_DOMID, o);
}

static void test_open_bad_options(void)
{
	struct gmap_sim_domain *d = gmap_sim_domain_create(T_DOMID, 4, 4);
	struct gmap_open_opts o;
	struct gmap_window *w, *w2;

	CU_ASSERT_FATAL(d != NULL);
	memset(&o, 0, sizeof(o));
	o.nr_refs = GMAP_MAX_REFS + 1;
	errno = 0;
	t_log_clear();
	CU_ASSERT_PTR_NULL(open_with(&o));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT(t_log_has("nr_refs 4294967297 is too large"));

	memset(&o, 0, sizeof(o));
	o.handler_threads = 1000;
	errno = 0;
	CU_ASSERT_PTR_NULL(open_with(&o));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT(t_log_has("handler_threads 1000"));

	memset(&o, 0, sizeof(o));
	o.backend = (enum gmap_backend)42;
	errno = 0;
	CU_ASSERT_PTR_NULL(open_with(&o));
	CU_ASSERT_EQUAL(errno, EINVAL);

	memset(&o, 0, sizeof(o));
	o.logger = &t_log.xtl;
	o.nr_refs = 64;
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_open(0x7ff0, &o));
	CU_ASSERT_EQUAL(errno, EINVAL);

	/* No simulated domain 9 in this process. */
	errno = 0;
	t_log_clear();
	CU_ASSERT_PTR_NULL(gmap_open(9, &o));
	CU_ASSERT_EQUAL(errno, ESRCH);
	CU_ASSERT(t_log_has("no simulated domain 9"));

	/* Bad environment: refused by name, never guessed. */
	memset(&o, 0, sizeof(o));
	setenv("GMAP_BACKEND", "xem", 1);
	errno = 0;
	t_log_clear();
	CU_ASSERT_PTR_NULL(open_with(&o));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT(t_log_has("GMAP_BACKEND='xem'"));
	unsetenv("GMAP_BACKEND");

	setenv("GMAP_LOG", "loud", 1);
	memset(&o, 0, sizeof(o));
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_open(T_DOMID, &o)); /* default logger */
	CU_ASSERT_EQUAL(errno, EINVAL);
	setenv("GMAP_LOG", "error", 1);
	memset(&o, 0, sizeof(o));
	o.nr_refs = 64;
	w = gmap_open(T_DOMID, &o); /* the default logger, at "error" */
	CU_ASSERT_PTR_NOT_NULL(w);
	unsetenv("GMAP_LOG");

	/* One window per (process, domain). */
	memset(&o, 0, sizeof(o));
	errno = 0;
	w2 = open_with(&o);
	CU_ASSERT_PTR_NULL(w2);
	CU_ASSERT_EQUAL(errno, EEXIST);
	gmap_close(w2);
	gmap_close(w);
	/* ...and a closed one can be opened again. */
	w = open_with(&o);
	CU_ASSERT_PTR_NOT_NULL(w);
	gmap_close(w);
	gmap_sim_domain_destroy(d);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "translate valid addresses", test_translate_valid },
		{ "translate refuses every invalid form", test_translate_invalid },
		{ "full 32-bit grant space window", test_full_space },
		{ "open refuses bad options and environment", test_open_bad_options },
		{ NULL, NULL },
	};
	return t_main("translate", cases);
}
