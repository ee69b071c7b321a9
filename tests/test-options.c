/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-options.c - the budgets' and fault-around's settings, from
 * gmap_open_opts and from GMAP_* variables: bad values refused by name
 * (EINVAL), good ones in effect (gmap_stats).
 */
#include "helpers.h"

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

/* Bad settings are refused by name; good ones take effect. */
static void test_settings(void)
{
	struct gmap_open_opts o = t_budget_opts(0, 0, GMAP_AROUND_FORWARD);
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
	o = t_budget_opts(100, 0, GMAP_AROUND_FORWARD);
	CU_ASSERT_EQUAL(opened_with(&o, "GMAP_MAX_MAPPED", "32").max_mapped, 32);
	/* The default is derived. */
	o = t_budget_opts(0, 0, GMAP_AROUND_FORWARD);
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
		{ "settings: bad values refused by name", test_settings },
		{ NULL, NULL },
	};
	return t_main("options", cases);
}
