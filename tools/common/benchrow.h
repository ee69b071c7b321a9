/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * benchrow.h - the columns of make bench's table and the median its rows
 * are, for every program that prints rows there (gmap-stress --bench and
 * tools/stress/shimbench, which runs under the preload shim and links
 * nothing of libgmap), so that their rows line up and read alike.
 * Header-only, plain C.
 */
#ifndef GMAP_BENCHROW_H
#define GMAP_BENCHROW_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/types.h>

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * A floor row's empty slot (tools/stress/floor.c, shimbench.c): the @len
 * bytes at @slot, slot @i of a ring of @ring, made a PROT_NONE private
 * mapping of the empty file @fd at an offset out of step with both
 * neighbours' (libgmap's colours for unarmed pages, placeholder.c), so
 * that no two slots merge, as no two of libgmap's unmaps do.
 */
static inline void *bench_floor_slot(void *slot, size_t len, int fd,
				     size_t i, size_t ring)
{
	return mmap(slot, len, PROT_NONE, MAP_PRIVATE | MAP_FIXED |
		    MAP_NORESERVE, fd, (off_t)((i + i % 3 * ring) * len));
}

/* The median of @v[0 .. n - 1]; sorts @v. */
static inline double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline void bench_print_header(void)
{
	printf("%-44s %-15s %-15s %7s  %-8s\n", "benchmark", "libgmap",
	       "baseline", "ratio", "target");
}

/*
 * One row: libgmap's figure and the baseline's in @unit, their ratio, the
 * target and the verdict (@met: 1 met, 0 missed, -1 no target), and an
 * optional note (what the ratio means, when it is not libgmap / baseline).
 */
static inline void bench_print_row(const char *name, double lib, double base,
				   const char *unit, double ratio,
				   const char *target, int met,
				   const char *note)
{
	char l[32], b[32], r[16];

	snprintf(l, sizeof(l), "%.3g %s", lib, unit);
	snprintf(b, sizeof(b), "%.3g %s", base, unit);
	snprintf(r, sizeof(r), "%.2fx", ratio);
	printf("%-44s %-15s %-15s %7s  %-8s %s%s%s\n", name, l, b, r, target,
	       met < 0 ? "" : met ? "met" : "MISSED", note ? "  " : "",
	       note ? note : "");
}

#endif /* GMAP_BENCHROW_H */
