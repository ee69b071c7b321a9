/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-xen.c - the xen backend where there is no Xen: opening it must fail
 * with a clear message naming /dev/xen/gntdev, and leave nothing behind.
 * On a Xen host this program skips (exit 77): the real-hypervisor tests
 * run in a dom0 (make check-xen).
 */
#include <sys/stat.h>

#include "helpers.h"

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
	/* Nothing was left registered: the domain's window opens on sim. */
	{
		struct gmap_sim_domain *d = gmap_sim_domain_create(3, 4, 4);

		o.backend = GMAP_BACKEND_SIM;
		o.nr_refs = 64;
		w = gmap_open(3, &o);
		CU_ASSERT_PTR_NOT_NULL(w);
		gmap_close(w);
		gmap_sim_domain_destroy(d);
	}
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "xen backend without Xen fails naming /dev/xen/gntdev", test_xen_absent },
		{ NULL, NULL },
	};
	struct stat st;

	if (stat("/dev/xen/gntdev", &st) == 0) {
		printf("SKIP: /dev/xen/gntdev exists: this is a Xen host; the xen "
		       "backend is tested on a hypervisor by make check-xen\n");
		return 77;
	}
	return t_main("xen", cases);
}
