/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * top-hostile.c - a window file whose owner keeps rewriting it, for
 * tests/top.sh: what root's gmap-top must survive in another user's
 * directory.  Makes DIR/1-1-1.gmap with a valid head, holds its lock
 * (so it is live, not stale), and for SECONDS flips the head's offsets
 * between valid values and ones far outside the page, and every few
 * rounds truncates the file to nothing and back.  Prints the rounds.
 * Usage: top-hostile DIR SECONDS
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "publish.h"

int main(int argc, char **argv)
{
	struct gmap_pub_head *h;
	char path[512];
	unsigned long rounds = 0;
	time_t end;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: top-hostile DIR SECONDS\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/1-1-1.gmap", argv[1]);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || flock(fd, LOCK_SH) < 0 ||
	    ftruncate(fd, GMAP_PUB_SIZE) < 0) {
		perror(path);
		return 1;
	}
	h = mmap(NULL, GMAP_PUB_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	if (h == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	end = time(NULL) + atoi(argv[2]);
	while (time(NULL) < end) {
		/* A valid head: one counter, no buckets... */
		h->magic = GMAP_PUB_MAGIC;
		h->layout = GMAP_PUB_LAYOUT;
		h->head_size = sizeof(*h);
		h->nr_counters = 1;
		h->names_off = 512;
		h->values_off = 1024;
		h->nr_buckets = GMAP_PUB_BUCKETS;
		h->hist_off = 2048;
		h->pid = 1;
		/* ...then offsets and counts far outside the page. */
		for (int i = 0; i < 1000; i++) {
			__atomic_store_n(&h->values_off, i & 1 ? 0x7ffff000 : 1024,
					 __ATOMIC_RELAXED);
			__atomic_store_n(&h->nr_counters, i & 1 ? 0xffffffff : 1,
					 __ATOMIC_RELAXED);
			__atomic_store_n(&h->hist_off, i & 1 ? 0xfffffff8 : 2048,
					 __ATOMIC_RELAXED);
		}
		if (++rounds % 16 == 0) {
			/* Cut short under any reader's mapping, and back. */
			if (ftruncate(fd, 0) < 0 ||
			    ftruncate(fd, GMAP_PUB_SIZE) < 0) {
				perror("ftruncate");
				return 1;
			}
		}
	}
	printf("top-hostile: %lu rounds\n", rounds);
	return 0;
}
