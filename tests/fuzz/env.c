/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * env.c - libFuzzer target "env": the GMAP_* environment parser
 * (libgmap/env.c) and what gmap_open() makes of the environment and of
 * its options.
 *
 * Each input sets some GMAP_* variables, known ones from the table and
 * made-up names, to arbitrary values (anything but NUL), then:
 *   - gmap_env_get() of every variable of the table is checked against an
 *     oracle written from the documented rules (libgmap(7), ENVIRONMENT):
 *     numbers are decimal, digits only, in range; words are one of the
 *     list in any case; paths are 1 to N bytes; anything else is -1 with a
 *     message naming the variable, never a value; a short message buffer
 *     is never overrun;
 *   - gmap_env_find() and gmap_env_get() of the made-up names: not found;
 *   - the unknown-name checks that the preload shim (config.c, load())
 *     and gmap_open() make of an environment: gmap_env_next_unknown()
 *     finds exactly the GMAP_ entries whose name is not in the table,
 *     gmap_env_nearest() names a variable at the least edit distance, 3 at
 *     most (none for a name past 64 bytes), gmap_env_unknown_msg() stays
 *     in its buffer;
 *   - the default logger is made when GMAP_LOG is valid;
 *   - (if the input asks) gmap_open() with the environment and fuzzed
 *     options: EINVAL exactly when a domid, an option or one of the
 *     variables it reads is invalid; else the sim backend opens the window
 *     of a simulated domain of this process (whose budgets are then those
 *     the variables or options gave) or fails with ESRCH for a domain
 *     there is not.  A window opened is pinned once, checked and closed.
 *
 * The preload shim reads its variables (config.c, load()) with these
 * calls; load() itself is static and runs once per process (from a
 * constructor), so it is reached only through them here.
 *
 * Input: byte 0 the mode (bit 0: call gmap_open; bit 1: fuzz its options;
 * bit 2: the domain exists; bits 3-7: a message buffer of 1 to 32 bytes
 * for one more call), then entries: a selector byte and text up to a NUL.
 * A selector below 0xf0 sets the table's variable (selector % count) to
 * the text; above, the text is NAME=VALUE and sets GMAP_NAME.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"
#include "fuzz.h"

#define FZ_DOMID 21         /* a simulated domain of this process */
#define MAX_MADE_UP 16

static struct gmap_sim_domain *dom;
static size_t nr_vars;
static char *made_up[MAX_MADE_UP];
static unsigned int nr_made_up;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	while (gmap_env_vars[nr_vars].name)
		nr_vars++;
	dom = gmap_sim_domain_create(FZ_DOMID, 4, 4);
	if (!dom || gmap_sim_grant(dom, 0, 0, 0, 0) < 0 ||
	    gmap_sim_write(dom, 0, 0, "\x42", 1) < 0) {
		perror("fuzz-env: simulated domain");
		abort();
	}
	return 0;
}

/* ---- the oracle: the documented rules, written again ------------------- */

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool same_word(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (lower((unsigned char)*a) != lower((unsigned char)*b))
			return false;
	return !*a && !*b;
}

/* 0 unset, 1 valid (*@out), -1 invalid */
static int expect(const struct gmap_env_var *v, const char *s, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (!s)
		return 0;
	switch (v->kind) {
	case GMAP_ENV_NUM:
		if (!*s)
			return -1;
		for (i = 0; s[i]; i++) {
			uint64_t d = (uint64_t)(s[i] - '0');

			if (s[i] < '0' || s[i] > '9')
				return -1;
			if (n > (UINT64_MAX - d) / 10)
				return -1;  /* past 2^64 - 1: past every range */
			n = n * 10 + d;
		}
		if (n < v->lo || n > v->hi)
			return -1;
		*out = n;
		return 1;
	case GMAP_ENV_WORD:
		for (i = 0; v->words[i]; i++)
			if (same_word(s, v->words[i])) {
				*out = i;
				return 1;
			}
		return -1;
	case GMAP_ENV_PATH:
		if (strlen(s) < 1 || strlen(s) > v->hi)
			return -1;
		*out = 0;
		return 1;
	}
	return -1;
}

/* What gmap_env_get() says of @v against the oracle; its result. */
static int check_var(const struct gmap_env_var *v, uint64_t *out)
{
	const char *s = getenv(v->name);
	uint64_t got = 0xdeadbeef, want = 0;
	char msg[512];
	int r, e;

	memset(msg, 0x5a, sizeof(msg));
	r = gmap_env_get(v->name, &got, msg, sizeof(msg));
	e = expect(v, s, &want);
	FZ_CHECK(r == e, "%s='%s': gmap_env_get %d, expected %d", v->name,
		 s ? s : "(unset)", r, e);
	if (r == 1)
		FZ_CHECK(got == want, "%s='%s': value %llu, expected %llu",
			 v->name, s, (unsigned long long)got,
			 (unsigned long long)want);
	if (r == -1) {
		FZ_CHECK(memchr(msg, 0, sizeof(msg)), "%s: message not "
			 "terminated", v->name);
		FZ_CHECK(!strncmp(msg, v->name, strlen(v->name)),
			 "%s: message does not name it: %s", v->name, msg);
	}
	if (r == 0)
		FZ_CHECK(got == 0xdeadbeef, "%s unset: value written", v->name);
	if (out && r == 1)
		*out = got;
	return r;
}

/* ---- gmap_open() with the environment ------------------------------------ */

#define OPT_END(f) (offsetof(struct gmap_open_opts, f) + \
		    sizeof(((struct gmap_open_opts *)0)->f))

static uint64_t pick64(struct fz *f)
{
	switch (fz_u8(f) % 8) {
	case 0: return fz_u64(f);
	case 1: return (uint64_t)1 << (fz_u8(f) % 64);
	case 2: return ((uint64_t)1 << (fz_u8(f) % 64)) + fz_u8(f) - 128;
	default: return fz_u16(f);
	}
}

/* Whether a caller's struct of @o->size bytes has the field ending at
 * @end (size 0: the first layout, which ends at self_domid). */
static bool has(const struct gmap_open_opts *o, size_t end)
{
	return o->size == 0 ? end <= OPT_END(self_domid) : o->size >= end;
}

/* Fill @o from the input; whether it is valid by gmap_open(3). */
static bool fuzz_opts(struct fz *f, struct gmap_open_opts *o)
{
	static const size_t sizes[] = {
		sizeof(struct gmap_open_opts), 0, 48, OPT_END(self_domid),
		OPT_END(self_domid) - 1, OPT_END(unpin_policy),
		OPT_END(max_mapped), sizeof(struct gmap_open_opts) + 64, 1,
	};
	bool ok = true;

	o->size = sizes[fz_u8(f) % (sizeof(sizes) / sizeof(sizes[0]))];
	o->backend = (enum gmap_backend)(fz_u8(f) % 4);
	o->nr_refs = pick64(f) % ((uint64_t)1 << 33);
	o->handler_threads = fz_u8(f) % 70;
	o->bad_policy = (enum gmap_bad_policy)(fz_u8(f) % 3);
	o->self_domid = fz_u8(f) < 240 ? 0 : fz_u16(f);
	o->unpin_policy = (enum gmap_unpin_policy)(fz_u8(f) % 3);
	o->handler_spin_us = fz_u8(f) < 200 ? 0 : fz_u16(f) % 12000;
	o->max_mapped = pick64(f);
	o->fault_around = fz_u16(f) % 300;
	o->fault_around_dir = (enum gmap_around_dir)(fz_u8(f) % 4);
	o->idle_ms = fz_u8(f) < 200 ? 0 : fz_u32(f) % 4000000;
	o->max_vmas = fz_u8(f) < 128 ? 0 : pick64(f);
	o->max_meta = fz_u8(f) < 128 ? 0 : pick64(f);
	o->fault_mode = (enum gmap_fault_mode)(fz_u8(f) % 4);

	if (o->size && o->size < OPT_END(self_domid))
		ok = false;
	if (o->nr_refs > GMAP_MAX_REFS || o->handler_threads > 64 ||
	    o->bad_policy > GMAP_BAD_SIGNAL_QUIET || o->backend > GMAP_BACKEND_XEN)
		ok = false;
	if (has(o, OPT_END(unpin_policy)) && o->unpin_policy > GMAP_UNPIN_KEEP)
		ok = false;
	if (has(o, OPT_END(handler_spin_us)) && o->handler_spin_us > 10000)
		ok = false;
	if (has(o, OPT_END(max_mapped)) && o->max_mapped > GMAP_MAX_REFS)
		ok = false;
	if (has(o, OPT_END(fault_around)) && o->fault_around > 256)
		ok = false;
	if (has(o, OPT_END(fault_around_dir)) &&
	    o->fault_around_dir > GMAP_AROUND_BOTH)
		ok = false;
	if (has(o, OPT_END(idle_ms)) && o->idle_ms > 3600000)
		ok = false;
	if (has(o, OPT_END(max_vmas)) && o->max_vmas &&
	    (o->max_vmas < 8 || o->max_vmas > (1ull << 31)))
		ok = false;
	if (has(o, OPT_END(max_meta)) && o->max_meta &&
	    (o->max_meta < 65536 || o->max_meta > (1ull << 40)))
		ok = false;
	if (has(o, OPT_END(fault_mode)) && o->fault_mode > GMAP_FAULT_INLINE)
		ok = false;
	return ok;
}

/* The budget in effect: the variable's, else the option's, else 0 (the
 * library's default, not checked). */
static uint64_t budget(const char *var, bool has_opt, uint64_t opt)
{
	uint64_t v;

	if (check_var(gmap_env_find(var), &v) == 1)
		return v;
	return has_opt ? opt : 0;
}

struct open_case {
	struct gmap_open_opts o;
	bool opts_ok;
	uint32_t domid;
};

/* Read the call from the input (before the entries, which take the rest). */
static void prepare_open(struct fz *f, uint8_t mode, struct open_case *c)
{
	memset(c, 0, sizeof(*c));
	c->o.size = sizeof(c->o);
	c->opts_ok = true;
	if (mode & 2)
		c->opts_ok = fuzz_opts(f, &c->o);
	c->o.logger = &fz_logger;
	if (mode & 4)
		c->domid = FZ_DOMID;
	else
		c->domid = fz_u8(f) < 200 ? 1000u + fz_u8(f) : fz_u32(f);
}

static void try_open(struct open_case *c)
{
	static const char *const read_by_open[] = {
		"GMAP_MAX_MAPPED", "GMAP_MAX_VMAS", "GMAP_MAX_META",
		"GMAP_FAULT_AROUND", "GMAP_IDLE_MS", "GMAP_FAULT_MODE",
	};
	const struct gmap_open_opts *o = &c->o;
	bool env_ok = true, domid_ok = c->domid < 0x7ff0, sim;
	uint64_t be = 0, mm, mv, mt;
	struct gmap_window *w;
	struct gmap_stats st;
	struct gmap_error ge;
	int e;

	/* Never a socket: its path was checked already, and a connect to
	 * whatever the fuzzer names is not what this target is for.  Nor a
	 * runtime directory of the input's (a window would make it
	 * anywhere), nor any: a target that crashes leaves its files.  Both
	 * variables are fuzzed through the parser above. */
	unsetenv("GMAP_SIM_SOCKET");
	unsetenv("GMAP_RUNTIME_DIR");
	setenv("GMAP_PUBLISH", "no", 1);
	for (size_t i = 0; i < sizeof(read_by_open) / sizeof(read_by_open[0]); i++)
		if (check_var(gmap_env_find(read_by_open[i]), NULL) < 0)
			env_ok = false;
	if (o->backend == GMAP_BACKEND_DEFAULT &&
	    check_var(gmap_env_find("GMAP_BACKEND"), &be) < 0)
		env_ok = false;
	sim = o->backend == GMAP_BACKEND_SIM ||
	      (o->backend == GMAP_BACKEND_DEFAULT && be == 0);

	errno = 0;
	fz_last_log[0] = 0;
	w = gmap_open(c->domid, o);
	e = errno;
	if (!domid_ok || !c->opts_ok || !env_ok) {
		FZ_CHECK(!w && e == EINVAL, "gmap_open(%u): %s, expected EINVAL "
			 "(domid %s, options %s, environment %s): %s", c->domid,
			 w ? "opened" : strerror(e), domid_ok ? "ok" : "bad",
			 c->opts_ok ? "ok" : "bad", env_ok ? "ok" : "bad",
			 fz_last_log);
		return;
	}
	if (!sim) {
		/* xen: fails without /dev/xen/gntdev, never with EINVAL. */
		FZ_CHECK(w || e != EINVAL, "gmap_open(%u) on xen: EINVAL: %s",
			 c->domid, fz_last_log);
		gmap_close(w);
		return;
	}
	if (c->domid != FZ_DOMID) {
		FZ_CHECK(!w && e == ESRCH, "gmap_open(%u), no such domain: %s",
			 c->domid, w ? "opened" : strerror(e));
		return;
	}
	FZ_CHECK(w, "gmap_open(%u) with valid options and environment: %s: %s",
		 c->domid, strerror(e), fz_last_log);
	FZ_CHECK(gmap_stats(w, &st, sizeof(st)) == 0, "gmap_stats: %s",
		 strerror(errno));
	mm = budget("GMAP_MAX_MAPPED", has(o, OPT_END(max_mapped)), o->max_mapped);
	mv = budget("GMAP_MAX_VMAS", has(o, OPT_END(max_vmas)), o->max_vmas);
	mt = budget("GMAP_MAX_META", has(o, OPT_END(max_meta)), o->max_meta);
	FZ_CHECK(!mm || st.max_mapped == mm, "max_mapped %llu, set %llu",
		 (unsigned long long)st.max_mapped, (unsigned long long)mm);
	FZ_CHECK(!mv || st.max_vmas == mv, "max_vmas %llu, set %llu",
		 (unsigned long long)st.max_vmas, (unsigned long long)mv);
	FZ_CHECK(!mt || st.max_meta == mt, "max_meta %llu, set %llu",
		 (unsigned long long)st.max_meta, (unsigned long long)mt);
	/* Ref 0 is granted to domain 0: a window that plays another
	 * grantee must be refused it. */
	memset(&ge, 0, sizeof(ge));
	if (o->self_domid != 0) {
		FZ_CHECK(gmap_pin(w, 0, 1, GMAP_PIN_READ, &ge) < 0 &&
			 ge.err == EACCES, "pin as d%u of a grant to d0: %s",
			 o->self_domid, ge.err ? strerror(ge.err) : "pinned");
		gmap_close(w);
		return;
	}
	FZ_CHECK(gmap_pin(w, 0, 1, GMAP_PIN_READ, &ge) == 0,
		 "pin of a granted ref: %s (status %d): %s", strerror(ge.err),
		 ge.status, fz_last_log);
	FZ_CHECK(*(volatile uint8_t *)gmap_ref_ptr(w, 0) == 0x42, "pinned "
		 "page: not the guest's");
	FZ_CHECK(gmap_unpin(w, 0, 1) == 0, "unpin: %s", strerror(errno));
	gmap_close(w);
}

/* ---- one input ------------------------------------------------------------- */

static void clear_env(void)
{
	for (size_t i = 0; i < nr_vars; i++)
		unsetenv(gmap_env_vars[i].name);
	for (unsigned int i = 0; i < nr_made_up; i++) {
		unsetenv(made_up[i]);
		free(made_up[i]);
	}
	nr_made_up = 0;
}

/* GMAP_ + @text's name (up to '='), set to the rest. */
static void set_made_up(const char *text)
{
	const char *eq = strchr(text, '=');
	size_t n = eq ? (size_t)(eq - text) : strlen(text);
	char *name;

	if (nr_made_up == MAX_MADE_UP)
		return;
	name = malloc(n + 6);
	if (!name)
		return;
	memcpy(name, "GMAP_", 5);
	memcpy(name + 5, text, n);
	name[n + 5] = 0;
	if (setenv(name, eq ? eq + 1 : "", 1) < 0) {
		free(name);
		return;
	}
	made_up[nr_made_up++] = name;
}

/* Optimal string alignment distance, as the library documents its
 * "nearest" (insertions, deletions, substitutions, swaps of neighbours). */
static unsigned int osa(const char *a, size_t la, const char *b, size_t lb)
{
	unsigned int *d = calloc((la + 1) * (lb + 1), sizeof(*d)), r;

	FZ_CHECK(d, "calloc");
#define D(i, j) d[(i) * (lb + 1) + (j)]
	for (size_t i = 0; i <= la; i++)
		D(i, 0) = (unsigned int)i;
	for (size_t j = 0; j <= lb; j++)
		D(0, j) = (unsigned int)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			unsigned int m = D(i - 1, j) + 1;

			if (D(i, j - 1) + 1 < m)
				m = D(i, j - 1) + 1;
			if (D(i - 1, j - 1) + (a[i - 1] != b[j - 1]) < m)
				m = D(i - 1, j - 1) + (a[i - 1] != b[j - 1]);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && D(i - 2, j - 2) + 1 < m)
				m = D(i - 2, j - 2) + 1;
			D(i, j) = m;
		}
	r = D(la, lb);
#undef D
	free(d);
	return r;
}

/* The unknown-name helpers on the @len bytes at @name (not terminated). */
static void check_unknown(const char *name, size_t len, size_t msglen)
{
	const char *near = gmap_env_nearest(name, len);
	unsigned int best = 99;
	char *msg;

	if (len <= 64)
		for (size_t j = 0; j < nr_vars; j++) {
			const char *v = gmap_env_vars[j].name;
			unsigned int d = osa(v, strlen(v), name, len);

			if (d < best)
				best = d;
		}
	if (best > 3) {
		FZ_CHECK(!near, "nearest of '%.*s': %s, expected none",
			 (int)len, name, near);
	} else {
		FZ_CHECK(near && gmap_env_find(near) &&
			 osa(near, strlen(near), name, len) == best,
			 "nearest of '%.*s': %s, expected one at distance %u",
			 (int)len, name, near ? near : "none", best);
	}
	msg = malloc(msglen);
	FZ_CHECK(msg, "malloc");
	memset(msg, 0x5a, msglen);
	gmap_env_unknown_msg(name, len, msg, msglen);
	FZ_CHECK(memchr(msg, 0, msglen), "unknown_msg of %zu bytes not "
		 "terminated", msglen);
	free(msg);
}

/* gmap_env_next_unknown() over @env (NULL-terminated): exactly the
 * GMAP_ entries whose name is not the table's, in order. */
static void check_next_unknown(char **env, size_t msglen)
{
	char **e = env, **want = env;
	size_t n;

	for (;;) {
		size_t wn = 0;

		for (; *want; want++) {
			bool known = false;

			wn = strcspn(*want, "=");
			if (strncmp(*want, "GMAP_", 5))
				continue;
			for (size_t j = 0; j < nr_vars; j++)
				known |= strlen(gmap_env_vars[j].name) == wn &&
					 !strncmp(gmap_env_vars[j].name, *want, wn);
			if (!known)
				break;
		}
		n = gmap_env_next_unknown(&e);
		if (!*want) {
			FZ_CHECK(n == 0, "next_unknown: '%s' after the last",
				 *e ? *e : "(end)");
			return;
		}
		FZ_CHECK(n == wn && e == want, "next_unknown: %zu at '%.40s', "
			 "expected %zu at '%.40s'", n, n ? *e : "(end)", wn, *want);
		check_unknown(*e, n, msglen);
		e++;
		want++;
	}
}

static void check_made_up(void)
{
	for (unsigned int i = 0; i < nr_made_up; i++) {
		const struct gmap_env_var *v = gmap_env_find(made_up[i]);
		bool known = false;
		uint64_t x = 0xdeadbeef;
		char msg[64];

		for (size_t j = 0; j < nr_vars; j++)
			known |= !strcmp(gmap_env_vars[j].name, made_up[i]);
		FZ_CHECK(!v == !known, "gmap_env_find(%s): %s", made_up[i],
			 v ? "found" : "not found");
		if (!known)
			FZ_CHECK(gmap_env_get(made_up[i], &x, msg, sizeof(msg))
				 == 0 && x == 0xdeadbeef,
				 "gmap_env_get(%s), not a variable", made_up[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t mode = fz_u8(&f);
	struct open_case oc;
	char text[8192], *fake[33];
	size_t nfake = 0;

	clear_env();
	if (mode & 1)
		prepare_open(&f, mode, &oc);
	while (f.n) {
		uint8_t sel = fz_u8(&f);
		size_t len = 0;

		while (f.n && *f.p && len < sizeof(text) - 1)
			text[len++] = (char)fz_u8(&f);
		text[len] = 0;
		if (f.n && !*f.p)
			fz_u8(&f);
		if (sel < 0xf0) {
			setenv(gmap_env_vars[sel % nr_vars].name, text, 1);
		} else {
			set_made_up(text);
			/* And as an entry of an environment of its own,
			 * GMAP_ or not, '=' or not. */
			if (nfake < 32 && (fake[nfake] = malloc(len + 6))) {
				snprintf(fake[nfake++], len + 6, "%s%s",
					 sel & 1 ? "GMAP_" : "", text);
			}
		}
	}
	fake[nfake] = NULL;
	check_next_unknown(fake, 1 + (mode >> 3));
	for (size_t i = 0; i < nfake; i++)
		free(fake[i]);

	for (size_t i = 0; i < nr_vars; i++)
		check_var(&gmap_env_vars[i], NULL);
	check_made_up();

	/* A short buffer for the first invalid variable's message: written
	 * within its size, terminated (heap: ASan sees one byte past). */
	for (size_t i = 0; i < nr_vars; i++) {
		size_t msglen = 1 + (mode >> 3);
		uint64_t v, x;
		char *msg;

		if (expect(&gmap_env_vars[i], getenv(gmap_env_vars[i].name), &x) >= 0)
			continue;
		msg = malloc(msglen);
		FZ_CHECK(msg, "malloc");
		FZ_CHECK(gmap_env_get(gmap_env_vars[i].name, &v, msg, msglen) == -1,
			 "%s: not -1 with a short buffer", gmap_env_vars[i].name);
		FZ_CHECK(memchr(msg, 0, msglen), "%s: message of %zu bytes "
			 "not terminated", gmap_env_vars[i].name, msglen);
		free(msg);
		break;
	}

	/* The log's target is fuzzed through the parser above, not further:
	 * a GMAP_LOG_FILE of the input's would create files anywhere, and a
	 * GMAP_LOG_SYSLOG send to any socket.  So neither the logger nor the
	 * window below sees them. */
	unsetenv("GMAP_LOG_FILE");
	unsetenv("GMAP_LOG_TARGET");
	unsetenv("GMAP_LOG_SYSLOG");
	if (check_var(gmap_env_find("GMAP_LOG"), NULL) >= 0) {
		int e;
		xentoollog_logger *l = gmap_default_logger(-1, NULL, 0, &e);

		FZ_CHECK(l, "gmap_default_logger with a valid GMAP_LOG: %s",
			 strerror(e));
		xtl_logger_destroy(l);
	}

	if (mode & 1)
		try_open(&oc);
	clear_env();
	return 0;
}
