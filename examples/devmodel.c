/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devmodel - a device model in miniature: one request served through a
 * libgmap window, end to end, on the sim backend.
 *
 * One process plays both sides:
 *
 *   the guest (d5)    creates a simulated domain, writes a request into a
 *                     two-page DMA buffer, grants the buffer to d0 as the
 *                     consecutive refs 8 and 9 (as Linux's grant-dma-ops
 *                     does for a multi-page buffer) and grants one more
 *                     page, read-only, holding the device's configuration;
 *
 *   the backend (d0)  opens the window on d5, turns the grant DMA addresses
 *                     it was given into pointers with gmap_translate(),
 *                     pins what it is about to use, reads the request (it
 *                     straddles the two pages, and the window makes them
 *                     contiguous), reads the configuration, writes a reply
 *                     and unpins;
 *
 *   the guest again   finds the reply in its own memory and ends foreign
 *                     access to every ref, which fails with EBUSY while
 *                     the backend holds a pin and succeeds after.
 *
 * Exit status 0 only if every check held, 1 otherwise.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <gmap.h>
#include <gmap-sim.h>

#define GUEST_DOMID	5	/* the granting domain            */
#define BACKEND_DOMID	0	/* the grantee: this device model */
#define NR_FRAMES	64	/* guest memory, in pages         */
#define NR_GRANTS	64	/* guest grant table entries      */

/* The DMA buffer: guest frames 20..21, granted as refs 8..9. */
#define BUF_REF		8
#define BUF_FRAME	20
#define BUF_PAGES	2
/* The configuration page: guest frame 30, granted read-only as ref 12. */
#define CFG_REF		12
#define CFG_FRAME	30

/*
 * Where request and reply sit in the buffer.  The request starts 64 bytes
 * before the end of the first page, so that it (and the payload string in
 * it) crosses into the second page; the reply goes into the second page.
 */
#define REQ_OFFSET	0xfc0
#define RSP_OFFSET	(GMAP_PAGE_SIZE + 0x200)

/* ---- the "device protocol" ------------------------------------------- */

#define DM_REQ_MAGIC	0x51524d44u	/* "DMRQ" */
#define DM_RSP_MAGIC	0x50524d44u	/* "DMRP" */
#define DM_OP_SHOUT	1	/* reply with the payload in upper case */

struct dm_req {
	uint32_t magic;
	uint32_t opcode;
	uint32_t length;	/* bytes of payload, the NUL included */
	uint32_t reserved;
	char payload[128];
};

struct dm_rsp {
	uint32_t magic;
	int32_t status;		/* 0, or a negative errno */
	uint32_t length;	/* bytes of text, the NUL included */
	uint32_t reserved;
	char text[256];
};

/*
 * What the guest hands the device for one request: the grant DMA
 * addresses and lengths of the request (device reads) and of the reply
 * (device writes).  A real guest puts this in a ring; here it is passed
 * by value.
 */
struct dm_desc {
	uint64_t req_dma;
	uint32_t req_len;
	uint64_t rsp_dma;
	uint32_t rsp_len;
};

_Static_assert(REQ_OFFSET < GMAP_PAGE_SIZE,
	       "the request starts in the first page");
_Static_assert(REQ_OFFSET + sizeof(struct dm_req) > GMAP_PAGE_SIZE,
	       "the request straddles the two pages");
_Static_assert(REQ_OFFSET + sizeof(struct dm_req) <= RSP_OFFSET,
	       "request and reply do not overlap");
_Static_assert(RSP_OFFSET + sizeof(struct dm_rsp) <= BUF_PAGES * GMAP_PAGE_SIZE,
	       "the reply fits in the buffer");

static const char payload_text[] =
	"hello backend, this is domain 5: please shout this sentence back";
#define REPLY_PREFIX	"ACK from d0"
static const char config_text[] =
	"devmodel config v1: reply-prefix=" REPLY_PREFIX ";queue-depth=1";

/* ---- reporting ------------------------------------------------------- */

static unsigned int failures;

/* One check: print it with its verdict, count it if it failed. */
static bool check(bool cond, const char *what)
{
	printf("    %-62s %s\n", what, cond ? "ok" : "FAILED");
	if (!cond)
		failures++;
	return cond;
}

/* A call that failed with @err: say which and why, and count it. */
static void fail_errno(const char *what, int err)
{
	fprintf(stderr, "devmodel: %s: %s\n", what, strerror(err));
	failures++;
}

/* Where a gmap_pin() or gmap_prefault() stopped, and why. */
static void print_gmap_error(FILE *f, const char *what,
			     const struct gmap_error *e)
{
	fprintf(f, "devmodel: %s: stopped at ref %" PRIu32 ": %s (errno %d); "
		"grant status %d: %s\n", what, e->ref, strerror(e->err), e->err,
		(int)e->status, gmap_status_str(e->status));
}

/* ---- the guest ------------------------------------------------------- */

/*
 * The guest's frames behind the buffer.  They happen to be consecutive
 * here, but need not be: only the grant refs must be, and the window maps
 * consecutive refs to consecutive addresses.
 */
static const uint32_t buf_frames[BUF_PAGES] = { BUF_FRAME, BUF_FRAME + 1 };

/*
 * Read or write @len bytes at byte @off of the buffer in the guest's own
 * memory.  gmap_sim_read()/gmap_sim_write() stay within one frame, so
 * this walks the buffer page by page.
 */
static int guest_buf_io(struct gmap_sim_domain *d, size_t off, void *data,
			size_t len, bool write)
{
	unsigned char *p = data;

	while (len > 0) {
		size_t page = off >> GMAP_PAGE_SHIFT;
		size_t in = off & (GMAP_PAGE_SIZE - 1);
		size_t n = GMAP_PAGE_SIZE - in;
		int rc;

		if (page >= BUF_PAGES) {
			errno = ERANGE;
			return -1;
		}
		if (n > len)
			n = len;
		if (write)
			rc = gmap_sim_write(d, buf_frames[page], in, p, n);
		else
			rc = gmap_sim_read(d, buf_frames[page], in, p, n);
		if (rc < 0)
			return -1;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/*
 * The grant DMA address of byte @off of a buffer granted as consecutive
 * refs from @first_ref, as Linux's drivers/xen/grant-dma-ops.c hands it to
 * a driver: grant_to_dma(first_ref) + offset, where grant_to_dma(ref) is
 * XEN_GRANT_DMA_ADDR_OFF (bit 63) | ref << XEN_PAGE_SHIFT.
 */
static uint64_t grant_dma_addr(uint32_t first_ref, size_t off)
{
	return GMAP_DMA_GRANT_BIT |
	       (((uint64_t)first_ref << GMAP_PAGE_SHIFT) + off);
}

/*
 * Step 1: create d5, write the request and the configuration into its
 * memory, grant them to d0 and fill in the descriptor for the device.
 */
static struct gmap_sim_domain *guest_start(struct dm_desc *desc)
{
	struct gmap_sim_domain *d;
	struct dm_req req;
	uint32_t i;

	printf("[1] guest d%d: create the domain (%d frames, %d grants)\n",
	       GUEST_DOMID, NR_FRAMES, NR_GRANTS);
	d = gmap_sim_domain_create(GUEST_DOMID, NR_FRAMES, NR_GRANTS);
	if (!d) {
		fail_errno("gmap_sim_domain_create(d5)", errno);
		return NULL;
	}

	memset(&req, 0, sizeof(req));
	req.magic = DM_REQ_MAGIC;
	req.opcode = DM_OP_SHOUT;
	req.length = sizeof(payload_text);
	memcpy(req.payload, payload_text, sizeof(payload_text));
	if (guest_buf_io(d, REQ_OFFSET, &req, sizeof(req), true) < 0) {
		fail_errno("guest: write the request", errno);
		goto fail;
	}
	printf("    wrote a %zu-byte request at buffer offset %#x "
	       "(frames %" PRIu32 "..%" PRIu32 ")\n", sizeof(req), REQ_OFFSET,
	       buf_frames[0], buf_frames[BUF_PAGES - 1]);

	for (i = 0; i < BUF_PAGES; i++) {
		if (gmap_sim_grant(d, BUF_REF + i, buf_frames[i], BACKEND_DOMID,
				   0) < 0) {
			fail_errno("guest: grant a buffer page", errno);
			goto fail;
		}
		printf("    granted frame %" PRIu32 " to d%d as ref %" PRIu32
		       " (read-write)\n", buf_frames[i], BACKEND_DOMID,
		       BUF_REF + i);
	}

	if (gmap_sim_write(d, CFG_FRAME, 0, config_text,
			   sizeof(config_text)) < 0) {
		fail_errno("guest: write the configuration page", errno);
		goto fail;
	}
	if (gmap_sim_grant(d, CFG_REF, CFG_FRAME, BACKEND_DOMID, 1) < 0) {
		fail_errno("guest: grant the configuration page", errno);
		goto fail;
	}
	printf("    granted frame %d to d%d as ref %d (read-only): \"%s\"\n",
	       CFG_FRAME, BACKEND_DOMID, CFG_REF, config_text);

	desc->req_dma = grant_dma_addr(BUF_REF, REQ_OFFSET);
	desc->req_len = sizeof(struct dm_req);
	desc->rsp_dma = grant_dma_addr(BUF_REF, RSP_OFFSET);
	desc->rsp_len = sizeof(struct dm_rsp);
	printf("    descriptor: request at dma %#" PRIx64 " (%" PRIu32
	       " bytes), reply at dma %#" PRIx64 " (%" PRIu32 " bytes)\n",
	       desc->req_dma, desc->req_len, desc->rsp_dma, desc->rsp_len);
	return d;
fail:
	gmap_sim_domain_destroy(d);
	return NULL;
}

/* What the guest expects back: the prefix it configured, the payload
 * in upper case. */
static void expected_reply(char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "%s: ", REPLY_PREFIX);

	if (n >= size)
		n = size - 1;

	for (size_t i = 0; payload_text[i] && n + 1 < size; i++)
		buf[n++] = (char)toupper((unsigned char)payload_text[i]);
	buf[n < size ? n : size - 1] = '\0';
}

/* Step 3a: the reply must be in the guest's own memory. */
static void guest_check_reply(struct gmap_sim_domain *d)
{
	struct dm_rsp rsp;
	char want[sizeof(rsp.text)];
	bool ok;

	printf("[3] guest d%d: look for the reply in its own memory\n",
	       GUEST_DOMID);
	if (guest_buf_io(d, RSP_OFFSET, &rsp, sizeof(rsp), false) < 0) {
		fail_errno("guest: read the reply", errno);
		return;
	}
	expected_reply(want, sizeof(want));
	ok = check(rsp.magic == DM_RSP_MAGIC && rsp.status == 0,
		   "reply magic and status");
	rsp.text[sizeof(rsp.text) - 1] = '\0';
	ok = check(rsp.length == strlen(want) + 1 && !strcmp(rsp.text, want),
		   "reply text is the payload, shouted, with the prefix") && ok;
	printf("    reply text: \"%s\"\n", rsp.text);
	if (ok)
		printf("guest d%d: the backend's reply reached guest memory "
		       "(frame %" PRIu32 ", offset %#lx)\n", GUEST_DOMID,
		       buf_frames[RSP_OFFSET / GMAP_PAGE_SIZE],
		       RSP_OFFSET % GMAP_PAGE_SIZE);
}

static const uint32_t guest_refs[] = { BUF_REF, BUF_REF + 1, CFG_REF };

/*
 * End foreign access to every ref, as a guest driver does when it frees
 * the buffer.  While the backend holds a pin the grant is in use
 * (GTF_reading/GTF_writing set) and the guest must get EBUSY.
 */
static void guest_end_access(struct gmap_sim_domain *d, bool expect_busy)
{
	char what[80];
	size_t i;

	for (i = 0; i < sizeof(guest_refs) / sizeof(guest_refs[0]); i++) {
		int rc = gmap_sim_end_access(d, guest_refs[i]);
		int err = errno;

		if (expect_busy) {
			snprintf(what, sizeof(what), "end access to ref %" PRIu32
				 " refused while pinned (EBUSY)", guest_refs[i]);
			check(rc < 0 && err == EBUSY, what);
			if (rc == 0)
				fprintf(stderr, "devmodel: end access to ref %"
					PRIu32 " succeeded while the backend "
					"holds a pin\n", guest_refs[i]);
			else if (err != EBUSY)
				fprintf(stderr, "devmodel: end access to ref %"
					PRIu32 ": %s, expected %s\n",
					guest_refs[i], strerror(err),
					strerror(EBUSY));
		} else {
			snprintf(what, sizeof(what), "end access to ref %" PRIu32
				 " succeeds after the unpin", guest_refs[i]);
			if (!check(rc == 0, what))
				fprintf(stderr, "devmodel: gmap_sim_end_access"
					"(ref %" PRIu32 "): %s\n",
					guest_refs[i], strerror(err));
		}
	}
}

/* ---- the backend ----------------------------------------------------- */

struct backend {
	struct gmap_window *w;
	uint32_t buf_first, buf_count;	/* the pinned buffer refs */
	bool buf_pinned, cfg_pinned;
};

/* The refs a DMA buffer of @len bytes at @dma touches. */
static void dma_span(uint64_t dma, size_t len, uint32_t *first,
		     uint32_t *count)
{
	uint64_t off = dma & ~GMAP_DMA_GRANT_BIT;
	uint64_t last = (off + (len ? len : 1) - 1) >> GMAP_PAGE_SHIFT;

	*first = (uint32_t)(off >> GMAP_PAGE_SHIFT);
	*count = (uint32_t)(last - *first + 1);
}

/* Step 2a: open the window on the guest. */
static int backend_open(struct backend *be)
{
	struct gmap_open_opts opts = {
		.size = sizeof(opts),
		.backend = GMAP_BACKEND_SIM,
		/* A window as large as the guest's grant table is enough;
		 * 0 would reserve room for all 2^32 refs. */
		.nr_refs = NR_GRANTS,
		.self_domid = BACKEND_DOMID,
	};

	printf("[2] backend d%d: open the window on d%d\n", BACKEND_DOMID,
	       GUEST_DOMID);
	be->w = gmap_open(GUEST_DOMID, &opts);
	if (!be->w) {
		fail_errno("gmap_open(d5)", errno);
		return -1;
	}
	printf("    libgmap %s, backend %s, window %p, %" PRIu64 " refs\n",
	       gmap_version(), gmap_backend_name(be->w), gmap_base(be->w),
	       gmap_nr_refs(be->w));
	return 0;
}

/* Show where a grant DMA address landed in the window. */
static void print_translation(const char *what, uint64_t dma, const void *p)
{
	/* GMAP_DMA_GRANT_BIT is an unsigned long long: keep the arithmetic
	 * in uint64_t so that PRIu64/PRIx64 match. */
	uint64_t off = dma & (uint64_t)~GMAP_DMA_GRANT_BIT;
	uint64_t ref = off >> GMAP_PAGE_SHIFT;
	uint64_t in_page = off & (uint64_t)(GMAP_PAGE_SIZE - 1);

	printf("    %s dma %#" PRIx64 " -> %p (ref %" PRIu64 " + %#" PRIx64
	       ")\n", what, dma, p, ref, in_page);
}

/* Look up @key=value in the configuration string @cfg. */
static bool config_get(const char *cfg, const char *key, char *val,
		       size_t size)
{
	const char *p = strstr(cfg, key);
	size_t n;

	if (!p || size == 0)
		return false;
	p += strlen(key);
	n = strcspn(p, ";");
	if (n >= size)
		n = size - 1;
	memcpy(val, p, n);
	val[n] = '\0';
	return true;
}

/*
 * Step 2b: serve the request described by @desc.  Everything in guest
 * memory is untrusted: the request is copied out once and validated on
 * the copy, so the guest cannot change it between check and use.
 */
static void backend_serve(struct backend *be, const struct dm_desc *desc)
{
	struct gmap_window *w = be->w;
	struct gmap_error gerr;
	struct dm_req req;
	struct dm_rsp rsp;
	char cfg[256], prefix[32];
	const char *cfgp;
	void *req_p, *rsp_p;
	uint32_t first, count, rsp_first, rsp_count;
	size_t split, i, n;

	/* Grant DMA address -> pointer: a bounds check and an add. */
	req_p = gmap_translate(w, desc->req_dma, desc->req_len);
	if (!req_p) {
		fail_errno("gmap_translate(request)", errno);
		return;
	}
	rsp_p = gmap_translate(w, desc->rsp_dma, desc->rsp_len);
	if (!rsp_p) {
		fail_errno("gmap_translate(reply)", errno);
		return;
	}
	print_translation("request", desc->req_dma, req_p);
	print_translation("reply  ", desc->rsp_dma, rsp_p);
	check((char *)req_p == (char *)gmap_ref_ptr(w, BUF_REF) + REQ_OFFSET,
	      "translate gives base + ref * 4096 + offset");

	/*
	 * Pin the pages of the request writable: the reply goes into the
	 * same buffer.  A pin maps them now and keeps them mapped, so the
	 * accesses below cannot fault, and a grant the guest revoked is
	 * reported here as an error rather than as a SIGSEGV later.
	 */
	dma_span(desc->req_dma, desc->req_len, &first, &count);
	dma_span(desc->rsp_dma, desc->rsp_len, &rsp_first, &rsp_count);
	if (rsp_first < first || rsp_first + rsp_count > first + count) {
		fprintf(stderr, "devmodel: the reply (refs %" PRIu32 "..%" PRIu32
			") lies outside the request's pages (refs %" PRIu32
			"..%" PRIu32 ")\n", rsp_first,
			rsp_first + rsp_count - 1, first, first + count - 1);
		failures++;
		return;
	}
	if (gmap_pin(w, first, count, GMAP_PIN_WRITE, &gerr) < 0) {
		print_gmap_error(stderr, "gmap_pin(buffer, write)", &gerr);
		failures++;
		return;
	}
	be->buf_first = first;
	be->buf_count = count;
	be->buf_pinned = true;
	printf("    pinned refs %" PRIu32 "..%" PRIu32 " writable\n", first,
	       first + count - 1);

	/* One copy out of guest memory, across the page boundary. */
	memcpy(&req, req_p, sizeof(req));
	split = GMAP_PAGE_SIZE - REQ_OFFSET - offsetof(struct dm_req, payload);
	check(((uintptr_t)req_p & (GMAP_PAGE_SIZE - 1)) + sizeof(req) >
	      GMAP_PAGE_SIZE, "the request straddles the two pages");
	if (!check(req.magic == DM_REQ_MAGIC && req.opcode == DM_OP_SHOUT &&
		   req.length >= 1 && req.length <= sizeof(req.payload) &&
		   req.payload[req.length - 1] == '\0' &&
		   strlen(req.payload) + 1 == req.length,
		   "request is well formed (magic, opcode, length)"))
		return;
	printf("    payload: \"%.*s\" | \"%s\"\n", (int)split, req.payload,
	       req.payload + split);
	printf("             (ref %d | ref %d: the string crosses the page "
	       "boundary)\n", BUF_REF, BUF_REF + 1);

	/*
	 * The configuration page is granted read-only: pin it for reading,
	 * then read it with plain loads.  A write pin must be refused.
	 */
	if (gmap_pin(w, CFG_REF, 1, GMAP_PIN_READ, &gerr) < 0) {
		print_gmap_error(stderr, "gmap_pin(config, read)", &gerr);
		failures++;
		return;
	}
	be->cfg_pinned = true;
	printf("    pinned ref %d for reading\n", CFG_REF);
	cfgp = gmap_ref_ptr(w, CFG_REF);
	n = strnlen(cfgp, sizeof(cfg) - 1);
	memcpy(cfg, cfgp, n);
	cfg[n] = '\0';
	printf("    config: \"%s\"\n", cfg);
	check(!strcmp(cfg, config_text), "config page reads what the guest wrote");

	printf("    a write pin of the read-only ref %d must fail "
	       "(libgmap logs the refusal):\n", CFG_REF);
	fflush(stdout);
	if (gmap_pin(w, CFG_REF, 1, GMAP_PIN_WRITE, &gerr) == 0) {
		check(false, "write pin of a read-only grant refused");
		gmap_unpin(w, CFG_REF, 1);
	} else {
		print_gmap_error(stdout, "gmap_pin(config, write)", &gerr);
		check(gerr.err == EACCES && gerr.ref == CFG_REF,
		      "write pin of a read-only grant refused (EACCES)");
	}

	if (!config_get(cfg, "reply-prefix=", prefix, sizeof(prefix)))
		snprintf(prefix, sizeof(prefix), "ACK");

	/* Build the reply locally, then copy it into the guest's buffer. */
	memset(&rsp, 0, sizeof(rsp));
	rsp.magic = DM_RSP_MAGIC;
	n = (size_t)snprintf(rsp.text, sizeof(rsp.text), "%s: ", prefix);
	if (n >= sizeof(rsp.text))
		n = sizeof(rsp.text) - 1;
	for (i = 0; req.payload[i] && n + 1 < sizeof(rsp.text); i++)
		rsp.text[n++] = (char)toupper((unsigned char)req.payload[i]);
	rsp.text[n] = '\0';
	rsp.length = (uint32_t)n + 1;
	rsp.status = 0;
	memcpy(rsp_p, &rsp, sizeof(rsp));
	printf("    wrote a %zu-byte reply: \"%s\"\n", sizeof(rsp), rsp.text);
}

/* Step 2c: drop the pins; the last pin of a grant unmaps it at once. */
static void backend_unpin(struct backend *be)
{
	if (be->buf_pinned) {
		if (gmap_unpin(be->w, be->buf_first, be->buf_count) < 0)
			fail_errno("gmap_unpin(buffer)", errno);
		else
			printf("    unpinned refs %" PRIu32 "..%" PRIu32 "\n",
			       be->buf_first, be->buf_first + be->buf_count - 1);
		be->buf_pinned = false;
	}
	if (be->cfg_pinned) {
		if (gmap_unpin(be->w, CFG_REF, 1) < 0)
			fail_errno("gmap_unpin(config)", errno);
		else
			printf("    unpinned ref %d\n", CFG_REF);
		be->cfg_pinned = false;
	}
}

static void print_stats(const struct gmap_stats *st)
{
	printf("    faults %" PRIu64 ", maps %" PRIu64 ", map_failures %" PRIu64
	       ", unmaps %" PRIu64 "\n", st->faults, st->maps,
	       st->map_failures, st->unmaps);
	printf("    pins %" PRIu64 ", unpins %" PRIu64 ", bad_grants %" PRIu64
	       ", rearm_waits %" PRIu64 "\n", st->pins, st->unpins,
	       st->bad_grants, st->rearm_waits);
	printf("    mapped_now %" PRIu64 ", pinned_now %" PRIu64
	       ", meta_bytes %" PRIu64 "\n", st->mapped_now, st->pinned_now,
	       st->meta_bytes);
}

int main(void)
{
	struct backend be = { 0 };
	struct gmap_sim_domain *dom;
	struct gmap_sim_domain_info di;
	struct gmap_stats st;
	struct dm_desc desc;

	/* Line-buffered, so that stdout and stderr interleave in order. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	dom = guest_start(&desc);
	if (!dom)
		goto out;
	if (backend_open(&be) < 0)
		goto out;
	backend_serve(&be, &desc);

	guest_check_reply(dom);
	printf("    while the backend holds its pins:\n");
	guest_end_access(dom, true);

	printf("[4] backend d%d: unpin everything\n", BACKEND_DOMID);
	backend_unpin(&be);
	if (gmap_stats(be.w, &st, sizeof(st)) < 0) {
		fail_errno("gmap_stats", errno);
	} else {
		check(st.pinned_now == 0 && st.mapped_now == 0,
		      "nothing pinned or mapped in the window");
	}

	printf("[5] guest d%d: end foreign access\n", GUEST_DOMID);
	if (gmap_sim_domain_info(dom, &di) < 0)
		fail_errno("gmap_sim_domain_info", errno);
	else
		check(di.maps_now == 0, "the hypervisor sees no live mapping");
	guest_end_access(dom, false);

	printf("[6] window counters (gmap_stats)\n");
	if (gmap_stats(be.w, &st, sizeof(st)) < 0)
		fail_errno("gmap_stats", errno);
	else
		print_stats(&st);
out:
	/* On an error path pins may remain: drop them.  Then close the
	 * window before the domain goes (gmap_close() unmaps whatever is
	 * still mapped, so the granter could end access). */
	backend_unpin(&be);
	gmap_close(be.w);
	gmap_sim_domain_destroy(dom);
	if (failures)
		printf("devmodel: %u check(s) FAILED\n", failures);
	else
		printf("devmodel: all checks passed\n");
	return failures ? 1 : 0;
}
