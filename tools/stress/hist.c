/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hist.c - latency histograms: log2 octaves of 8 linear sub-buckets each
 * (every value is placed within 12.5%), merged across threads, drawn in
 * the terminal one row per octave.
 */
#include <string.h>

#include "stress.h"

static unsigned int bucket_of(uint64_t ns)
{
	unsigned int e;

	if (ns < 8)
		return (unsigned int)ns;
	e = 63u - (unsigned int)__builtin_clzll(ns);
	return (e - 2) * 8 + (unsigned int)((ns >> (e - 3)) & 7);
}

static uint64_t bucket_hi(unsigned int i)
{
	unsigned int e, sub;

	if (i < 8)
		return i + 1;
	e = i / 8 + 2;
	sub = i % 8;
	return ((uint64_t)(8 + sub) << (e - 3)) + (1ULL << (e - 3));
}

/* Bucket @i holds [*lo, *hi) ns. */
void st_hist_bounds(unsigned int i, uint64_t *lo, uint64_t *hi)
{
	*hi = bucket_hi(i);
	*lo = i < 8 ? i : *hi - (1ULL << (i / 8 - 1));
}

void st_hist_add(struct st_hist *h, uint64_t ns)
{
	h->b[bucket_of(ns)]++;
	h->n++;
	if (ns > h->max)
		h->max = ns;
}

void st_hist_merge(struct st_hist *to, const struct st_hist *from)
{
	for (size_t i = 0; i < sizeof(to->b) / sizeof(to->b[0]); i++)
		to->b[i] += from->b[i];
	to->n += from->n;
	if (from->max > to->max)
		to->max = from->max;
}

/* The value below which @pct percent of samples lie (bucket upper bound,
 * never above the largest sample); 0 for an empty histogram. */
uint64_t st_hist_pct(const struct st_hist *h, double pct)
{
	uint64_t want, seen = 0;

	if (!h->n)
		return 0;
	want = (uint64_t)(pct / 100.0 * (double)h->n + 0.5);
	if (want < 1)
		want = 1;
	for (unsigned int i = 0; i < sizeof(h->b) / sizeof(h->b[0]); i++) {
		seen += h->b[i];
		if (seen >= want)
			return bucket_hi(i) < h->max ? bucket_hi(i) : h->max;
	}
	return h->max;
}

static void fmt_ns(char *buf, size_t n, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, n, "%llu ns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, n, "%.1f us", (double)ns / 1e3);
	else
		snprintf(buf, n, "%.1f ms", (double)ns / 1e6);
}

/* One row per power of two between the smallest and largest sample. */
void st_hist_draw(FILE *f, const struct st_hist *h)
{
	uint64_t oct[64] = { 0 }, top = 0;
	int lo = -1, hi = -1;
	char a[24], b[24];

	for (unsigned int i = 0; i < sizeof(h->b) / sizeof(h->b[0]); i++) {
		unsigned int o;

		if (!h->b[i])
			continue;
		o = 63u - (unsigned int)__builtin_clzll(bucket_hi(i) - 1 ? bucket_hi(i) - 1 : 1);
		oct[o] += h->b[i];
	}
	for (int o = 0; o < 64; o++) {
		if (!oct[o])
			continue;
		if (lo < 0)
			lo = o;
		hi = o;
		if (oct[o] > top)
			top = oct[o];
	}
	if (lo < 0)
		return;
	for (int o = lo; o <= hi; o++) {
		int w = (int)(oct[o] * 40 / top);
		char bar[41];

		memset(bar, '#', (size_t)w);
		bar[w] = 0;
		if (oct[o] && !w)
			strcpy(bar, ".");
		fmt_ns(a, sizeof(a), 1ULL << o);
		fmt_ns(b, sizeof(b), 2ULL << o);
		fprintf(f, "  %9s .. %-9s |%-40s| %llu\n", a, b, bar,
			(unsigned long long)oct[o]);
	}
}
