/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * state.c - the shim's process-wide state: one window per granting domain,
 * the set of handles it gave out, the real libraries, and fork().
 *
 * fork(): a child does not inherit windows (fork.c) nor, therefore, the
 * maps made through inherited handles.  As libxengnttab and
 * libxenforeignmemory document for their own handles, the child may only
 * close an inherited handle (which frees the child's copy and unmaps
 * nothing of the parent's) or exec; any other call on it fails with EPERM.
 * Handles the child opens itself work, on windows of its own.  A program
 * exec'd under the preload starts from nothing, as any program does.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define MAX_DOMAINS 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct { uint32_t domid; struct gmap_window *w; } wins[MAX_DOMAINS];
/*
 * Domains refused (not GMAP_DOMID's, or their window would not open), and
 * the errno their calls fail with: said once, when first refused, not at
 * every call after (a backend retries its maps, and QEMU makes several per
 * request), and not tried again: what refuses a window (the setting, the
 * gmap-simdom serving another domain, no Xen, a bad GMAP_* value) does
 * not go away while the process runs.  Under @lock.
 */
static struct { uint32_t domid; int err; } refused[MAX_DOMAINS];
static unsigned int nr_refused;
/* Written under the lock, after the entry it counts: shim_window() reads
 * the entries of open windows without it.  Windows close only when the
 * last handle does, when no call on a handle can be running. */
static _Atomic unsigned int nr_wins;
static _Atomic unsigned int shim_gen;

/* Handles we gave out, to tell them from the real libraries' handles:
 * a pointer is only dereferenced once it is known to be ours. */
static struct shim_handle **handles;
static size_t nr_handles, cap_handles;
/* Every map and unmap asks whether its handle is ours: each thread
 * remembers the last one it found, which stays ours until a handle goes
 * (@handles_gone moves, under the lock).  The preload is loaded at start,
 * so its thread variables can be in the static block (initial-exec). */
static _Atomic unsigned long handles_gone;
static __thread __attribute__((tls_model("initial-exec"))) struct {
	const void *h;
	uint32_t magic;
	unsigned long gone;
} last_found;

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void in_child(void)
{
	/* The parent's windows are not ours here (the library makes calls
	 * on them fail); forget them, and any lock a parent thread held. */
	atomic_fetch_add(&shim_gen, 1);
	nr_wins = 0;
	nr_refused = 0;
	pthread_mutex_init(&lock, NULL);
}

static void fork_install(void)
{
	pthread_atfork(NULL, NULL, in_child);
}

struct gmap_window *shim_window(uint32_t domid)
{
	const struct shim_config *c = shim_config();
	struct gmap_window *w = NULL;
	unsigned int i;

	if (!c)
		return NULL;
	pthread_once(&fork_once, fork_install);
	/* Every map and unmap asks: the domain's window is found without
	 * the lock once it is open. */
	for (i = 0; i < atomic_load(&nr_wins); i++)
		if (wins[i].domid == domid)
			return wins[i].w;
	pthread_mutex_lock(&lock);
	for (i = 0; i < nr_wins; i++)
		if (wins[i].domid == domid)
			w = wins[i].w;
	for (i = 0; !w && i < nr_refused; i++)
		if (refused[i].domid == domid) {
			pthread_mutex_unlock(&lock);
			errno = refused[i].err;
			return NULL;
		}
	if (w) {
		/* opened since the look without the lock */
	} else if (c->domid >= 0 && domid != (uint32_t)c->domid) {
		SHIM_ERR("domain %u is not served: GMAP_DOMID=%d", domid,
			 c->domid);
		errno = EPERM;
	} else if (nr_wins == MAX_DOMAINS) {
		SHIM_ERR("domain %u: windows for %d domains are open already",
			 domid, MAX_DOMAINS);
		errno = EMFILE;
	} else {
		w = gmap_open(domid, &c->opts);
		if (w) {
			unsigned int n = atomic_load(&nr_wins);

			wins[n].domid = domid;
			wins[n].w = w;
			atomic_store(&nr_wins, n + 1);  /* then readers see it */
		}
	}
	if (!w && nr_refused < MAX_DOMAINS) {
		refused[nr_refused].domid = domid;
		refused[nr_refused++].err = errno;
	}
	pthread_mutex_unlock(&lock);
	return w;
}

/* For the report: what the windows of each domain did, counted as they
 * close with the last handle (and at report time for those still open),
 * and the grants still mapped. */
struct tally {
	uint32_t domid;
	const char *backend;
	bool inline_faults;         /* the last window's fault mode      */
	uint64_t maps, map_failures, unmaps, mapped, faults, pins, unpins,
		 evictions, rearms, vmas_peak;
};
static struct tally closed[MAX_DOMAINS];  /* under @lock */
static unsigned int nr_closed;

/* Add @w's counters to @t's entry for @domid (made if need be); the
 * entry, or NULL. */
static struct tally *tally_add(struct tally *t, unsigned int *n,
			       uint32_t domid, struct gmap_window *w)
{
	struct gmap_stats st;
	unsigned int i;

	if (gmap_stats(w, &st, sizeof(st)) < 0)
		return NULL;
	for (i = 0; i < *n && t[i].domid != domid; i++)
		;
	if (i == MAX_DOMAINS)
		return NULL;
	if (i == *n) {
		t[i] = (struct tally){ .domid = domid,
				       .backend = gmap_backend_name(w) };
		(*n)++;
	}
	t[i].inline_faults = st.fault_mode == GMAP_FAULT_INLINE;
	t[i].maps += st.maps;
	t[i].map_failures += st.map_failures;
	t[i].unmaps += st.unmaps;
	t[i].mapped += st.mapped_now;
	t[i].faults += st.faults;
	t[i].pins += st.pins;
	t[i].unpins += st.unpins;
	t[i].evictions += st.evictions;
	t[i].rearms += st.rearms;
	if (st.vmas_peak > t[i].vmas_peak)
		t[i].vmas_peak = st.vmas_peak;
	return &t[i];
}

void shim_report_windows(FILE *f)
{
	struct tally t[MAX_DOMAINS];
	unsigned int i, n;

	pthread_mutex_lock(&lock);
	n = nr_closed;
	memcpy(t, closed, n * sizeof(t[0]));
	for (i = 0; i < nr_wins; i++)
		tally_add(t, &n, wins[i].domid, wins[i].w);
	pthread_mutex_unlock(&lock);
	for (i = 0; i < n; i++)
		fprintf(f, "gmap-preload: report: window domid=%u backend=%s "
			"faults_served=%s "
			"maps=%llu map_failures=%llu unmaps=%llu mapped=%llu "
			"faults=%llu pins=%llu unpins=%llu evictions=%llu "
			"rearms=%llu vmas_peak=%llu\n",
			t[i].domid, t[i].backend,
			t[i].inline_faults ? "inline" : "by-threads",
			(unsigned long long)t[i].maps,
			(unsigned long long)t[i].map_failures,
			(unsigned long long)t[i].unmaps,
			(unsigned long long)t[i].mapped,
			(unsigned long long)t[i].faults,
			(unsigned long long)t[i].pins,
			(unsigned long long)t[i].unpins,
			(unsigned long long)t[i].evictions,
			(unsigned long long)t[i].rearms,
			(unsigned long long)t[i].vmas_peak);
}

struct gmap_window *shim_window_at(const void *p)
{
	struct gmap_window *w = NULL;
	uint64_t dma;
	unsigned int i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nr_wins && !w; i++)
		if (gmap_dma_of(wins[i].w, p, &dma) == 0)
			w = wins[i].w;
	pthread_mutex_unlock(&lock);
	return w;
}

void *shim_real(const char *soname, const char *sym)
{
	/* RTLD_NOLOAD first: the program has loaded it if it uses it. */
	void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
	void *f;

	if (!lib)
		lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		SHIM_ERR("cannot load %s: %s", soname, dlerror());
		errno = ENOSYS;
		return NULL;
	}
	/* A handle lookup searches that library first: its own symbol,
	 * never the one we interpose. */
	f = dlsym(lib, sym);
	if (!f) {
		SHIM_ERR("%s has no %s", soname, sym);
		errno = ENOSYS;
	}
	return f;
}

void shim_handle_init(struct shim_handle *h, uint32_t magic)
{
	pthread_once(&fork_once, fork_install);
	memset(h, 0, sizeof(*h));
	h->magic = magic;
	h->gen = atomic_load(&shim_gen);
	pthread_mutex_init(&h->lock, NULL);
	h->tab = h->tab_min;
	h->tab_mask = SHIM_MAPS_MIN - 1;
}

void shim_handle_fini(struct shim_handle *h)
{
	if (h->tab != h->tab_min)
		free(h->tab);
	h->tab = h->tab_min;
	h->tab_mask = SHIM_MAPS_MIN - 1;
}

bool shim_handle_inherited(struct shim_handle *h, const char *call)
{
	if (h->gen == atomic_load(&shim_gen))
		return false;
	SHIM_ERR("%s: handle %p was opened before fork(): a child may only "
		 "close it or exec", call, (void *)h);
	errno = EPERM;
	return true;
}

int shim_handle_register(struct shim_handle *h)
{
	pthread_mutex_lock(&lock);
	if (nr_handles == cap_handles) {
		size_t cap = cap_handles ? cap_handles * 2 : 16;
		struct shim_handle **n = realloc(handles, cap * sizeof(*n));

		if (!n) {
			pthread_mutex_unlock(&lock);
			errno = ENOMEM;
			return -1;
		}
		handles = n;
		cap_handles = cap;
	}
	handles[nr_handles++] = h;
	pthread_mutex_unlock(&lock);
	return 0;
}

/*
 * When the last handle goes, so do the windows: every map came through a
 * handle and is gone with it, so nothing can point into them any more, and
 * closing them gives back what GMAP_UNPIN=keep kept mapped and the
 * window's threads.  A program that exits with handles open keeps its
 * windows to the end, as its gntdev maps would stay until it dies: closing
 * them from a destructor would pull pages from under threads still
 * running.
 */
void shim_handle_unregister(struct shim_handle *h)
{
	size_t i;

	pthread_mutex_lock(&lock);
	atomic_fetch_add(&handles_gone, 1);
	for (i = 0; i < nr_handles; i++)
		if (handles[i] == h) {
			handles[i] = handles[--nr_handles];
			break;
		}
	if (nr_handles == 0) {
		while (nr_wins > 0) {
			struct tally *t;

			nr_wins--;
			/* Closing unmaps what it still held: not counted
			 * as mapped any more. */
			t = tally_add(closed, &nr_closed, wins[nr_wins].domid,
				      wins[nr_wins].w);
			if (t)
				t->mapped = 0;
			gmap_close(wins[nr_wins].w);
		}
		free(handles);
		handles = NULL;
		cap_handles = 0;
	}
	pthread_mutex_unlock(&lock);
}

bool shim_handle_is(const void *p, uint32_t magic)
{
	unsigned long gone = atomic_load(&handles_gone);
	bool found = false;
	size_t i;

	if (p && last_found.h == p && last_found.magic == magic &&
	    last_found.gone == gone)
		return true;
	pthread_mutex_lock(&lock);
	gone = atomic_load(&handles_gone);
	for (i = 0; i < nr_handles && !found; i++)
		found = handles[i] == p && handles[i]->magic == magic;
	pthread_mutex_unlock(&lock);
	if (found) {
		last_found.h = p;
		last_found.magic = magic;
		last_found.gone = gone;
	}
	return found;
}
