/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * report.c - what the shim served, counted, and written out at exit.
 *
 * With GMAP_REPORT=PATH, the process's exit appends to PATH one line per
 * interposed call that was made (calls, pages or segments, failures) and
 * one per window (libgmap's own counters), so that a test or an operator
 * can see that a backend's grant maps really went through libgmap, and
 * how, without guessing from timings or logs.  A daemon's stderr is often
 * /dev/null (QEMU -daemonize); a file is not.  The counters are relaxed
 * atomics: a few nanoseconds per call, also without GMAP_REPORT.
 *
 * Each call's time in the shim is summed too (us=): set beside the
 * program's own time without the shim, it says whether a slowdown is the
 * shim's calls or something they changed elsewhere.  Two reads of the
 * vDSO's monotonic clock per call.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

static const char *const names[SHIM_NR_CALLS] = {
	[SC_GNT_MAP_GRANT_REF] = "xengnttab_map_grant_ref",
	[SC_GNT_MAP_GRANT_REFS] = "xengnttab_map_grant_refs",
	[SC_GNT_MAP_DOMAIN_GRANT_REFS] = "xengnttab_map_domain_grant_refs",
	[SC_GNT_MAP_NOTIFY] = "xengnttab_map_grant_ref_notify",
	[SC_GNT_UNMAP] = "xengnttab_unmap",
	[SC_GNT_COPY] = "xengnttab_grant_copy",
	[SC_FMEM_MAP_GRANTS] = "xenforeignmemory_map",
	[SC_FMEM_MAP_FOREIGN] = "xenforeignmemory_map(foreign)",
	[SC_FMEM_UNMAP] = "xenforeignmemory_unmap",
};

static struct {
	_Atomic uint64_t calls, pages, failed, ns;
} count[SHIM_NR_CALLS];
static _Atomic uint64_t copy_hv, copy_window;
static _Atomic bool served;  /* anything to report */

uint64_t shim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void shim_count(enum shim_call c, uint64_t pages, bool failed, uint64_t t0)
{
	uint64_t t = shim_now_ns();

	if (!atomic_load_explicit(&served, memory_order_relaxed))
		atomic_store(&served, true);
	atomic_fetch_add_explicit(&count[c].calls, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&count[c].pages, pages, memory_order_relaxed);
	if (failed)
		atomic_fetch_add_explicit(&count[c].failed, 1,
					  memory_order_relaxed);
	atomic_fetch_add_explicit(&count[c].ns, t > t0 ? t - t0 : 0,
				  memory_order_relaxed);
}

void shim_count_copy(uint64_t hypervisor, uint64_t window)
{
	atomic_fetch_add_explicit(&copy_hv, hypervisor, memory_order_relaxed);
	atomic_fetch_add_explicit(&copy_window, window, memory_order_relaxed);
}

void shim_report(FILE *f)
{
	for (int c = 0; c < SHIM_NR_CALLS; c++) {
		uint64_t calls = atomic_load(&count[c].calls);

		if (!calls)
			continue;
		fprintf(f, "gmap-preload: report: %s calls=%llu %s=%llu",
			names[c], (unsigned long long)calls,
			c == SC_GNT_COPY ? "segments" : "pages",
			(unsigned long long)atomic_load(&count[c].pages));
		if (c == SC_GNT_COPY)
			fprintf(f, " hypervisor=%llu window=%llu",
				(unsigned long long)atomic_load(&copy_hv),
				(unsigned long long)atomic_load(&copy_window));
		fprintf(f, " failed=%llu us=%llu\n",
			(unsigned long long)atomic_load(&count[c].failed),
			(unsigned long long)atomic_load(&count[c].ns) / 1000);
	}
	shim_report_windows(f);
}

/* At exit, if GMAP_REPORT names a file. */
__attribute__((destructor)) static void report_at_exit(void)
{
	uint64_t v;
	char msg[256];
	const char *path;
	FILE *f;
	int fd;

	/* Not in a process that served nothing (gmap-run's own check). */
	if (!atomic_load(&served) ||
	    gmap_env_get("GMAP_REPORT", &v, msg, sizeof(msg)) != 1)
		return;
	path = getenv("GMAP_REPORT");
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	f = fd >= 0 ? fdopen(fd, "a") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		SHIM_ERR("GMAP_REPORT: cannot write %s", path);
		return;
	}
	fprintf(f, "gmap-preload: report: pid=%ld\n", (long)getpid());
	shim_report(f);
	fclose(f);
}
