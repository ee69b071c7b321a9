/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cmd.c - gmap-simdom's commands: one request line in, one reply line out.
 * The guest's side of the simulated domain (grant, end, revoke, fill,
 * check, inject) and what its "hypervisor" counts (info, ref-info).
 * Every value is parsed whole and checked before anything is done; a bad
 * one is refused by name with what was expected.  Values echoed in replies
 * are cut to 64 bytes so that a reply always fits its line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gmap-pattern.h"
#include "simdom.h"

#define MAX_WORDS 8

struct range {
	uint32_t first, last;
};

struct command {
	const char *name;
	int nargs;
	const char *usage;
	bool once;      /* the connection closes after it, whatever the reply */
	void (*run)(struct simdom *sd, char **argv, struct sd_reply *r);
};

static const char expected_cmds[] = "expected attach, info, ref-info, grant, "
	"end, revoke, fill, check, inject or quit";

__attribute__((format(printf, 2, 3)))
static void say(struct sd_reply *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* Append to @buf; once it is full, later appends are dropped whole. */
__attribute__((format(printf, 4, 5)))
static void append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *len)
		buf[*len] = 0;
	else
		*len += (size_t)n;
}

/*
 * A decimal number from @lo to @hi, the whole string.  strtoull() alone
 * would take leading blanks and a sign (and wrap "-1" round to 2^64 - 1),
 * so the first character must be a digit.
 */
int sd_number(const char *s, uint64_t lo, uint64_t hi, uint64_t *v)
{
	unsigned long long x;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return -1;
	*v = x;
	return 0;
}

static int get_number(struct sd_reply *r, const char *name, const char *arg,
		      uint64_t lo, uint64_t hi, uint64_t *v)
{
	if (sd_number(arg, lo, hi, v) == 0)
		return 0;
	say(r, "error: %s '%.64s' is not valid: expected a number from %llu "
	    "to %llu", name, arg, (unsigned long long)lo,
	    (unsigned long long)hi);
	return -1;
}

static int get_ref(struct simdom *sd, struct sd_reply *r, const char *arg,
		   uint32_t *ref)
{
	uint64_t v;

	if (get_number(r, "REF", arg, 0, sd->nr_grants - 1, &v) < 0)
		return -1;
	*ref = (uint32_t)v;
	return 0;
}

static int bad_range(struct simdom *sd, struct sd_reply *r, const char *arg)
{
	say(r, "error: RANGE '%.64s' is not valid: expected REF or FIRST-LAST, "
	    "refs from 0 to %u", arg, sd->nr_grants - 1);
	return -1;
}

/* REF or FIRST-LAST, inclusive, every ref in the table. */
static int get_range(struct simdom *sd, struct sd_reply *r, const char *arg,
		     struct range *rg)
{
	const char *dash = strchr(arg, '-');
	uint64_t first, last, max = sd->nr_grants - 1;
	char head[24];

	if (!dash) {
		if (sd_number(arg, 0, max, &first) < 0)
			return bad_range(sd, r, arg);
		last = first;
	} else {
		if ((size_t)(dash - arg) >= sizeof(head))
			return bad_range(sd, r, arg);
		memcpy(head, arg, (size_t)(dash - arg));
		head[dash - arg] = 0;
		if (sd_number(head, 0, max, &first) < 0 ||
		    sd_number(dash + 1, 0, max, &last) < 0)
			return bad_range(sd, r, arg);
	}
	if (first > last) {
		say(r, "error: RANGE '%.64s' is not valid: FIRST is above LAST",
		    arg);
		return -1;
	}
	if (last - first + 1 > SD_MAX_RANGE) {
		say(r, "error: RANGE '%.64s' is not valid: more than %u refs",
		    arg, SD_MAX_RANGE);
		return -1;
	}
	rg->first = (uint32_t)first;
	rg->last = (uint32_t)last;
	return 0;
}

static uint32_t range_count(const struct range *rg)
{
	return rg->last - rg->first + 1;
}

static void cmd_attach(struct simdom *sd, char **argv, struct sd_reply *r)
{
	uint64_t domid;

	if (get_number(r, "DOMID", argv[0], 0, SD_DOMID_MAX, &domid) < 0)
		return;
	if (domid != sd->domid) {
		say(r, "error: this gmap-simdom serves domain %u, not %llu",
		    sd->domid, (unsigned long long)domid);
		return;
	}
	say(r, "ok %u %u %u", sd->domid, sd->nr_frames, sd->nr_grants);
	r->verb = SD_ATTACH;
}

static void cmd_info(struct simdom *sd, char **argv, struct sd_reply *r)
{
	struct gmap_sim_domain_info di;

	(void)argv;
	if (gmap_sim_domain_info(sd->dom, &di) < 0) {
		say(r, "error: domain info failed: %s", strerror(errno));
		return;
	}
	say(r, "ok domid=%u frames=%u grants=%u maps_now=%llu maps_total=%llu "
	    "map_fails=%llu double_maps=%llu maps_peak=%llu", di.domid,
	    di.nr_frames, di.nr_grants, (unsigned long long)di.maps_now,
	    (unsigned long long)di.maps_total,
	    (unsigned long long)di.map_fails,
	    (unsigned long long)di.double_maps,
	    (unsigned long long)di.maps_peak);
}

static void cmd_ref_info(struct simdom *sd, char **argv, struct sd_reply *r)
{
	struct gmap_sim_ref_info ri;
	uint32_t ref;

	if (get_ref(sd, r, argv[0], &ref) < 0)
		return;
	if (gmap_sim_ref_info(sd->dom, ref, &ri) < 0) {
		say(r, "error: info of ref %u failed: %s", ref, strerror(errno));
		return;
	}
	say(r, "ok ref=%u flags=0x%04x domid=%u frame=%u maps_now=%u "
	    "maps_peak=%u maps_total=%llu map_fails=%llu", ref, ri.flags,
	    ri.domid, ri.frame, ri.maps_now, ri.maps_peak,
	    (unsigned long long)ri.maps_total,
	    (unsigned long long)ri.map_fails);
}

static int get_access(struct sd_reply *r, const char *arg, int *readonly)
{
	if (!strcmp(arg, "rw") || !strcmp(arg, "ro")) {
		*readonly = arg[1] == 'o';
		return 0;
	}
	say(r, "error: access '%.64s' is not valid: expected rw or ro", arg);
	return -1;
}

static void cmd_grant(struct simdom *sd, char **argv, struct sd_reply *r)
{
	uint64_t frame, grantee;
	struct range rg;
	uint32_t n;
	int ro;

	if (get_range(sd, r, argv[0], &rg) < 0 ||
	    get_number(r, "FRAME", argv[1], 0, sd->nr_frames - 1, &frame) < 0 ||
	    get_number(r, "GRANTEE", argv[2], 0, SD_DOMID_MAX, &grantee) < 0 ||
	    get_access(r, argv[3], &ro) < 0)
		return;
	n = range_count(&rg);
	/* Refuse it whole rather than grant part of the range. */
	if (frame + n > sd->nr_frames) {
		say(r, "error: FRAME %llu is not valid for %u refs: frames "
		    "%llu-%llu must be below %u", (unsigned long long)frame, n,
		    (unsigned long long)frame,
		    (unsigned long long)(frame + n - 1), sd->nr_frames);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (gmap_sim_grant(sd->dom, rg.first + i, (uint32_t)frame + i,
				   (uint16_t)grantee, ro) < 0) {
			say(r, "error: grant of ref %u failed: %s",
			    rg.first + i, strerror(errno));
			return;
		}
	}
	say(r, "ok granted %u", n);
}

/* Every ref is tried: the guest wants to know all that are still busy. */
static void cmd_end(struct simdom *sd, char **argv, struct sd_reply *r)
{
	char list[SD_END_LISTED_MAX * 48 + 8];
	uint32_t n, failed = 0;
	struct range rg;
	size_t len = 0;

	if (get_range(sd, r, argv[0], &rg) < 0)
		return;
	n = range_count(&rg);
	list[0] = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (gmap_sim_end_access(sd->dom, rg.first + i) == 0)
			continue;
		if (failed++ < SD_END_LISTED_MAX)
			append(list, sizeof(list), &len, " %u (%s)",
			       rg.first + i, strerror(errno));
	}
	if (!failed)
		say(r, "ok ended %u", n);
	else
		say(r, "error: %u of %u refs not ended:%s%s", failed, n, list,
		    failed > SD_END_LISTED_MAX ? " ..." : "");
}

static void cmd_revoke(struct simdom *sd, char **argv, struct sd_reply *r)
{
	struct range rg;
	uint32_t n;

	if (get_range(sd, r, argv[0], &rg) < 0)
		return;
	n = range_count(&rg);
	for (uint32_t i = 0; i < n; i++) {
		/* 1 (it was mapped) is a success: mappings outlive a revoke. */
		if (gmap_sim_revoke(sd->dom, rg.first + i) < 0) {
			say(r, "error: revoke of ref %u failed: %s",
			    rg.first + i, strerror(errno));
			return;
		}
	}
	say(r, "ok revoked %u", n);
}

/*
 * The frame a ref's entry names.  It stays recorded after end and revoke,
 * so a guest can still check what a backend wrote once it has its page
 * back; a ref never granted names frame 0.
 */
static int ref_frame(struct simdom *sd, struct sd_reply *r, const char *what,
		     uint32_t ref, uint32_t *frame)
{
	struct gmap_sim_ref_info ri;

	if (gmap_sim_ref_info(sd->dom, ref, &ri) < 0) {
		say(r, "error: %s of ref %u failed: %s", what, ref,
		    strerror(errno));
		return -1;
	}
	*frame = ri.frame;
	return 0;
}

static int get_seed(struct sd_reply *r, const char *arg, uint32_t *seed)
{
	uint64_t v;

	if (get_number(r, "SEED", arg, 0, UINT32_MAX, &v) < 0)
		return -1;
	*seed = (uint32_t)v;
	return 0;
}

static void cmd_fill(struct simdom *sd, char **argv, struct sd_reply *r)
{
	uint8_t page[GMAP_PAGE_SIZE];
	uint32_t n, ref, frame, seed;
	struct range rg;

	if (get_range(sd, r, argv[0], &rg) < 0 || get_seed(r, argv[1], &seed) < 0)
		return;
	n = range_count(&rg);
	for (uint32_t i = 0; i < n; i++) {
		ref = rg.first + i;
		if (ref_frame(sd, r, "fill", ref, &frame) < 0)
			return;
		gmap_pattern_fill(page, ref, seed);
		if (gmap_sim_write(sd->dom, frame, 0, page, sizeof(page)) < 0) {
			say(r, "error: fill of ref %u (frame %u) failed: %s",
			    ref, frame, strerror(errno));
			return;
		}
	}
	say(r, "ok filled %u", n);
}

/* Compare one page with the pattern; 0 if it matches. */
static int check_page(struct simdom *sd, struct sd_reply *r, uint32_t ref,
		      uint32_t seed)
{
	uint8_t page[GMAP_PAGE_SIZE];
	uint32_t frame;
	size_t off;

	if (ref_frame(sd, r, "check", ref, &frame) < 0)
		return -1;
	if (gmap_sim_read(sd->dom, frame, 0, page, sizeof(page)) < 0) {
		say(r, "error: check of ref %u (frame %u) failed: %s", ref,
		    frame, strerror(errno));
		return -1;
	}
	off = gmap_pattern_diff(page, ref, seed);
	if (off < sizeof(page)) {
		say(r, "error: ref %u offset %zu: expected 0x%02x, found 0x%02x",
		    ref, off, gmap_pattern_byte(ref, seed, off), page[off]);
		return -1;
	}
	return 0;
}

static void cmd_check(struct simdom *sd, char **argv, struct sd_reply *r)
{
	struct range rg;
	uint32_t n, seed;

	if (get_range(sd, r, argv[0], &rg) < 0 || get_seed(r, argv[1], &seed) < 0)
		return;
	n = range_count(&rg);
	for (uint32_t i = 0; i < n; i++)
		if (check_page(sd, r, rg.first + i, seed) < 0)
			return;
	say(r, "ok checked %u", n);
}

static void cmd_inject(struct simdom *sd, char **argv, struct sd_reply *r)
{
	/* In enum gmap_sim_inject's order. */
	static const char *const kinds[] = { "none", "eagain", "eio",
					     "wrong-frame", "stall", NULL };
	uint64_t count;
	uint32_t ref;
	int what;

	if (get_ref(sd, r, argv[0], &ref) < 0)
		return;
	for (what = 0; kinds[what] && strcmp(kinds[what], argv[1]); what++)
		;
	if (!kinds[what]) {
		say(r, "error: injection '%.64s' is not valid: expected none, "
		    "eagain, eio, wrong-frame or stall", argv[1]);
		return;
	}
	if (get_number(r, "COUNT", argv[2], 0, UINT32_MAX, &count) < 0)
		return;
	if (gmap_sim_inject(sd->dom, ref, (enum gmap_sim_inject)what,
			    (uint32_t)count) < 0) {
		say(r, "error: inject on ref %u failed: %s", ref,
		    strerror(errno));
		return;
	}
	say(r, "ok");
}

/*
 * Refs that a backend still has mapped, by the hypervisor's count.  Taken
 * once: backends in other processes may unmap while we exit, and the reply,
 * the exit line and the exit status must tell the same story.
 */
void sd_take_report(struct simdom *sd)
{
	struct gmap_sim_domain_info di;
	struct gmap_sim_ref_info ri;
	size_t len = 0;

	if (sd->reported)
		return;
	sd->reported = true;
	sd->in_use = 0;
	sd->in_use_refs[0] = 0;
	/* Nothing mapped anywhere: skip the scan, which would read (and so
	 * allocate, it is shared memory) the whole table, 0.8 GB at 2^24
	 * grants. */
	if (gmap_sim_domain_info(sd->dom, &di) == 0 && !di.maps_now)
		return;
	for (uint32_t ref = 0; ref < sd->nr_grants; ref++) {
		if (gmap_sim_ref_info(sd->dom, ref, &ri) < 0 || !ri.maps_now)
			continue;
		if (sd->in_use < SD_LISTED_MAX)
			append(sd->in_use_refs, sizeof(sd->in_use_refs), &len,
			       " %u", ref);
		else if (sd->in_use == SD_LISTED_MAX)
			append(sd->in_use_refs, sizeof(sd->in_use_refs), &len,
			       " ...");
		sd->in_use++;
	}
}

static void cmd_quit(struct simdom *sd, char **argv, struct sd_reply *r)
{
	(void)argv;
	sd_take_report(sd);
	say(r, "ok in-use %u%s%s", sd->in_use, sd->in_use ? " refs" : "",
	    sd->in_use_refs);
	r->verb = SD_QUIT;
}

static const struct command commands[] = {
	{ "attach", 1, "attach DOMID", true, cmd_attach },
	{ "info", 0, "info", false, cmd_info },
	{ "ref-info", 1, "ref-info REF", false, cmd_ref_info },
	{ "grant", 4, "grant RANGE FRAME GRANTEE rw|ro", false, cmd_grant },
	{ "end", 1, "end RANGE", false, cmd_end },
	{ "revoke", 1, "revoke RANGE", false, cmd_revoke },
	{ "fill", 2, "fill RANGE SEED", false, cmd_fill },
	{ "check", 2, "check RANGE SEED", false, cmd_check },
	{ "inject", 3, "inject REF none|eagain|eio|wrong-frame|stall COUNT",
	  false, cmd_inject },
	{ "quit", 0, "quit", false, cmd_quit },
};

/* Split @line in place at blanks; returns the number of words, even past
 * @max (those are counted, not stored). */
static int split(char *line, char **words, int max)
{
	char *save = NULL, *w;
	int n = 0;

	/* '\r': a client that ends its lines with CRLF is not wrong about
	 * anything that matters here. */
	for (w = strtok_r(line, " \t\r", &save); w;
	     w = strtok_r(NULL, " \t\r", &save)) {
		if (n < max)
			words[n] = w;
		n++;
	}
	return n;
}

void sd_command(struct simdom *sd, char *line, struct sd_reply *r)
{
	char *words[MAX_WORDS];
	int n = split(line, words, MAX_WORDS);

	r->verb = SD_REPLY;
	r->text[0] = 0;
	if (!n) {
		say(r, "error: empty line: %s", expected_cmds);
		return;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *c = &commands[i];

		if (strcmp(c->name, words[0]))
			continue;
		if (c->once)
			r->verb = SD_CLOSE;
		if (n - 1 != c->nargs)
			say(r, "error: usage: %s", c->usage);
		else
			c->run(sd, words + 1, r);
		return;
	}
	say(r, "error: unknown command '%.64s': %s", words[0], expected_cmds);
}
