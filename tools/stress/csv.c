/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * csv.c - gmap-stress --bench --csv FILE: the benchmark table and the
 * first-touch latency histograms as CSV (RFC 4180 quoting, LF line ends),
 * for tools/stress/bench-plot.sh and for spreadsheets.  The one place
 * that knows the columns; gmap-stress.1 (BENCHMARKS) documents them.
 *
 * Every line has every column, so that any CSV reader takes the file
 * whole under its one header: a row line leaves the histogram's columns
 * empty, a hist line the row's.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "stress.h"

static const char header[] =
	"kind,name,libgmap,baseline,unit,ratio,target,verdict,limit,judged,"
	"note,low_ns,high_ns,count\n";

FILE *st_csv_open(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "gmap-stress: --csv %s: %s\n", path,
			strerror(errno));
		return NULL;
	}
	fputs(header, f);
	return f;
}

/* A text field, quoted only where RFC 4180 needs it (a comma, a quote or
 * a line break), its quotes doubled; NULL is an empty field.  Leading
 * spaces stay: they mark a row that refines the one above. */
static void text(FILE *f, const char *s)
{
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* A figure, or an empty field where there is none (or it is not finite:
 * a ratio over a zero baseline). */
static void num(FILE *f, bool has, double v)
{
	if (has && isfinite(v))
		fprintf(f, "%.6g", v);
}

void st_csv_row(FILE *f, const struct st_csv_row *r)
{
	static const char *const verdicts[] = { "not measured", "", "missed",
						"met" };
	bool measured = r->met != -2, target = r->target != NULL;

	fputs("row,", f);
	text(f, r->name);
	fputc(',', f);
	num(f, measured, r->lib);
	fputc(',', f);
	num(f, measured && r->has_base, r->base);
	fputc(',', f);
	text(f, r->unit);
	fputc(',', f);
	num(f, measured && r->has_base, r->ratio);
	fputc(',', f);
	text(f, r->target);
	fprintf(f, ",%s,", verdicts[r->met + 2]);
	num(f, target, r->limit);
	fprintf(f, ",%s,", !target ? "" : r->on_value ? "value" : "ratio");
	text(f, r->note);
	fputs(",,,\n", f);
}

/* Each bucket that has samples: [low, high) ns and its count. */
void st_csv_hist(FILE *f, const char *series, const struct st_hist *h)
{
	for (unsigned int i = 0; i < ST_HIST_BUCKETS; i++) {
		uint64_t lo, hi;

		if (!h->b[i])
			continue;
		st_hist_bounds(i, &lo, &hi);
		fputs("hist,", f);
		text(f, series);
		fprintf(f, ",,,ns,,,,,,,%llu,%llu,%llu\n",
			(unsigned long long)lo, (unsigned long long)hi,
			(unsigned long long)h->b[i]);
	}
}

/* 0, or -1 having said why: a write that failed on the way (a full disk)
 * shows only here. */
int st_csv_close(FILE *f, const char *path)
{
	int err = 0;

	if (fflush(f))
		err = errno;
	else if (ferror(f))
		err = EIO;  /* an earlier write failed; its errno is gone */
	if (fclose(f) && !err)
		err = errno;
	if (!err)
		return 0;
	fprintf(stderr, "gmap-stress: --csv %s: %s\n", path, strerror(err));
	return -1;
}
