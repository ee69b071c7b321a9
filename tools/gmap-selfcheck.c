/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmap-selfcheck - a short run of the whole fault path on the sim backend,
 * printing what it did.  A simulated domain grants pages carrying a
 * signature; several threads touch them through the window by reads,
 * writes and pread(2); pins and unpins check that the granter can end
 * access afterwards.  Exit status 0 only if every check held.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <gmap.h>

#define DOMID 7
#define SELF 0

static struct gmap_sim_domain *dom;
static struct gmap_window *win;
static uint32_t nr_pages = 4096;
static unsigned int nr_threads = 4;
static uint64_t win_refs; /* 0: the whole 32-bit grant space */
static _Atomic uint64_t verified, failures, writes;

static uint64_t sig_of(uint32_t ref, uint32_t word)
{
	return ((uint64_t)ref << 32) ^ (word * 0x9e3779b97f4a7c15ull) ^ 0xfeed;
}

static void *toucher(void *arg)
{
	unsigned int id = (unsigned int)(uintptr_t)arg;
	uint32_t ref, i;

	/* Every thread walks every page, from its own start: first touches
	 * race with each other on every page. */
	for (i = 0; i < nr_pages; i++) {
		uint64_t *p;

		ref = (i + id * (nr_pages / nr_threads)) % nr_pages;
		p = gmap_ref_ptr(win, ref);
		if (p[7] != sig_of(ref, 7) || p[511] != sig_of(ref, 511)) {
			atomic_fetch_add(&failures, 1);
			continue;
		}
		atomic_fetch_add(&verified, 1);
		if (ref % nr_threads == id) {
			/* One writer per page: word 100 gets a reply. */
			p[100] = ~sig_of(ref, 100);
			atomic_fetch_add(&writes, 1);
		}
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int check(int cond, const char *what)
{
	printf("  %-58s %s\n", what, cond ? "ok" : "FAILED");
	if (!cond)
		atomic_fetch_add(&failures, 1);
	return cond;
}

/*
 * Parse option -@opt as a whole number in [@lo, @hi], or say which option,
 * what it got and what was expected, and exit 2: "-p 1k" or "-w abc" must
 * not quietly become something else.
 */
static uint64_t parse_num(int opt, const char *arg, uint64_t lo, uint64_t hi)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || end == arg || *end || arg[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "gmap-selfcheck: -%c '%s': expected a number "
			"from %llu to %llu\n", opt, arg, (unsigned long long)lo,
			(unsigned long long)hi);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct gmap_open_opts o = { .size = sizeof(o), .backend = GMAP_BACKEND_SIM,
				    .self_domid = SELF };
	struct gmap_sim_domain_info di;
	struct gmap_stats st;
	pthread_t th[64];
	uint32_t ref, w;
	double t0, t1;
	int c, bad = 0;
	FILE *tmp;

	while ((c = getopt(argc, argv, "p:t:w:h")) != -1) {
		switch (c) {
		case 'p':
			nr_pages = (uint32_t)parse_num(c, optarg, 16, 1u << 20);
			break;
		case 't':
			nr_threads = (unsigned int)parse_num(c, optarg, 1, 64);
			break;
		case 'w':
			win_refs = parse_num(c, optarg, 0, GMAP_MAX_REFS);
			break;
		default:
			fprintf(stderr, "usage: gmap-selfcheck [-p pages] [-t threads] [-w window-refs]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (win_refs && win_refs < nr_pages) {
		fprintf(stderr, "gmap-selfcheck: -w %llu is smaller than -p %u\n",
			(unsigned long long)win_refs, nr_pages);
		return 2;
	}
	o.nr_refs = win_refs;
	dom = gmap_sim_domain_create(DOMID, nr_pages, nr_pages);
	if (!dom) {
		perror("gmap-selfcheck: gmap_sim_domain_create");
		return 1;
	}
	/* The guest fills its pages and grants them, ref r -> frame r. */
	for (ref = 0; ref < nr_pages; ref++) {
		for (w = 0; w < 512; w++) {
			uint64_t v = sig_of(ref, w);

			gmap_sim_write(dom, ref, w * 8, &v, 8);
		}
		gmap_sim_grant(dom, ref, ref, SELF, 0);
	}
	win = gmap_open(DOMID, &o);
	if (!win) {
		perror("gmap-selfcheck: gmap_open");
		return 1;
	}
	printf("gmap-selfcheck: libgmap %s, backend %s, window %p (%" PRIu64
	       " refs = %" PRIu64 " GiB reserved), d%d grants %u pages\n",
	       gmap_version(), gmap_backend_name(win), gmap_base(win),
	       gmap_nr_refs(win), gmap_nr_refs(win) * 4096 >> 30, DOMID, nr_pages);

	t0 = now();
	for (unsigned int i = 0; i < nr_threads; i++)
		pthread_create(&th[i], NULL, toucher, (void *)(uintptr_t)i);
	for (unsigned int i = 0; i < nr_threads; i++)
		pthread_join(th[i], NULL);
	t1 = now();
	gmap_stats(win, &st);
	gmap_sim_domain_info(dom, &di);
	printf("first touch: %u threads x %u pages in %.3f s: %" PRIu64
	       " verified reads, %" PRIu64 " writes, %" PRIu64 " faults, %" PRIu64
	       " maps (sim counted %" PRIu64 ")\n", nr_threads, nr_pages,
	       t1 - t0, verified, writes, st.faults, st.maps, di.maps_total);
	check(failures == 0, "every read saw the guest's signature");
	check(di.maps_total == nr_pages, "one map per grant (counted by the sim)");
	for (ref = 0; ref < nr_pages; ref++) {
		uint64_t v;

		gmap_sim_read(dom, ref, 800, &v, 8);
		if (v != ~sig_of(ref, 100))
			bad++;
	}
	check(bad == 0, "every write reached the guest's page");

	/* A kernel-mode fault: pread(2) into an untouched page. */
	gmap_release(win, 0, nr_pages);
	tmp = tmpfile();
	if (tmp) {
		char msg[64] = "written by the kernel into the window";
		char back[64];

		fwrite(msg, 1, sizeof(msg), tmp);
		fflush(tmp);
		check(pread(fileno(tmp), gmap_ref_ptr(win, 3), sizeof(msg), 0) ==
		      (ssize_t)sizeof(msg), "pread(2) into an untouched page");
		gmap_sim_read(dom, 3, 0, back, sizeof(back));
		check(!memcmp(msg, back, sizeof(msg)),
		      "the guest sees what the kernel wrote");
		fclose(tmp);
	}
	gmap_release(win, 0, nr_pages);

	/* Pins: the granter cannot end access while pinned, can after. */
	check(gmap_pin(win, 10, 4, GMAP_PIN_WRITE, NULL) == 0, "pin refs 10..13");
	check(gmap_sim_end_access(dom, 11) < 0 && errno == EBUSY,
	      "end access refused while pinned (EBUSY)");
	check(gmap_unpin(win, 10, 4) == 0, "unpin refs 10..13");
	check(gmap_sim_end_access(dom, 11) == 0, "end access succeeds after unpin");

	gmap_stats(win, &st);
	gmap_close(win);
	gmap_sim_domain_info(dom, &di);
	check(di.maps_now == 0, "nothing left mapped after close");
	printf("totals: faults %" PRIu64 ", maps %" PRIu64 ", unmaps %" PRIu64
	       ", pins %" PRIu64 ", metadata %" PRIu64 " bytes\n", st.faults,
	       st.maps, st.unmaps, st.pins, st.meta_bytes);
	gmap_sim_domain_destroy(dom);
	printf("gmap-selfcheck: %s\n", failures ? "FAILED" : "all checks passed");
	return failures ? 1 : 0;
}
