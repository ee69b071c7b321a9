/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stress.h - gmap-stress internals: the run's configuration, the simulated
 * guest with its per-ref lease protocol, the workers and the report.
 *
 * The model.  A guest (the sim domain) grants @pages frames as refs
 * first_ref .. first_ref + pages - 1 and signs every page with its ref and
 * a generation.  Faulting threads play the backend: each access takes a
 * *lease* on a ref (as a backend owns a request's buffers until it
 * responds), touches it through the window and checks what it sees against
 * the signature of that generation.  Churn threads play the guest reusing
 * refs: when no lease is held they take the ref exclusively, have the
 * backend release it, end access (or revoke), re-sign the page with the
 * next generation and grant it again, sometimes read-only.  Churn threads
 * also pin/unpin runs of refs and release pages that faulters are using
 * (no lease: that is the re-arm race the library must survive).
 */
#ifndef GMAP_STRESS_H
#define GMAP_STRESS_H

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "gmap.h"
#include "gmap-sim.h"

#define ST_MAX_THREADS 240  /* mailboxes 256..495; churners 496..511 */
#define ST_MAX_CHURN 16
#define ST_DOMID 1        /* the simulated guest          */
#define ST_SELF 0         /* we map as dom0, like a backend */

/* Page layout: word 0 is the header, words 1..255 the signed pattern,
 * words 256..511 one mailbox per faulting thread for write checks. */
#define ST_WORDS 512
#define ST_PATTERN_WORDS 256
#define ST_MAILBOX0 256

enum st_pattern { PAT_SEQ, PAT_RANDOM, PAT_STRIDE, PAT_HOT, PAT_RUNS,
		  PAT_SHUFFLE };
enum st_mix { MIX_READ, MIX_WRITE, MIX_MIXED };
enum st_inject { INJ_NONE, INJ_WRONG_FRAME, INJ_REVOKE_PINNED, INJ_STALL };

struct st_config {
	unsigned int threads, churn, handlers, spin_us;
	uint32_t pages, first_ref, spread;   /* page i is ref first_ref + i * spread */
	uint64_t window;          /* refs                                */
	double duration;          /* seconds; 0 with ops                 */
	uint64_t ops;             /* total accesses; 0: by duration      */
	uint64_t seed;
	enum st_pattern pattern;
	uint32_t stride, run, hot_pages_pct, hot_access_pct;
	enum st_mix mix;
	unsigned int write_pct, kernel_pct, ro_pct;
	bool verify, keep, json, quiet, progress;
	enum gmap_backend backend;
	enum st_inject inject;
	uint32_t inject_every;
	unsigned int hang_ms;
	uint64_t max_mapped;      /* 0: libgmap's default budget          */
	uint64_t max_vmas;        /* 0: libgmap's default budget of VMAs  */
	uint64_t max_meta;        /* 0: libgmap's default metadata budget */
	unsigned int around;
	enum gmap_around_dir around_dir;
	bool bench;
	uint32_t bench_pages;
	const char *bench_rows;   /* --bench-rows TEXT, or NULL: all rows */
	const char *csv;          /* --bench --csv FILE, or NULL          */
};

/* Failures by kind; any non-zero count fails the run. */
struct st_failures {
	_Atomic uint64_t double_maps, lost_writes, zero_reads, wrong_data,
		unexpected_signals, hung_threads, kernel_errors, api_errors,
		left_mapped, end_access_busy, over_budget;
};

/* Per-ref lease word (tool side, not libgmap's):
 *   bits 0..19  accesses in flight (backend side)
 *   bit  20     RETIRE: a churn thread owns the ref exclusively
 *   bit  21     RO: currently granted read-only
 *   bits 22..31 generation of the page's signature */
#define LEASE_USERS 0xfffffu
#define LEASE_RETIRE (1u << 20)
#define LEASE_RO (1u << 21)
#define LEASE_GEN_SHIFT 22
static inline uint32_t lease_gen(uint32_t v) { return v >> LEASE_GEN_SHIFT; }

#define ST_HIST_BUCKETS (64 * 8)
struct st_hist {
	uint64_t b[ST_HIST_BUCKETS]; /* log2 buckets, 8 linear sub-buckets each */
	uint64_t n, max;
};

struct st_worker {
	unsigned int idx;
	pthread_t th;
	uint64_t rng;
	uint64_t cursor, run_left;
	int kfd;                  /* memfd for kernel-mode accesses      */
	_Atomic uint64_t heartbeat; /* bumped per access; read by watchdog */
	_Atomic uint64_t end_ns;  /* when it stopped (st_now_ns)           */
	_Atomic uint32_t cur_ref;
	uint64_t accesses, reads, writes, kernel_ops, first_touches, skipped;
	struct st_hist hist;      /* first-touch latency, ns             */
};

struct st_churner {
	unsigned int idx;
	pthread_t th;
	uint64_t rng;
	_Atomic uint64_t heartbeat;
	uint64_t pins, pinned_refs, releases, released_pages, regrants,
		revokes, ro_grants, skipped, injected;
};

struct xg;

struct st_run {
	struct st_config cfg;
	struct gmap_sim_domain *dom;  /* the sim guest, or          */
	struct xg *xg;                /* the xen guest (xenguest.c) */
	struct gmap_window *w;
	uint8_t *base;            /* window base                         */
	_Atomic uint32_t *lease;  /* [pages]                             */
	_Atomic uint8_t *seen;    /* [pages]: touched since last release */
	/* [pages]: releases of the ref in flight (low 16 bits) and done
	 * (high 16), so a kernel access can tell whether it met one; see
	 * st_release_begin() */
	_Atomic uint32_t *rel_epoch;
	_Atomic uint64_t kernel_raced; /* EFAULTs that met a release: retried */
	/* The window serves faults inline (GMAP_FAULT_INLINE): the kernel
	 * does not fault pages in, so an EFAULT is followed by a user-mode
	 * touch and the call again, as a backend would (or it pins). */
	bool inline_faults;
	_Atomic uint64_t kernel_touched; /* ... such touches first         */
	/* re-grants that found the ref mapped again after the release */
	_Atomic uint64_t speculative_maps;
	struct st_worker *workers;
	struct st_churner *churners;
	_Atomic bool stop;
	_Atomic uint64_t ops_left;
	struct st_failures fail;
	_Atomic uint64_t reported; /* failure lines printed so far       */
	double elapsed;
	/* The window's VMAs, sampled by the main thread from /proc. */
	uint64_t vmas_max, vma_samples, vmas_end;
	uint64_t vmas_kernel_splits; /* of vmas_end: see sample_vmas() */
};

/* The grant ref of page @idx. */
static inline uint32_t st_ref(const struct st_run *r, uint32_t idx)
{
	return r->cfg.first_ref + idx * r->cfg.spread;
}

/* opts.c */
int st_parse(struct st_config *c, int argc, char **argv);

/* guest.c: the simulated granting domain and the lease protocol */
static inline uint64_t st_mix64(uint64_t x)
{
	x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27; x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}
static inline uint64_t st_rand(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	return st_mix64(*s);
}
uint64_t st_sig(uint32_t ref, uint32_t gen, unsigned int word);
void st_sig_page(uint64_t page[ST_WORDS], uint32_t ref, uint32_t gen);
int st_guest_create(struct st_run *r);
int st_guest_tables(struct st_run *r);
void st_guest_sign(struct st_run *r, uint32_t idx, uint32_t gen);
void st_guest_read(struct st_run *r, uint32_t idx, size_t off, void *buf,
		   size_t len);
/* xenguest.c: the guest on real Xen (gntalloc) */
#ifdef HAVE_XEN_BACKEND
int st_xen_guest_create(struct st_run *r);
void st_xen_guest_write(struct st_run *r, uint32_t idx, size_t off,
			const void *buf, size_t len);
void st_xen_guest_read(struct st_run *r, uint32_t idx, size_t off, void *buf,
		       size_t len);
void st_xen_guest_end(struct st_run *r);
#else
/* Built --without-xen: no gntalloc here.  gmap_open() has refused -b xen
 * before this is reached, unless the library loaded has the backend. */
static inline int st_xen_guest_create(struct st_run *r)
{
	fprintf(stderr, "gmap-stress: -b xen: this gmap-stress was built "
		"without Xen support (configure --with-xen)\n");
	return -1;
}
/* r->xg stays NULL, so these are never called. */
static inline void st_xen_guest_write(struct st_run *r, uint32_t idx,
				      size_t off, const void *buf, size_t len)
{
}
static inline void st_xen_guest_read(struct st_run *r, uint32_t idx,
				     size_t off, void *buf, size_t len)
{
}
static inline void st_xen_guest_end(struct st_run *r)
{
}
#endif
int st_lease_get(struct st_run *r, uint32_t idx, uint32_t *v);
void st_lease_put(struct st_run *r, uint32_t idx);
int st_regrant(struct st_run *r, struct st_churner *c, uint32_t idx);
void st_fail(struct st_run *r, _Atomic uint64_t *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A churn thread is about to unmap (release, or last unpin) refs
 * [idx, idx + n), or has done so.  Several may overlap. */
static inline void st_release_begin(struct st_run *r, uint32_t idx, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		atomic_fetch_add(&r->rel_epoch[idx + i], 1);
}
static inline void st_release_end(struct st_run *r, uint32_t idx, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		atomic_fetch_add(&r->rel_epoch[idx + i], (1u << 16) - 1);
}
/* Whether an access that read epoch @e0 before it may have met one. */
static inline bool st_release_met(struct st_run *r, uint32_t idx, uint32_t e0)
{
	return (e0 & 0xffff) || atomic_load(&r->rel_epoch[idx]) != e0;
}

/*
 * libgmap's evictor unmaps pages too, releases the tool does not make
 * itself.  An access met one if evictions were in flight when it began or
 * when it failed, or some completed in between.  On xen a refused map
 * (a writable try of a read-only grant) also leaves its page unmapped for
 * a moment (gntdev refuses after the placeholder is gone; backend_xen.c):
 * there a map failure in between counts too.
 */
struct st_evict_mark {
	uint64_t done, now, fails;
};

static inline struct st_evict_mark st_evict_mark(struct st_run *r)
{
	struct gmap_stats s;

	if (gmap_stats(r->w, &s, sizeof(s)) < 0)
		return (struct st_evict_mark){ 0, 0, 0 };
	return (struct st_evict_mark){ s.evictions, s.evicting_now,
				       r->xg ? s.map_failures : 0 };
}

static inline bool st_eviction_met(struct st_run *r, struct st_evict_mark m0)
{
	struct st_evict_mark m1 = st_evict_mark(r);

	return m0.now || m1.now || m1.done != m0.done || m1.fails != m0.fails;
}

/* worker.c and churn.c */
void *st_worker_main(void *arg);
void *st_churn_main(void *arg);
extern struct st_run *st_the_run;
void st_signals_install(void);
bool st_touch(volatile uint64_t *p, bool write, uint64_t val, uint64_t *out);
void st_check_read(struct st_run *r, uint32_t ref, uint32_t gen,
		   unsigned int word, uint64_t w0, uint64_t wk, const char *how);
void st_check_written(struct st_run *r, uint32_t idx, unsigned int slot,
		      uint64_t token, const char *how);
void st_signalled(struct st_run *r, uint32_t ref, bool write, const char *how);

/* hist.c */
void st_hist_add(struct st_hist *h, uint64_t ns);
void st_hist_merge(struct st_hist *to, const struct st_hist *from);
uint64_t st_hist_pct(const struct st_hist *h, double pct);
void st_hist_draw(FILE *f, const struct st_hist *h);
void st_hist_bounds(unsigned int i, uint64_t *lo, uint64_t *hi);

/* report.c */
void st_progress(struct st_run *r, double t, bool final);
int st_report(struct st_run *r, const struct gmap_stats *st,
	      const struct gmap_sim_domain_info *di, uint32_t peak);
xentoollog_logger *st_logger(void);
unsigned int st_log_lines(void);
/* libgmap's errors logged so far, shown or not: a call that failed and
 * logged its reason needs no second line from the tool. */
unsigned int st_log_errors(void);
uint64_t st_now_ns(void);

/* bench.c */
int st_bench(const struct st_config *c);
/* csv.c: --bench --csv FILE.  One row of the table, from the figures its
 * text line prints. */
struct st_csv_row {
	const char *name, *unit, *note;
	const char *target;       /* NULL: the row has none              */
	double lib, base, ratio;
	bool has_base;            /* false: a value, no baseline or ratio */
	int met;                  /* 1 met, 0 missed, -1 no target,
				   * -2 not measured (note says why)     */
	double limit;             /* the target's bound, judging ...      */
	bool on_value;            /* ... lib rather than the ratio        */
};
FILE *st_csv_open(const char *path);
void st_csv_row(FILE *f, const struct st_csv_row *r);
void st_csv_hist(FILE *f, const char *series, const struct st_hist *h);
int st_csv_close(FILE *f, const char *path);
/* floor.c: batched first touch placed by the touching thread itself;
 * an I/O's map and unmap in a window's slot (ns per I/O, -1: no slots). */
double st_floor_inthread(int mem_fd, uint32_t pages, uint32_t batch,
			 double *kernel);
double st_floor_io(int mem_fd, uint32_t k, uint32_t ring, uint32_t ios);
double st_floor_io_armed(int mem_fd, uint32_t k, uint32_t ring, uint32_t ios);
/* handoff.c: first touches served by handler threads that only place
 * each page (pages/s, -1: no userfaultfd or a placement failed); a
 * userfaultfd as libgmap opens one (-1: none for this process), and a
 * range armed with it as a window's placeholders are (0, or -1). */
double st_floor_handoff(int mem_fd, uint32_t pages, unsigned int faulters,
			unsigned int handlers);
int st_uffd_open(void);
int st_uffd_arm(void *slot, size_t len, int fd, off_t off, int uffd);

#endif /* GMAP_STRESS_H */
