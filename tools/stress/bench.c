/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench.c - gmap-stress --bench: libgmap against the thing it replaces,
 * measured side by side in the same run on the same pages.  Every row is
 * a ratio (libgmap / baseline, or the reverse where "x faster" reads
 * better), the median of several alternating rounds, never an absolute
 * time offered as a verdict.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "benchrow.h"
#include "stress.h"

#define ROUNDS 5
#define BENCH_DOMID 2

struct bench {
	const struct st_config *cfg;
	uint32_t pages;
	struct gmap_sim_domain *dom;
	int mem_fd;
	int cpus, cpu[2];       /* CPUs allowed; the first two (-1: none)  */
	struct st_hist kern_hist, win_hist;
	FILE *csv;              /* --csv FILE, or NULL                     */
	/* Figures one row measures and later rows reuse. */
	double kfault;          /* kernel fault, us/page: the floors' base */
	double touch_thread;    /* first touch through a handler, us/page  */
	double floor1;          /* its 1-page in-thread floor, us/page     */
	double rtt2;            /* wake-up round trip across 2 CPUs, us    */
	char own_note[64];
	double rss_kib;         /* resident memory of the full window      */
	double meta[3];         /* B/grant: 1 in 4096, 1 in 4, dense       */
	double around_inline;   /* fault-around 16 inline, us/page, and    */
	double floor16;         /* ... its floor (0: not measured)         */
	double io_inline;       /* 4-page I/O, inline, us/I/O, and         */
	double floor_io;        /* ... its floor (0: not measured)         */
	double io_thread;       /* 4-page I/O, default, handler threads,   */
	double floor_armed;     /* ... and its floor (0: not measured)     */
	double busy[2];         /* CPUs busy, 2 faulters, 1 and 2 handlers */
	double cpf[2];          /* CPU us per fault, 1 and 2 handlers      */
	char busy_note[64];
	double handlers2;       /* k faults/s with 2 handlers (0: not run) */
	char handoff_note[64];
};

static struct gmap_window *open_win_mode(struct bench *b,
					 unsigned int handlers,
					 enum gmap_unpin_policy unpin,
					 unsigned int spin_us,
					 unsigned int around,
					 enum gmap_fault_mode mode)
{
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM,
		.nr_refs = b->pages, .handler_threads = handlers,
		.logger = st_logger(), .self_domid = ST_SELF,
		.unpin_policy = unpin, .handler_spin_us = spin_us,
		.fault_around = around,
		/* Each row names its mode: not GMAP_FAULT_AUTO, which
		 * depends on the user's privileges. */
		.fault_mode = mode,
		/* Room for every page: these rows measure maps, not
		 * eviction. */
		.max_mapped = b->pages,
	};
	unsigned int errors = st_log_errors();
	struct gmap_window *w = gmap_open(BENCH_DOMID, &o);

	/* As in main.c: libgmap's line says why, unless it logged none. */
	if (!w) {
		if (st_log_errors() == errors)
			fprintf(stderr, "gmap-stress --bench: cannot open a "
				"window: %s\n", strerror(errno));
		exit(2);
	}
	return w;
}

static struct gmap_window *open_win(struct bench *b, unsigned int handlers,
				    enum gmap_unpin_policy unpin)
{
	return open_win_mode(b, handlers, unpin, 0, 0, GMAP_FAULT_THREAD);
}

static uint64_t sim_maps(struct bench *b)
{
	struct gmap_sim_domain_info di;

	gmap_sim_domain_info(b->dom, &di);
	return di.maps_total;
}

/* Write one word into each of @n pages from @base, timing each touch;
 * returns the mean ns per page. */
static double touch_each(uint8_t *base, uint32_t n, struct st_hist *h)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t t0 = st_now_ns(), dt;

		*(volatile uint64_t *)(void *)(base + ((size_t)i << 12) + 8) = i;
		dt = st_now_ns() - t0;
		sum += dt;
		if (h)
			st_hist_add(h, dt);
	}
	return (double)sum / n;
}

static uint8_t *map_guest(struct bench *b)
{
	void *p = mmap(NULL, (size_t)b->pages << 12, PROT_READ | PROT_WRITE,
		       MAP_SHARED, b->mem_fd, 0);

	if (p == MAP_FAILED) {
		perror("gmap-stress --bench: mmap of guest memory");
		exit(2);
	}
	return p;
}

/* Run the calling thread on @cpu only; the CPUs come from the set this
 * process may use (the_cpus), so this cannot fail but for a CPU going
 * offline meanwhile, which ends the benchmark. */
static void pin_to(int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0) {
		perror("gmap-stress --bench: sched_setaffinity");
		exit(2);
	}
}

/* ---- the rows --------------------------------------------------------- */

/* What one row measured, lib and base in the row's unit. */
struct row {
	double lib, base, ratio;
	/* 1 met, 0 missed, -1 no target, -2 not measured (note says why) */
	int met;
	const char *note;
};

/* The parameters of a row's measuring function: each reads its own. */
union row_args {
	/* cpu: index into bench.cpu, or -1 for no pinning */
	struct {
		int cpu;
		unsigned int spin_us, around;
		enum gmap_fault_mode mode;  /* AUTO in the table: THREAD */
	} touch;
	struct { int cpu_a, cpu_b; } wake;         /* indices into bench.cpu */
	struct {
		uint32_t k;
		enum gmap_unpin_policy unpin;
		enum gmap_fault_mode mode;  /* AUTO in the table: THREAD */
	} io;
	struct {
		unsigned int t1, h1, t2, h2;  /* faulters, handlers */
		enum gmap_fault_mode mode;    /* AUTO in the table: THREAD */
	} scale;
	uint32_t k;                                /* floor: pages per mmap */
	int idx;                                   /* into bench.meta */
};

enum cmp { NO_TARGET, AT_MOST, AT_LEAST };

struct row_desc {
	const char *name, *target, *unit, *note;
	enum cmp cmp;
	double limit;
	bool on_value;          /* judge the libgmap figure, not the ratio */
	bool no_base;           /* a value, no baseline: implies on_value */
	int min_cpus;           /* left out on a machine with fewer CPUs */
	void (*measure)(struct bench *b, const union row_args *a,
			struct row *r);
	union row_args arg;
};

/* A row's figures from its alternating rounds: the medians of @lib and
 * @base, each divided by @div (1e3: ns to us), and of their @ratio. */
static void row_medians(struct row *r, double *lib, double *base,
			double *ratio, double div)
{
	r->lib = bench_median(lib, ROUNDS) / div;
	r->base = bench_median(base, ROUNDS) / div;
	r->ratio = bench_median(ratio, ROUNDS);
}

static void print_row(const struct row_desc *d, const struct row *r)
{
	if (r->met == -2) {
		printf("%-44s %-31s %s\n", d->name, "not measured", r->note);
		return;
	}
	bench_print_row(d->name, r->lib, r->base, d->unit, r->ratio, d->target,
			r->met, r->note);
}

/* A row that is a value against a target, with no baseline. */
static void print_value(const struct row_desc *d, const struct row *r)
{
	char v[32];

	snprintf(v, sizeof(v), "%.3g %s", r->lib, d->unit);
	printf("%-44s %-15s %-15s %7s  %-8s %s\n", d->name, v, "-", "-",
	       d->target, r->met < 0 ? "" : r->met ? "met" : "MISSED");
}

/* One row on stdout and, with --csv, in the CSV: the same figures. */
static void report_row(const struct bench *b, const struct row_desc *d,
		       const struct row *r)
{
	if (d->no_base)
		print_value(d, r);
	else
		print_row(d, r);
	if (b->csv)
		st_csv_row(b->csv, &(struct st_csv_row){
			.name = d->name, .unit = d->unit, .note = r->note,
			.target = d->cmp == NO_TARGET ? NULL : d->target,
			.lib = r->lib, .base = r->base, .ratio = r->ratio,
			.has_base = !d->no_base, .met = r->met,
			.limit = d->limit, .on_value = d->on_value || d->no_base,
		});
}

static void judge(const struct row_desc *d, struct row *r)
{
	double x = d->on_value || d->no_base ? r->lib : r->ratio;

	r->met = d->cmp == AT_MOST ? x <= d->limit : x >= d->limit;
}

/* First touch vs the kernel's write fault on a shared mapping of the same
 * guest pages, per page.  around > 1: each fault maps that many pages
 * (fault-around).  cpu >= 0: everything on that CPU.  spin_us: the
 * handler polls that long before sleeping.  The plain row (none of them)
 * fills the latency histograms and b->kfault. */
static void first_touch(struct bench *b, const union row_args *a,
			struct row *r)
{
	int cpu = a->touch.cpu < 0 ? -1 : b->cpu[a->touch.cpu];
	unsigned int spin_us = a->touch.spin_us, around = a->touch.around;
	enum gmap_fault_mode mode = a->touch.mode ? a->touch.mode :
				    GMAP_FAULT_THREAD;
	bool record = cpu < 0 && !spin_us && around <= 1 &&
		      mode == GMAP_FAULT_THREAD;
	double ratio[ROUNDS], lib[ROUNDS], base[ROUNDS];
	cpu_set_t old;

	if (cpu >= 0) {
		sched_getaffinity(0, sizeof(old), &old);
		pin_to(cpu);
	}
	for (int i = 0; i < ROUNDS; i++) {
		/* Opened per round on this thread: the handler inherits the
		 * affinity. */
		struct gmap_window *w = open_win_mode(b, 1, GMAP_UNPIN_UNMAP,
						      spin_us, around, mode);
		uint8_t *g = map_guest(b);

		base[i] = touch_each(g, b->pages, record ? &b->kern_hist : NULL);
		munmap(g, (size_t)b->pages << 12);
		lib[i] = touch_each(gmap_base(w), b->pages,
				    record ? &b->win_hist : NULL);
		gmap_close(w);
		ratio[i] = lib[i] / base[i];
	}
	if (cpu >= 0)
		sched_setaffinity(0, sizeof(old), &old);
	row_medians(r, lib, base, ratio, 1e3);
	if (record) {
		b->kfault = r->base;
		b->touch_thread = r->lib;
	}
	if (mode == GMAP_FAULT_INLINE && around == 16 && cpu < 0)
		b->around_inline = r->lib;
}

/* The tail: the window's first touch p99 against the kernel fault's p50,
 * from the histograms the plain first-touch row filled. */
static void tail_p99(struct bench *b, const union row_args *a, struct row *r)
{
	double p99 = (double)st_hist_pct(&b->win_hist, 99);
	double k50 = (double)st_hist_pct(&b->kern_hist, 50);

	(void)a;
	r->lib = p99 / 1e3;
	r->base = k50 / 1e3;
	r->ratio = p99 / k50;
}

/* The floor under the inline rows: k pages placed with one mmap by the
 * faulting thread itself (floor.c), per page, against the kernel's fault
 * per page; met = -2 (not measurable) where the floor cannot set up. */
static void floor_around(struct bench *b, const union row_args *a,
			 struct row *r)
{
	double ratio[ROUNDS], lib[ROUNDS], base[ROUNDS];

	for (int i = 0; i < ROUNDS; i++) {
		lib[i] = st_floor_inthread(b->mem_fd, b->pages, a->k, &base[i]);
		if (lib[i] < 0) {
			r->met = -2;
			r->note = "cannot reserve the range or reopen memory";
			return;
		}
		ratio[i] = lib[i] / base[i];
	}
	row_medians(r, lib, base, ratio, 1e3);
	if (a->k == 16)
		b->floor16 = r->lib;
	if (a->k == 1)
		b->floor1 = r->lib;
}

/* Fault-around 16 served inline against its floor (floor_around): how
 * much libgmap adds to the placement the faulting thread must make. */
static void around_vs_floor(struct bench *b, const union row_args *a,
			    struct row *r)
{
	(void)a;
	if (b->around_inline <= 0 || b->floor16 <= 0) {
		r->met = -2;
		r->note = "needs the inline and floor rows above";
		return;
	}
	r->lib = b->around_inline;
	r->base = b->floor16;
	r->ratio = r->lib / r->base;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/*
 * Opening a full 32-bit window (16 TiB reserved): time, against the
 * kernel's own reservation of the same range, and resident memory, kept
 * in b->rss_kib for the next row.
 */
static void reserve_full(struct bench *b, const union row_args *a,
			 struct row *r)
{
	double lib[ROUNDS], base[ROUNDS], ratio[ROUNDS], kib[ROUNDS];
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM,
		.nr_refs = GMAP_MAX_REFS,
		.logger = st_logger(), .self_domid = ST_SELF,
	};

	for (int i = 0; i < ROUNDS; i++) {
		long r0 = rss_kib(), r1;
		uint64_t t0 = st_now_ns(), t1;
		struct gmap_window *w = gmap_open(BENCH_DOMID, &o);
		void *p;

		t1 = st_now_ns();
		r1 = rss_kib();
		if (!w)
			exit(2);
		gmap_close(w);
		lib[i] = (double)(t1 - t0);
		kib[i] = (double)(r1 - r0);
		t0 = st_now_ns();
		p = mmap(NULL, GMAP_MAX_REFS << 12, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		base[i] = (double)(st_now_ns() - t0);
		if (p != MAP_FAILED)
			munmap(p, GMAP_MAX_REFS << 12);
		ratio[i] = lib[i] / base[i];
	}
	(void)a;
	row_medians(r, lib, base, ratio, 1e3);
	b->rss_kib = bench_median(kib, ROUNDS);
}

static void reserve_rss(struct bench *b, const union row_args *a,
			struct row *r)
{
	(void)a;
	r->lib = b->rss_kib;
}

/*
 * Metadata per touched grant in a full 32-bit window: scattered (one ref
 * in 4096), one ref in four, and dense, over 4 Mi refs of a separate
 * simulated domain, into b->meta; the row is the first of them.
 * Prefaulted, so the evictor may unmap them again: the metadata stays,
 * which is what is measured.
 */
static void metadata(struct bench *b, const union row_args *a, struct row *r)
{
	const uint32_t nsc = 1024, nq = 16384, nd = 16384;
	struct gmap_sim_domain *d = gmap_sim_domain_create(BENCH_DOMID + 1, 1,
							   1u << 22);
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM,
		.logger = st_logger(), .self_domid = ST_SELF,
	};
	struct gmap_stats s0, s1, s2, s3;
	struct gmap_window *w;

	if (!d)
		exit(2);
	for (uint32_t i = 0; i < nsc; i++)
		gmap_sim_grant(d, i * 4096, 0, ST_SELF, 0);
	for (uint32_t i = 0; i < nq; i++)
		gmap_sim_grant(d, (1u << 21) + 1 + 4 * i, 0, ST_SELF, 0);
	for (uint32_t i = 0; i < nd; i++)
		gmap_sim_grant(d, (3u << 20) + i, 0, ST_SELF, 0);
	w = gmap_open(BENCH_DOMID + 1, &o);
	if (!w)
		exit(2);
	gmap_stats(w, &s0, sizeof(s0));
	for (uint32_t i = 0; i < nsc; i++)
		gmap_prefault(w, i * 4096, 1, 0, NULL);
	gmap_stats(w, &s1, sizeof(s1));
	for (uint32_t i = 0; i < nq; i++)
		gmap_prefault(w, (1u << 21) + 1 + 4 * i, 1, 0, NULL);
	gmap_stats(w, &s2, sizeof(s2));
	gmap_prefault(w, 3u << 20, nd, 0, NULL);
	gmap_stats(w, &s3, sizeof(s3));
	gmap_close(w);
	gmap_sim_domain_destroy(d);
	b->meta[0] = (double)(s1.meta_bytes - s0.meta_bytes) / nsc;
	b->meta[1] = (double)(s2.meta_bytes - s1.meta_bytes) / nq;
	b->meta[2] = (double)(s3.meta_bytes - s2.meta_bytes) / nd;
	(void)a;
	r->lib = b->meta[0];
}

/* The other figures metadata() measured. */
static void metadata_again(struct bench *b, const union row_args *a,
			   struct row *r)
{
	r->lib = b->meta[a->idx];
}

/* Read a word per cache line of [p, p + len); returns the ns it took. */
static double read_pass(const uint8_t *p, size_t len, volatile uint64_t *sink)
{
	const uint64_t *q = (const uint64_t *)(const void *)p;
	uint64_t t0 = st_now_ns(), s = 0;

	for (size_t j = 0; j < len / 8; j += 8)
		s += q[j];
	*sink += s;
	return (double)(st_now_ns() - t0);
}

/* Second pass over populated pages: the window vs plain shared memory. */
static void hit_path(struct bench *b, const union row_args *a, struct row *r)
{
	double ratio[ROUNDS], lib[ROUNDS], base[ROUNDS];
	struct gmap_window *w = open_win(b, 1, GMAP_UNPIN_UNMAP);
	uint8_t *g = map_guest(b), *wb = gmap_base(w);
	size_t len = (size_t)b->pages << 12;
	volatile uint64_t sink = 0;

	/* Populate both. */
	touch_each(g, b->pages, NULL);
	touch_each(wb, b->pages, NULL);
	for (int i = 0; i < ROUNDS; i++) {
		base[i] = read_pass(g, len, &sink) / (double)b->pages;
		lib[i] = read_pass(wb, len, &sink) / (double)b->pages;
		ratio[i] = lib[i] / base[i];
	}
	(void)sink;
	(void)a;
	munmap(g, len);
	gmap_close(w);
	row_medians(r, lib, base, ratio, 1);
}

/* The per-I/O rows' I/Os: requests of k pages over a ring of IO_RING. */
#define IO_RING 64
#define IO_COUNT 20000

/* IO_COUNT I/Os of @k refs each: pin, a write to each page, unpin; ns per
 * I/O. */
static double pin_ios(struct gmap_window *w, uint32_t k)
{
	uint8_t *wb = gmap_base(w);
	uint64_t t0 = st_now_ns();

	for (uint32_t io = 0; io < IO_COUNT; io++) {
		uint32_t ref = (io % IO_RING) * k;

		if (gmap_pin(w, ref, k, GMAP_PIN_WRITE, NULL) < 0)
			exit(1);
		for (uint32_t p = 0; p < k; p++)
			*(volatile uint64_t *)(void *)(wb + ((size_t)(ref + p) << 12)) = io;
		gmap_unpin(w, ref, k);
	}
	return (double)(st_now_ns() - t0) / IO_COUNT;
}

/*
 * Per I/O of k pages over a ring of 64 requests: pin, touch, unpin through
 * the window (pin_ios()) vs an explicit mmap + munmap of the request's
 * guest frames (the grant-table bookkeeping a real map adds is not
 * counted, which favours the baseline).  The baseline's mmap is populated,
 * as gntdev's mmap fills in the page tables of a grant mapping (and as the
 * sim backend places a grant): unpopulated, it took k page faults an I/O
 * that no backend pays, and on a machine whose fault costs 10.8 us that
 * made libgmap look 1.2-1.5x faster where it was not.  unpin picks what
 * the window does at the last unpin.  Ratio: baseline / libgmap ("x
 * faster").
 */
/* The per-I/O baseline: IO_COUNT I/Os of @k pages, each an mmap of the
 * request's guest frames, a write to each and a munmap; ns per I/O. */
static double mmap_ios(struct bench *b, uint32_t k)
{
	uint64_t t0 = st_now_ns();

	for (uint32_t io = 0; io < IO_COUNT; io++) {
		uint32_t ref = (io % IO_RING) * k;
		uint8_t *m = mmap(NULL, (size_t)k << 12, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_POPULATE, b->mem_fd,
				  (off_t)ref << 12);

		if (m == MAP_FAILED)
			exit(1);
		for (uint32_t p = 0; p < k; p++)
			*(volatile uint64_t *)(void *)(m + ((size_t)p << 12)) = io;
		munmap(m, (size_t)k << 12);
	}
	return (double)(st_now_ns() - t0) / IO_COUNT;
}

static void per_io(struct bench *b, const union row_args *a, struct row *r)
{
	const uint32_t k = a->io.k;
	double ratio[ROUNDS], lib[ROUNDS], base[ROUNDS];

	for (int i = 0; i < ROUNDS; i++) {
		struct gmap_window *w = open_win_mode(b, 1, a->io.unpin, 0, 0,
						      a->io.mode ? a->io.mode :
						      GMAP_FAULT_THREAD);

		lib[i] = pin_ios(w, k);
		gmap_close(w);
		base[i] = mmap_ios(b, k);
		ratio[i] = base[i] / lib[i];
	}
	row_medians(r, lib, base, ratio, 1e3);
	if (k == 4 && a->io.mode == GMAP_FAULT_INLINE &&
	    a->io.unpin == GMAP_UNPIN_UNMAP)
		b->io_inline = r->lib;
	if (k == 4 && !a->io.mode && a->io.unpin == GMAP_UNPIN_UNMAP)
		b->io_thread = r->lib;
}

/* The floor under the per-I/O rows against the same baseline, in
 * alternating rounds; ratio "x faster", as theirs.  Pages left unarmed
 * (floor.c's st_floor_io()) under the inline rows, re-armed for handler
 * threads (st_floor_io_armed()) under the default row. */
static void floor_io(struct bench *b, const union row_args *a,
		     struct row *r)
{
	double ratio[ROUNDS], lib[ROUNDS], base[ROUNDS];
	bool armed = a->io.mode == GMAP_FAULT_THREAD;

	for (int i = 0; i < ROUNDS; i++) {
		lib[i] = armed ? st_floor_io_armed(b->mem_fd, a->io.k, IO_RING,
						   IO_COUNT) :
			 st_floor_io(b->mem_fd, a->io.k, IO_RING, IO_COUNT);
		if (lib[i] < 0) {
			r->met = -2;
			r->note = armed ? "no userfaultfd, or no ring of slots" :
				  "cannot set up the ring's slots";
			return;
		}
		base[i] = mmap_ios(b, a->io.k);
		ratio[i] = base[i] / lib[i];
	}
	row_medians(r, lib, base, ratio, 1e3);
	if (armed)
		b->floor_armed = r->lib;
	else
		b->floor_io = r->lib;
}

/* A 4-page I/O row against its floor (floor_io), the inline one or the
 * default one with handler threads: what libgmap's pin and unpin add to
 * the system calls its design must make. */
static void io_vs_floor(struct bench *b, const union row_args *a,
			struct row *r)
{
	bool armed = a->io.mode == GMAP_FAULT_THREAD;
	double io = armed ? b->io_thread : b->io_inline;
	double floor = armed ? b->floor_armed : b->floor_io;

	if (io <= 0 || floor <= 0) {
		r->met = -2;
		r->note = "needs the I/O and floor rows above";
		return;
	}
	r->lib = io;
	r->base = floor;
	r->ratio = r->lib / r->base;
}

/*
 * Pin cost with threads waiting in the window.  WAITERS threads pin one
 * ref whose map the sim holds up (GMAP_SIM_INJECT_STALL): the first waits
 * in the "hypervisor", the others on the window's condition variable for
 * the grant it has claimed.  Meanwhile this thread pins and unpins 4
 * mapped refs per I/O with unpin policy keep, the persistent-grant path:
 * a pin of mapped grants changes no grant's state, so it must wake
 * nobody.  A broadcast per pin would wake every waiter each time and
 * grow with their number.  Ratio: with the waiters / without.
 */
#define WAITERS 8

struct parked {
	struct gmap_window *w;
	uint32_t ref;
	_Atomic pid_t tid;
	pthread_t th;
};

static void *park(void *p)
{
	struct parked *k = p;

	atomic_store(&k->tid, (pid_t)syscall(SYS_gettid));
	if (gmap_pin(k->w, k->ref, 1, GMAP_PIN_WRITE, NULL) == 0)
		gmap_unpin(k->w, k->ref, 1);
	return NULL;
}

/* The system call thread @tid is blocked in (/proc's "syscall"), or -1. */
static long blocked_in(pid_t tid)
{
	char path[64], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return buf[0] >= '0' && buf[0] <= '9' ? strtol(buf, NULL, 10) : -1;
}

/* Start the waiters on @ref and return once one sleeps in the stalled map
 * and the rest on a futex, or after 5 s (false: they did not park). */
static bool park_all(struct bench *b, struct gmap_window *w, uint32_t ref,
		     struct parked *k)
{
	uint64_t t0 = st_now_ns();
	unsigned int in_map, on_cv;

	if (gmap_sim_inject(b->dom, ref, GMAP_SIM_INJECT_STALL, 1) < 0)
		return false;
	for (int i = 0; i < WAITERS; i++) {
		k[i] = (struct parked){ .w = w, .ref = ref };
		if (pthread_create(&k[i].th, NULL, park, &k[i]) != 0)
			exit(1);
	}
	do {
		in_map = on_cv = 0;
		for (int i = 0; i < WAITERS; i++) {
			pid_t tid = atomic_load(&k[i].tid);
			long nr = tid ? blocked_in(tid) : -1;

			in_map += nr == SYS_clock_nanosleep || nr == SYS_nanosleep;
			on_cv += nr == SYS_futex;
		}
		if (in_map == 1 && on_cv == WAITERS - 1)
			return true;
		sched_yield();
	} while (st_now_ns() - t0 < 5000000000ull);
	return false;
}

static void unpark_all(struct bench *b, uint32_t ref, struct parked *k)
{
	gmap_sim_inject(b->dom, ref, GMAP_SIM_INJECT_NONE, 0);
	for (int i = 0; i < WAITERS; i++)
		pthread_join(k[i].th, NULL);
}

static void pin_waiters(struct bench *b, const union row_args *a,
			struct row *r)
{
	double ratio[ROUNDS], lib[ROUNDS], base[ROUNDS];
	struct gmap_window *w = open_win(b, 1, GMAP_UNPIN_KEEP);
	struct parked k[WAITERS];

	(void)a;
	pin_ios(w, 4);  /* maps the ring: from here on, pins of mapped refs */
	for (int i = 0; i < ROUNDS; i++) {
		/* A ref of its own each round: with keep it stays mapped. */
		uint32_t stalled = b->pages - 1 - (uint32_t)i;

		base[i] = pin_ios(w, 4);
		if (!park_all(b, w, stalled, k)) {
			unpark_all(b, stalled, k);
			gmap_close(w);
			r->met = -2;
			r->note = "the waiting threads did not park within 5 s";
			return;
		}
		lib[i] = pin_ios(w, 4);
		unpark_all(b, stalled, k);
		ratio[i] = lib[i] / base[i];
	}
	gmap_close(w);
	row_medians(r, lib, base, ratio, 1e3);
}

/* Maps issued when one page of each 256-page bucket is touched: eager
 * buckets (as QEMU's mapcache maps) vs lazy faults.  Ratio: eager / lazy. */
static void buckets(struct bench *b, const union row_args *a, struct row *r)
{
	uint32_t nb = b->pages / 256;
	uint64_t m0, eager, lazy;
	struct gmap_window *w;
	uint8_t *wb;

	(void)a;
	w = open_win(b, 1, GMAP_UNPIN_UNMAP);
	wb = gmap_base(w);
	m0 = sim_maps(b);
	for (uint32_t i = 0; i < nb; i++) {
		gmap_prefault(w, i * 256, 256, GMAP_PIN_WRITE, NULL);
		*(volatile uint64_t *)(void *)(wb + ((size_t)(i * 256 + 17) << 12)) = i;
	}
	eager = sim_maps(b) - m0;
	gmap_close(w);
	w = open_win(b, 1, GMAP_UNPIN_UNMAP);
	wb = gmap_base(w);
	m0 = sim_maps(b);
	for (uint32_t i = 0; i < nb; i++)
		*(volatile uint64_t *)(void *)(wb + ((size_t)(i * 256 + 17) << 12)) = i;
	lazy = sim_maps(b) - m0;
	gmap_close(w);
	r->lib = (double)lazy / nb;
	r->base = (double)eager / nb;
	r->ratio = lazy ? (double)eager / (double)lazy : 0;
}

/* ---- the floor: what any handler-thread design pays per fault ---------- */

struct pong {
	int rd, wr;
	int cpu;
};

static void *ponger(void *arg)
{
	struct pong *p = arg;
	char c;

	pin_to(p->cpu);
	while (read(p->rd, &c, 1) == 1 && c)
		if (write(p->wr, &c, 1) != 1)
			break;
	return NULL;
}

/* A blocked thread woken by another and answering it: the round trip a
 * userfaultfd fault makes (faulter -> handler -> faulter). */
static double wake_round_trip_ns(int cpu_a, int cpu_b)
{
	const int n = 20000;
	int ab[2], ba[2];
	struct pong p;
	pthread_t th;
	cpu_set_t old;
	uint64_t t0;
	char c = 1;

	if (pipe(ab) < 0 || pipe(ba) < 0)
		exit(2);
	sched_getaffinity(0, sizeof(old), &old);
	pin_to(cpu_a);
	p = (struct pong){ ab[0], ba[1], cpu_b };
	pthread_create(&th, NULL, ponger, &p);
	t0 = st_now_ns();
	for (int i = 0; i < n; i++)
		if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
			exit(2);
	t0 = st_now_ns() - t0;
	c = 0;
	if (write(ab[1], &c, 1) != 1)
		exit(2);
	pthread_join(th, NULL);
	sched_setaffinity(0, sizeof(old), &old);
	for (int i = 0; i < 2; i++) {
		close(ab[i]);
		close(ba[i]);
	}
	return (double)t0 / n;
}

/* The wake-up round trip against the plain row's kernel fault. */
static void wake_floor(struct bench *b, const union row_args *a, struct row *r)
{
	r->lib = wake_round_trip_ns(b->cpu[a->wake.cpu_a],
				    b->cpu[a->wake.cpu_b]) / 1e3;
	r->base = b->kfault;
	r->ratio = r->lib / b->kfault;
	if (a->wake.cpu_a != a->wake.cpu_b)
		b->rtt2 = r->lib;
}

/*
 * What a first touch through a handler thread costs past the wake-up
 * round trip across CPUs that any handler-thread design pays (the rows
 * above), against the kernel's fault.  It includes the placement, which
 * no design can skip: the note gives the 1-page floor row (a SIGSEGV and
 * that placement in the faulting thread) against the same kernel fault.
 * 0 when the round trip is more than the whole fault.
 */
static void thread_own(struct bench *b, const union row_args *a,
		       struct row *r)
{
	(void)a;
	if (b->touch_thread <= 0 || b->rtt2 <= 0 || b->kfault <= 0) {
		r->met = -2;
		r->note = "needs the first touch and round trip rows above";
		return;
	}
	r->lib = b->touch_thread > b->rtt2 ? b->touch_thread - b->rtt2 : 0;
	r->base = b->kfault;
	r->ratio = r->lib / r->base;
	if (b->floor1 > 0) {
		snprintf(b->own_note, sizeof(b->own_note), "the 1-page floor "
			 "row alone: %.2fx", b->floor1 / b->kfault);
		r->note = b->own_note;
	}
}

struct par {
	uint8_t *base;
	uint32_t from, n;
	pthread_barrier_t *bar;
};

static void *par_touch(void *arg)
{
	struct par *p = arg;

	pthread_barrier_wait(p->bar);
	touch_each(p->base + ((size_t)p->from << 12), p->n, NULL);
	return NULL;
}

/* This process's CPU time, all threads, in ns. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Aggregate first-touch faults/s with @threads faulting threads, and in
 * *@busy the CPUs the process kept busy meanwhile (its CPU time, every
 * thread's, over the wall time). */
static double faults_per_s(struct bench *b, unsigned int threads,
			   unsigned int handlers, enum gmap_fault_mode mode,
			   double *busy)
{
	struct gmap_window *w = open_win_mode(b, handlers, GMAP_UNPIN_UNMAP, 0,
					      0, mode ? mode : GMAP_FAULT_THREAD);
	pthread_t th[8];
	struct par p[8];
	pthread_barrier_t bar;
	uint64_t t0, c0;

	pthread_barrier_init(&bar, NULL, threads + 1);
	for (unsigned int i = 0; i < threads; i++) {
		p[i] = (struct par){ gmap_base(w), b->pages / threads * i,
				     b->pages / threads, &bar };
		pthread_create(&th[i], NULL, par_touch, &p[i]);
	}
	pthread_barrier_wait(&bar);
	c0 = cpu_ns();
	t0 = st_now_ns();
	for (unsigned int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	t0 = st_now_ns() - t0;
	*busy = (double)(cpu_ns() - c0) / (double)t0;
	pthread_barrier_destroy(&bar);
	gmap_close(w);
	return (double)(b->pages / threads * threads) / ((double)t0 / 1e9);
}

/*
 * Faults/s with t2 faulting threads and h2 handlers against t1 and h1.
 * The row of more handlers keeps, for the two after it, the CPUs each
 * side kept busy and its CPU time per fault (busy / rate): a second
 * handler can only use CPU time the first left idle, so on this machine
 * it can give at most CPUs / CPUs busy with one, at the same CPU time per
 * fault; and what each fault costs in CPU time with two says how far
 * from that the hand-off between them keeps it.
 */
static void scaling(struct bench *b, const union row_args *a, struct row *r)
{
	double ratio[ROUNDS], one[ROUNDS], two[ROUNDS];
	double busy1[ROUNDS], busy2[ROUNDS], cpf1[ROUNDS], cpf2[ROUNDS];

	for (int i = 0; i < ROUNDS; i++) {
		one[i] = faults_per_s(b, a->scale.t1, a->scale.h1, a->scale.mode,
				      &busy1[i]);
		two[i] = faults_per_s(b, a->scale.t2, a->scale.h2, a->scale.mode,
				      &busy2[i]);
		ratio[i] = two[i] / one[i];
		cpf1[i] = busy1[i] / one[i] * 1e6;
		cpf2[i] = busy2[i] / two[i] * 1e6;
	}
	row_medians(r, two, one, ratio, 1e3);
	if (a->scale.h2 > a->scale.h1) {
		b->handlers2 = r->lib;
		b->busy[0] = bench_median(busy1, ROUNDS);
		b->busy[1] = bench_median(busy2, ROUNDS);
		b->cpf[0] = bench_median(cpf1, ROUNDS);
		b->cpf[1] = bench_median(cpf2, ROUNDS);
	}
}

/* The CPUs the row above kept busy, 2 handlers against 1, and the most
 * a second handler could give (see scaling()). */
static void handler_busy(struct bench *b, const union row_args *a,
			 struct row *r)
{
	(void)a;
	if (b->busy[0] <= 0) {
		r->met = -2;
		r->note = "needs the 2 handler threads row above";
		return;
	}
	r->lib = b->busy[1];
	r->base = b->busy[0];
	r->ratio = r->lib / r->base;
	snprintf(b->busy_note, sizeof(b->busy_note), "of %d: 2 handlers give "
		 "at most %.2fx at 1's CPU time a fault", b->cpus,
		 b->cpus / b->busy[0]);
	r->note = b->busy_note;
}

/*
 * The floor under "2 handler threads vs 1": the same 2 faulting threads
 * served by 1 and by 2 handler threads through a userfaultfd, as libgmap
 * serves them, but with nothing of libgmap's: each handler only places
 * the page and wakes its thread (handoff.c).  Alternating rounds, as
 * scaling() does.
 */
static void handoff_floor(struct bench *b, const union row_args *a,
			  struct row *r)
{
	double ratio[ROUNDS], one[ROUNDS], two[ROUNDS];

	for (int i = 0; i < ROUNDS; i++) {
		one[i] = st_floor_handoff(b->mem_fd, b->pages, a->scale.t1,
					  a->scale.h1);
		two[i] = st_floor_handoff(b->mem_fd, b->pages, a->scale.t2,
					  a->scale.h2);
		if (one[i] <= 0 || two[i] <= 0) {
			r->met = -2;
			r->note = "no userfaultfd, or a placement failed";
			return;
		}
		ratio[i] = two[i] / one[i];
	}
	row_medians(r, two, one, ratio, 1e3);
	if (b->handlers2 > 0) {
		snprintf(b->handoff_note, sizeof(b->handoff_note),
			 "no libgmap; libgmap's 2 handlers: %.2fx of it",
			 b->handlers2 / r->lib);
		r->note = b->handoff_note;
	}
}

/* CPU time per fault of the row above, 2 handlers against 1. */
static void handler_cpu(struct bench *b, const union row_args *a,
			struct row *r)
{
	(void)a;
	if (b->cpf[0] <= 0) {
		r->met = -2;
		r->note = "needs the 2 handler threads row above";
		return;
	}
	r->lib = b->cpf[1];
	r->base = b->cpf[0];
	r->ratio = r->lib / r->base;
}

/* ---- the table: measured, judged and printed in this order ------------ */

#define X_FASTER "ratio: x faster"
#define VS_KFAULT "pipe ping-pong vs kernel fault"

static const struct row_desc rows[] = {
	/* First: the floor and tail rows reuse its kernel fault and
	 * histograms. */
	{ .name = "first touch, 1 page/fault vs kernel fault",
	  .target = "-", .unit = "us/page",
	  .note = "handler thread (GMAP_FAULT_THREAD)",
	  .measure = first_touch, .arg.touch = { -1, 0, 0, 0 } },
	{ .name = "  same, served inline (GMAP_FAULT_INLINE)",
	  .target = "<= 2.5x", .cmp = AT_MOST, .limit = 2.5, .unit = "us/page",
	  .measure = first_touch,
	  .arg.touch = { -1, 0, 0, GMAP_FAULT_INLINE } },
	{ .name = "  floor: 1 page, 1 mmap, faulting thread",
	  .target = "-", .unit = "us/page",
	  .note = "SIGSEGV and a placement, no libgmap",
	  .measure = floor_around, .arg.k = 1 },
	{ .name = "  same, handler polls 50 us (spin)",
	  .target = "-", .min_cpus = 2, .unit = "us/page",
	  .measure = first_touch, .arg.touch = { -1, 50, 0, 0 } },
	{ .name = "  same, faulter and handler on one CPU",
	  .target = "-", .min_cpus = 2, .unit = "us/page",
	  .measure = first_touch, .arg.touch = { 0, 0, 0, 0 } },
	{ .name = "  floor: wake-up round trip, 2 CPUs",
	  .target = "-", .min_cpus = 2, .unit = "us", .note = VS_KFAULT,
	  .measure = wake_floor, .arg.wake = { 0, 1 } },
	{ .name = "  floor: wake-up round trip, 1 CPU",
	  .target = "-", .unit = "us", .note = VS_KFAULT,
	  .measure = wake_floor, .arg.wake = { 0, 0 } },
	{ .name = "  thread: own cost past the round trip",
	  .target = "<= 1x", .cmp = AT_MOST, .limit = 1.0, .min_cpus = 2,
	  .unit = "us", .measure = thread_own },
	{ .name = "first touch p99 vs kernel fault p50",
	  .target = "<= 10x", .cmp = AT_MOST, .limit = 10, .unit = "us",
	  .measure = tail_p99 },
	{ .name = "first touch, fault-around 16, per page",
	  .target = "-", .unit = "us/page",
	  .note = "handler thread",
	  .measure = first_touch, .arg.touch = { -1, 0, 16, 0 } },
	{ .name = "  same, served inline",
	  .target = "-", .unit = "us/page",
	  .measure = first_touch,
	  .arg.touch = { -1, 0, 16, GMAP_FAULT_INLINE } },
	{ .name = "  same, faulter and handler on one CPU",
	  .target = "-", .min_cpus = 2, .unit = "us/page",
	  .measure = first_touch, .arg.touch = { 0, 0, 16, 0 } },
	{ .name = "  floor: 16 pages, 1 mmap, faulting thread",
	  .target = "-", .unit = "us/page",
	  .note = "no handler thread, no libgmap",
	  .measure = floor_around, .arg.k = 16 },
	{ .name = "  inline vs that floor",
	  .target = "<= 1.15x", .cmp = AT_MOST, .limit = 1.15,
	  .unit = "us/page", .measure = around_vs_floor },
	{ .name = "hit path (2nd pass) vs plain memory",
	  .target = "<= 1.02x", .cmp = AT_MOST, .limit = 1.02,
	  .unit = "ns/page", .measure = hit_path },
	{ .name = "4-page I/O: pin/unpin (keep) vs mmap",
	  .target = ">= 3x", .cmp = AT_LEAST, .limit = 3, .unit = "us/IO",
	  .note = X_FASTER,
	  .measure = per_io, .arg.io = { 4, GMAP_UNPIN_KEEP, 0 } },
	{ .name = "  same, 8 threads waiting in the window",
	  .target = "<= 1.2x", .cmp = AT_MOST, .limit = 1.2, .unit = "us/IO",
	  .note = "vs none: pins wake nobody",
	  .measure = pin_waiters },
	{ .name = "  same, unpin unmaps (the default)",
	  .target = "-", .unit = "us/IO",
	  .note = X_FASTER,
	  .measure = per_io, .arg.io = { 4, GMAP_UNPIN_UNMAP, 0 } },
	{ .name = "  same, inline window (pages left unarmed)",
	  .target = ">= 1x", .cmp = AT_LEAST, .limit = 1.0, .unit = "us/IO",
	  .note = X_FASTER,
	  .measure = per_io, .arg.io = { 4, GMAP_UNPIN_UNMAP, GMAP_FAULT_INLINE } },
	{ .name = "  floor: 4 pages, 2 mmaps in place",
	  .target = "-", .unit = "us/IO",
	  .note = "ratio: x faster; no libgmap, MAP_FIXED over a memfd page",
	  .measure = floor_io,
	  .arg.io = { 4, GMAP_UNPIN_UNMAP, GMAP_FAULT_INLINE } },
	{ .name = "  inline vs that floor",
	  .target = "-", .unit = "us/IO", .measure = io_vs_floor,
	  .arg.io = { 4, GMAP_UNPIN_UNMAP, GMAP_FAULT_INLINE } },
	{ .name = "  floor: the same, re-armed for handlers",
	  .target = "-", .unit = "us/IO",
	  .note = "ratio: x faster; no libgmap; +register, mprotect",
	  .measure = floor_io,
	  .arg.io = { 4, GMAP_UNPIN_UNMAP, GMAP_FAULT_THREAD } },
	{ .name = "  the default (handlers) vs that floor",
	  .target = "-", .unit = "us/IO", .measure = io_vs_floor,
	  .arg.io = { 4, GMAP_UNPIN_UNMAP, GMAP_FAULT_THREAD } },
	{ .name = "1-page I/O, inline window, unpin unmaps",
	  .target = "-", .unit = "us/IO",
	  .note = X_FASTER,
	  .measure = per_io, .arg.io = { 1, GMAP_UNPIN_UNMAP, GMAP_FAULT_INLINE } },
	{ .name = "maps, 256-page buckets: eager vs lazy",
	  .target = ">= 20x", .cmp = AT_LEAST, .limit = 20, .unit = "maps/bkt",
	  .note = "ratio: x fewer maps", .measure = buckets },
	{ .name = "first-touch faults/s: 2 threads vs 1",
	  .target = ">= 1.5x", .cmp = AT_LEAST, .limit = 1.5, .unit = "k/s",
	  .measure = scaling, .arg.scale = { 1, 1, 2, 1, 0 } },
	{ .name = "  same, 2 handler threads vs 1",
	  .target = ">= 1.4x", .cmp = AT_LEAST, .limit = 1.4, .unit = "k/s",
	  .note = "2 faulting threads, 2 handlers vs 1",
	  .measure = scaling, .arg.scale = { 2, 1, 2, 2, 0 } },
	{ .name = "    CPUs busy, 2 handlers vs 1",
	  .target = "-", .unit = "CPUs",
	  .measure = handler_busy },
	{ .name = "    CPU time per fault, 2 handlers vs 1",
	  .target = "-", .unit = "us",
	  .note = "all threads' CPU time / faults",
	  .measure = handler_cpu },
	{ .name = "  floor: same, handlers that only place",
	  .target = "-", .unit = "k/s",
	  .note = "userfaultfd and mmap, no libgmap",
	  .measure = handoff_floor, .arg.scale = { 2, 1, 2, 2, 0 } },
	{ .name = "  same, served inline: 2 threads vs 1",
	  .target = "-", .unit = "k/s",
	  .measure = scaling, .arg.scale = { 1, 0, 2, 0, GMAP_FAULT_INLINE } },
	/* The target is on the time itself, not on the ratio. */
	{ .name = "open a 16 TiB window vs mmap of it",
	  .target = "<= 1 ms", .cmp = AT_MOST, .limit = 1000, .on_value = true,
	  .unit = "us", .measure = reserve_full },
	/* 64 KiB, and the page of counters published for gmap-top. */
	{ .name = "  its resident memory (RSS)", .no_base = true,
	  .target = "<= 68 KiB", .cmp = AT_MOST, .limit = 68, .unit = "KiB",
	  .measure = reserve_rss },
	{ .name = "metadata per touched grant, 1 in 4096", .no_base = true,
	  .target = "-", .unit = "B/grant", .measure = metadata },
	{ .name = "metadata per touched grant, 1 in 4", .no_base = true,
	  .target = "<= 32 B", .cmp = AT_MOST, .limit = 32, .unit = "B/grant",
	  .measure = metadata_again, .arg.idx = 1 },
	{ .name = "metadata per touched grant, dense", .no_base = true,
	  .target = "<= 32 B", .cmp = AT_MOST, .limit = 32, .unit = "B/grant",
	  .measure = metadata_again, .arg.idx = 2 },
};

/* Does any row's name contain @text (--bench-rows)? */
static bool any_row(const char *text)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (strstr(rows[i].name, text))
			return true;
	return false;
}

int st_bench(const struct st_config *c)
{
	struct bench b = { .cfg = c, .pages = c->bench_pages,
			   .cpu = { -1, -1 } };
	uint64_t page[ST_WORDS];
	cpu_set_t allowed;
	int ctl;

	/* Before anything is measured: a file that cannot be written is a
	 * bad argument, not a benchmark's worth of figures lost. */
	if (c->bench_rows && !any_row(c->bench_rows)) {
		fprintf(stderr, "gmap-stress: no benchmark row's name contains "
			"'%s' (--bench-rows)\n", c->bench_rows);
		return 2;
	}
	if (c->csv && !(b.csv = st_csv_open(c->csv)))
		return 2;
	b.dom = gmap_sim_domain_create(BENCH_DOMID, b.pages, b.pages);
	if (!b.dom || gmap_sim_domain_fds(b.dom, &ctl, &b.mem_fd) < 0) {
		fprintf(stderr, "gmap-stress --bench: cannot create the "
			"simulated domain: %s\n", strerror(errno));
		return 2;
	}
	for (uint32_t i = 0; i < b.pages; i++) {
		st_sig_page(page, i, 0);
		gmap_sim_write(b.dom, i, 0, page, sizeof(page));
		gmap_sim_grant(b.dom, i, i, ST_SELF, 0);
	}
	/* The CPUs this process may run on; the one- and two-CPU rows use
	 * the first two of them. */
	sched_getaffinity(0, sizeof(allowed), &allowed);
	b.cpus = CPU_COUNT(&allowed);
	for (int i = 0, k = 0; i < CPU_SETSIZE && k < 2; i++)
		if (CPU_ISSET(i, &allowed))
			b.cpu[k++] = i;
	printf("gmap-stress --bench: sim backend, %u pages per pass, median of "
	       "%d alternating rounds, %d CPUs\n", b.pages, ROUNDS, b.cpus);
	bench_print_header();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row_desc *d = &rows[i];
		struct row r = { .met = -1, .note = d->note };

		if (b.cpus < d->min_cpus ||
		    (c->bench_rows && !strstr(d->name, c->bench_rows)))
			continue;
		d->measure(&b, &d->arg, &r);
		if (r.met != -2 && d->cmp != NO_TARGET)
			judge(d, &r);
		report_row(&b, d, &r);
	}
	/* The histograms are the first-touch row's: --bench-rows may have
	 * left it out. */
	if (b.win_hist.n) {
		printf("first-touch latency through the window (%llu samples): "
		       "p50 %llu ns, p99 %llu ns; kernel fault p50 %llu ns, "
		       "p99 %llu ns\n",
		       (unsigned long long)b.win_hist.n,
		       (unsigned long long)st_hist_pct(&b.win_hist, 50),
		       (unsigned long long)st_hist_pct(&b.win_hist, 99),
		       (unsigned long long)st_hist_pct(&b.kern_hist, 50),
		       (unsigned long long)st_hist_pct(&b.kern_hist, 99));
		st_hist_draw(stdout, &b.win_hist);
	}
	gmap_sim_domain_destroy(b.dom);
	if (b.csv) {
		if (b.win_hist.n) {
			st_csv_hist(b.csv, "libgmap", &b.win_hist);
			st_csv_hist(b.csv, "kernel", &b.kern_hist);
		}
		if (st_csv_close(b.csv, c->csv) < 0)
			return 2;
	}
	return 0;
}
