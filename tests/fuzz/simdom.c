/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * simdom.c - libFuzzer target "simdom": gmap-simdom's command parser
 * (tools/simdom/cmd.c, sd_command() and sd_number()), in process, on a
 * simulated domain made afresh for each input; no socket, no server.
 *
 * The input is a domain shape (byte 0) and lines of text, as a client
 * sends them; each line goes to sd_command() as serve.c hands it over (a
 * line too long or holding a NUL byte never reaches it).  Each reply is
 * checked against gmap-simdom(1), PROTOCOL and COMMANDS, by a parser of
 * this file's own:
 *   - one line: "ok" or "error: ...", terminated, short enough for its
 *     newline, with no newline inside, whatever was echoed;
 *   - what the server does next: the connection closes after attach
 *     (with the domain's fds only if it was accepted), the server stops
 *     after quit;
 *   - ok exactly when every value is valid (decimal, digits only, in
 *     range; a range is REF or FIRST-LAST, first <= last, at most
 *     1048576 refs, below the table's size) and the command can do what
 *     it says (here nothing is ever mapped, so nothing is busy);
 *   - what a grant or a fill did, read back through the domain's own API.
 * And sd_number() of every word, against the same rules.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* GTF_* for reading back grants. */
#include <xen/xen.h>
#include <xen/grant_table.h>

#include "gmap-pattern.h"
#include "simdom.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the rules, written again ------------------------------------------- */

static bool num(const char *s, uint64_t lo, uint64_t hi, uint64_t *v)
{
	uint64_t n = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		uint64_t d = (uint64_t)(*s - '0');

		if (*s < '0' || *s > '9' || n > (UINT64_MAX - d) / 10)
			return false;   /* not a digit, or past 2^64 - 1 */
		n = n * 10 + d;
	}
	if (n < lo || n > hi)
		return false;
	*v = n;
	return true;
}

/* 1 valid, 0 not, -1 either (see below). */
static int range(const char *s, uint32_t nr_grants, uint64_t *first,
		 uint64_t *last)
{
	const char *dash = strchr(s, '-');
	char *head;
	bool ok;

	if (!dash) {
		if (!num(s, 0, nr_grants - 1, first))
			return 0;
		*last = *first;
		return 1;
	}
	head = strndup(s, (size_t)(dash - s));
	FZ_CHECK(head, "strndup");
	ok = num(head, 0, nr_grants - 1, first) &&
	     num(dash + 1, 0, nr_grants - 1, last) && *first <= *last &&
	     *last - *first + 1 <= SD_MAX_RANGE;
	free(head);
	/* cmd.c refuses a FIRST of 24 characters or more, whatever its
	 * value ("0000000000000000000000001-2"); the protocol's words do
	 * not: either answer is taken here. */
	if (ok && dash - s >= 24)
		return -1;
	return ok;
}

/* ---- one line -------------------------------------------------------------- */

#define MAX_WORDS 8

static int split(char *line, char **w)
{
	char *save = NULL, *t;
	int n = 0;

	for (t = strtok_r(line, " \t\r", &save); t;
	     t = strtok_r(NULL, " \t\r", &save)) {
		if (n < MAX_WORDS)
			w[n] = t;
		n++;
	}
	return n;
}

/* Whether the command in @w (@n words) must succeed: 1, 0, or -1 (either:
 * its outcome depends on the guest's memory, or on a known quirk). */
static int want_ok(struct simdom *sd, char **w, int n)
{
	static const struct { const char *name; int nargs; } cmds[] = {
		{ "attach", 1 }, { "info", 0 }, { "ref-info", 1 },
		{ "grant", 4 }, { "end", 1 }, { "revoke", 1 }, { "fill", 2 },
		{ "check", 2 }, { "inject", 3 }, { "quit", 0 },
	};
	static const char *const kinds[] = {
		"none", "eagain", "eio", "wrong-frame", "stall",
	};
	uint64_t a, b, v, frame;
	size_t i;
	int r;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(w[0], cmds[i].name))
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0]) || n - 1 != cmds[i].nargs)
		return 0;
	switch (i) {
	case 0:
		return num(w[1], 0, SD_DOMID_MAX, &v) && v == sd->domid;
	case 1: case 9:
		return 1;
	case 2:
		return num(w[1], 0, sd->nr_grants - 1, &v);
	case 3:
		r = range(w[1], sd->nr_grants, &a, &b);
		if (!r || !num(w[2], 0, sd->nr_frames - 1, &frame) ||
		    !num(w[3], 0, SD_DOMID_MAX, &v) ||
		    (strcmp(w[4], "rw") && strcmp(w[4], "ro")) ||
		    frame + (b - a + 1) > sd->nr_frames)
			return 0;
		return r;
	case 4: case 5:
		return range(w[1], sd->nr_grants, &a, &b);
	case 6:
		r = range(w[1], sd->nr_grants, &a, &b);
		return r && num(w[2], 0, UINT32_MAX, &v) ? r : 0;
	case 7:
		r = range(w[1], sd->nr_grants, &a, &b);
		return r && num(w[2], 0, UINT32_MAX, &v) ? -1 : 0;
	case 8:
		for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (!strcmp(w[2], kinds[i]))
				break;
		return num(w[1], 0, sd->nr_grants - 1, &v) &&
		       i < sizeof(kinds) / sizeof(kinds[0]) &&
		       num(w[3], 0, UINT32_MAX, &v);
	}
	return 0;
}

/* What an accepted grant or fill did, through the domain's API. */
static void check_effect(struct simdom *sd, char **w)
{
	struct gmap_sim_ref_info ri;
	uint64_t a, b, frame, grantee, seed;
	uint8_t page[16];

	if (!strcmp(w[0], "grant") && range(w[1], sd->nr_grants, &a, &b) &&
	    num(w[2], 0, UINT64_MAX, &frame) && num(w[3], 0, UINT64_MAX, &grantee)) {
		for (uint64_t r = a; r <= b; r++) {
			FZ_CHECK(gmap_sim_ref_info(sd->dom, (uint32_t)r, &ri) == 0,
				 "ref_info %llu", (unsigned long long)r);
			FZ_CHECK(ri.frame == frame + (r - a) && ri.domid == grantee &&
				 (ri.flags & GTF_permit_access) &&
				 !(ri.flags & GTF_readonly) == !strcmp(w[4], "rw"),
				 "grant %s %s %s %s: ref %llu is frame %u domid %u "
				 "flags %#x", w[1], w[2], w[3], w[4],
				 (unsigned long long)r, ri.frame, ri.domid, ri.flags);
		}
	}
	if (!strcmp(w[0], "fill") && range(w[1], sd->nr_grants, &a, &b) &&
	    num(w[2], 0, UINT32_MAX, &seed)) {
		/* The last ref of the range wrote its frame last. */
		FZ_CHECK(gmap_sim_ref_info(sd->dom, (uint32_t)b, &ri) == 0, "ref_info");
		FZ_CHECK(gmap_sim_read(sd->dom, ri.frame, 0, page, sizeof(page)) == 0,
			 "read frame %u", ri.frame);
		for (size_t off = 0; off < sizeof(page); off++)
			FZ_CHECK(page[off] == gmap_pattern_byte((uint32_t)b,
								(uint32_t)seed, off),
				 "fill %s %s: frame %u offset %zu is %#x", w[1],
				 w[2], ri.frame, off, page[off]);
	}
}

/* One line, as serve.c's conn_line() hands it over; whether to go on. */
static bool one_line(struct simdom *sd, const char *text, size_t len)
{
	static struct sd_reply r;
	char *line = malloc(len + 1), *copy = malloc(len + 1), *w[MAX_WORDS];
	size_t rlen;
	int n, want;
	bool ok;

	FZ_CHECK(line && copy, "malloc");
	memcpy(line, text, len);
	line[len] = 0;
	memcpy(copy, line, len + 1);
	n = split(copy, w);

	memset(&r, 0x5a, sizeof(r));
	sd_command(sd, line, &r);

	FZ_CHECK(memchr(r.text, 0, sizeof(r.text)), "reply not terminated");
	rlen = strlen(r.text);
	FZ_CHECK(rlen + 1 < SD_REPLY_MAX, "reply of %zu bytes: no room for "
		 "its newline", rlen);
	FZ_CHECK(!memchr(r.text, '\n', rlen), "reply with a newline: %s", r.text);
	ok = !strncmp(r.text, "ok", 2) && (r.text[2] == 0 || r.text[2] == ' ');
	FZ_CHECK(ok || !strncmp(r.text, "error: ", 7), "reply is neither ok "
		 "nor error: '%s'", r.text);

	want = n ? want_ok(sd, w, n > MAX_WORDS ? MAX_WORDS : n) : 0;
	if (n > MAX_WORDS)
		want = 0;
	FZ_CHECK(want < 0 || ok == (want == 1), "'%.200s': '%s', expected %s",
		 text, r.text, want ? "ok" : "an error");

	if (n && !strcmp(w[0], "attach"))
		FZ_CHECK(r.verb == (ok ? SD_ATTACH : SD_CLOSE), "attach: verb %d "
			 "for '%s'", r.verb, r.text);
	else if (n == 1 && !strcmp(w[0], "quit"))
		FZ_CHECK(r.verb == SD_QUIT && ok, "quit: verb %d, '%s'", r.verb,
			 r.text);
	else
		FZ_CHECK(r.verb == SD_REPLY, "'%.40s': verb %d", text, r.verb);
	if (ok && n <= MAX_WORDS)
		check_effect(sd, w);

	/* sd_number(), word by word, against the rules. */
	for (int i = 0; i < n && i < MAX_WORDS; i++) {
		static const uint64_t his[] = { 0, 1, 255, 32751, UINT32_MAX,
						UINT64_MAX };
		for (size_t j = 0; j < sizeof(his) / sizeof(his[0]); j++) {
			uint64_t v = 77, x = 0;
			bool valid = num(w[i], 0, his[j], &x);
			int rc = sd_number(w[i], 0, his[j], &v);

			FZ_CHECK((rc == 0) == valid && (!valid || v == x),
				 "sd_number('%.40s', 0, %llu): %d, %llu", w[i],
				 (unsigned long long)his[j], rc,
				 (unsigned long long)v);
		}
	}
	free(line);
	free(copy);
	return r.verb != SD_QUIT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct { uint32_t frames, grants; } shapes[] = {
		{ 16, 64 }, { 1, 1 }, { 64, 16 }, { 8, 8 }, { 256, 256 },
	};
	struct fz f = { data, size };
	uint8_t k = fz_u8(&f);
	struct simdom sd;

	memset(&sd, 0, sizeof(sd));
	sd.domid = 9 + (k >> 4);
	sd.nr_frames = shapes[(k & 15) % 5].frames;
	sd.nr_grants = shapes[(k & 15) % 5].grants;
	sd.path = "(fuzz)";
	sd.log_fd = sd.lfd = -1;
	sd.dom = gmap_sim_domain_create(sd.domid, sd.nr_frames, sd.nr_grants);
	FZ_CHECK(sd.dom, "gmap_sim_domain_create: %s", strerror(errno));

	while (f.n) {
		const uint8_t *nl = memchr(f.p, '\n', f.n);
		size_t len = nl ? (size_t)(nl - f.p) : f.n;

		/* Too long, or a NUL inside: serve.c answers without us,
		 * and closes the connection. */
		if (len + 1 > SD_LINE_MAX || memchr(f.p, 0, len))
			break;
		if (!one_line(&sd, (const char *)f.p, len))
			break;
		f.p += len;
		f.n -= len;
		if (f.n) {  /* the newline */
			f.p++;
			f.n--;
		}
	}
	gmap_sim_domain_destroy(sd.dom);
	return 0;
}
