/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* show.c - gmap-top's table and its JSON lines. */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "gmap.h"
#include "top.h"

const char *top_dur(uint64_t ns, char *buf, size_t len)
{
	if (ns == UINT64_MAX)
		snprintf(buf, len, "long");
	else if (ns < 10000)
		snprintf(buf, len, "%" PRIu64 "ns", ns);
	else if (ns < 10000000)
		snprintf(buf, len, "%.1fus", (double)ns / 1e3);
	else if (ns < 10000000000ull)
		snprintf(buf, len, "%.1fms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.1fs", (double)ns / 1e9);
	return buf;
}

/* @s with every control byte, and every byte past ASCII, as '?': names
 * come from other users' files and processes, and a terminal would obey
 * escape sequences in them. */
static const char *clean(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < len; i++)
		buf[i] = (unsigned char)s[i] < 0x20 ||
			 (unsigned char)s[i] >= 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

static const char *mode_name(uint32_t m)
{
	return m == GMAP_FAULT_INLINE ? "inline" :
	       m == GMAP_FAULT_THREAD ? "thread" : "?";
}

/* "1234/5000", or "1234/-" without a budget, into @buf. */
static const char *of(uint64_t v, uint64_t max, char *buf, size_t len)
{
	if (max)
		snprintf(buf, len, "%" PRIu64 "/%" PRIu64, v, max);
	else
		snprintf(buf, len, "%" PRIu64 "/-", v);
	return buf;
}

static void utc_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

void top_print_table(FILE *f, const struct top_sample *s, unsigned int rows,
		     unsigned int width)
{
	char now[64], mapped[48], vmas[48], p50[16], p99[16], line[256];
	char comm[16], back[16];
	size_t i;

	utc_now(now, sizeof(now));
	fprintf(f, "%s  %zu window%s", now, s->nr, s->nr == 1 ? "" : "s");
	if (s->stale_removed)
		fprintf(f, ", %u stale file%s removed", s->stale_removed,
			s->stale_removed == 1 ? "" : "s");
	if (s->skipped)
		fprintf(f, ", %u file%s of another layout skipped",
			s->skipped, s->skipped == 1 ? "" : "s");
	fprintf(f, "\n");
	snprintf(line, sizeof(line), "%7s %-15s %5s %-4s %-6s %17s %17s %9s "
		 "%9s %9s %6s %8s %8s", "PID", "COMMAND", "DOM", "BACK", "MODE",
		 "MAPPED/BUDGET", "VMAS/BUDGET", "FAULTS/s", "MAPS/s",
		 "EVICTS/s", "BAD", "SERVE50", "SERVE99");
	fprintf(f, "%.*s\n", (int)width, line);
	for (i = 0; i < s->nr && i < rows; i++) {
		const struct top_win *w = &s->win[i];

		snprintf(line, sizeof(line), "%7d %-15.15s %5u %-4.4s %-6s "
			 "%17s %17s %9.0f %9.0f %9.0f %6" PRIu64 " %8s %8s",
			 (int)w->head.pid,
			 clean(w->head.comm, comm, sizeof(comm)),
			 w->head.domid,
			 clean(w->head.backend, back, sizeof(back)),
			 mode_name(w->head.fault_mode),
			 of(top_counter(w, "mapped_now"), w->head.max_mapped,
			    mapped, sizeof(mapped)),
			 of(top_counter(w, "vmas"), w->head.max_vmas, vmas,
			    sizeof(vmas)),
			 w->fault_rate, w->map_rate, w->evict_rate,
			 top_counter(w, "bad_grants"),
			 w->serve_n ? top_dur(w->serve_p50, p50, sizeof(p50)) :
				      "-",
			 w->serve_n ? top_dur(w->serve_p99, p99, sizeof(p99)) :
				      "-");
		fprintf(f, "%.*s\n", (int)width, line);
	}
	if (i < s->nr)
		fprintf(f, "(%zu more)\n", s->nr - i);
}

/* @s as a JSON string: the names come from other processes' files. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		/* Past ASCII: '?', as the bytes may not be UTF-8. */
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c >= 0x7f)
			fputc('?', f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_win(FILE *f, const struct top_win *w)
{
	unsigned int i;

	fprintf(f, "{\"pid\":%d,\"comm\":", (int)w->head.pid);
	json_str(f, w->head.comm);
	fprintf(f, ",\"domid\":%u,\"backend\":", w->head.domid);
	json_str(f, w->head.backend);
	fprintf(f, ",\"fault_mode\":\"%s\",\"handlers\":%u,"
		"\"fault_around\":%u,\"version\":",
		mode_name(w->head.fault_mode), w->head.handlers,
		w->head.fault_around);
	json_str(f, w->head.version);
	fprintf(f, ",\"file\":");
	json_str(f, w->path);
	fprintf(f, ",\"base\":\"%#" PRIx64 "\",\"nr_refs\":%" PRIu64
		",\"max_mapped\":%" PRIu64 ",\"max_vmas\":%" PRIu64
		",\"max_meta\":%" PRIu64 ",\"span_s\":%.3f"
		",\"faults_per_s\":%.1f,\"maps_per_s\":%.1f"
		",\"evictions_per_s\":%.1f,\"unmaps_per_s\":%.1f"
		",\"serve_samples\":%" PRIu64,
		w->head.base, w->head.nr_refs, w->head.max_mapped,
		w->head.max_vmas, w->head.max_meta, w->span_s, w->fault_rate,
		w->map_rate, w->evict_rate, w->unmap_rate, w->serve_n);
	if (w->serve_n)
		fprintf(f, ",\"serve_p50_ns\":%" PRIu64 ",\"serve_p99_ns\":%"
			PRIu64, w->serve_p50, w->serve_p99);
	else
		fprintf(f, ",\"serve_p50_ns\":null,\"serve_p99_ns\":null");
	fprintf(f, ",\"counters\":{");
	for (i = 0; i < w->nr; i++) {
		if (i)
			fputc(',', f);
		json_str(f, w->names[i]);
		fprintf(f, ":%" PRIu64, w->val[i]);
	}
	fprintf(f, "}}");
}

void top_print_json(FILE *f, const struct top_sample *s)
{
	char now[64];
	size_t i;

	utc_now(now, sizeof(now));
	fprintf(f, "{\"time\":\"%s\",\"stale_removed\":%u,\"skipped\":%u,"
		"\"windows\":[", now, s->stale_removed, s->skipped);
	for (i = 0; i < s->nr; i++) {
		if (i)
			fputc(',', f);
		json_win(f, &s->win[i]);
	}
	fprintf(f, "]}\n");
}
