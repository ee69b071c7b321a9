/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dma.c - libFuzzer target "dma": grant DMA translation, and the range
 * calls a backend makes with what it translated, with addresses, lengths,
 * refs, counts and flags as a guest (or a broken backend) may send them.
 *
 * Windows of 1, 4097, 2^24 (the default) and 2^32 refs, and a small one of
 * 320 refs on a simulated domain of 256 grants (refs 0-191 granted
 * writable, 192-223 read-only, 224-255 not granted, 256-319 past the
 * table), opened once for the whole run.  Each input is a sequence of
 * operations:
 *   - gmap_translate(), gmap_dma_of() and gmap_ref_ptr() on any window,
 *     checked exactly against their man pages: bit 63 or EINVAL, the whole
 *     buffer inside the window or ERANGE, never a pointer outside it, and
 *     the round trip pointer -> address -> pointer is the identity;
 *   - on the small window: pin a translated buffer (as a device model
 *     pins a request's buffer), unpin, prefault and release ranges, and
 *     touch pages, checked against a model of every grant's pins and
 *     mapping: the result and errno of each call, the ref named in its
 *     gmap_error, the page's contents (the guest's, by its signature),
 *     and after every call the simulated hypervisor's own count of each
 *     grant's mappings (one when the model says mapped, else none; never
 *     a double map) and gmap_stats().
 * At the end of an input every pin is dropped and everything released,
 * and the hypervisor must count no mapping: inputs do not depend on each
 * other.
 *
 * Nothing here touches a page it does not know to be mappable: a bad
 * grant's touch is SIGSEGV by design, tested in tests/test-badgrant.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define S_DOMID 11
#define S_REFS 320         /* the window            */
#define S_GRANTS 256       /* the grant table       */
#define S_RW 192           /* 0..191 writable        */
#define S_RO 224           /* 192..223 read-only     */
#define S_FRAMES 64

#define NR_WINS 5

static struct gmap_sim_domain *sdom;
static struct gmap_window *wins[NR_WINS];   /* wins[0]: the small one */
static uint32_t pins[S_REFS];
static bool mapped[S_REFS];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* The leaves of grant state hang off the window's directory, which is an
 * anonymous mapping LeakSanitizer does not scan: while the window is
 * open (all run long, here) they look unreferenced. */
const char *__lsan_default_suppressions(void)
{
	return "leak:gmap_grant_get\n";
}

static uint32_t frame_of(uint32_t ref) { return ref % S_FRAMES; }
static uint64_t sig(uint32_t frame)
{
	return 0x5349470000000000ull ^ ((uint64_t)frame * 0x9e3779b97f4a7c15ull);
}

static struct gmap_window *open_on(uint32_t domid, uint64_t nr_refs)
{
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM,
		.nr_refs = nr_refs, .logger = &fz_logger,
	};
	struct gmap_window *w;

	if (domid != S_DOMID && !gmap_sim_domain_create(domid, 1, 1))
		return NULL;
	w = gmap_open(domid, &o);
	if (!w)
		fprintf(stderr, "fuzz-dma: window of %llu refs: %s: %s\n",
			(unsigned long long)nr_refs, strerror(errno), fz_last_log);
	return w;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	extern char **environ;
	static const uint64_t sizes[NR_WINS] = {
		S_REFS, 1, 4097, 0 /* GMAP_DEFAULT_REFS */, GMAP_MAX_REFS,
	};

	(void)argc; (void)argv;
	/* The windows' settings are this file's, not the caller's. */
	for (char **e = environ; *e;)
		if (!strncmp(*e, "GMAP_", 5)) {
			char name[256];
			size_t n = strcspn(*e, "=");

			snprintf(name, sizeof(name), "%.*s", (int)n, *e);
			unsetenv(name);
		} else {
			e++;
		}
	/* No files for gmap-top: a target killed at its time limit would
	 * leave them. */
	setenv("GMAP_PUBLISH", "no", 1);
	sdom = gmap_sim_domain_create(S_DOMID, S_FRAMES, S_GRANTS);
	if (!sdom)
		abort();
	for (uint32_t f = 0; f < S_FRAMES; f++) {
		uint64_t s = sig(f);

		if (gmap_sim_write(sdom, f, 0, &s, sizeof(s)) < 0)
			abort();
	}
	for (uint32_t r = 0; r < S_RO; r++)
		if (gmap_sim_grant(sdom, r, frame_of(r), 0, r >= S_RW) < 0)
			abort();
	for (int i = 0; i < NR_WINS; i++)
		if (!(wins[i] = open_on(S_DOMID + (uint32_t)i, sizes[i])))
			abort();
	return 0;
}

/* ---- translation: exact oracles ------------------------------------------ */

static uint64_t win_len(int i)
{
	return gmap_nr_refs(wins[i]) << GMAP_PAGE_SHIFT;
}

static uint64_t pick_dma(struct fz *f, uint64_t len)
{
	const uint64_t bit = GMAP_DMA_GRANT_BIT;

	switch (fz_u8(f) % 7) {
	case 0: return fz_u64(f);
	case 1: return bit | (fz_u64(f) % (len + 2 * GMAP_PAGE_SIZE));
	case 2: return bit | ((len - 2 * GMAP_PAGE_SIZE + fz_u16(f)) & ~bit);
	case 3: return bit | ((len - fz_u8(f)) & ~bit);
	case 4: return fz_u64(f) & ~bit;
	case 5: return bit | fz_u64(f);
	default: return bit | (fz_u32(f) % len);
	}
}

static size_t pick_len(struct fz *f, uint64_t wlen, uint64_t dma)
{
	uint64_t off = dma & ~GMAP_DMA_GRANT_BIT;

	switch (fz_u8(f) % 7) {
	case 0: return 0;
	case 1: return fz_u8(f);
	case 2: return fz_u16(f);
	case 3: return (size_t)(wlen - off + fz_u8(f) - 128);
	case 4: return SIZE_MAX - fz_u8(f);
	case 5: return (size_t)fz_u64(f);
	default: return (size_t)fz_u32(f);
	}
}

/* What gmap_translate(w, dma, len) must return: the offset, or -errno. */
static int64_t want_translate(uint64_t wlen, uint64_t dma, size_t len)
{
	uint64_t off = dma & ~GMAP_DMA_GRANT_BIT;
	unsigned __int128 end;

	if (!(dma & GMAP_DMA_GRANT_BIT))
		return -EINVAL;
	end = (unsigned __int128)off + (len ? len : 1);
	if (end > wlen)
		return -ERANGE;
	return (int64_t)off;
}

static void *check_translate(int i, uint64_t dma, size_t len)
{
	struct gmap_window *w = wins[i];
	uint8_t *base = gmap_base(w);
	int64_t want = want_translate(win_len(i), dma, len);
	uint64_t back;
	void *p;

	errno = 0;
	p = gmap_translate(w, dma, len);
	if (want < 0) {
		FZ_CHECK(!p && errno == -want, "translate(%#llx, %zu) on %llu "
			 "refs: %p (%s), expected %s", (unsigned long long)dma,
			 len, (unsigned long long)gmap_nr_refs(w), p,
			 strerror(errno), strerror((int)-want));
		return NULL;
	}
	FZ_CHECK(p == base + want, "translate(%#llx, %zu): %p, expected %p",
		 (unsigned long long)dma, len, p, (void *)(base + want));
	FZ_CHECK(gmap_dma_of(w, p, &back) == 0 && back == dma,
		 "dma_of(translate(%#llx)) = %#llx", (unsigned long long)dma,
		 (unsigned long long)back);
	FZ_CHECK((uint8_t *)gmap_ref_ptr(w, (uint32_t)(want >> GMAP_PAGE_SHIFT)) +
		 (want & (GMAP_PAGE_SIZE - 1)) == p, "ref_ptr + offset != "
		 "translate(%#llx)", (unsigned long long)dma);
	return p;
}

static void op_translate(struct fz *f)
{
	int i = fz_u8(f) % NR_WINS;
	uint64_t dma = pick_dma(f, win_len(i));

	check_translate(i, dma, pick_len(f, win_len(i), dma));
	if (!(fz_u8(f) & 0x3f)) {
		errno = 0;
		FZ_CHECK(!gmap_translate(NULL, dma, 1) && errno == EINVAL,
			 "translate on no window");
	}
}

static void op_dma_of(struct fz *f)
{
	int i = fz_u8(f) % NR_WINS;
	struct gmap_window *w = wins[i];
	uintptr_t base = (uintptr_t)gmap_base(w), a;
	uint64_t len = win_len(i), delta, dma = 0x1234;
	bool in;
	int r;

	switch (fz_u8(f) % 4) {
	case 0: delta = fz_u64(f); break;
	case 1: delta = (uint64_t)(int64_t)(int16_t)fz_u16(f); break;
	case 2: delta = len + (uint64_t)(int64_t)(int16_t)fz_u16(f); break;
	default: delta = fz_u64(f) % (len ? len : 1); break;
	}
	a = base + (uintptr_t)delta;
	in = a >= base && a - base < len;
	errno = 0;
	r = gmap_dma_of(w, (const void *)a, &dma);
	if (!in) {
		FZ_CHECK(r == -1 && errno == ERANGE && dma == 0x1234,
			 "dma_of(base + %#llx) on %llu refs: %d (%s)",
			 (unsigned long long)delta,
			 (unsigned long long)gmap_nr_refs(w), r, strerror(errno));
		return;
	}
	FZ_CHECK(r == 0 && dma == (GMAP_DMA_GRANT_BIT | (a - base)),
		 "dma_of(base + %#llx): %d, %#llx", (unsigned long long)delta,
		 r, (unsigned long long)dma);
	FZ_CHECK(gmap_translate(w, dma, 1) == (void *)a, "translate(dma_of(p)) "
		 "!= p");
	errno = 0;
	FZ_CHECK(gmap_dma_of(w, (const void *)a, NULL) == -1 && errno == EINVAL,
		 "dma_of into NULL");
}

static void op_ref_ptr(struct fz *f)
{
	int i = fz_u8(f) % NR_WINS;
	struct gmap_window *w = wins[i];
	uint64_t n = gmap_nr_refs(w);
	uint32_t ref = fz_count(f, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
	uint8_t *p;

	errno = 0;
	p = gmap_ref_ptr(w, ref);
	if (ref >= n) {
		FZ_CHECK(!p && errno == ERANGE, "ref_ptr(%u) of %llu refs: %p",
			 ref, (unsigned long long)n, (void *)p);
		return;
	}
	FZ_CHECK(p == (uint8_t *)gmap_base(w) + ((uint64_t)ref << GMAP_PAGE_SHIFT),
		 "ref_ptr(%u): %p", ref, (void *)p);
}

/* ---- the small window: a model of pins and mappings ----------------------- */

/* What mapping @ref fails with (writable if @write): 0, or the errno. */
static int map_errno(uint32_t ref, bool write)
{
	if (ref >= S_GRANTS)
		return ENXIO;   /* GNTST_bad_gntref */
	if (ref >= S_RO)
		return EACCES;  /* not granted */
	if (write && ref >= S_RW)
		return EACCES;  /* read-only */
	return 0;
}

/* The first ref of [ref, ref + count) that cannot be mapped, or -1. */
static int64_t first_bad(uint32_t ref, uint32_t count, bool write, int *e)
{
	for (uint64_t r = ref; r < (uint64_t)ref + count; r++)
		if ((*e = map_errno((uint32_t)r, write)))
			return (int64_t)r;
	return -1;
}

/* The argument errors every range call shares: EINVAL for count 0 (or
 * bad flags), ERANGE outside the window; 0 if none. */
static int arg_errno(uint32_t ref, uint32_t count, int flags)
{
	if (count == 0 || (flags & ~GMAP_PIN_WRITE))
		return EINVAL;
	if ((uint64_t)ref + count > S_REFS)
		return ERANGE;
	return 0;
}

static void check_error(const char *call, int rc, int e, const struct gmap_error *ge,
			uint32_t want_ref, int want, uint32_t ref, uint32_t count)
{
	FZ_CHECK(rc == -1 && e == want, "%s(%u, %u): %d (%s), expected %s: %s",
		 call, ref, count, rc, rc ? strerror(e) : "ok", strerror(want),
		 fz_last_log);
	if (ge)
		FZ_CHECK(ge->ref == want_ref && ge->err == want, "%s(%u, %u): "
			 "gmap_error names ref %u (%s), expected %u", call, ref,
			 count, ge->ref, strerror(ge->err), want_ref);
}

/* The hypervisor's count of every ref against the model; the stats. */
static void check_state(const char *after)
{
	struct gmap_window *w = wins[0];
	struct gmap_sim_domain_info di;
	struct gmap_sim_ref_info ri;
	uint64_t nmapped = 0, npinned = 0;
	struct gmap_stats st;

	for (uint32_t r = 0; r < S_REFS; r++) {
		nmapped += mapped[r];
		npinned += pins[r] > 0;
		if (r >= S_GRANTS)
			continue;
		FZ_CHECK(gmap_sim_ref_info(sdom, r, &ri) == 0, "ref_info");
		FZ_CHECK(ri.maps_now == (mapped[r] ? 1u : 0u), "after %s: ref %u "
			 "has %u mappings, the model says %s (%u pins)", after,
			 r, ri.maps_now, mapped[r] ? "mapped" : "not mapped",
			 pins[r]);
	}
	FZ_CHECK(gmap_sim_domain_info(sdom, &di) == 0, "domain_info");
	FZ_CHECK(di.double_maps == 0, "after %s: %llu double maps", after,
		 (unsigned long long)di.double_maps);
	FZ_CHECK(di.maps_now == nmapped, "after %s: %llu mappings, model %llu",
		 after, (unsigned long long)di.maps_now,
		 (unsigned long long)nmapped);
	FZ_CHECK(gmap_stats(w, &st, sizeof(st)) == 0, "stats");
	FZ_CHECK(st.mapped_now == nmapped && st.pinned_now == npinned,
		 "after %s: stats mapped %llu pinned %llu, model %llu %llu",
		 after, (unsigned long long)st.mapped_now,
		 (unsigned long long)st.pinned_now,
		 (unsigned long long)nmapped, (unsigned long long)npinned);
}

/* The first bytes of @ref's page are its frame's signature. */
static void check_page(uint32_t ref)
{
	uint64_t got;

	memcpy(&got, gmap_ref_ptr(wins[0], ref), sizeof(got));
	FZ_CHECK(got == sig(frame_of(ref)), "ref %u: page %#llx, expected "
		 "frame %u's %#llx", ref, (unsigned long long)got,
		 frame_of(ref), (unsigned long long)sig(frame_of(ref)));
}

/* A write through the window reaches the guest's frame (offset 8 on:
 * the signature stays). */
static void check_write(uint32_t ref, uint16_t off, uint8_t x)
{
	uint8_t back = 0;

	off = (uint16_t)(8 + off % (GMAP_PAGE_SIZE - 8));
	((volatile uint8_t *)gmap_ref_ptr(wins[0], ref))[off] = x;
	FZ_CHECK(gmap_sim_read(sdom, frame_of(ref), off, &back, 1) == 0 &&
		 back == x, "ref %u offset %u: wrote %#x, the guest has %#x",
		 ref, off, x, back);
}

/* 0, GMAP_PIN_WRITE, or flags that are refused (EINVAL).  Not
 * GMAP_PIN_READONLY: this model does not follow read-only maps of
 * writable grants, so a random word's high bit keeps it invalid (the
 * fuzzer once found a bare GMAP_PIN_READONLY, which is valid). */
static int pick_flags(struct fz *f)
{
	uint8_t k = fz_u8(f);

	return k < 250 ? (k & GMAP_PIN_WRITE) : (int)(fz_u32(f) | 0x80000000u);
}

/* A request's buffer: translate, pin the refs it covers, use, keep. */
static void op_pin(struct fz *f)
{
	uint64_t dma = pick_dma(f, S_REFS << GMAP_PAGE_SHIFT);
	size_t len = fz_u32(f) % (70 * GMAP_PAGE_SIZE);
	int flags = pick_flags(f), e, want;
	uint8_t x = fz_u8(f);
	struct gmap_error ge;
	uint32_t first, count;
	uint64_t off;
	int64_t bad;
	int rc;

	if (!check_translate(0, dma, len))
		return;
	off = dma & ~GMAP_DMA_GRANT_BIT;
	first = (uint32_t)(off >> GMAP_PAGE_SHIFT);
	count = (uint32_t)((off + (len ? len : 1) - 1) >> GMAP_PAGE_SHIFT) -
		first + 1;
	memset(&ge, 0, sizeof(ge));
	fz_last_log[0] = 0;
	rc = gmap_pin(wins[0], first, count, flags, &ge);
	e = errno;
	if ((want = arg_errno(first, count, flags))) {
		check_error("pin", rc, e, &ge, first, want, first, count);
		return;
	}
	bad = first_bad(first, count, flags & GMAP_PIN_WRITE, &want);
	if (bad >= 0) {
		check_error("pin", rc, e, &ge, (uint32_t)bad, want, first, count);
		/* All or nothing: the pins taken on the way are dropped,
		 * and a grant with no other pin is unmapped. */
		for (uint32_t r = first; r < (uint32_t)bad; r++)
			if (!pins[r])
				mapped[r] = false;
		return;
	}
	FZ_CHECK(rc == 0, "pin(%u, %u, %#x): %s (ref %u, status %d): %s",
		 first, count, flags, strerror(e), ge.ref, ge.status,
		 fz_last_log);
	for (uint32_t r = first; r < first + count; r++) {
		pins[r]++;
		mapped[r] = true;
		check_page(r);
	}
	if ((flags & GMAP_PIN_WRITE) && (off & (GMAP_PAGE_SIZE - 1)) >= 8)
		check_write(first, (uint16_t)((off & (GMAP_PAGE_SIZE - 1)) - 8), x);
}

static void op_unpin(struct fz *f)
{
	uint32_t ref = fz_count(f, S_REFS), count = fz_count(f, 8);
	int rc, e, want;
	bool all = true;

	rc = gmap_unpin(wins[0], ref, count);
	e = errno;
	if ((want = arg_errno(ref, count, 0))) {
		check_error("unpin", rc, e, NULL, 0, want, ref, count);
		return;
	}
	for (uint32_t r = ref; r < ref + count; r++)
		all &= pins[r] > 0;
	if (!all) {
		check_error("unpin", rc, e, NULL, 0, EINVAL, ref, count);
		return;
	}
	FZ_CHECK(rc == 0, "unpin(%u, %u) of pinned refs: %s", ref, count,
		 strerror(e));
	for (uint32_t r = ref; r < ref + count; r++)
		if (!--pins[r])
			mapped[r] = false;   /* GMAP_UNPIN_UNMAP */
}

static void op_prefault(struct fz *f)
{
	uint32_t ref = fz_count(f, S_REFS), count = fz_count(f, 70);
	int flags = pick_flags(f), rc, e, want;
	struct gmap_error ge;
	int64_t bad;

	memset(&ge, 0, sizeof(ge));
	rc = gmap_prefault(wins[0], ref, count, flags, &ge);
	e = errno;
	if ((want = arg_errno(ref, count, flags))) {
		check_error("prefault", rc, e, &ge, ref, want, ref, count);
		return;
	}
	bad = first_bad(ref, count, flags & GMAP_PIN_WRITE, &want);
	if (bad >= 0) {
		check_error("prefault", rc, e, &ge, (uint32_t)bad, want, ref,
			    count);
		/* Not all or nothing: what came before stays mapped. */
		for (uint32_t r = ref; r < (uint32_t)bad; r++)
			mapped[r] = true;
		return;
	}
	FZ_CHECK(rc == 0, "prefault(%u, %u, %#x): %s (ref %u): %s", ref, count,
		 flags, strerror(e), ge.ref, fz_last_log);
	for (uint32_t r = ref; r < ref + count; r++)
		mapped[r] = true;
}

static void op_release(struct fz *f)
{
	uint32_t ref = fz_count(f, S_REFS), count = fz_count(f, 70);
	int rc, e, want, n = 0;

	rc = gmap_release(wins[0], ref, count);
	e = errno;
	if ((want = arg_errno(ref, count, 0))) {
		check_error("release", rc, e, NULL, 0, want, ref, count);
		return;
	}
	for (uint32_t r = ref; r < ref + count; r++)
		if (mapped[r] && !pins[r]) {
			mapped[r] = false;
			n++;
		}
	FZ_CHECK(rc == n, "release(%u, %u): %d (%s), expected %d", ref, count,
		 rc, rc < 0 ? strerror(e) : "", n);
}

/* A first touch (served by the handler thread) or a touch of a mapped
 * page; only of refs that can be mapped, and writes only where the grant
 * is writable. */
static void op_touch(struct fz *f)
{
	uint32_t ref = fz_u8(f) % S_RO;
	uint8_t how = fz_u8(f), x = fz_u8(f);
	uint16_t off = fz_u16(f);

	check_page(ref);
	mapped[ref] = true;
	if ((how & 1) && ref < S_RW)
		check_write(ref, off, x);
}

static void drain(void)
{
	for (uint32_t r = 0; r < S_REFS; r++)
		while (pins[r]) {
			FZ_CHECK(gmap_unpin(wins[0], r, 1) == 0, "unpin of "
				 "ref %u (%u pins): %s", r, pins[r],
				 strerror(errno));
			if (!--pins[r])
				mapped[r] = false;
		}
	FZ_CHECK(gmap_release(wins[0], 0, S_REFS) >= 0, "release all: %s",
		 strerror(errno));
	memset(mapped, 0, sizeof(mapped));
	check_state("the end of the input");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
		"translate", "dma_of", "ref_ptr", "pin", "unpin", "prefault",
		"release", "touch",
	};
	struct fz f = { data, size };

	for (int n = 0; f.n && n < 64; n++) {
		uint8_t op = fz_u8(&f) % 8;

		switch (op) {
		case 0: op_translate(&f); break;
		case 1: op_dma_of(&f); break;
		case 2: op_ref_ptr(&f); break;
		case 3: op_pin(&f); break;
		case 4: op_unpin(&f); break;
		case 5: op_prefault(&f); break;
		case 6: op_release(&f); break;
		default: op_touch(&f); break;
		}
		if (op >= 3)
			check_state(names[op]);
	}
	drain();
	return 0;
}
