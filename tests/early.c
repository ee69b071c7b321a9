/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * early.c - a library whose constructor maps a grant (libearly.so).
 *
 * Preloaded after the shim (LD_PRELOAD="shim:libearly.so"), its
 * constructor runs before the shim's: the first interposed call arrives
 * before the shim's constructor ran, as from a library that sets up its
 * Xen handles at load.  Debian headers only, like xenapi-client.
 * Configured by XENAPI_EARLY="DOMID REF"; prints one line saying what it
 * found, checked by tests/preload.sh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xengnttab.h>

#include "gmap-pattern.h"

__attribute__((constructor)) static void early(void)
{
	const char *cfg = getenv("XENAPI_EARLY");
	unsigned int dom, ref, seed;
	xengnttab_handle *g;
	uint8_t *p;
	int good;

	if (!cfg || sscanf(cfg, "%u %u %u", &dom, &ref, &seed) != 3)
		return;
	g = xengnttab_open(NULL, 0);
	p = g ? xengnttab_map_grant_ref(g, dom, ref, PROT_READ) : NULL;
	if (!p) {
		printf("early: FAIL: %s\n", strerror(errno));
		fflush(stdout);
		return;
	}
	good = p[0] == gmap_pattern_byte(ref, seed, 0) &&
	       p[4095] == gmap_pattern_byte(ref, seed, 4095);
	printf("early: %s: ref %u mapped from a constructor\n",
	       good ? "ok" : "FAIL: wrong data", ref);
	fflush(stdout);
	xengnttab_unmap(g, p, 1);
	xengnttab_close(g);
}
