/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xenapi-client.c - a backend that knows nothing of libgmap.
 *
 * It includes only Debian's <xenforeignmemory.h> and <xengnttab.h> (and
 * the page pattern gmap-simdom fills and checks, a header of plain C) and
 * links only against Debian's libraries.  Run as is, it fails as on any
 * machine without Xen; run under gmap-run against a gmap-simdom, its maps
 * are served by the preload shim.  tests/preload.sh drives it.
 *
 *   xenapi-client [-H HOOK] SCENARIO DOMID ARGS...
 *
 * (threads: a multithreaded PV-ring style backend, see sc_threads).
 *
 * HOOK is run as "HOOK STEP" at the points where the guest's side is to be
 * checked (for example, that it cannot end access while a map is live);
 * the scenario fails if the hook does.  The hook plays the guest, not the
 * backend, so it runs without LD_PRELOAD.
 *
 * Exit status: 0 all checks passed, 1 a check failed, 2 usage, 3 the
 * library could not be opened (no Xen).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xenforeignmemory.h>
#include <xengnttab.h>
#include <xen/grant_table.h>  /* GNTCOPY_*, GNTST_* */

#include "gmap-pattern.h"

#define PAGE 4096u
/* A grant's frame for xenforeignmemory: its grant DMA address >> 12. */
#define GRANT_FRAME(ref) ((xen_pfn_t)1 << 51 | (xen_pfn_t)(ref))

static const char *hook;
static unsigned int fails;

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fails++;						\
		printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);	\
		printf(__VA_ARGS__);					\
		printf("\n");						\
	}								\
} while (0)

static void run_hook(const char *step)
{
	char cmd[1024], *pre;
	int rc;

	if (!hook)
		return;
	pre = getenv("LD_PRELOAD") ? strdup(getenv("LD_PRELOAD")) : NULL;
	unsetenv("LD_PRELOAD");
	snprintf(cmd, sizeof(cmd), "%s %s", hook, step);
	fflush(stdout);
	rc = system(cmd);
	if (pre) {
		setenv("LD_PRELOAD", pre, 1);
		free(pre);
	}
	CHECK(rc == 0, "hook '%s' failed (status %d)", cmd, rc);
}

/* The whole page of @ref is the guest's pattern for @seed. */
static int page_is(const volatile uint8_t *p, uint32_t ref, uint32_t seed)
{
	return gmap_pattern_diff(p, ref, seed) == GMAP_PATTERN_PAGE;
}

/* ---- SIGSEGV as an outcome ----------------------------------------------- */

static sigjmp_buf *volatile segv_jmp;

static void on_segv(int sig)
{
	if (segv_jmp)
		siglongjmp(*segv_jmp, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* 1 if writing (or reading) *p raised SIGSEGV. */
static int faults(volatile uint8_t *p, int write)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		segv_jmp = NULL;
		return 1;
	}
	segv_jmp = &jb;
	if (write)
		*p = 0x5a;
	else
		(void)*p;
	segv_jmp = NULL;
	return 0;
}

static xengnttab_handle *gnt_open(void)
{
	xengnttab_handle *g = xengnttab_open(NULL, 0);

	if (!g) {
		printf("xengnttab_open: %s\n", strerror(errno));
		exit(3);
	}
	return g;
}

static xenforeignmemory_handle *fmem_open(void)
{
	xenforeignmemory_handle *f = xenforeignmemory_open(NULL, 0);

	if (!f) {
		printf("xenforeignmemory_open: %s\n", strerror(errno));
		exit(3);
	}
	return f;
}

/* Check @n pages from @p against refs[] and write the replies (seed+1). */
static void serve(uint8_t *p, const uint32_t *refs, uint32_t n, uint32_t seed)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		uint8_t *pg = p + (size_t)i * PAGE;

		CHECK(page_is(pg, refs[i], seed), "page %u (ref %u) is not "
		      "the guest's", i, refs[i]);
		gmap_pattern_fill(pg, refs[i], seed + 1);
	}
}

/* ---- scenarios ------------------------------------------------------------ */

/* fmem DOM SEED FIRST COUNT: foreign-memory map of a run of grant frames */
static void sc_fmem(uint32_t dom, uint32_t seed, uint32_t first, uint32_t n)
{
	xenforeignmemory_handle *f = fmem_open();
	xen_pfn_t *arr = calloc(n, sizeof(*arr));
	uint32_t *refs = calloc(n, sizeof(*refs)), i;
	int *err = calloc(n, sizeof(*err));
	uint8_t *p;

	for (i = 0; i < n; i++) {
		refs[i] = first + i;
		arr[i] = GRANT_FRAME(first + i);
		err[i] = 12345;
	}
	p = xenforeignmemory_map(f, dom, PROT_READ | PROT_WRITE, n, arr, err);
	CHECK(p != NULL, "map: %s", strerror(errno));
	if (p) {
		for (i = 0; i < n; i++)
			CHECK(err[i] == 0, "err[%u] = %d", i, err[i]);
		serve(p, refs, n, seed);
		run_hook("mapped");
		CHECK(xenforeignmemory_unmap(f, p, n) == 0, "unmap: %s",
		      strerror(errno));
	}
	/* A frame whose ref does not fit in 32 bits fails alone, with the
	 * error of a frame that does not exist. */
	arr[1] = GRANT_FRAME(((xen_pfn_t)1 << 32) | (first + 1));
	p = xenforeignmemory_map(f, dom, PROT_READ, 2, arr, err);
	CHECK(p && err[0] == 0 && err[1] == -EINVAL, "a 33-bit ref: p %p, "
	      "err %d %d", (void *)p, err[0], err[1]);
	if (p)
		xenforeignmemory_unmap(f, p, 2);
	CHECK(xenforeignmemory_close(f) == 0, "close");
	if (p)
		printf("fmem: %u pages verified and answered\n", n);
	free(arr);
	free(refs);
	free(err);
}

/* gnttab DOM SEED FIRST COUNT: one map of a run of refs */
static void sc_gnttab(uint32_t dom, uint32_t seed, uint32_t first, uint32_t n)
{
	xengnttab_handle *g = gnt_open();
	uint32_t *refs = calloc(n, sizeof(*refs)), i;
	uint8_t *p;

	for (i = 0; i < n; i++)
		refs[i] = first + i;
	p = xengnttab_map_domain_grant_refs(g, n, dom, refs,
					    PROT_READ | PROT_WRITE);
	CHECK(p != NULL, "map: %s", strerror(errno));
	if (p) {
		uint8_t *q;

		serve(p, refs, n, seed);
		/* Every ref has one address: a map of the run's last ref
		 * alone is where the run has it (the window's layout), and
		 * it is the same memory. */
		q = xengnttab_map_grant_ref(g, dom, first + n - 1, PROT_READ);
		CHECK(q == p + (size_t)(n - 1) * PAGE, "ref %u alone at %p, "
		      "in the run at %p", first + n - 1, (void *)q,
		      (void *)(p + (size_t)(n - 1) * PAGE));
		if (q)
			CHECK(xengnttab_unmap(g, q, 1) == 0, "unmap 1");
		run_hook("mapped");
		CHECK(xengnttab_unmap(g, p, n) == 0, "unmap: %s",
		      strerror(errno));
	}
	/* Grant copy, by Xen's rules: the replies just written, read back
	 * from the first ref; a segment crossing the page is refused. */
	{
		xengnttab_grant_copy_segment_t seg[2];
		uint8_t buf[64];

		memset(buf, 0, sizeof(buf));
		memset(seg, 0, sizeof(seg));
		seg[0].flags = GNTCOPY_source_gref;
		seg[0].source.foreign.ref = first;
		seg[0].source.foreign.domid = (uint16_t)dom;
		seg[0].source.foreign.offset = 100;
		seg[0].dest.virt = buf;
		seg[0].len = sizeof(buf);
		seg[1] = seg[0];
		seg[1].source.foreign.offset = PAGE - 8;
		CHECK(xengnttab_grant_copy(g, 2, seg) == 0, "grant copy: %s",
		      strerror(errno));
		CHECK(seg[0].status == GNTST_okay && buf[0] ==
		      gmap_pattern_byte(first, seed + 1, 100) && buf[63] ==
		      gmap_pattern_byte(first, seed + 1, 163),
		      "grant copy: status %d", seg[0].status);
		CHECK(seg[1].status == GNTST_bad_copy_arg, "copy across the "
		      "page end: status %d", seg[1].status);
	}
	CHECK(xengnttab_close(g) == 0, "close");
	if (p)
		printf("gnttab: %u pages verified and answered\n", n);
	free(refs);
}

/* scatter DOM SEED REF...: refs out of order, through both families; the
 * two maps must show the same memory. */
static void sc_scatter(uint32_t dom, uint32_t seed, uint32_t *refs, uint32_t n)
{
	xenforeignmemory_handle *f = fmem_open();
	xengnttab_handle *g = gnt_open();
	xen_pfn_t *arr = calloc(n, sizeof(*arr));
	uint8_t *a, *b;
	uint32_t i;

	for (i = 0; i < n; i++)
		arr[i] = GRANT_FRAME(refs[i]);
	a = xenforeignmemory_map(f, dom, PROT_READ | PROT_WRITE, n, arr, NULL);
	b = xengnttab_map_domain_grant_refs(g, n, dom, refs,
					    PROT_READ | PROT_WRITE);
	CHECK(a && b, "maps: %s", strerror(errno));
	if (a && b) {
		for (i = 0; i < n; i++) {
			uint8_t *pa = a + (size_t)i * PAGE, *pb = b + (size_t)i * PAGE;

			CHECK(page_is(pa, refs[i], seed), "fmem page %u", i);
			/* Shared, not copied: a write through one view is
			 * seen through the other at once. */
			uint8_t want = (uint8_t)~gmap_pattern_byte(refs[i], seed, 7);

			pa[7] = want;
			CHECK(pb[7] == want, "page %u: write through one map "
			      "not seen in the other", i);
			pa[7] = gmap_pattern_byte(refs[i], seed, 7);
		}
		serve(b, refs, n, seed);
		run_hook("mapped");
		CHECK(xenforeignmemory_unmap(f, a, n) == 0, "fmem unmap");
		CHECK(xengnttab_unmap(g, b, n) == 0, "gnttab unmap");
	}
	xenforeignmemory_close(f);
	xengnttab_close(g);
	printf("scatter: %u pages verified through two views and answered\n", n);
	free(arr);
}

/*
 * threads DOM SEED NTHREADS ITERS REF...: a multithreaded PV-ring style
 * backend.  Every thread maps batches of 11 refs drawn at random from the
 * list, in random order (never one run), with one shared handle; checks
 * every byte of every page against the granter's pattern for that ref (or
 * the reply pattern, seed + 1, that another thread may be writing into
 * it: byte by byte, so a page of another ref still fails); answers the
 * refs it owns (index % NTHREADS); unmaps; and between batches maps and
 * unmaps a page of anonymous memory, as the rest of a real backend does,
 * so that a hole left in an area of the shim is soon handed to someone.
 * At the end each thread answers all of its refs, which the granter then
 * checks (gmap-xengrant --expect SEED+1).
 */
#define BATCH 11

struct mt {
	xengnttab_handle *g;
	uint32_t dom, seed, nthreads, iters, nrefs, id;
	const uint32_t *refs;
	uint64_t maps, pages, bytes, replies, bad;
	char why[160];
};

/* Every byte of the page of @ref is the guest's or the reply's. */
static size_t mt_diff(const volatile uint8_t *p, uint32_t ref, uint32_t seed)
{
	size_t off;

	for (off = 0; off < PAGE; off++) {
		uint8_t b = p[off];

		if (b != gmap_pattern_byte(ref, seed, off) &&
		    b != gmap_pattern_byte(ref, seed + 1, off))
			break;
	}
	return off;
}

static int mt_batch(struct mt *t, const uint32_t *idx, uint32_t n)
{
	uint32_t domids[64], refs[64], i;
	uint8_t *p;

	for (i = 0; i < n; i++) {
		domids[i] = t->dom;
		refs[i] = t->refs[idx[i]];
	}
	p = xengnttab_map_grant_refs(t->g, n, domids, refs,
				     PROT_READ | PROT_WRITE);
	if (!p) {
		snprintf(t->why, sizeof(t->why), "map of %u refs from %u: %s",
			 n, refs[0], strerror(errno));
		return -1;
	}
	t->maps++;
	for (i = 0; i < n; i++) {
		uint8_t *pg = p + (size_t)i * PAGE;
		size_t off = mt_diff(pg, refs[i], t->seed);

		if (off != PAGE) {
			t->bad++;
			snprintf(t->why, sizeof(t->why), "page %u of a batch "
				 "(ref %u) byte %zu is %#x, neither the guest's "
				 "%#x nor the reply %#x", i, refs[i], off,
				 pg[off], gmap_pattern_byte(refs[i], t->seed, off),
				 gmap_pattern_byte(refs[i], t->seed + 1, off));
			break;
		}
		t->pages++;
		t->bytes += PAGE;
		if (idx[i] % t->nthreads == t->id) {
			gmap_pattern_fill(pg, refs[i], t->seed + 1);
			t->replies++;
		}
	}
	if (xengnttab_unmap(t->g, p, n) < 0) {
		snprintf(t->why, sizeof(t->why), "unmap: %s", strerror(errno));
		return -1;
	}
	return t->bad ? -1 : 0;
}

static void *mt_thread(void *arg)
{
	struct mt *t = arg;
	unsigned int rs = t->id * 7919u + t->seed;
	uint32_t idx[64], it, i, j, n;

	for (it = 0; it < t->iters; it++) {
		void *noise;

		/* BATCH distinct indexes, in random order, not one run. */
		for (n = 0; n < BATCH && n < t->nrefs; ) {
			uint32_t k = (uint32_t)rand_r(&rs) % t->nrefs;

			for (j = 0; j < n && idx[j] != k; j++)
				;
			if (j == n)
				idx[n++] = k;
		}
		if (n > 1 && idx[1] == idx[0] + 1) {
			uint32_t tmp = idx[0];

			idx[0] = idx[1];
			idx[1] = tmp;
		}
		if (mt_batch(t, idx, n) < 0)
			return NULL;
		noise = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (noise != MAP_FAILED) {
			memset(noise, 0x5a, PAGE);
			munmap(noise, PAGE);
		}
	}
	/* Answer every ref of ours, last first. */
	for (n = 0, i = t->nrefs; i-- > 0; )
		if (i % t->nthreads == t->id) {
			idx[n++] = i;
			if (n == BATCH || i < t->nthreads) {
				if (mt_batch(t, idx, n) < 0)
					return NULL;
				n = 0;
			}
		}
	return NULL;
}

static void sc_threads(uint32_t dom, uint32_t seed, uint32_t nthreads,
		       uint32_t iters, const uint32_t *refs, uint32_t n)
{
	xengnttab_handle *g = gnt_open();
	struct mt t[16];
	pthread_t tid[16];
	uint64_t maps = 0, pages = 0, bytes = 0, replies = 0;
	uint32_t i;

	CHECK(nthreads >= 1 && nthreads <= 16 && n >= BATCH, "threads: 1..16 "
	      "threads and at least %u refs (got %u, %u)", BATCH, nthreads, n);
	if (fails)
		return;
	for (i = 0; i < nthreads; i++) {
		t[i] = (struct mt){ .g = g, .dom = dom, .seed = seed,
				    .nthreads = nthreads, .iters = iters,
				    .nrefs = n, .id = i, .refs = refs };
		CHECK(pthread_create(&tid[i], NULL, mt_thread, &t[i]) == 0,
		      "pthread_create");
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(tid[i], NULL);
		CHECK(!t[i].why[0], "thread %u: %s", i, t[i].why);
		maps += t[i].maps;
		pages += t[i].pages;
		bytes += t[i].bytes;
		replies += t[i].replies;
	}
	CHECK(maps >= (uint64_t)nthreads * iters, "only %llu maps",
	      (unsigned long long)maps);
	xengnttab_close(g);
	printf("threads: %u threads, %llu maps of scattered refs, %llu pages "
	       "(%llu bytes) verified, %llu replies written\n", nthreads,
	       (unsigned long long)maps, (unsigned long long)pages,
	       (unsigned long long)bytes, (unsigned long long)replies);
}

/*
 * copy DOM SEED FIRST COUNT [RO]: a qdisk-shaped backend that moves all
 * data with grant copy (QEMU 7.2's xen-block): the first ref stays mapped
 * (its ring), every page is read into local memory in one batch and
 * checked, the replies (SEED + 1) written back in another, and a write to
 * the read-only grant RO, a bad ref and a segment across the page end
 * are each refused in their own status while the rest of the batch goes
 * through.
 */
static void sc_copy(uint32_t dom, uint32_t seed, uint32_t first, uint32_t n,
		    int64_t ro)
{
	xengnttab_handle *g = gnt_open();
	xengnttab_grant_copy_segment_t *seg = calloc(n + 3, sizeof(*seg));
	uint8_t *buf = calloc(n, PAGE), *ring, junk[16];
	uint32_t i, k;

	ring = xengnttab_map_grant_ref(g, dom, first, PROT_READ | PROT_WRITE);
	CHECK(ring != NULL, "map of the ring ref %u: %s", first, strerror(errno));
	for (i = 0; i < n; i++) {
		seg[i].flags = GNTCOPY_source_gref;
		seg[i].source.foreign.ref = first + i;
		seg[i].source.foreign.domid = (uint16_t)dom;
		seg[i].dest.virt = buf + (size_t)i * PAGE;
		seg[i].len = PAGE;
	}
	CHECK(xengnttab_grant_copy(g, n, seg) == 0, "copy in: %s", strerror(errno));
	for (i = 0; i < n; i++)
		CHECK(seg[i].status == GNTST_okay &&
		      page_is(buf + (size_t)i * PAGE, first + i, seed),
		      "copy in of ref %u: status %d", first + i, seg[i].status);
	for (i = 0; i < n; i++) {
		gmap_pattern_fill(buf + (size_t)i * PAGE, first + i, seed + 1);
		memset(&seg[i], 0, sizeof(seg[i]));
		seg[i].flags = GNTCOPY_dest_gref;
		seg[i].dest.foreign.ref = first + i;
		seg[i].dest.foreign.domid = (uint16_t)dom;
		seg[i].source.virt = buf + (size_t)i * PAGE;
		seg[i].len = PAGE;
	}
	/* Three that must fail alone, in the middle of the batch. */
	k = n;
	seg[k] = seg[0];
	seg[k].dest.foreign.ref = 0xffff0u;  /* past the grant table, in the window */
	seg[k].source.virt = junk;
	seg[k].len = sizeof(junk);
	seg[k + 1] = seg[k];
	seg[k + 1].dest.foreign.ref = first;
	seg[k + 1].dest.foreign.offset = PAGE - 8;  /* across the end */
	seg[k + 2] = seg[k];
	seg[k + 2].dest.foreign.ref = ro >= 0 ? (uint32_t)ro : first;
	CHECK(xengnttab_grant_copy(g, n + (ro >= 0 ? 3 : 2), seg) == 0,
	      "copy out: %s", strerror(errno));
	for (i = 0; i < n; i++)
		CHECK(seg[i].status == GNTST_okay, "copy out to ref %u: status %d",
		      first + i, seg[i].status);
	CHECK(seg[k].status != GNTST_okay, "copy to a bad ref succeeded");
	CHECK(seg[k + 1].status == GNTST_bad_copy_arg, "copy across the page "
	      "end: status %d", seg[k + 1].status);
	if (ro >= 0)
		CHECK(seg[k + 2].status != GNTST_okay, "copy to the read-only "
		      "grant %lld succeeded", (long long)ro);
	/* The ring sees what the copy wrote into its grant. */
	if (ring) {
		CHECK(page_is(ring, first, seed + 1), "the ring's map does not "
		      "show the copied reply");
		CHECK(xengnttab_unmap(g, ring, 1) == 0, "unmap the ring");
	}
	CHECK(xengnttab_close(g) == 0, "close");
	printf("copy: %u pages copied in and verified, %u replies copied "
	       "out; bad ref status %d, across the end %d, read-only %d\n", n,
	       n, seg[k].status, seg[k + 1].status,
	       ro >= 0 ? seg[k + 2].status : 0);
	free(seg);
	free(buf);
}

/* double DOM REF: three maps of one grant (two gnttab handles, one fmem),
 * the first read-only, are one memory; the hook checks the guest's
 * end-access after each unmap.  Under the shim on xen the read-only map
 * holds the window page read-only, so the writable ones get mappings of
 * their own: a write through them must still reach the first. */
static void sc_double(uint32_t dom, uint32_t ref)
{
	xengnttab_handle *g1 = gnt_open(), *g2 = gnt_open();
	xenforeignmemory_handle *f = fmem_open();
	xen_pfn_t frame = GRANT_FRAME(ref);
	uint8_t *a, *b, *c;

	a = xengnttab_map_grant_ref(g1, dom, ref, PROT_READ);
	b = xengnttab_map_grant_ref(g2, dom, ref, PROT_READ | PROT_WRITE);
	c = xenforeignmemory_map(f, dom, PROT_READ | PROT_WRITE, 1, &frame, NULL);
	CHECK(a && b && c, "maps (the first read-only): %s", strerror(errno));
	if (!(a && b && c))
		return;
	b[100] = 0x11;
	CHECK(a[100] == 0x11 && c[100] == 0x11, "one grant, different memory");
	c[101] = 0x22;
	CHECK(a[101] == 0x22 && b[101] == 0x22, "one grant, different memory");
	run_hook("mapped-3");
	CHECK(xengnttab_unmap(g1, a, 1) == 0, "unmap 1");
	run_hook("unmapped-1");
	CHECK(xengnttab_unmap(g2, b, 1) == 0, "unmap 2");
	run_hook("unmapped-2");
	CHECK(xenforeignmemory_unmap(f, c, 1) == 0, "unmap 3");
	run_hook("unmapped-3");
	xengnttab_close(g1);
	xengnttab_close(g2);
	xenforeignmemory_close(f);
	printf("double: 3 maps of ref %u were one memory\n", ref);
}

/* bad DOM OK_REF UNGRANTED_REF: bad input gets the error the real
 * libraries give, and nothing is left mapped (the hook checks). */
static void sc_bad(uint32_t dom, uint32_t ok, uint32_t ungranted)
{
	xenforeignmemory_handle *f = fmem_open();
	xengnttab_handle *g = gnt_open();
	xen_pfn_t frames[3] = { GRANT_FRAME(ok), GRANT_FRAME(ok + 1), 1234 };
	xen_pfn_t huge = GRANT_FRAME((xen_pfn_t)1 << 40);
	uint32_t refs[2] = { ok, ok + 1 }, past = 0xfffffff0u;
	int err[2] = { 7, 7 };
	uint8_t *p, *heap;

	CHECK(!xenforeignmemory_map(f, dom, PROT_READ, 0, frames, NULL) &&
	      errno == EINVAL, "0 pages: %s", strerror(errno));
	CHECK(!xenforeignmemory_map(f, dom, PROT_READ, 1, &huge, NULL) &&
	      errno == EINVAL, "ref past 32 bits: %s", strerror(errno));
	CHECK(!xenforeignmemory_map(f, dom, PROT_READ, 3, frames, NULL) &&
	      errno == EINVAL, "grant and guest frames mixed: %s",
	      strerror(errno));
	/* Partial: the bad page's err, the good page mapped. */
	frames[1] = GRANT_FRAME(ungranted);
	p = xenforeignmemory_map(f, dom, PROT_READ, 2, frames, err);
	CHECK(p && err[0] == 0 && err[1] == -EINVAL, "partial map: p %p "
	      "err %d %d", (void *)p, err[0], err[1]);
	if (p)
		CHECK(xenforeignmemory_unmap(f, p, 2) == 0, "partial unmap");

	CHECK(!xengnttab_map_domain_grant_refs(g, 0, dom, refs, PROT_READ) &&
	      errno == EINVAL, "0 refs: %s", strerror(errno));
	CHECK(!xengnttab_map_grant_ref(g, dom, past, PROT_READ) &&
	      errno == EINVAL, "ref past the window: %s", strerror(errno));
	CHECK(!xengnttab_map_grant_ref(g, dom, ungranted, PROT_READ) &&
	      errno == EINVAL, "ungranted ref: %s", strerror(errno));
	/* All or nothing: the good ref of a failed map is not left mapped. */
	refs[1] = ungranted;
	CHECK(!xengnttab_map_domain_grant_refs(g, 2, dom, refs, PROT_READ),
	      "map with an ungranted ref succeeded");
	refs[1] = ok + 1;

	heap = aligned_alloc(PAGE, PAGE);
	CHECK(xengnttab_unmap(g, heap, 1) == -1 && errno == EINVAL,
	      "unmap of never-mapped memory: %s", strerror(errno));
	free(heap);
	CHECK(xengnttab_unmap(g, NULL, 1) == -1 && errno == EINVAL,
	      "unmap of NULL: %s", strerror(errno));
	p = xengnttab_map_domain_grant_refs(g, 2, dom, refs, PROT_READ);
	CHECK(p != NULL, "map 2: %s", strerror(errno));
	if (p) {
		CHECK(xengnttab_unmap(g, p, 1) == -1 && errno == EINVAL,
		      "unmap with the wrong count: %s", strerror(errno));
		CHECK(xengnttab_unmap(g, p + PAGE, 1) == -1 && errno == EINVAL,
		      "unmap from the middle: %s", strerror(errno));
		CHECK(xenforeignmemory_unmap(f, p, 2) == -1 && errno == EINVAL,
		      "unmap through the other family: %s", strerror(errno));
		CHECK(xengnttab_unmap(g, p, 2) == 0, "unmap: %s", strerror(errno));
		CHECK(xengnttab_unmap(g, p, 2) == -1 && errno == EINVAL,
		      "second unmap: %s", strerror(errno));
	}
	CHECK(xengnttab_unmap((xengnttab_handle *)(uintptr_t)0x1000, p, 2) == -1 &&
	      errno == EBADF, "unmap with a garbage handle: %s", strerror(errno));
	/* A handle restricted to another domain maps nothing of this one. */
	CHECK(xenforeignmemory_restrict(f, (domid_t)(dom + 1)) == 0,
	      "restrict: %s", strerror(errno));
	CHECK(!xenforeignmemory_map(f, dom, PROT_READ, 1, frames, NULL) &&
	      errno == EPERM, "map through a handle restricted to another "
	      "domain: %s", strerror(errno));
	run_hook("after-bad");
	xengnttab_close(g);
	xenforeignmemory_close(f);
	printf("bad: every bad call refused\n");
}

/* rowrite DOM SEED REF: a read-only grant maps for reading only; a write
 * through the map faults and does not reach the page. */
static void sc_rowrite(uint32_t dom, uint32_t seed, uint32_t ref)
{
	xengnttab_handle *g = gnt_open();
	uint8_t *p;

	CHECK(!xengnttab_map_grant_ref(g, dom, ref, PROT_READ | PROT_WRITE) &&
	      errno == EINVAL, "writable map of a read-only grant: %s",
	      strerror(errno));
	p = xengnttab_map_grant_ref(g, dom, ref, PROT_READ);
	CHECK(p != NULL, "read-only map: %s", strerror(errno));
	if (!p)
		return;
	CHECK(page_is(p, ref, seed), "read-only page is not the guest's");
	CHECK(faults(p + 5, 1), "write to a read-only grant did not fault");
	CHECK(page_is(p, ref, seed), "the write reached the page");
	CHECK(xengnttab_unmap(g, p, 1) == 0, "unmap");
	xengnttab_close(g);
	printf("rowrite: read-only grant read, write refused\n");
}

/* fork DOM SEED REF SELF: a child has no window and may only close its
 * inherited handle; a handle of its own works; exec starts fresh. */
static void sc_fork(uint32_t dom, uint32_t seed, uint32_t ref, const char *self)
{
	xengnttab_handle *g = gnt_open();
	char dom_s[16], seed_s[16], ref_s[16];
	int status = -1;
	uint8_t *p;
	pid_t pid;

	p = xengnttab_map_grant_ref(g, dom, ref, PROT_READ | PROT_WRITE);
	CHECK(p != NULL, "map: %s", strerror(errno));
	if (!p)
		return;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		xengnttab_handle *mine;
		uint8_t *q;
		int bad = 0;

		if (!faults(p, 0))
			bad |= 1;     /* the parent's map is not here  */
		if (xengnttab_unmap(g, p, 1) != -1 || errno != EPERM)
			bad |= 2;     /* inherited: only close         */
		if (xengnttab_close(g) != 0)
			bad |= 4;
		mine = xengnttab_open(NULL, 0);
		q = mine ? xengnttab_map_grant_ref(mine, dom, ref, PROT_READ) : NULL;
		if (!q || !page_is(q, ref, seed))
			bad |= 8;     /* a handle of its own works     */
		if (q)
			xengnttab_unmap(mine, q, 1);
		xengnttab_close(mine);
		_exit(bad);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0, "child: status %#x", status);
	CHECK(page_is(p, ref, seed), "the parent's map changed after fork");

	/* exec of a preloaded program: a fresh process, a fresh window. */
	snprintf(dom_s, sizeof(dom_s), "%u", dom);
	snprintf(seed_s, sizeof(seed_s), "%u", seed);
	snprintf(ref_s, sizeof(ref_s), "%u", ref);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl(self, self, "check", dom_s, seed_s, ref_s, (char *)NULL);
		_exit(127);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0, "exec'd child: status %#x", status);
	CHECK(xengnttab_unmap(g, p, 1) == 0, "unmap");
	xengnttab_close(g);
	printf("fork: the child had no window; exec started fresh\n");
}

/* check DOM SEED REF: map, check, unmap (what the exec'd child runs) */
static void sc_check(uint32_t dom, uint32_t seed, uint32_t ref)
{
	xengnttab_handle *g = gnt_open();
	uint8_t *p = xengnttab_map_grant_ref(g, dom, ref, PROT_READ);

	CHECK(p && page_is(p, ref, seed), "map and check: %s", strerror(errno));
	if (p)
		xengnttab_unmap(g, p, 1);
	xengnttab_close(g);
}

/* foreign DOM GFN: a guest frame, not a grant: prints what happened */
static void sc_foreign(uint32_t dom, xen_pfn_t gfn)
{
	xenforeignmemory_handle *f = fmem_open();
	void *p = xenforeignmemory_map(f, dom, PROT_READ, 1, &gfn, NULL);

	xenforeignmemory_resource_handle *res;
	void *addr = NULL;

	printf("foreign: %s errno=%d (%s)\n", p ? "mapped" : "refused",
	       p ? 0 : errno, p ? "" : strerror(errno));
	if (p)
		xenforeignmemory_unmap(f, p, 1);
	/* A resource map, as QEMU maps its ioreq server's pages (type 0,
	 * XENMEM_resource_ioreq_server): not guest memory, so it reaches the
	 * real library even under GMAP_FOREIGN=deny. */
	res = xenforeignmemory_map_resource(f, (domid_t)dom, 0, 0, 0, 1, &addr,
					    PROT_READ | PROT_WRITE, 0);
	printf("resource: %s errno=%d (%s)\n", res ? "mapped" : "refused",
	       res ? 0 : errno, res ? "" : strerror(errno));
	if (res)
		xenforeignmemory_unmap_resource(f, res);
	xenforeignmemory_close(f);
}

static uint32_t num(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (!*s || *end) {
		fprintf(stderr, "xenapi-client: '%s' is not a number\n", s);
		exit(2);
	}
	return (uint32_t)v;
}

int main(int argc, char **argv)
{
	const char *self = argv[0];
	uint32_t refs[64], i, n;
	const char *sc;

	for (;;) {
		if (argc > 2 && !strcmp(argv[1], "-H")) {
			hook = argv[2];
			argv += 2;
			argc -= 2;
		} else {
			break;
		}
	}
	if (argc < 3) {
		fprintf(stderr, "usage: xenapi-client [-H HOOK] fmem|gnttab|"
			"scatter|threads|copy|double|bad|rowrite|fork|check|foreign DOMID ...\n");
		return 2;
	}
	signal(SIGSEGV, on_segv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	sc = argv[1];
#define NEED(k) do { if (argc < (k)) { fprintf(stderr, "%s: needs %d arguments\n", sc, (k) - 2); return 2; } } while (0)
	if (!strcmp(sc, "fmem") || !strcmp(sc, "gnttab")) {
		NEED(6);
		(sc[0] == 'f' ? sc_fmem : sc_gnttab)(num(argv[2]), num(argv[3]),
						     num(argv[4]), num(argv[5]));
	} else if (!strcmp(sc, "scatter")) {
		NEED(5);
		for (n = 0, i = 4; i < (uint32_t)argc && n < 64; i++)
			refs[n++] = num(argv[i]);
		sc_scatter(num(argv[2]), num(argv[3]), refs, n);
	} else if (!strcmp(sc, "copy")) {
		NEED(6);
		sc_copy(num(argv[2]), num(argv[3]), num(argv[4]), num(argv[5]),
			argc > 6 ? (int64_t)num(argv[6]) : -1);
	} else if (!strcmp(sc, "threads")) {
		NEED(7);
		for (n = 0, i = 6; i < (uint32_t)argc && n < 64; i++)
			refs[n++] = num(argv[i]);
		sc_threads(num(argv[2]), num(argv[3]), num(argv[4]),
			   num(argv[5]), refs, n);
	} else if (!strcmp(sc, "double")) {
		NEED(4);
		sc_double(num(argv[2]), num(argv[3]));
	} else if (!strcmp(sc, "bad")) {
		NEED(5);
		sc_bad(num(argv[2]), num(argv[3]), num(argv[4]));
	} else if (!strcmp(sc, "rowrite") || !strcmp(sc, "check")) {
		NEED(5);
		(sc[0] == 'r' ? sc_rowrite : sc_check)(num(argv[2]), num(argv[3]),
						       num(argv[4]));
	} else if (!strcmp(sc, "fork")) {
		NEED(5);
		sc_fork(num(argv[2]), num(argv[3]), num(argv[4]), self);
	} else if (!strcmp(sc, "foreign")) {
		NEED(4);
		sc_foreign(num(argv[2]), num(argv[3]));
	} else {
		fprintf(stderr, "xenapi-client: unknown scenario '%s'\n", sc);
		return 2;
	}
	if (fails)
		printf("%s: %u check(s) failed\n", sc, fails);
	return fails ? 1 : 0;
}
