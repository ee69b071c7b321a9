/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-xen.c - the xen backend where there is no Xen: opening it must fail
 * with a clear message naming /dev/xen/gntdev, and leave nothing behind.
 * On a Xen host this program skips (exit 77): the real-hypervisor tests
 * run in a dom0 (make check-xen).  Built --without-xen, it checks instead
 * that the backend is refused as not built, on any host.
 */
#include <sys/stat.h>

#include "helpers.h"

/* After a refused open, nothing was left registered: a window for domain
 * 3 opens on sim (whose domain 3 the caller made). */
static void opens_on_sim(struct gmap_open_opts *o)
{
	struct gmap_window *w;

	o->backend = GMAP_BACKEND_SIM;
	o->nr_refs = 64;
	w = gmap_open(3, o);
	CU_ASSERT_PTR_NOT_NULL(w);
	gmap_close(w);
}

#ifdef HAVE_XEN_BACKEND
static void test_xen_absent(void)
{
	struct gmap_open_opts o = { .size = sizeof(o), .backend = GMAP_BACKEND_XEN,
				    .logger = &t_log.xtl };
	struct gmap_window *w;

	t_log_clear();
	errno = 0;
	w = gmap_open(3, &o);
	CU_ASSERT_PTR_NULL(w);
	CU_ASSERT_EQUAL(errno, ENOENT);
	CU_ASSERT(t_log_has("cannot open /dev/xen/gntdev"));
	gmap_close(w);
	/* The same through GMAP_BACKEND, with the default options. */
	setenv("GMAP_BACKEND", "xen", 1);
	o.backend = GMAP_BACKEND_DEFAULT;
	t_log_clear();
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_open(3, &o));
	CU_ASSERT_EQUAL(errno, ENOENT);
	CU_ASSERT(t_log_has("/dev/xen/gntdev"));
	unsetenv("GMAP_BACKEND");
	/* Nothing was left registered. */
	{
		struct gmap_sim_domain *d = gmap_sim_domain_create(3, 4, 4);

		opens_on_sim(&o);
		gmap_sim_domain_destroy(d);
	}
}
#else
/* configure --without-xen: asked for, the backend is refused with an
 * error of its own, never replaced by sim. */
static void test_xen_not_built(void)
{
	struct gmap_open_opts o = { .size = sizeof(o), .backend = GMAP_BACKEND_XEN,
				    .logger = &t_log.xtl };
	struct gmap_sim_domain *d = gmap_sim_domain_create(3, 4, 4);

	/* With a sim domain 3 here, a fallback to sim would open. */
	CU_ASSERT_FATAL(d != NULL);
	t_log_clear();
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_open(3, &o));
	CU_ASSERT_EQUAL(errno, EOPNOTSUPP);
	CU_ASSERT(t_log_has("the xen backend was not built (configure --with-xen)"));
	/* The same through GMAP_BACKEND, with the default options. */
	setenv("GMAP_BACKEND", "xen", 1);
	o.backend = GMAP_BACKEND_DEFAULT;
	t_log_clear();
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_open(3, &o));
	CU_ASSERT_EQUAL(errno, EOPNOTSUPP);
	CU_ASSERT(t_log_has("the xen backend was not built"));
	unsetenv("GMAP_BACKEND");
	opens_on_sim(&o);  /* nothing was left registered */
	gmap_sim_domain_destroy(d);
}
#endif

int main(void)
{
	static const struct t_case cases[] = {
#ifdef HAVE_XEN_BACKEND
		{ "xen backend without Xen fails naming /dev/xen/gntdev", test_xen_absent },
#else
		{ "xen backend not built: EOPNOTSUPP, naming --with-xen", test_xen_not_built },
#endif
		{ NULL, NULL },
	};
#ifdef HAVE_XEN_BACKEND
	struct stat st;

	if (stat("/dev/xen/gntdev", &st) == 0) {
		printf("SKIP: /dev/xen/gntdev exists: this is a Xen host; the xen "
		       "backend is tested on a hypervisor by make check-xen\n");
		return 77;
	}
#endif
	return t_main("xen", cases);
}
