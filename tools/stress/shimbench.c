/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shimbench.c - make bench's rows for QEMU's grant mapcache through the
 * preload shim.
 *
 *   shimbench [-c|-x [-F]] [-n REQUESTS] [-D DEPTH] DOMID SEED RW_FIRST
 *             RO_FIRST RING [RO_RING]
 *
 * QEMU maps each request's grant with xengnttab_map_domain_grant_refs (one
 * page in 96% of requests), uses it and unmaps it as soon as the request
 * completes: Linux's grant DMA disables a device whose grant is still
 * mapped when the guest ends access.  So every request pays a map and an
 * unmap.  Per request, over a ring of RING refs: the map of one grant
 * through the shim, a touch, xengnttab_unmap; against what the same costs
 * without libgmap, gntdev-style on sim: an mmap of the guest's frame and a
 * munmap.  Both in this process, round after round, on the same pages.
 * Every map here is populated (MAP_POPULATE), as gntdev's mmap fills in
 * the page tables of a grant mapping and the sim backend's placement does:
 * a baseline that took the touch's page fault instead paid 10.8 us more a
 * request on a machine where the kernel's fault costs that, and read as
 * slower than libgmap (1.16x "faster" on sim, where the arm64 bed's real
 * Xen showed gmap-run 1.1-1.2x slower).
 * Writable grants are mapped read-write (QEMU's disk reads fill them), and
 * read-only grants PROT_READ (its disk writes only read them).
 *
 * Its floor, the same two system calls with no libgmap (the guest's frame
 * placed MAP_FIXED over a PROT_NONE page of an empty memfd, that page put
 * back over it, as the window does with unarmed pages), is timed beside
 * them: the shim's and libgmap's own work is what the shim costs beyond
 * it.
 *
 * QEMU has many requests in flight (a 1 MiB read of the arm64 bed's domU
 * is 256 of them), and each live map is one more that the shim keeps and
 * the kernel's VMA tree holds.  -D DEPTH keeps DEPTH maps live: request q
 * is unmapped after request q + DEPTH - 1 is mapped, in the order they
 * were mapped (DEPTH 1 by default, at most RING; a smaller RO_RING keeps
 * at most its size in flight, so that a ref is never mapped twice at
 * once).  The rows of make bench are at depth 1
 * and at depth DEPTH_ROW.
 *
 * Like tests/xenapi-client it includes only Debian's <xengnttab.h> and
 * links only libxengnttab: it is run under gmap-run, which serves those
 * calls from a libgmap window.  tools/stress/shimbench.sh starts the
 * gmap-simdom and grants the rings: refs RW_FIRST.. writable and
 * RO_FIRST.. read-only, ref r as frame r, filled with the pattern SEED.
 * The baseline needs the guest's memory, which it takes as the shim does:
 * it attaches to the gmap-simdom at GMAP_SIM_SOCKET (gmap-simdom(1), THE
 * ATTACH HANDSHAKE).
 *
 * Every touch is checked against what the guest holds.  -c checks instead
 * of timing (tests/preload.sh): each page mapped is the guest's whole page,
 * each write reaches guest memory, and the rings are left as they were.
 *
 * -x -F times, in -x's format, the floor of the window's design on real
 * Xen with no libgmap and no libxengnttab: gntdev's own ioctls, each
 * grant placed MAP_FIXED in its ring slot over a PROT_NONE page of an
 * empty memfd, that page put back over it at the unmap, as libgmap's xen
 * backend and unarmed pages do (the same system calls as under gmap-run:
 * IOCTL_GNTDEV_MAP_GRANT_REF and mmap, then mmap and
 * IOCTL_GNTDEV_UNMAP_GRANT_REF).  Set beside the plain and gmap-run runs,
 * it splits the shim's cost into the kernel's part and libgmap's own.
 *
 * -x times the libxengnttab calls alone, with no baseline and no
 * gmap-simdom: on real Xen (the arm64 bed, against gmap-xengrant's
 * grants) the baseline is the same program run without gmap-run, in the
 * same boot, which the bed compares.  It prints, for each ring, the median
 * of ROUNDS rounds of the time per request and its map and unmap parts:
 *   shimbench: x rw req=U map=U unmap=U us ro req=U map=U unmap=U us
 *
 * Exit status: 0 done (whether targets were met or not: benchmarks are
 * not tests), 1 a map failed or a page was not the guest's, 2 usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1  /* memfd_create: the floor's empty file */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <xengnttab.h>
#if defined(__has_include)
#if __has_include(<xen/sys/gntdev.h>)
#include <sys/ioctl.h>
#include <xen/sys/gntdev.h>
#define HAVE_GNTDEV_H 1
#endif
#endif

#include "benchrow.h"
#include "gmap-pattern.h"

#define PAGE 4096u
#define ROUNDS 5
#define TARGET 0.83     /* as fast: at most 1.2x the baseline's time */
#define WORD 1          /* the 64-bit word a request touches */
#define DEPTH_ROW 48    /* requests in flight in make bench's third row */
#define STR_(x) #x
#define STR(x) STR_(x)

static xengnttab_handle *xgt;
static uint32_t domid, seed;
static int mem_fd;              /* the guest's memory, for the baseline */
static bool check;
static uint64_t seq;            /* what the next write stores */
static bool xen_only;           /* -x: the xengnttab calls alone */
static int gntdev_fd = -1;      /* -x -F: /dev/xen/gntdev, for the floor */
static uint32_t depth = 1;      /* -D: maps live at once */
static uint64_t map_ns, unmap_ns;       /* -x: their parts of a round */

struct ring {
	uint32_t first, n;
	int prot;
	uint64_t *word;         /* the guest's word WORD of each page */
	volatile uint8_t *guest;        /* -c: the ring in guest memory */
	uint8_t *floor;         /* the floor's slots, a page per ref, or NULL */
	uint64_t *gidx;         /* -x -F: each slot's gntdev index */
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						       noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("shimbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The guest's memory: the memfd a gmap-simdom hands to "attach DOMID",
 * the second of the two descriptors of its "ok" answer.  The server is
 * the one the shim maps from, started by our own script.
 */
static int attach_mem(const char *path)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(2 * sizeof(int))];
	} u;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };  /* a stuck server: no hang */
	char req[32], ans[128];
	struct iovec iov = { .iov_base = ans, .iov_len = sizeof(ans) - 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.space,
			    .msg_controllen = sizeof(u.space) };
	struct cmsghdr *c = NULL;
	int fd, fds[2];
	ssize_t n;

	if (strlen(path) >= sizeof(sa.sun_path))
		die("GMAP_SIM_SOCKET='%s' is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("cannot reach gmap-simdom at '%s': %s", path,
		    strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	snprintf(req, sizeof(req), "attach %u\n", domid);
	n = send(fd, req, strlen(req), MSG_NOSIGNAL) < 0 ? -1 :
		recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
	close(fd);
	if (n > 0) {
		ans[n] = 0;
		c = CMSG_FIRSTHDR(&m);
	}
	if (!c || strncmp(ans, "ok ", 3) || c->cmsg_level != SOL_SOCKET ||
	    c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(fds)))
		die("gmap-simdom at '%s' did not attach d%u: %.100s", path,
		    domid, n > 0 ? ans : strerror(n < 0 ? errno : EPROTO));
	memcpy(fds, CMSG_DATA(c), sizeof(fds));
	close(fds[0]);
	return fds[1];
}

/*
 * How a request's grant is mapped: through the shim, as the baseline (an
 * mmap of the guest's frame where the kernel chooses, a munmap), or as
 * the floor under the shim's design with no libgmap at all: the guest's
 * frame placed MAP_FIXED in its ring slot over a PROT_NONE private
 * mapping of an empty memfd, which goes back over it at the unmap, as the
 * window does with unarmed pages (each slot at an offset out of step with
 * its neighbours', so that no two merge: libgmap's colours).
 */
enum how { VIA_MMAP, VIA_SHIM, VIA_FLOOR, VIA_GNTDEV };

static const char *const how_map[] = { "mmap",
	"xengnttab_map_domain_grant_refs", "mmap(MAP_FIXED)",
	"gntdev's map and mmap(MAP_FIXED)" };
static const char *const how_unmap[] = { "munmap", "xengnttab_unmap",
	"mmap(MAP_FIXED) of the unarmed file",
	"mmap(MAP_FIXED) of the unarmed file and gntdev's unmap" };

static int floor_fd = -1;       /* the floor's empty memfd */

/* The floor's PROT_NONE page for slot @i of @r's ring at @slot. */
static void *floor_unarmed(const struct ring *r, uint8_t *slot)
{
	return bench_floor_slot(slot, PAGE, floor_fd,
				(size_t)(slot - r->floor) / PAGE, r->n);
}

#ifdef HAVE_GNTDEV_H
/* -x -F: @ref mapped by gntdev itself into its slot of @r; NULL, errno. */
static void *gntdev_map1(const struct ring *r, uint32_t ref)
{
	struct ioctl_gntdev_map_grant_ref op = { .count = 1 };
	uint32_t i = ref - r->first;
	void *p;
	int e;

	op.refs[0].domid = domid;
	op.refs[0].ref = ref;
	if (ioctl(gntdev_fd, IOCTL_GNTDEV_MAP_GRANT_REF, &op) < 0)
		return NULL;
	p = mmap(r->floor + (size_t)i * PAGE, PAGE, r->prot,
		 MAP_SHARED | MAP_FIXED, gntdev_fd, (off_t)op.index);
	if (p == MAP_FAILED) {
		struct ioctl_gntdev_unmap_grant_ref un = { .index = op.index,
							   .count = 1 };

		e = errno;
		ioctl(gntdev_fd, IOCTL_GNTDEV_UNMAP_GRANT_REF, &un);
		errno = e;
		return NULL;
	}
	r->gidx[i] = op.index;
	return p;
}

static int gntdev_unmap1(const struct ring *r, uint32_t ref, void *p)
{
	struct ioctl_gntdev_unmap_grant_ref un = {
		.index = r->gidx[ref - r->first], .count = 1 };

	if (floor_unarmed(r, p) == MAP_FAILED)
		return -1;
	return ioctl(gntdev_fd, IOCTL_GNTDEV_UNMAP_GRANT_REF, &un);
}
#else
static void *gntdev_map1(const struct ring *r, uint32_t ref)
{
	(void)r;
	(void)ref;
	errno = ENOSYS;
	return NULL;
}

static int gntdev_unmap1(const struct ring *r, uint32_t ref, void *p)
{
	(void)r;
	(void)ref;
	(void)p;
	errno = ENOSYS;
	return -1;
}
#endif

static volatile uint64_t *map1(const struct ring *r, uint32_t ref, int how)
{
	void *p;

	if (how == VIA_GNTDEV) {
		p = gntdev_map1(r, ref);
	} else if (how == VIA_SHIM) {
		p = xengnttab_map_domain_grant_refs(xgt, 1, domid, &ref,
						    r->prot);
	} else {
		p = mmap(how == VIA_FLOOR ? r->floor +
			 (size_t)(ref - r->first) * PAGE : NULL, PAGE, r->prot,
			 MAP_SHARED | MAP_POPULATE |
			 (how == VIA_FLOOR ? MAP_FIXED : 0),
			 mem_fd, (off_t)ref << 12);
		if (p == MAP_FAILED)
			p = NULL;
	}
	if (!p)
		die("%s of ref %u: %s", how_map[how], ref, strerror(errno));
	return p;
}

static void unmap1(const struct ring *r, volatile uint64_t *p, uint32_t ref,
		   int how)
{
	int rc;

	if (how == VIA_GNTDEV)
		rc = gntdev_unmap1(r, ref, (void *)p);
	else if (how == VIA_SHIM)
		rc = xengnttab_unmap(xgt, (void *)p, 1);
	else if (how == VIA_MMAP)
		rc = munmap((void *)p, PAGE);
	else
		rc = floor_unarmed(r, (uint8_t *)p) == MAP_FAILED ? -1 : 0;
	if (rc)
		die("%s of ref %u: %s", how_unmap[how], ref, strerror(errno));
}

/* -c: the page is the guest's, but for the word that writes change. */
static void check_page(const struct ring *r, const volatile uint64_t *p,
		       uint32_t ref)
{
	const volatile uint8_t *b = (const volatile uint8_t *)p;

	for (size_t off = 0; off < PAGE; off++) {
		if (r->prot & PROT_WRITE && off / 8 == WORD)
			continue;
		if (b[off] != gmap_pattern_byte(ref, seed, off))
			die("ref %u: byte %zu is not the guest's", ref, off);
	}
}

/* -c: what guest memory holds in the word a request touches. */
static uint64_t guest_word(const struct ring *r, uint32_t i)
{
	return ((const volatile uint64_t *)(r->guest + (size_t)i * PAGE))[WORD];
}

/* A request in flight: its map and what it wrote. */
struct live {
	volatile uint64_t *p;
	uint32_t i;
	uint64_t v;
};

/* Unmap request @l's grant (timed for -x), then -c's check that its write
 * reached guest memory. */
static void finish(const struct ring *r, struct live *l, int how)
{
	uint64_t tu = xen_only ? now_ns() : 0;

	unmap1(r, l->p, r->first + l->i, how);
	if (xen_only)
		unmap_ns += now_ns() - tu;
	if (check && r->prot & PROT_WRITE && guest_word(r, l->i) != l->v)
		die("ref %u: a write did not reach guest memory",
		    r->first + l->i);
	l->p = NULL;
}

/* @reqs requests over the ring, @d of them in flight (at most the ring's
 * size: a ref is never mapped twice at once), through the shim or as the
 * baseline; returns the ns per request. */
static double requests_at(const struct ring *r, uint32_t reqs, uint32_t d,
			  int how)
{
	struct live *fly;
	uint64_t t0;

	d = d < r->n ? d : r->n;
	fly = calloc(d, sizeof(*fly));
	if (!fly)
		die("out of memory");
	map_ns = unmap_ns = 0;
	t0 = now_ns();
	for (uint32_t q = 0; q < reqs; q++) {
		struct live *l = &fly[q % d];
		uint32_t i = q % r->n, ref = r->first + i;
		uint64_t tm;
		volatile uint64_t *p;

		if (l->p)
			finish(r, l, how);
		tm = xen_only ? now_ns() : 0;
		p = map1(r, ref, how);
		if (xen_only)
			map_ns += now_ns() - tm;
		*l = (struct live){ p, i, ++seq };
		if (check)
			check_page(r, p, ref);
		/* The touch: write a word and read it back, or read the
		 * guest's word. */
		if (r->prot & PROT_WRITE) {
			p[WORD] = l->v;
			if (p[WORD] != l->v)
				die("ref %u: a write did not read back", ref);
		} else if (p[WORD] != r->word[i]) {
			die("ref %u: not the guest's word", ref);
		}
	}
	for (uint32_t k = 0; k < d; k++)
		if (fly[(reqs + k) % d].p)
			finish(r, &fly[(reqs + k) % d], how);
	t0 = now_ns() - t0;
	free(fly);
	return (double)t0 / reqs;
}

/* One row: ROUNDS alternating rounds; ratio baseline / shim ("x faster"). */
static void row(const char *name, const struct ring *r, uint32_t reqs,
		uint32_t d)
{
	double lib[ROUNDS], base[ROUNDS], ratio[ROUNDS], x;

	/* Not timed: the window's opening, the first faults. */
	requests_at(r, r->n, d, VIA_SHIM);
	requests_at(r, r->n, d, VIA_MMAP);
	for (int i = 0; i < ROUNDS; i++) {
		lib[i] = requests_at(r, reqs, d, VIA_SHIM);
		base[i] = requests_at(r, reqs, d, VIA_MMAP);
		ratio[i] = base[i] / lib[i];
	}
	x = bench_median(ratio, ROUNDS);
	bench_print_row(name, bench_median(lib, ROUNDS) / 1e3,
			bench_median(base, ROUNDS) / 1e3, "us/req", x,
			">= 0.83x", x >= TARGET, "ratio: x faster");
}

/*
 * The floor rows: ROUNDS alternating rounds of the shim, the baseline and
 * the floor (one request at a time); the floor against the baseline ("x
 * faster", as the rows above), and the shim against the floor (times).
 */
static void floor_rows(const struct ring *r, uint32_t reqs)
{
	double lib[ROUNDS], base[ROUNDS], flo[ROUNDS], fx[ROUNDS], lx[ROUNDS];

	requests_at(r, r->n, 1, VIA_FLOOR);  /* not timed */
	for (int i = 0; i < ROUNDS; i++) {
		lib[i] = requests_at(r, reqs, 1, VIA_SHIM);
		base[i] = requests_at(r, reqs, 1, VIA_MMAP);
		flo[i] = requests_at(r, reqs, 1, VIA_FLOOR);
		fx[i] = base[i] / flo[i];
		lx[i] = lib[i] / flo[i];
	}
	bench_print_row("  floor (rw): 2 mmaps in place, no libgmap",
			bench_median(flo, ROUNDS) / 1e3,
			bench_median(base, ROUNDS) / 1e3, "us/req",
			bench_median(fx, ROUNDS), "-", -1,
			"ratio: x faster; MAP_FIXED over a PROT_NONE memfd page");
	bench_print_row("  libgmap (rw) vs that floor",
			bench_median(lib, ROUNDS) / 1e3,
			bench_median(flo, ROUNDS) / 1e3, "us/req",
			bench_median(lx, ROUNDS), "-", -1,
			"times: the shim's and libgmap's own work");
}

/* -x: ROUNDS rounds of @reqs requests through libxengnttab, whatever
 * serves it; prints the medians per request. */
static void xen_rounds(const char *name, const struct ring *r, uint32_t reqs)
{
	double req[ROUNDS], map[ROUNDS], unmap[ROUNDS];

	int how = gntdev_fd >= 0 ? VIA_GNTDEV : VIA_SHIM;

	requests_at(r, r->n, depth, how);  /* not timed: the first maps */
	for (int i = 0; i < ROUNDS; i++) {
		req[i] = requests_at(r, reqs, depth, how) / 1e3;
		map[i] = (double)map_ns / reqs / 1e3;
		unmap[i] = (double)unmap_ns / reqs / 1e3;
	}
	printf(" %s req=%.1f map=%.1f unmap=%.1f us", name,
	       bench_median(req, ROUNDS), bench_median(map, ROUNDS),
	       bench_median(unmap, ROUNDS));
}

static void ring_init(struct ring *r, uint32_t first, uint32_t n, int prot)
{
	*r = (struct ring){ first, n, prot, calloc(n, sizeof(uint64_t)),
			    NULL, NULL, NULL };
	if (!r->word)
		die("out of memory");
	for (uint32_t i = 0; i < n; i++) {
		uint8_t b[8];

		for (size_t k = 0; k < 8; k++)
			b[k] = gmap_pattern_byte(first + i, seed, WORD * 8 + k);
		memcpy(&r->word[i], b, 8);
	}
	if (check) {
		r->guest = mmap(NULL, (size_t)n * PAGE, PROT_READ, MAP_SHARED,
				mem_fd, (off_t)first << 12);
		if (r->guest == MAP_FAILED)
			die("mmap of the guest's memory: %s", strerror(errno));
	}
}

/* The floor's slots for @r: a PROT_NONE range, each page an unarmed page
 * of its own (floor_unarmed()). */
static void floor_init(struct ring *r)
{
	if (floor_fd < 0)
		floor_fd = memfd_create("shimbench-floor", MFD_CLOEXEC);
	r->floor = mmap(NULL, (size_t)r->n * PAGE, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	r->gidx = calloc(r->n, sizeof(*r->gidx));  /* -F's gntdev indexes */
	if (floor_fd < 0 || r->floor == MAP_FAILED || !r->gidx)
		die("the floor's slots: %s", strerror(errno));
	for (uint32_t i = 0; i < r->n; i++)
		if (floor_unarmed(r, r->floor + (size_t)i * PAGE) == MAP_FAILED)
			die("the floor's slot %u: %s", i, strerror(errno));
}

static void ring_fini(struct ring *r)
{
	free(r->gidx);
	if (r->floor)
		munmap(r->floor, (size_t)r->n * PAGE);
	if (r->guest)
		munmap((void *)r->guest, (size_t)r->n * PAGE);
	free(r->word);
}

/* -c: give the writable ring its guest words back, through the shim, so
 * that the guest can check the whole pages. */
static void ring_restore(const struct ring *r)
{
	for (uint32_t i = 0; i < r->n; i++) {
		volatile uint64_t *p = map1(r, r->first + i, VIA_SHIM);

		p[WORD] = r->word[i];  /* (a plain loop: nothing in flight) */
		unmap1(r, p, r->first + i, VIA_SHIM);
	}
}

static uint32_t num(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v > UINT32_MAX) {
		fprintf(stderr, "shimbench: '%s' is not a number\n", s);
		exit(2);
	}
	return (uint32_t)v;
}

int main(int argc, char **argv)
{
	const char *sock = getenv("GMAP_SIM_SOCKET");
	uint32_t reqs = 20000, n, n_ro;
	struct ring rw, ro;
	bool gntdev_floor = false;
	int opt;

	while ((opt = getopt(argc, argv, "cD:Fn:x")) != -1) {
		if (opt == 'D')
			depth = num(optarg);
		else if (opt == 'F')
			gntdev_floor = true;
		else if (opt == 'c')
			check = true;
		else if (opt == 'x')
			xen_only = true;
		else if (opt == 'n')
			reqs = num(optarg);
		else
			goto usage;
	}
	if (argc - optind != 5 && argc - optind != 6)
		goto usage;
	if (!reqs || (check && xen_only) || (gntdev_floor && !xen_only))
		goto usage;
	domid = num(argv[optind]);
	seed = num(argv[optind + 1]);
	n = num(argv[optind + 4]);
	n_ro = argc - optind == 6 ? num(argv[optind + 5]) : n;
	/* The read-only ring may be smaller: its requests keep at most its
	 * size in flight. */
	if (!n || !n_ro || !depth || depth > n)
		goto usage;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!xen_only) {
		if (!sock)
			die("GMAP_SIM_SOCKET is not set: run under gmap-run -S");
		mem_fd = attach_mem(sock);
	}
	if (gntdev_floor) {
#ifdef HAVE_GNTDEV_H
		gntdev_fd = open("/dev/xen/gntdev", O_RDWR | O_CLOEXEC);
		if (gntdev_fd < 0)
			die("-F: /dev/xen/gntdev: %s", strerror(errno));
#else
		die("-F: built without <xen/sys/gntdev.h>");
#endif
	} else {
		xgt = xengnttab_open(NULL, 0);
		if (!xgt)
			die("xengnttab_open: %s", strerror(errno));
	}
	ring_init(&rw, num(argv[optind + 2]), n, PROT_READ | PROT_WRITE);
	ring_init(&ro, num(argv[optind + 3]), n_ro, PROT_READ);
	if (xen_only) {
		if (gntdev_floor) {
			floor_init(&rw);
			floor_init(&ro);
		}
		printf("shimbench: x");
		xen_rounds("rw", &rw, reqs);
		xen_rounds("ro", &ro, reqs);
		printf("\n");
	} else if (check) {
		uint32_t deep = n < DEPTH_ROW ? n : DEPTH_ROW;

		for (uint32_t d = depth; d; d = d == deep ? 0 : deep) {
			requests_at(&rw, reqs, d, VIA_SHIM);
			requests_at(&rw, reqs, d, VIA_MMAP);
			requests_at(&ro, reqs, d, VIA_SHIM);
			requests_at(&ro, reqs, d, VIA_MMAP);
		}
		/* The floor row's maps are checked too: a floor that placed
		 * the wrong page would flatter nobody but mislead. */
		floor_init(&rw);
		floor_init(&ro);
		requests_at(&rw, reqs, 1, VIA_FLOOR);
		requests_at(&ro, reqs, 1, VIA_FLOOR);
		ring_restore(&rw);
		printf("shimbench: check: %u requests on each ring, %u then %u "
		       "in flight, through the shim and mmap, and the floor's, "
		       "verified\n", reqs, depth, deep);
	} else {
		printf("shimbench: QEMU's grant mapcache under gmap-run, sim "
		       "(gmap-simdom d%u): 1 grant per request, ring of %u "
		       "refs, %u requests, median of %d alternating rounds\n",
		       domid, n, reqs, ROUNDS);
		bench_print_header();
		row("mapcache: map/unmap 1 grant vs mmap+munmap", &rw, reqs,
		    depth);
		row("  same, read-only grants, PROT_READ maps", &ro, reqs,
		    depth);
		if (n >= DEPTH_ROW)
			row("  same, rw, " STR(DEPTH_ROW) " requests in flight",
			    &rw, reqs, DEPTH_ROW);
		floor_init(&rw);
		floor_rows(&rw, reqs);
	}
	ring_fini(&rw);
	ring_fini(&ro);
	if (xgt)
		xengnttab_close(xgt);
	if (gntdev_fd >= 0)
		close(gntdev_fd);
	return 0;
usage:
	fprintf(stderr, "usage: shimbench [-c|-x [-F]] [-n REQUESTS] [-D DEPTH] "
		"DOMID SEED RW_FIRST RO_FIRST RING [RO_RING]\n"
		"  (under gmap-run -S, but -x; DEPTH: 1 to RING)\n");
	return 2;
}
