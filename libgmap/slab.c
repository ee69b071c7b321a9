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
			struct chunk *c = gmap_mem_map(s->chunk);

			if (!c) {
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
		gmap_mem_unmap(c, s->chunk);
	}
	s->chunks = NULL;
	s->free = NULL;
	s->next = s->end = NULL;
}

/*
 * Not gmap_mmap_raw: this memory is the library's, and the sanitizers must
 * see it come and go.  ThreadSanitizer keeps the shadow of a range until an
 * mmap or munmap it intercepts resets it; memory we mapped and unmapped
 * behind its back (or that libunwind unmapped behind its back, after a
 * backtrace) would carry the last owner's accesses into the next use, and
 * a ring pushed under the window lock would be reported as racing with
 * them.  mmap is async-signal-safe, intercepted or not.
 */
void *gmap_mem_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void gmap_mem_unmap(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}
