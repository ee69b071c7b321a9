/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * grant.h - the per-grant state word: its layout, and how to read it.
 *
 * One 32-bit state word per grant, and nothing else (4 bytes of metadata
 * per grant in a touched leaf).  Anyone may read it lock-free (the SIGSEGV
 * handler does); only gstate.c writes it, under the window lock:
 *   bits 0-1  GS_EMPTY | GS_BUSY | GS_MAPPED | GS_BAD
 *   bit  2    GS_RO: mapped read-only
 *   bit  3    GS_TRIED: EMPTY after a fault whose map failed (see
 *             fault.c, serve_page: a second failure in a row poisons)
 *   bit  4    GS_QUEUED: the ref is in the evictor's FIFO; kept across
 *             state changes, set and cleared for evict.c only
 *   bit  5    GS_JOIN: MAPPED, and in one VMA with ref - 1 (mapped by the
 *             same backend map, and neither unmapped since): for the
 *             window's count of its VMAs (vmas.c)
 *   bit  6    GS_UNMAPPING: BUSY, and was MAPPED (an unmap in flight;
 *             a BUSY grant has no pins, so the bit is free)
 *   bit  7    unused
 *   bit  8    GS_NOPOISON: BAD, and the page could not even be made
 *             inaccessible (out of VMAs or memory): it is still an armed
 *             placeholder, and a fault on it is answered with a signal
 *             (gmap_signal_kick) instead of a map
 *   bit  9    GS_UNARMED: EMPTY (or BUSY for a map), and the page is a
 *             PROT_NONE mapping of the window's memfd, not an anonymous
 *             one: an unpin in a window whose faults are served inline
 *             leaves it so (map.c; a map goes over it as over any
 *             untouched page, and a touch raises SIGSEGV, served inline
 *             as any untouched page's).  For the count of VMAs it is a
 *             kind of its own.
 *   bits 10-11 GS_COLOUR: UNARMED, which of three offsets of the window's
 *             memfd the page is mapped at (placeholder.c): unarmed pages
 *             next to each other are one VMA when they have the same
 *             colour, which only the pages of one unmap are given (map.c)
 *   bits 6-31 MAPPED: the pin count (gmap_pin), up to 2^26 - 1
 *   bits 16-31 BAD: the backend status (int16) that made the page bad
 *             (a BAD page has no pins, a MAPPED one no status)
 * A grant in GS_BUSY belongs to the one thread that claimed it
 * (gmap_grant_claim) to map or unmap it with the lock dropped; everyone
 * else waits on the window's condition variable (gmap_grant_wait), or,
 * in the signal handler, spins until the state moves on.
 */
#ifndef GMAP_GRANT_H
#define GMAP_GRANT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum {
	GS_EMPTY = 0,   /* fault-armed placeholder, nothing mapped  */
	GS_BUSY = 1,    /* a map or unmap is in flight              */
	GS_MAPPED = 2,  /* the grant is mapped at its address       */
	GS_BAD = 3,     /* poisoned: PROT_NONE, touches get SIGSEGV */
};
#define GS_STATE_MASK 0x3u
#define GS_RO 0x4u
#define GS_TRIED 0x8u   /* EMPTY: the last fault's map failed once */
#define GS_QUEUED 0x10u /* in the evictor's FIFO (evict.c)         */
#define GS_JOIN 0x20u   /* MAPPED: one VMA with ref - 1            */
#define GS_UNMAPPING 0x40u /* BUSY: was MAPPED                     */
#define GS_NOPOISON 0x100u /* BAD: not poisoned, still armed        */
#define GS_UNARMED 0x200u  /* EMPTY: PROT_NONE, not registered      */
#define GS_COLOUR_SHIFT 10
#define GS_COLOUR (3u << GS_COLOUR_SHIFT) /* UNARMED: its VMA's colour */
#define GS_COLOURS 3u
/* What an EMPTY word may carry and still be an untouched ref that a run
 * may map (map.c, pin.c): neither tried nor bad. */
#define GS_EMPTY_BITS (GS_QUEUED | GS_UNARMED | GS_COLOUR)
#define GS_STATUS_SHIFT 16

/* libgmap's own "status" values beyond Xen's GNTST_* range. */
#define GMAP_ST_BACKEND ((int16_t)-100) /* the backend failed (errno)   */
#define GMAP_ST_NOMEM   ((int16_t)-101) /* libgmap ran out of memory    */
#define GMAP_ST_BUDGET  ((int16_t)-102) /* mapped-grant budget used up  */
#define GMAP_ST_VMAS    ((int16_t)-103) /* VMA budget used up           */
#define GMAP_ST_LOST    ((int16_t)-104) /* page taken by another mapping */

struct gmap_grant {
	_Atomic uint32_t state;
};

#define GS_PINS_SHIFT 6
#define GS_PIN_ONE (1u << GS_PINS_SHIFT)
#define GS_PINS_MAX ((1u << (32 - GS_PINS_SHIFT)) - 1)

/* Grants live in leaves of 2^GMAP_LEAF_SHIFT, found through a directory
 * that is reserved for the whole window but populated lazily (untouched
 * directory pages cost no memory; dir.c). */
#define GMAP_LEAF_SHIFT 6
#define GMAP_LEAF_REFS (1u << GMAP_LEAF_SHIFT)
#define GMAP_LEAF_BYTES (GMAP_LEAF_REFS * sizeof(struct gmap_grant))
/* Leaf pointers per page of the directory. */
#define GMAP_DIR_PAGE_SLOTS (4096 / sizeof(struct gmap_grant *))

static inline unsigned int gs_state(uint32_t s) { return s & GS_STATE_MASK; }
static inline uint32_t gs_pins(uint32_t s)
{
	return gs_state(s) == GS_MAPPED ? s >> GS_PINS_SHIFT : 0;
}
static inline int16_t gs_status(uint32_t s)
{
	return (int16_t)(uint16_t)(s >> GS_STATUS_SHIFT);
}

/* What the page of a grant in state @s is, for the count of VMAs: a BUSY
 * grant counts as what it was until its map or unmap is done (a
 * placeholder, or a mapped page if GS_UNMAPPING), a bad page that could
 * not be poisoned as the placeholder it still is, an unarmed page as a
 * kind of its own (a mapping of the window's memfd, placeholder.c). */
#define GS_VMA_UNARMED 4u
static inline unsigned int gs_vma_kind(uint32_t s)
{
	switch (gs_state(s)) {
	case GS_BUSY:
		return s & GS_UNMAPPING ? GS_MAPPED :
		       s & GS_UNARMED ? GS_VMA_UNARMED : GS_EMPTY;
	case GS_BAD:
		return s & GS_NOPOISON ? GS_EMPTY : GS_BAD;
	case GS_EMPTY:
		return s & GS_UNARMED ? GS_VMA_UNARMED : GS_EMPTY;
	default:
		return gs_state(s);
	}
}

/*
 * The grant of @ref in the directory @dir, without the window lock: NULL
 * if its leaf was never made (the ref is EMPTY).  A leaf is freed only
 * after gmap_signal_quiesce() (reclaim.c), so the signal handler may read
 * through the pointer; elsewhere a lock-free reader must not keep it.
 */
static inline struct gmap_grant *
gmap_grant_peek(_Atomic(struct gmap_grant *) *dir, uint32_t ref)
{
	struct gmap_grant *leaf = atomic_load(&dir[ref >> GMAP_LEAF_SHIFT]);

	return leaf ? &leaf[ref & (GMAP_LEAF_REFS - 1)] : NULL;
}

/* The state word of @g, or EMPTY's for a grant with no leaf. */
static inline uint32_t gs_word(struct gmap_grant *g)
{
	return g ? atomic_load(&g->state) : GS_EMPTY;
}

#endif /* GMAP_GRANT_H */
