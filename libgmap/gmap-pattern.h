/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmap-pattern.h - the page contents gmap-simdom's "fill" writes and
 * "check" expects, and gmap-example-backend(1) checks and writes: so that
 * a backend of your own, tested against a gmap-simdom guest, can check the
 * requests it maps and write replies the guest checks.  Installed with
 * libgmap-dev; header-only and free of libgmap types, so that a program
 * that includes nothing else of libgmap (a backend written against
 * libxengnttab alone, tests/xenapi-client.c) computes the same bytes.
 * Byte @off of ref @ref's page with seed @seed is gmap_pattern_byte();
 * gmap_pattern(3) documents the three functions.  Every byte depends on the ref, the seed and its offset, so a
 * page of the wrong ref, a stale page, a zero page or a shifted page all
 * fail a check.
 */
#ifndef GMAP_PATTERN_H
#define GMAP_PATTERN_H

#ifdef __cplusplus
extern "C" {
#endif

#include <stddef.h>
#include <stdint.h>

static inline uint8_t gmap_pattern_byte(uint32_t ref, uint32_t seed,
					size_t off)
{
	uint32_t x = ref * 2654435761u ^ seed * 40503u ^ (uint32_t)off * 97u;

	x ^= x >> 13;
	/* Never 0: a zero-filled page must not pass for any pattern. */
	return (uint8_t)(x % 255u + 1u);
}

#define GMAP_PATTERN_PAGE 4096

/* Fill the page at @p with the pattern of @ref and @seed. */
static inline void gmap_pattern_fill(volatile uint8_t *p, uint32_t ref,
				     uint32_t seed)
{
	for (size_t off = 0; off < GMAP_PATTERN_PAGE; off++)
		p[off] = gmap_pattern_byte(ref, seed, off);
}

/* The offset of the first byte of the page at @p that is not the pattern
 * of @ref and @seed, or GMAP_PATTERN_PAGE if the whole page is. */
static inline size_t gmap_pattern_diff(const volatile uint8_t *p,
				       uint32_t ref, uint32_t seed)
{
	size_t off;

	for (off = 0; off < GMAP_PATTERN_PAGE; off++)
		if (p[off] != gmap_pattern_byte(ref, seed, off))
			break;
	return off;
}

#ifdef __cplusplus
}
#endif

#endif /* GMAP_PATTERN_H */
