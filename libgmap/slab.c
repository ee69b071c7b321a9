/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * slab.c - fixed-size objects from chunks the library mmaps itself, never
 * from malloc: the grant state's leaves (dir.c) and the xen backend's runs
 * are made on the fault path, which the inline fault mode (inline.c) runs
 * in a signal handler, where malloc may not be called and mmap may.
 *
 * Objects are handed out from the newest chunk in order, so a chunk's
 * pages are touched only as they are used; freed objects go on a free
 * list, linked through their first word, and are used first.  Chunks go
 * back to the system only with the slab.  Not thread-safe: the caller
 * locks.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "private.h"

/* A chunk starts with the link to the previous one, in an object's room. */
struct chunk {
	struct chunk *next;
};

void gmap_slab_init(struct gmap_slab *s, size_t size, size_t chunk)
{
	memset(s, 0, sizeof(*s));
	/* Room for the free list's link, and aligned for any member. */
	if (size < sizeof(void *))
		size = sizeof(void *);
	s->size = (size + 15) & ~(size_t)15;
	s->chunk = chunk;
}

void *gmap_slab_alloc(struct gmap_slab *s)
{
	void *p = s->free;

	if (p) {
		memcpy(&s->free, p, sizeof(void *));
	} else {
		if (!s->next || (size_t)(s->end - s->next) < s->size) {
			struct chunk *c = gmap_mmap_raw(NULL, s->chunk,
						PROT_READ | PROT_WRITE,
						MAP_PRIVATE | MAP_ANONYMOUS |
						MAP_NORESERVE, -1, 0);

			if (c == MAP_FAILED) {
				errno = ENOMEM;
				return NULL;
			}
			c->next = s->chunks;
			s->chunks = c;
			s->next = (uint8_t *)c + s->size;
			s->end = (uint8_t *)c + s->chunk;
		}
		p = s->next;
		s->next += s->size;
	}
	memset(p, 0, s->size);
	return p;
}

void gmap_slab_free(struct gmap_slab *s, void *p)
{
	if (!p)
		return;
	memcpy(p, &s->free, sizeof(void *));
	s->free = p;
}

void gmap_slab_destroy(struct gmap_slab *s)
{
	struct chunk *c = s->chunks, *next;

	for (; c; c = next) {
		next = c->next;
		gmap_munmap_raw(c, s->chunk);
	}
	s->chunks = NULL;
	s->free = NULL;
	s->next = s->end = NULL;
}
