/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmap-example-backend - a Xen backend as backends are written, against
 * libxengnttab alone (nothing of libgmap but the header-only fill pattern),
 * serving one batch of requests: it maps COUNT grants of domain DOMID from
 * ref FIRST with one xengnttab_map_domain_grant_refs(), as QEMU's grant
 * mapcache does, checks that each page holds a request (the pattern of
 * seed 11, see <gmap-pattern.h>), writes its reply over it (the pattern of
 * seed 12), and unmaps, so that the guest can end access.
 *
 * Run under gmap-run(1), its maps come from a libgmap window; without, from
 * /dev/xen/gntdev.  It is the README's "./my-backend", installed, and the
 * model for testing a backend of your own against a gmap-simdom(1) guest:
 *
 *   gmap-simdom serve -D -S /tmp/d5.sock -d 5
 *   gmap-simdom -S /tmp/d5.sock grant 0-15 0 0 rw
 *   gmap-simdom -S /tmp/d5.sock fill 0-15 11
 *   gmap-run -S /tmp/d5.sock -d 5 -- gmap-example-backend 5 0 16
 *   gmap-simdom -S /tmp/d5.sock check 0-15 12
 *
 * Exit status: 0 when every page held the request and got its reply; 1 if
 * a page did not (each said, with the first byte that differs), nothing
 * being written over it; 2 for bad arguments; 3 if the map failed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xengnttab.h>

#include <gmap-pattern.h>

#define MAX_REFS 1024

static unsigned long number(const char *what, const char *s, unsigned long lo,
			    unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *s == '-' || *end || v < lo || v > hi) {
		fprintf(stderr, "gmap-example-backend: %s '%s' is not valid: "
			"expected a number from %lu to %lu\n", what, s, lo, hi);
		exit(2);
	}
	return v;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: gmap-example-backend [--in SEED] [--out SEED] "
		"DOMID FIRST COUNT\n"
		"Map grant refs FIRST..FIRST+COUNT-1 of domain DOMID at once,\n"
		"check each page holds the request (the pattern of seed SEED,\n"
		"default 11), write the reply (--out SEED, default 12), unmap.\n"
		"  --in SEED    the requests' seed (default 11)\n"
		"  --out SEED   the replies' seed (default 12)\n"
		"  -h, --help\n"
		"      --version\n"
		"Exit status: 0 served; 1 a page was not a request; 2 bad "
		"arguments; 3 the map failed.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "in", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long seed_in = 11, seed_out = 12, domid, first, count, bad = 0;
	uint32_t refs[MAX_REFS];
	xengnttab_handle *xgt;
	uint8_t *pages;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': seed_in = number("--in", optarg, 0, UINT32_MAX); break;
		case 'o': seed_out = number("--out", optarg, 0, UINT32_MAX); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("gmap-example-backend %s\n", PACKAGE_VERSION);
			  return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind != 3) {
		fprintf(stderr, "gmap-example-backend: expected DOMID FIRST "
			"COUNT, got %d argument%s\n", argc - optind,
			argc - optind == 1 ? "" : "s");
		return 2;
	}
	domid = number("DOMID", argv[optind], 0, 32751);
	first = number("FIRST", argv[optind + 1], 0, UINT32_MAX - MAX_REFS);
	count = number("COUNT", argv[optind + 2], 1, MAX_REFS);
	for (unsigned long i = 0; i < count; i++)
		refs[i] = (uint32_t)(first + i);

	xgt = xengnttab_open(NULL, 0);
	if (!xgt) {
		fprintf(stderr, "gmap-example-backend: xengnttab_open: %s\n",
			strerror(errno));
		return 3;
	}
	/* One call for the batch, writable: the replies go over the
	 * requests. */
	pages = xengnttab_map_domain_grant_refs(xgt, (uint32_t)count,
						(uint32_t)domid, refs,
						PROT_READ | PROT_WRITE);
	if (!pages) {
		fprintf(stderr, "gmap-example-backend: map of d%lu refs "
			"%lu..%lu: %s\n", domid, first, first + count - 1,
			strerror(errno));
		xengnttab_close(xgt);
		return 3;
	}
	for (unsigned long i = 0; i < count; i++) {
		uint8_t *p = pages + i * GMAP_PATTERN_PAGE;
		size_t off = gmap_pattern_diff(p, refs[i], (uint32_t)seed_in);

		if (off != GMAP_PATTERN_PAGE) {
			fprintf(stderr, "gmap-example-backend: d%lu ref %u is "
				"not a request of seed %lu: byte %zu is %#x, "
				"expected %#x\n", domid, refs[i], seed_in, off,
				p[off], gmap_pattern_byte(refs[i],
							  (uint32_t)seed_in,
							  off));
			bad++;
			continue;
		}
		gmap_pattern_fill(p, refs[i], (uint32_t)seed_out);
	}
	/* Unmapped as soon as served: the guest can end access. */
	if (xengnttab_unmap(xgt, pages, (uint32_t)count) < 0)
		fprintf(stderr, "gmap-example-backend: unmap: %s\n",
			strerror(errno));
	xengnttab_close(xgt);
	printf("gmap-example-backend: d%lu refs %lu..%lu: %lu served, %lu "
	       "not requests\n", domid, first, first + count - 1, count - bad,
	       bad);
	return bad ? 1 : 0;
}
