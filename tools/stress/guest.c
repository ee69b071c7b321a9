/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * guest.c - the simulated granting domain of a gmap-stress run: signed
 * pages, the per-ref lease protocol, and the guest reusing a ref.
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stress.h"

#define SIG_MAGIC 0x5354ULL /* "ST" */

/*
 * What word @word of the page granted as @ref holds in generation @gen.
 * Word 0 names the page outright (magic, generation, ref) so a wrong page
 * reads as wrong at once; the others are a hash, never 0, so a zero page
 * can never pass.  Mailboxes start at 0 and are the writers' own.
 */
uint64_t st_sig(uint32_t ref, uint32_t gen, unsigned int word)
{
	if (word == 0)
		return SIG_MAGIC << 48 | (uint64_t)(gen & 0x3ff) << 32 | ref;
	if (word >= ST_MAILBOX0)
		return 0;
	return st_mix64((uint64_t)ref << 32 ^ (uint64_t)gen << 12 ^ word) | 1;
}

/* The whole page of @ref at generation @gen, as the guest signs it. */
void st_sig_page(uint64_t page[ST_WORDS], uint32_t ref, uint32_t gen)
{
	for (unsigned int i = 0; i < ST_WORDS; i++)
		page[i] = st_sig(ref, gen, i);
}

/* The guest's own view of its page @idx (frame idx on sim). */
void st_guest_read(struct st_run *r, uint32_t idx, size_t off, void *buf,
		   size_t len)
{
	if (r->xg)
		st_xen_guest_read(r, idx, off, buf, len);
	else
		gmap_sim_read(r->dom, idx, off, buf, len);
}

static void guest_write(struct st_run *r, uint32_t idx, const void *buf,
			size_t len)
{
	if (r->xg)
		st_xen_guest_write(r, idx, 0, buf, len);
	else
		gmap_sim_write(r->dom, idx, 0, buf, len);
}

void st_guest_sign(struct st_run *r, uint32_t idx, uint32_t gen)
{
	uint64_t page[ST_WORDS];

	st_sig_page(page, st_ref(r, idx), gen);
	guest_write(r, idx, page, sizeof(page));
}

/* The run's per-page tables, whatever the guest. */
int st_guest_tables(struct st_run *r)
{
	uint32_t n = r->cfg.pages;

	r->lease = calloc(n, sizeof(*r->lease));
	r->seen = calloc(n, sizeof(*r->seen));
	r->rel_epoch = calloc(n, sizeof(*r->rel_epoch));
	if (!r->lease || !r->seen || !r->rel_epoch) {
		fprintf(stderr, "gmap-stress: out of memory for %u pages\n", n);
		return -1;
	}
	return 0;
}

void st_fail(struct st_run *r, _Atomic uint64_t *kind, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(kind, 1);
	/* The first 20 failures are described; the rest only counted. */
	if (atomic_fetch_add(&r->reported, 1) >= 20)
		return;
	va_start(ap, fmt);
	flockfile(stderr);
	fputs("gmap-stress: FAIL: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
	va_end(ap);
}

/*
 * Sign frames [0, @n) with generation 0, 64 pages a pwrite() into the
 * guest's memory file: the file's pages are allocated without a page
 * fault each, which on a PVM guest costs about 10 us a page (2.5 s of the
 * setup of tests/scale.sh's 250,000-page run, more than a tenth of it).
 * Signed through the sim's own mapping where the file cannot be written.
 */
static void sign_all(struct st_run *r, uint32_t n)
{
	enum { BATCH = 64 };
	uint64_t (*buf)[ST_WORDS] = malloc(BATCH * sizeof(*buf));
	uint32_t i = 0;
	int ctl_fd, mem_fd;

	if (buf && gmap_sim_domain_fds(r->dom, &ctl_fd, &mem_fd) == 0) {
		for (; i < n; i += BATCH) {
			uint32_t k = n - i < BATCH ? n - i : BATCH;
			size_t len = (size_t)k * sizeof(*buf);

			for (uint32_t j = 0; j < k; j++)
				st_sig_page(buf[j], st_ref(r, i + j), 0);
			if (pwrite(mem_fd, buf, len, (off_t)i * sizeof(*buf)) !=
			    (ssize_t)len)
				break;
		}
	}
	free(buf);
	for (; i < n; i++)
		st_guest_sign(r, i, 0);
}

/*
 * The guest: frame i is granted as ref first_ref + i to us, signed with
 * generation 0; --ro-pct of them read-only.  One spare frame past the end
 * so that an injected wrong frame has somewhere to point.
 */
int st_guest_create(struct st_run *r)
{
	const struct st_config *c = &r->cfg;
	uint64_t rng = c->seed ^ 0x6775657374ULL;

	r->dom = gmap_sim_domain_create(ST_DOMID, c->pages + 1,
					st_ref(r, c->pages - 1) + 1);
	if (!r->dom) {
		fprintf(stderr, "gmap-stress: cannot create the simulated "
			"domain (%u pages): %s\n", c->pages, strerror(errno));
		return -1;
	}
	if (st_guest_tables(r) < 0)
		return -1;
	sign_all(r, c->pages);
	for (uint32_t i = 0; i < c->pages; i++) {
		bool ro = st_rand(&rng) % 100 < c->ro_pct;

		if (gmap_sim_grant(r->dom, st_ref(r, i), i, ST_SELF, ro) < 0) {
			fprintf(stderr, "gmap-stress: grant of ref %u: %s\n",
				st_ref(r, i), strerror(errno));
			return -1;
		}
		atomic_init(&r->lease[i], ro ? LEASE_RO : 0);
		if (c->inject == INJ_WRONG_FRAME && i % c->inject_every == 0)
			gmap_sim_inject(r->dom, st_ref(r, i),
					GMAP_SIM_INJECT_WRONG_FRAME, 1);
		if (c->inject == INJ_STALL)
			gmap_sim_inject(r->dom, st_ref(r, i),
					GMAP_SIM_INJECT_STALL, 1);
	}
	return 0;
}

/* A backend access: fails (the ref is being reused) or counts us in. */
int st_lease_get(struct st_run *r, uint32_t idx, uint32_t *v)
{
	uint32_t cur = atomic_load_explicit(&r->lease[idx], memory_order_acquire);

	do {
		if (cur & LEASE_RETIRE)
			return -1;
	} while (!atomic_compare_exchange_weak_explicit(&r->lease[idx], &cur,
			cur + 1, memory_order_acquire, memory_order_relaxed));
	*v = cur;
	return 0;
}

void st_lease_put(struct st_run *r, uint32_t idx)
{
	atomic_fetch_sub_explicit(&r->lease[idx], 1, memory_order_release);
}

/*
 * The guest reuses ref first_ref + @idx, as a frontend does once the
 * backend has answered the request that used it: take the ref exclusively
 * (no backend access in flight), have the backend release it, end access
 * (or revoke), re-sign the page as the next generation and grant it again,
 * read-only with probability --ro-pct.  Returns 1 if done, 0 if the ref
 * was busy.
 */
int st_regrant(struct st_run *r, struct st_churner *c, uint32_t idx)
{
	uint32_t ref = st_ref(r, idx);
	uint32_t v = atomic_load(&r->lease[idx]), gen;
	bool ro, by_revoke;
	int rc;

	/* The xen guest keeps its refs (see xenguest.c). */
	if (r->xg || (v & (LEASE_USERS | LEASE_RETIRE)) ||
	    !atomic_compare_exchange_strong(&r->lease[idx], &v, v | LEASE_RETIRE))
		return 0;
	by_revoke = st_rand(&c->rng) % 4 == 0;
	c->revokes += by_revoke;
	/* Nobody uses it and it was released: the guest must get it back.
	 * Between the release and the end of access libgmap may map it again
	 * without a backend access asking for it: fault-around from a
	 * neighbour's fault, or a fault message served after its thread had
	 * moved on.  Such a map is speculative; the backend releases again,
	 * a bounded number of times. */
	for (int tries = 0;; tries++) {
		if (gmap_release(r->w, ref, 1) < 0)
			st_fail(r, &r->fail.api_errors, "gmap_release(ref %u): %s",
				ref, strerror(errno));
		atomic_store(&r->seen[idx], 0);
		if (by_revoke) {
			rc = gmap_sim_revoke(r->dom, ref) ? -1 : 0;
			errno = EBUSY;
		} else {
			rc = gmap_sim_end_access(r->dom, ref);
		}
		if (rc == 0 || errno != EBUSY || tries == 100)
			break;
		atomic_fetch_add(&r->speculative_maps, 1);
		sched_yield();
	}
	if (rc < 0) {
		st_fail(r, &r->fail.end_access_busy, "ref %u: the guest cannot "
			"end access after the backend released it (%s)", ref,
			strerror(errno));
		/* Still mapped somewhere: leave the page and grant as they are. */
		atomic_store(&r->lease[idx], v);
		return 1;
	}
	gen = (lease_gen(v) + 1) & 0x3ff;
	ro = st_rand(&c->rng) % 100 < r->cfg.ro_pct;
	st_guest_sign(r, idx, gen);
	if (gmap_sim_grant(r->dom, ref, idx, ST_SELF, ro) < 0)
		st_fail(r, &r->fail.api_errors, "re-grant of ref %u: %s", ref,
			strerror(errno));
	c->regrants++;
	c->ro_grants += ro;
	atomic_store_explicit(&r->lease[idx],
			      gen << LEASE_GEN_SHIFT | (ro ? LEASE_RO : 0),
			      memory_order_release);
	return 1;
}
