/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmas.h - the arithmetic of the window's count of VMAs (vmas.c says what
 * is counted): whether two neighbouring refs' pages lie in one VMA, from
 * their state words.  gstate.c, the count's only writer, does it at every
 * change of a word, two or three times per map and unmap, so it is
 * inline here rather than calls into vmas.c.
 */
#ifndef GMAP_VMAS_H
#define GMAP_VMAS_H

#include "private.h"

/* The words of the refs either side of @ref (whose grant is @g), read
 * once for both counts of a change. */
struct gmap_sides {
	uint32_t left, right;
	bool has_left, has_right;   /* false at the window's ends */
	bool inl;                   /* the window serves faults inline */
};

/* The word of ref @ref + @d (d = -1 or 1), next to @ref's grant @g: in
 * @g's own leaf without a lookup, which is most of the time. */
static inline uint32_t gmap_vmas_side_word(struct gmap_window *w,
					   uint32_t ref, struct gmap_grant *g,
					   int d)
{
	uint32_t i = ref & (GMAP_LEAF_REFS - 1);

	if ((d < 0 && i > 0) || (d > 0 && i < GMAP_LEAF_REFS - 1))
		return atomic_load(&g[d].state);
	return gs_word(gmap_grant_get(w, ref + (uint32_t)d, false));
}

/* A word's kind of VMA.  In a window whose faults are served inline an
 * untouched page is PROT_NONE and anonymous, never faulted in (uffd.c),
 * as a poisoned page is: the kernel merges them, and never splits them. */
static inline unsigned int gmap_vmas_kind(bool inl, uint32_t s)
{
	unsigned int k = gs_vma_kind(s);

	return inl && k == GS_BAD ? GS_EMPTY : k;
}

static inline bool gmap_vmas_one(bool inl, uint32_t left, uint32_t right)
{
	unsigned int k = gmap_vmas_kind(inl, left);

	switch (k == gmap_vmas_kind(inl, right) ? k : GS_BUSY) {
	case GS_MAPPED:
		return right & GS_JOIN;
	case GS_EMPTY:
	case GS_BAD:
		return true;
	case GS_VMA_UNARMED:
		return (left & GS_COLOUR) == (right & GS_COLOUR);
	default:
		return false;
	}
}

static inline void gmap_vmas_sides(struct gmap_window *w, uint32_t ref,
				   struct gmap_grant *g, struct gmap_sides *sd)
{
	sd->inl = w->h.inline_mode;
	sd->has_left = ref > 0;
	sd->has_right = (uint64_t)ref + 1 < w->nr_refs;
	sd->left = sd->has_left ? gmap_vmas_side_word(w, ref, g, -1) : 0;
	sd->right = sd->has_right ? gmap_vmas_side_word(w, ref, g, 1) : 0;
}

/* Whether two neighbouring refs with these words lie in two VMAs: 1 or 0
 * (@sd: any sides of the window, for its mode). */
static inline int gmap_vmas_border(const struct gmap_sides *sd,
				   uint32_t left, uint32_t right)
{
	return !gmap_vmas_one(sd->inl, left, right);
}

/* How many of ref's two borders (with ref - 1, with ref + 1) split VMAs,
 * with @s as ref's state word. */
static inline int gmap_vmas_borders(const struct gmap_sides *sd, uint32_t s)
{
	return (sd->has_left && !gmap_vmas_one(sd->inl, sd->left, s)) +
	       (sd->has_right && !gmap_vmas_one(sd->inl, s, sd->right));
}

#endif /* GMAP_VMAS_H */
