/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shim.c - libFuzzer target "shim": the preload shim's argument checks
 * (libgmap/preload/), through the interposed calls themselves, in process:
 * the shim's sources are linked into this program, so xengnttab_*() and
 * xenforeignmemory_*() here are the shim's.
 *
 * Two simulated domains of this process grant to us: d1, 1024 grants (refs
 * 0-767 writable, 768-895 read-only, 896-959 not granted, 960-1023
 * writable, up to the end of the windows, which hold 1024 refs), and d2,
 * 8 writable grants (8-1023 are past its table).  Refs from 1024 on are
 * past the window; other domids have no domain.  The shim's
 * configuration is fixed (GMAP_NR_REFS=1024, GMAP_FOREIGN=deny,
 * GMAP_LOG=none): the program runs itself again with it, since the shim
 * reads its environment in a constructor.  One gnttab handle stays open
 * for the whole run, so the windows are opened once.
 *
 * Each input is a sequence of calls with fuzzed counts, domids, refs,
 * prot, flags, notify offsets and ports, copy segments, frames (grant,
 * foreign, or refs past 32 bits), fixed placements, error arrays, unmap
 * addresses and counts, and handles (ours, closed ones, NULL, not a
 * handle at all), checked against a model of which maps live on which
 * handle and which grants can be mapped: the result and errno of every
 * call (all or nothing for gnttab, page by page with an error array), the
 * address (the window's for a contiguous run, the caller's for MAP_FIXED;
 * one handed out of a window lies wholly inside it, so that a touch of a
 * page that failed faults there), every page of a map against the
 * guest's frame, writes reaching the guest, grant copies in both
 * directions and the status of each segment, an unmap taking exactly a
 * live map of its handle, the notify byte cleared at unmap, and a
 * handle's limit of grants.  At the end of an input every handle is
 * closed and the simulated hypervisor must count no mapping and no double
 * map.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xengnttab.h>
#include <xenforeignmemory.h>

#include "shim.h"
#include "fuzz.h"

#define NR_REFS 1024         /* GMAP_NR_REFS */
#define D1 1
#define D1_GRANTS 1024
#define D1_RW 768            /* 0-767 writable                  */
#define D1_RO 896            /* 768-895 read-only               */
#define D1_NONE 960          /* 896-959 not granted; 960-1023 writable */
#define D1_FRAMES 64
#define D2 2
#define D2_GRANTS 8

#define MAX_PAGES 16
#define MAX_LIVE 64
#define SLOTS 4              /* places for MAP_FIXED maps            */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* The windows stay open all run (their leaves hang off an anonymous
 * mapping LeakSanitizer does not scan). */
const char *__lsan_default_suppressions(void)
{
	return "leak:gmap_grant_get\n";
}

static struct gmap_sim_domain *d1, *d2;
static xengnttab_handle *keep;
/* Where MAP_FIXED maps go: slots of MAX_PAGES pages, far below every
 * other mapping, so that when the shim unmaps one (as it must at unmap)
 * no mmap(NULL) of anyone is handed the hole before it is reserved again
 * (the kernel places mappings from the top down). */
#define SLOT_BASE ((uint8_t *)(uintptr_t)0x200000000000ull)
#define SLOT_LEN ((size_t)MAX_PAGES * GMAP_PAGE_SIZE)
static uint8_t *slots = SLOT_BASE;
static uint8_t *slot_at(int k) { return slots + (size_t)k * 2 * SLOT_LEN; }

/* ---- the model -------------------------------------------------------------- */

struct live {
	int h;                   /* 0, 1: gnttab handles; 2: foreign memory */
	uint8_t *addr;
	uint32_t count;
	uint32_t domids[MAX_PAGES], refs[MAX_PAGES];
	bool ok[MAX_PAGES];      /* page mapped (an error array may leave holes) */
	int notify;              /* offset, or -1 */
	int slot;                /* MAP_FIXED slot, or -1 */
	uint64_t seq;            /* order of making */
};

static struct live lives[MAX_LIVE];
static unsigned int nr_lives;
static uint64_t seq;
static xengnttab_handle *gnt[2];
static uint32_t max_grants[2];
static xenforeignmemory_handle *fm;
static int restrict_domid = -1;
static bool slot_used[SLOTS];
static void *stale;          /* a closed gnttab handle */

static struct gmap_sim_domain *dom_of(uint32_t domid)
{
	return domid == D1 ? d1 : domid == D2 ? d2 : NULL;
}

static uint32_t frame_of(uint32_t domid, uint32_t ref)
{
	return domid == D1 ? ref % D1_FRAMES : ref;
}

/* Whether grant (@domid, @ref) can be mapped, writable if @w. */
static bool mappable(uint32_t domid, uint32_t ref, bool w)
{
	if (ref >= NR_REFS)
		return false;
	if (domid == D1)
		return ref < (w ? D1_RW : D1_RO) ||
		       (ref >= D1_NONE && ref < D1_GRANTS);
	if (domid == D2)
		return ref < D2_GRANTS;
	return false;
}

static uint32_t pages_mapped(int h)
{
	uint32_t n = 0;

	for (unsigned int i = 0; i < nr_lives; i++)
		if (lives[i].h == h)
			n += lives[i].count;
	return n;
}

/* ---- setting up -------------------------------------------------------------- */

/* Reserve a slot (again, after the shim unmapped it); never over
 * anything: EEXIST means it is still reserved (nothing else maps down
 * there). */
static void rereserve(void *addr);

static void reserve_slots(void)
{
	for (int k = 0; k < SLOTS; k++)
		rereserve(slot_at(k));
}

static struct gmap_sim_domain *make_domain(uint32_t domid, uint32_t frames,
					   uint32_t grants)
{
	struct gmap_sim_domain *d = gmap_sim_domain_create(domid, frames, grants);
	uint8_t page[GMAP_PAGE_SIZE];

	FZ_CHECK(d, "domain %u: %s", domid, strerror(errno));
	for (uint32_t f = 0; f < frames; f++) {
		for (size_t i = 0; i < sizeof(page); i++)
			page[i] = (uint8_t)(domid * 31 + f * 7 + i * 13 + 1);
		FZ_CHECK(gmap_sim_write(d, f, 0, page, sizeof(page)) == 0, "write");
	}
	for (uint32_t r = 0; r < grants; r++)
		if (mappable(domid, r, false))
			FZ_CHECK(gmap_sim_grant(d, r, frame_of(domid, r), 0,
						!mappable(domid, r, true)) == 0,
				 "grant");
	return d;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	extern char **environ;

	(void)argc;
	/* The shim read its configuration in its constructor: if it was
	 * not this file's, clear every GMAP_ variable, set ours and run
	 * again. */
	if (!getenv("FUZZ_SHIM_ENV")) {
		for (char **e = environ; *e;)
			if (!strncmp(*e, "GMAP_", 5)) {
				char name[256];

				snprintf(name, sizeof(name), "%.*s",
					 (int)strcspn(*e, "="), *e);
				unsetenv(name);
			} else {
				e++;
			}
		setenv("GMAP_LOG", getenv("FUZZ_LOG") ? "debug" : "none", 1);
		setenv("GMAP_NR_REFS", "1024", 1);
		setenv("GMAP_FOREIGN", "deny", 1);
		/* No files for gmap-top: a target killed at its time limit
		 * would leave them (run.sh says so too, but this clears
		 * it). */
		setenv("GMAP_PUBLISH", "no", 1);
		setenv("FUZZ_SHIM_ENV", "1", 1);
		execv("/proc/self/exe", *argv);
		perror("fuzz-shim: exec");
		abort();
	}
	FZ_CHECK(shim_config(), "the shim's configuration is bad");
	d1 = make_domain(D1, D1_FRAMES, D1_GRANTS);
	d2 = make_domain(D2, D2_GRANTS, D2_GRANTS);
	keep = xengnttab_open(NULL, 0);
	FZ_CHECK(keep, "xengnttab_open: %s", strerror(errno));
	reserve_slots();
	return 0;
}

/* ---- checks of a map ------------------------------------------------------- */

static void check_pages(const struct live *l, bool writable, struct fz *f)
{
	for (uint32_t i = 0; i < l->count; i++) {
		struct gmap_sim_domain *d = dom_of(l->domids[i]);
		uint32_t fr = frame_of(l->domids[i], l->refs[i]);
		uint8_t *p = l->addr + ((size_t)i << GMAP_PAGE_SHIFT), want[16];

		if (!l->ok[i])
			continue;
		FZ_CHECK(gmap_sim_read(d, fr, 0, want, sizeof(want)) == 0, "read");
		FZ_CHECK(!memcmp(p, want, sizeof(want)), "map page %u (d%u ref "
			 "%u) at %p is not frame %u", i, l->domids[i], l->refs[i],
			 (void *)p, fr);
		if (writable && (fz_u8(f) & 1)) {
			size_t off = 16 + fz_u16(f) % (GMAP_PAGE_SIZE - 16);
			uint8_t x = fz_u8(f) | 1, back = 0;

			((volatile uint8_t *)p)[off] = x;
			FZ_CHECK(gmap_sim_read(d, fr, off, &back, 1) == 0 &&
				 back == x, "write at page %u offset %zu: the "
				 "guest has %#x, not %#x", i, off, back, x);
		}
	}
}

/* The byte a notify map clears at unmap is cleared. */
static void check_notified(const struct live *l)
{
	uint8_t b = 0xff;

	if (l->notify < 0)
		return;
	FZ_CHECK(gmap_sim_read(dom_of(l->domids[0]),
			       frame_of(l->domids[0], l->refs[0]),
			       (size_t)l->notify, &b, 1) == 0 && b == 0,
		 "notify byte %d of d%u ref %u is %#x after unmap", l->notify,
		 l->domids[0], l->refs[0], b);
}

static bool all_ok(const struct live *l)
{
	for (uint32_t i = 0; i < l->count; i++)
		if (!l->ok[i])
			return false;
	return true;
}

static bool contiguous(const struct live *l)
{
	for (uint32_t i = 1; i < l->count; i++)
		if (l->domids[i] != l->domids[0] ||
		    l->refs[i] != (uint64_t)l->refs[0] + i)
			return false;
	return true;
}

/* A new live map @l, returned as @p with @errno @e; @want: it must have
 * succeeded (else failed). */
static void took(struct live *l, void *p, int e, bool want, bool writable,
		 bool fixed, struct fz *f, const char *call)
{
	if (getenv("FUZZ_LOG") || !p != !want) {
		fprintf(stderr, "fuzz: %s%s%s:", call, writable ? " rw" : " ro",
			fixed ? " fixed" : "");
		for (uint32_t i = 0; i < l->count; i++)
			fprintf(stderr, " d%u:%u%s", l->domids[i], l->refs[i],
				l->ok[i] ? "" : "(bad)");
		if (l->notify >= 0)
			fprintf(stderr, " notify %d", l->notify);
		fprintf(stderr, " -> %p (%s)\n", p, p ? "ok" : strerror(e));
	}
	if (!want) {
		FZ_CHECK(!p, "%s of %u pages (d%u ref %u...): %p, expected a "
			 "failure", call, l->count, l->domids[0], l->refs[0], p);
		FZ_CHECK(e == EINVAL || e == ESRCH || e == EPERM || e == ENOSPC,
			 "%s: errno %s", call, strerror(e));
		return;
	}
	FZ_CHECK(p, "%s of %u pages (d%u ref %u...): %s", call, l->count,
		 l->domids[0], l->refs[0], strerror(e));
	FZ_CHECK(((uintptr_t)p & (GMAP_PAGE_SIZE - 1)) == 0, "%s: %p", call, p);
	l->addr = p;
	if (fixed)
		FZ_CHECK(p == slot_at(l->slot),
			 "%s: MAP_FIXED map at %p, not where asked", call, p);
	else if (contiguous(l) && dom_of(l->domids[0]) && all_ok(l))
		FZ_CHECK(p == gmap_ref_ptr(shim_window(l->domids[0]), l->refs[0]),
			 "%s: contiguous run at %p, not its window address", call,
			 p);
	/* Handed out from a window: wholly inside it, so that a touch of a
	 * page that failed faults there, never reaches what lies beyond. */
	{
		struct gmap_window *w = shim_window_at(p);

		if (w)
			FZ_CHECK((uint64_t)((uint8_t *)p - (uint8_t *)gmap_base(w)) /
				 GMAP_PAGE_SIZE + l->count <= gmap_nr_refs(w),
				 "%s of %u pages from d%u ref %u: %p runs past the "
				 "end of the window (%llu refs)", call, l->count,
				 l->domids[0], l->refs[0], p,
				 (unsigned long long)gmap_nr_refs(w));
	}
	check_pages(l, writable, f);
	FZ_CHECK(nr_lives < MAX_LIVE, "too many maps");
	l->seq = seq++;
	lives[nr_lives++] = *l;
}

static void rereserve(void *addr)
{
	void *p = mmap(addr, SLOT_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		       MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == addr || errno != EEXIST)
		FZ_CHECK(p == addr, "reserve %p: %s", addr, strerror(errno));
}

static void forget(unsigned int i)
{
	check_notified(&lives[i]);
	if (lives[i].slot >= 0) {
		slot_used[lives[i].slot] = false;
		rereserve(lives[i].addr);
	}
	lives[i] = lives[--nr_lives];
}

/* ---- the input's values ------------------------------------------------------ */

static uint32_t pick_domid(struct fz *f)
{
	uint8_t k = fz_u8(f);

	return k < 200 ? D1 : k < 240 ? D2 : k < 250 ? 3 : fz_u32(f);
}

static uint32_t pick_ref(struct fz *f, uint32_t domid)
{
	uint8_t k = fz_u8(f);

	if (k < 200)
		return fz_u16(f) % (domid == D2 ? 12 : NR_REFS + 8);
	return fz_count(f, NR_REFS);
}

/* @n grants into @l: a run, scattered, mixed domains or anything. */
static void pick_grants(struct fz *f, struct live *l, uint32_t n)
{
	uint8_t k = fz_u8(f) % 4;
	uint32_t d = pick_domid(f), r = pick_ref(f, d);

	l->count = n;
	for (uint32_t i = 0; i < n; i++) {
		switch (k) {
		case 0:
			l->domids[i] = d;
			l->refs[i] = r + i;
			break;
		case 1:
			l->domids[i] = d;
			l->refs[i] = pick_ref(f, d);
			break;
		default:
			l->domids[i] = pick_domid(f);
			l->refs[i] = pick_ref(f, l->domids[i]);
			break;
		}
	}
}

static int pick_prot(struct fz *f)
{
	uint8_t k = fz_u8(f);

	return k < 120 ? PROT_READ | PROT_WRITE : k < 240 ? PROT_READ :
	       (int)fz_u32(f);
}

static xengnttab_handle *handle(int h)
{
	if (!gnt[h]) {
		gnt[h] = xengnttab_open(NULL, 0);
		FZ_CHECK(gnt[h], "xengnttab_open: %s", strerror(errno));
		max_grants[h] = 0;
		if (gnt[h] == stale)
			stale = NULL;
	}
	return gnt[h];
}

static xenforeignmemory_handle *fmem(void)
{
	if (!fm) {
		fm = xenforeignmemory_open(NULL, 0);
		FZ_CHECK(fm, "xenforeignmemory_open: %s", strerror(errno));
		restrict_domid = -1;
	}
	return fm;
}

/* ---- gnttab ------------------------------------------------------------------ */

static bool all_mappable(const struct live *l, bool w)
{
	for (uint32_t i = 0; i < l->count; i++)
		if (!mappable(l->domids[i], l->refs[i], w))
			return false;
	return true;
}

static void op_gnt_map(struct fz *f, uint8_t op)
{
	int h = fz_u8(f) & 1, prot, e;
	uint32_t n = fz_u8(f) % (MAX_PAGES + 1), off = UINT32_MAX;
	uint32_t port = UINT32_MAX;
	struct live l = { .h = h, .notify = -1, .slot = -1 };
	bool want, w, nulls = false;
	void *p;

	handle(h);
	pick_grants(f, &l, n);
	prot = pick_prot(f);
	w = prot & PROT_WRITE;
	for (uint32_t i = 0; i < n; i++)
		l.ok[i] = true;
	want = n > 0 && all_mappable(&l, w) &&
	       (!max_grants[h] || pages_mapped(h) + n <= max_grants[h]);
	errno = 0;
	switch (op % 4) {
	case 0:
		nulls = !(fz_u8(f) & 0x1f);
		p = xengnttab_map_grant_refs(handle(h), n, nulls ? NULL : l.domids,
					     l.refs, prot);
		if (nulls)
			want = false;
		break;
	case 1:
		for (uint32_t i = 1; i < n; i++)
			l.domids[i] = l.domids[0];
		want = n > 0 && all_mappable(&l, w) &&
		       (!max_grants[h] || pages_mapped(h) + n <= max_grants[h]);
		p = xengnttab_map_domain_grant_refs(handle(h), n, l.domids[0],
						    l.refs, prot);
		break;
	case 2:
		l.count = n = 1;
		l.ok[0] = true;
		want = mappable(l.domids[0], l.refs[0], w) &&
		       (!max_grants[h] || pages_mapped(h) + 1 <= max_grants[h]);
		p = xengnttab_map_grant_ref(handle(h), l.domids[0], l.refs[0], prot);
		break;
	default:
		l.count = n = 1;
		l.ok[0] = true;
		if (fz_u8(f) < 128)
			off = fz_u16(f) % (GMAP_PAGE_SIZE + 16);
		if (fz_u8(f) > 250)
			port = fz_u32(f);
		want = mappable(l.domids[0], l.refs[0], w) &&
		       (!max_grants[h] || pages_mapped(h) + 1 <= max_grants[h]) &&
		       port == UINT32_MAX &&
		       (off == UINT32_MAX || (off < GMAP_PAGE_SIZE && w));
		p = xengnttab_map_grant_ref_notify(handle(h), l.domids[0],
						   l.refs[0], prot, off, port);
		e = errno;
		if (port != UINT32_MAX) {
			FZ_CHECK(!p && e == EOPNOTSUPP, "notify by port %u: %s",
				 port, p ? "mapped" : strerror(e));
			return;
		}
		if (off != UINT32_MAX)
			l.notify = (int)off;
		break;
	}
	e = errno;
	if (!want && n == 0)
		FZ_CHECK(!p && e == EINVAL, "map of 0 grants: %s",
			 p ? "mapped" : strerror(e));
	took(&l, p, e, want, w, false, f, "xengnttab map");
	/* Something for the notify byte to clear. */
	if (p && l.notify >= 0)
		((volatile uint8_t *)p)[l.notify] = 0xa5;
}

/* An address and count: a live map's (of any handle), nearly one, or any. */
static void pick_unmap(struct fz *f, uint8_t **addr, uint32_t *count, int *which)
{
	uint8_t k = fz_u8(f);

	*which = -1;
	if (nr_lives && k < 200) {
		*which = (int)(fz_u8(f) % nr_lives);
		*addr = lives[*which].addr;
		*count = lives[*which].count;
		if (k >= 150) {
			*addr += (int64_t)(int8_t)fz_u8(f) * (int64_t)GMAP_PAGE_SIZE;
			*count += (uint32_t)(int8_t)fz_u8(f);
		}
		return;
	}
	*addr = (uint8_t *)(uintptr_t)(k < 230 ? (uint64_t)(uintptr_t)slots +
				      fz_u16(f) * GMAP_PAGE_SIZE : fz_u64(f));
	*count = fz_count(f, 4);
}

/*
 * The live map of handle @h at exactly @addr, @count, or -1.  Two maps of
 * one run of grants through one handle are both handed the window's
 * address, so an unmap cannot tell them apart: the shim takes the one
 * made last (and so a notify byte is cleared when the map that has it
 * goes, whichever the caller meant).
 */
static int find_live(int h, const void *addr, uint32_t count)
{
	int found = -1;

	for (unsigned int i = 0; i < nr_lives; i++)
		if (lives[i].h == h && lives[i].addr == addr &&
		    lives[i].count == count &&
		    (found < 0 || lives[i].seq > lives[found].seq))
			found = (int)i;
	return found;
}

static void op_gnt_unmap(struct fz *f)
{
	int h = fz_u8(f) & 1, which, i, rc, e;
	uint8_t *addr;
	uint32_t count;

	pick_unmap(f, &addr, &count, &which);
	i = find_live(h, addr, count);
	errno = 0;
	rc = xengnttab_unmap(handle(h), addr, count);
	e = errno;
	if (i < 0) {
		FZ_CHECK(rc == -1 && e == EINVAL, "unmap of %p, %u pages: not a "
			 "live map of handle %d, but %d (%s)", (void *)addr, count,
			 h, rc, strerror(e));
		return;
	}
	FZ_CHECK(rc == 0, "unmap of a live map %p, %u pages: %s", (void *)addr,
		 count, strerror(e));
	forget((unsigned int)i);
}

static void op_gnt_max(struct fz *f)
{
	int h = fz_u8(f) & 1;
	uint32_t n = fz_u8(f) < 200 ? fz_u8(f) % 40 : fz_u32(f);

	FZ_CHECK(xengnttab_set_max_grants(handle(h), n) == 0, "set_max_grants");
	max_grants[h] = n;
}

/* Copies of guest frames, for grant copies. */
struct frame {
	uint32_t domid, frame;
	uint8_t data[GMAP_PAGE_SIZE];
};
static struct frame frames[8];
static unsigned int nr_frames;

static struct frame *frame_copy(uint32_t domid, uint32_t frame)
{
	struct frame *c;

	for (unsigned int i = 0; i < nr_frames; i++)
		if (frames[i].domid == domid && frames[i].frame == frame)
			return &frames[i];
	c = &frames[nr_frames++];
	c->domid = domid;
	c->frame = frame;
	FZ_CHECK(gmap_sim_read(dom_of(domid), frame, 0, c->data,
			       sizeof(c->data)) == 0, "read");
	return c;
}

/* Every frame as the segments left it. */
static void frames_check(void)
{
	static uint8_t now[GMAP_PAGE_SIZE];

	for (unsigned int i = 0; i < nr_frames; i++) {
		FZ_CHECK(gmap_sim_read(dom_of(frames[i].domid), frames[i].frame,
				       0, now, sizeof(now)) == 0, "read");
		FZ_CHECK(!memcmp(now, frames[i].data, sizeof(now)), "d%u frame "
			 "%u after grant copies: not what the segments wrote",
			 frames[i].domid, frames[i].frame);
	}
}

static void op_gnt_copy(struct fz *f)
{
	xengnttab_grant_copy_segment_t segs[8];
	uint8_t *bufs[8];
	struct frame *fr[8];
	int16_t want[8];
	bool to[8];
	uint32_t n = fz_u8(f) % 9;
	int h = fz_u8(f) & 1;

	for (uint32_t i = 0; i < n; i++) {
		xengnttab_grant_copy_segment_t *s = &segs[i];
		uint8_t k = fz_u8(f);
		uint32_t domid = pick_domid(f) & 0xffff;
		uint32_t ref = pick_ref(f, domid);
		uint16_t off = fz_u16(f) % (GMAP_PAGE_SIZE + 64);
		uint16_t len = fz_u8(f) < 200 ? fz_u16(f) % (GMAP_PAGE_SIZE + 64) :
			       fz_u16(f);
		uint16_t flags = k < 100 ? GNTCOPY_source_gref :
				 k < 200 ? GNTCOPY_dest_gref :
				 k < 230 ? GNTCOPY_source_gref | GNTCOPY_dest_gref :
				 k < 240 ? 0 : fz_u16(f);
		bool src = flags & GNTCOPY_source_gref, dst = flags & GNTCOPY_dest_gref;

		bufs[i] = malloc(GMAP_PAGE_SIZE);
		FZ_CHECK(bufs[i], "malloc");
		for (size_t j = 0; j < GMAP_PAGE_SIZE; j++)
			bufs[i][j] = (uint8_t)(k + j * 3);
		memset(s, 0, sizeof(*s));
		s->flags = flags;
		s->len = len;
		s->status = 0x7777;
		to[i] = dst;
		if (dst) {
			s->dest.foreign.ref = ref;
			s->dest.foreign.offset = off;
			s->dest.foreign.domid = (uint16_t)domid;
			if (!src)
				s->source.virt = bufs[i];
		} else {
			s->source.foreign.ref = ref;
			s->source.foreign.offset = off;
			s->source.foreign.domid = (uint16_t)domid;
			s->dest.virt = bufs[i];
		}
		if (src == dst || (uint32_t)off + len > GMAP_PAGE_SIZE)
			want[i] = GNTST_bad_copy_arg;
		else if (!dom_of(domid))
			want[i] = GNTST_bad_domain;
		else if (ref >= NR_REFS)
			want[i] = GNTST_bad_gntref;
		else if (!mappable(domid, ref, dst))
			want[i] = -1000;     /* some refusal */
		else
			want[i] = GNTST_okay;
	}
	/* The guest's frames as they were: segments run in order, so a copy
	 * from a frame sees what the segments before it wrote there. */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t domid = to[i] ? segs[i].dest.foreign.domid :
					 segs[i].source.foreign.domid;
		uint32_t ref = to[i] ? segs[i].dest.foreign.ref :
				       segs[i].source.foreign.ref;

		fr[i] = NULL;
		if (want[i] == GNTST_okay)
			fr[i] = frame_copy(domid, frame_of(domid, ref));
	}
	FZ_CHECK(xengnttab_grant_copy(handle(h), n, segs) == 0, "grant_copy: %s",
		 strerror(errno));
	for (uint32_t i = 0; i < n; i++) {
		xengnttab_grant_copy_segment_t *s = &segs[i];
		uint16_t off = to[i] ? s->dest.foreign.offset :
				       s->source.foreign.offset;

		if (want[i] == -1000)
			FZ_CHECK(s->status < 0 && s->status != GNTST_bad_copy_arg,
				 "segment %u: status %d for a grant we may not "
				 "copy %s", i, s->status, to[i] ? "to" : "from");
		else
			FZ_CHECK(s->status == want[i], "segment %u (flags %#x, len "
				 "%u): status %d, expected %d", i, s->flags,
				 s->len, s->status, want[i]);
		if (s->status != GNTST_okay)
			continue;
		if (to[i])
			memcpy(fr[i]->data + off, bufs[i], s->len);
		else
			FZ_CHECK(!memcmp(fr[i]->data + off, bufs[i], s->len),
				 "segment %u: copy from d%u frame %u offset %u "
				 "len %u: data differ", i, fr[i]->domid,
				 fr[i]->frame, off, s->len);
	}
	frames_check();
	for (uint32_t i = 0; i < n; i++)
		free(bufs[i]);
	nr_frames = 0;
}

/* Calls on things that are not gnttab handles of ours. */
static void op_bogus(struct fz *f)
{
	uint64_t junk[8] = { SHIM_GNT_MAGIC, SHIM_GNT_MAGIC };
	xengnttab_grant_copy_segment_t seg = { .len = 1 };
	uint32_t ref = 0, dom = D1;
	xengnttab_handle *h;
	uint8_t k = fz_u8(f);
	int rc, e;
	void *p;

	switch (fz_u8(f) % 3) {
	case 0: h = NULL; break;
	case 1: h = (xengnttab_handle *)junk; break;
	default:
		h = stale;
		for (int i = 0; i < 2; i++)
			if (h == (void *)gnt[i] || h == (void *)keep)
				h = NULL;
		if (!h)
			h = (xengnttab_handle *)junk;
		break;
	}
	errno = 0;
	switch (k % 6) {
	case 0:
		p = xengnttab_map_grant_ref(h, dom, ref, PROT_READ);
		e = errno;
		FZ_CHECK(!p && e == EBADF, "map on a bad handle: %s",
			 p ? "mapped" : strerror(e));
		return;
	case 1:
		p = xengnttab_map_domain_grant_refs(h, 1, dom, &ref, PROT_READ);
		e = errno;
		FZ_CHECK(!p && e == EBADF, "map on a bad handle: %s",
			 p ? "mapped" : strerror(e));
		return;
	case 2:
		rc = xengnttab_unmap(h, slots, 1);
		break;
	case 3:
		rc = xengnttab_set_max_grants(h, 1);
		break;
	case 4:
		rc = xengnttab_grant_copy(h, 1, &seg);
		break;
	default:
		rc = xengnttab_close(h);
		e = errno;
		FZ_CHECK(h ? rc == -1 && e == EBADF : rc == 0, "close of a bad "
			 "handle: %d (%s)", rc, strerror(e));
		return;
	}
	e = errno;
	FZ_CHECK(rc == -1 && e == EBADF, "call %u on a bad handle: %d (%s)",
		 k % 6, rc, strerror(e));
	errno = 0;
	FZ_CHECK(xengnttab_fd(h) == -1 && errno == EOPNOTSUPP, "xengnttab_fd");
}

/* ---- foreign memory --------------------------------------------------------- */

static void op_fmem_map(struct fz *f)
{
	struct live l = { .h = 2, .notify = -1, .slot = -1 };
	uint32_t n = fz_u8(f) % (MAX_PAGES + 1), dom = pick_domid(f);
	int prot = pick_prot(f), err[MAX_PAGES + 1], e;
	bool with_err = fz_u8(f) & 1, fixed = fz_u8(f) < 80, grants = 0, others = 0;
	xen_pfn_t arr[MAX_PAGES + 1];
	bool w = prot & PROT_WRITE, want;
	uint32_t ok = 0;
	void *addr = NULL, *p;

	pick_grants(f, &l, n);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t k = fz_u8(f);

		l.domids[i] = dom;
		if (k < 220) {
			arr[i] = SHIM_FRAME_GRANT_BIT | l.refs[i];
		} else if (k < 240) {
			arr[i] = SHIM_FRAME_GRANT_BIT | ((uint64_t)1 << 32) | fz_u32(f);
			l.domids[i] = SHIM_NO_DOMID;
		} else {
			arr[i] = fz_u32(f);   /* a guest frame: not a grant */
		}
		if (arr[i] & SHIM_FRAME_GRANT_BIT)
			grants++;
		else
			others++;
		l.ok[i] = l.domids[i] != SHIM_NO_DOMID &&
			  mappable(dom, l.refs[i], w);
		ok += l.ok[i];
		err[i] = 0x7f7f;
	}
	if (fixed) {
		for (l.slot = 0; l.slot < SLOTS && slot_used[l.slot]; l.slot++)
			;
		if (l.slot == SLOTS) {
			l.slot = -1;
			fixed = false;
		} else {
			addr = slot_at(l.slot);
		}
	}
	fmem();
	if (restrict_domid >= 0 && n > 0 && dom != (uint32_t)restrict_domid) {
		errno = 0;
		p = xenforeignmemory_map2(fmem(), dom, addr, prot,
					  fixed ? MAP_FIXED | MAP_SHARED : MAP_SHARED,
					  n, arr, with_err ? err : NULL);
		FZ_CHECK(!p && errno == EPERM, "map of d%u through a handle "
			 "restricted to d%d: %s", dom, restrict_domid,
			 p ? "mapped" : strerror(errno));
		return;
	}
	errno = 0;
	p = xenforeignmemory_map2(fmem(), dom, addr, prot,
				  fixed ? MAP_FIXED | MAP_SHARED : MAP_SHARED, n,
				  arr, with_err ? err : NULL);
	e = errno;
	if (n == 0 || (grants && others)) {
		FZ_CHECK(!p && e == EINVAL, "map of %u frames (%u grants, %u "
			 "not): %s", n, grants, others, p ? "mapped" : strerror(e));
		return;
	}
	if (!grants) {
		FZ_CHECK(!p && e == EPERM, "foreign map with GMAP_FOREIGN=deny: %s",
			 p ? "mapped" : strerror(e));
		return;
	}
	want = with_err ? ok > 0 : ok == n;
	if (fixed && want)
		slot_used[l.slot] = true;
	else
		l.slot = -1;
	took(&l, p, e, want, w, fixed && want, f, "xenforeignmemory_map2");
	if (p && with_err)
		for (uint32_t i = 0; i < n; i++)
			FZ_CHECK(l.ok[i] ? err[i] == 0 : err[i] < 0, "page %u (d%u "
				 "frame %#llx): err %d", i, dom,
				 (unsigned long long)arr[i], err[i]);
	if (!p && fixed)
		rereserve(addr);
}

static void op_fmem_unmap(struct fz *f)
{
	int which, i, rc, e;
	uint8_t *addr;
	uint32_t count;

	pick_unmap(f, &addr, &count, &which);
	i = find_live(2, addr, count);
	errno = 0;
	rc = xenforeignmemory_unmap(fmem(), addr, count);
	e = errno;
	if (i < 0) {
		FZ_CHECK(rc == -1 && e == EINVAL, "fmem unmap of %p, %u pages: "
			 "not a live map, but %d (%s)", (void *)addr, count, rc,
			 strerror(e));
		return;
	}
	FZ_CHECK(rc == 0, "fmem unmap of a live map %p, %u pages: %s",
		 (void *)addr, count, strerror(e));
	forget((unsigned int)i);
}

static void op_fmem_restrict(struct fz *f)
{
	uint16_t domid = fz_u8(f) < 200 ? pick_domid(f) & 0xffff : fz_u16(f);
	int rc;

	errno = 0;
	rc = xenforeignmemory_restrict(fmem(), domid);
	if (domid >= 0x7ff0) {
		FZ_CHECK(rc == -1 && errno == EINVAL, "restrict to %u: %d", domid,
			 rc);
		return;
	}
	FZ_CHECK(rc == 0, "restrict to %u: %s", domid, strerror(errno));
	restrict_domid = domid;
}

/* Close a handle: its maps go, and their notify bytes are cleared. */
static void close_handle(int h)
{
	if (h < 2 && gnt[h]) {
		FZ_CHECK(xengnttab_close(gnt[h]) == 0, "close: %s", strerror(errno));
		stale = gnt[h];
		gnt[h] = NULL;
		max_grants[h] = 0;
	} else if (h == 2 && fm) {
		FZ_CHECK(xenforeignmemory_close(fm) == 0, "fmem close: %s",
			 strerror(errno));
		fm = NULL;
		restrict_domid = -1;
	} else {
		return;
	}
	for (unsigned int i = 0; i < nr_lives;)
		if (lives[i].h == h)
			forget(i);
		else
			i++;
}

/* ---- one input ------------------------------------------------------------- */

static void check_domain(struct gmap_sim_domain *d, uint32_t domid)
{
	struct gmap_sim_domain_info di;

	FZ_CHECK(gmap_sim_domain_info(d, &di) == 0, "domain_info");
	FZ_CHECK(di.double_maps == 0, "d%u: %llu double maps", domid,
		 (unsigned long long)di.double_maps);
	FZ_CHECK(di.maps_now == 0, "d%u: %llu grants still mapped with every "
		 "handle closed", domid, (unsigned long long)di.maps_now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };

	for (int n = 0; f.n && n < 48; n++) {
		uint8_t op = fz_u8(&f) % 13;

		switch (op) {
		case 0: case 1: case 2: case 3: op_gnt_map(&f, op); break;
		case 4: op_gnt_unmap(&f); break;
		case 5: op_gnt_max(&f); break;
		case 6: op_gnt_copy(&f); break;
		case 7: op_bogus(&f); break;
		case 8: case 9: op_fmem_map(&f); break;
		case 10: op_fmem_unmap(&f); break;
		case 11: op_fmem_restrict(&f); break;
		default: close_handle(fz_u8(&f) % 3); break;
		}
	}
	for (int h = 0; h < 3; h++)
		close_handle(h);
	FZ_CHECK(nr_lives == 0, "%u maps left in the model", nr_lives);
	check_domain(d1, D1);
	check_domain(d2, D2);
	return 0;
}
