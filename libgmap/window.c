/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * window.c - opening and closing windows, translation, stats.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "private.h"

/* The xen backend, unless configure left it out: then asking for it is
 * an error of its own (never a fallback to sim), saying how to get it. */
static const struct gmap_backend_ops *xen_backend(struct gmap_window *w)
{
#ifdef HAVE_XEN_BACKEND
	return &gmap_xen_ops;
#else
	GMAP_ERR(w, "the xen backend was not built (configure --with-xen)");
	errno = EOPNOTSUPP;
	return NULL;
#endif
}

/* Pick the backend: the caller's choice, else GMAP_BACKEND, else sim. */
static const struct gmap_backend_ops *pick_backend(struct gmap_window *w,
						   enum gmap_backend b)
{
	char msg[256];
	uint64_t i;

	switch (b) {
	case GMAP_BACKEND_SIM:
		return &gmap_sim_ops;
	case GMAP_BACKEND_XEN:
		return xen_backend(w);
	case GMAP_BACKEND_DEFAULT:
		break;
	default:
		GMAP_ERR(w, "backend %d is not a gmap_backend: expected "
			 "GMAP_BACKEND_DEFAULT, _SIM or _XEN", (int)b);
		errno = EINVAL;
		return NULL;
	}
	switch (gmap_env_get("GMAP_BACKEND", &i, msg, sizeof(msg))) {
	case -1:
		GMAP_ERR(w, "%s", msg);
		errno = EINVAL;
		return NULL;
	case 1:
		return i == 1 ? xen_backend(w) : &gmap_sim_ops;
	}
	return &gmap_sim_ops;
}

/* Whether the caller's struct (of o->size bytes; 0: the first layout, which
 * ends at self_domid) has field @f. */
#define OPT_END(f) (offsetof(struct gmap_open_opts, f) + \
		    sizeof(((struct gmap_open_opts *)0)->f))
#define OPT_HAS(o, f) ((o)->size >= OPT_END(f))

/* The fields added after the first layout must lie past its sizeof, or a
 * caller built against it would have its padding read as them. */
_Static_assert(offsetof(struct gmap_open_opts, unpin_policy) >=
	       offsetof(struct gmap_open_opts, reserved) +
	       sizeof(((struct gmap_open_opts *)0)->reserved),
	       "new gmap_open_opts fields overlap the first layout");

/* A limit as the messages write it: "2^31" for a power of two from 2^20,
 * else the number. */
static const char *limit_str(uint64_t v, char *buf, size_t len)
{
	if (v >= (1u << 20) && !(v & (v - 1)))
		snprintf(buf, len, "2^%d", __builtin_ctzll(v));
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

/*
 * The options' limits are those of the environment variables that set the
 * same things (env.c's table): one table for both, so that an option and
 * its variable never disagree.  In the options, 0 means "the default"
 * where the variable has no such value.
 */
static int check_opts(struct gmap_window *w, const struct gmap_open_opts *o)
{
	const struct gmap_env_var *refs = gmap_env_find("GMAP_NR_REFS"),
		*hand = gmap_env_find("GMAP_HANDLERS"),
		*around = gmap_env_find("GMAP_FAULT_AROUND"),
		*idle = gmap_env_find("GMAP_IDLE_MS"),
		*mapped = gmap_env_find("GMAP_MAX_MAPPED"),
		*vmas = gmap_env_find("GMAP_MAX_VMAS"),
		*meta = gmap_env_find("GMAP_MAX_META");
	char a[24], b[24];

	if (o->size && o->size < OPT_END(self_domid)) {
		GMAP_ERR(w, "gmap_open_opts.size %zu is too small: expected "
			 "sizeof(struct gmap_open_opts) = %zu", o->size,
			 sizeof(*o));
		return -1;
	}
	if (o->nr_refs > refs->hi) {
		GMAP_ERR(w, "nr_refs %llu is too large: expected %llu .. %s",
			 (unsigned long long)o->nr_refs,
			 (unsigned long long)refs->lo,
			 limit_str(refs->hi, a, sizeof(a)));
		return -1;
	}
	if (o->handler_threads > hand->hi) {
		GMAP_ERR(w, "handler_threads %u is too many: expected %llu .. %llu",
			 o->handler_threads, (unsigned long long)hand->lo,
			 (unsigned long long)hand->hi);
		return -1;
	}
	if (OPT_HAS(o, unpin_policy) && o->unpin_policy != GMAP_UNPIN_UNMAP &&
	    o->unpin_policy != GMAP_UNPIN_KEEP) {
		GMAP_ERR(w, "unpin_policy %d is not a gmap_unpin_policy",
			 (int)o->unpin_policy);
		return -1;
	}
	if (OPT_HAS(o, fault_around) && o->fault_around > around->hi) {
		GMAP_ERR(w, "fault_around %u is too many: expected %llu .. %llu",
			 o->fault_around, (unsigned long long)around->lo,
			 (unsigned long long)around->hi);
		return -1;
	}
	if (OPT_HAS(o, fault_around_dir) &&
	    o->fault_around_dir != GMAP_AROUND_FORWARD &&
	    o->fault_around_dir != GMAP_AROUND_BACKWARD &&
	    o->fault_around_dir != GMAP_AROUND_BOTH) {
		GMAP_ERR(w, "fault_around_dir %d is not a gmap_around_dir",
			 (int)o->fault_around_dir);
		return -1;
	}
	if (OPT_HAS(o, fault_mode) && o->fault_mode != GMAP_FAULT_AUTO &&
	    o->fault_mode != GMAP_FAULT_THREAD &&
	    o->fault_mode != GMAP_FAULT_INLINE) {
		GMAP_ERR(w, "fault_mode %d is not a gmap_fault_mode",
			 (int)o->fault_mode);
		return -1;
	}
	if (OPT_HAS(o, idle_ms) && o->idle_ms > idle->hi) {
		GMAP_ERR(w, "idle_ms %u is too long: expected %llu .. %llu",
			 o->idle_ms, (unsigned long long)idle->lo,
			 (unsigned long long)idle->hi);
		return -1;
	}
	if (OPT_HAS(o, max_mapped) && o->max_mapped > mapped->hi) {
		GMAP_ERR(w, "max_mapped %llu is too large: expected 0 .. %s",
			 (unsigned long long)o->max_mapped,
			 limit_str(mapped->hi, a, sizeof(a)));
		return -1;
	}
	if (OPT_HAS(o, max_vmas) && o->max_vmas &&
	    (o->max_vmas < vmas->lo || o->max_vmas > vmas->hi)) {
		GMAP_ERR(w, "max_vmas %llu is out of range: expected 0 or "
			 "%s .. %s", (unsigned long long)o->max_vmas,
			 limit_str(vmas->lo, a, sizeof(a)),
			 limit_str(vmas->hi, b, sizeof(b)));
		return -1;
	}
	if (OPT_HAS(o, max_meta) && o->max_meta &&
	    (o->max_meta < meta->lo || o->max_meta > meta->hi)) {
		GMAP_ERR(w, "max_meta %llu is out of range: expected 0 or "
			 "%s .. %s bytes", (unsigned long long)o->max_meta,
			 limit_str(meta->lo, a, sizeof(a)),
			 limit_str(meta->hi, b, sizeof(b)));
		return -1;
	}
	/* No variable sets it. */
	if (OPT_HAS(o, handler_spin_us) && o->handler_spin_us > 10000) {
		GMAP_ERR(w, "handler_spin_us %u is too long: expected 0 .. "
			 "10000", o->handler_spin_us);
		return -1;
	}
	if (o->bad_policy != GMAP_BAD_SIGNAL &&
	    o->bad_policy != GMAP_BAD_SIGNAL_QUIET) {
		GMAP_ERR(w, "bad_policy %d is not a gmap_bad_policy",
			 (int)o->bad_policy);
		return -1;
	}
	return 0;
}

/* Environment variable @name (env.c) into *@out if set; -1 and a message
 * naming it and what was expected if not valid. */
static int env_num(struct gmap_window *w, const char *name, uint64_t *out)
{
	char msg[256];

	if (gmap_env_get(name, out, msg, sizeof(msg)) < 0) {
		GMAP_ERR(w, "%s", msg);
		return -1;
	}
	return 0;
}

static int unmap_range(struct gmap_window *w, void *addr, size_t len)
{
	(void)w;
	return gmap_munmap_raw(addr, len);
}

static void window_free(struct gmap_window *w)
{
	int saved = errno;

	gmap_fork_unguard(w);
	gmap_handlers_stop(w);
	gmap_evict_stop(w);
	gmap_signal_unregister(w);
	gmap_dir_teardown(w, true);
	gmap_vmas_close(w);
	if (w->h.uffd >= 0)
		close(w->h.uffd);
	if (w->base && gmap_each_owned(w, unmap_range) < 0)
		GMAP_LOG(w, XTL_ERROR, errno, "close: the window has lost "
			 "pages to other mappings; left reserved");
	if (w->be.ops && w->be.priv)
		w->be.ops->close(&w->be);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->lock);
	gmap_publish_close(w, true);
	if (w->own_log)
		xtl_logger_destroy(w->own_log);
	free(w);
	errno = saved;
}

#ifdef GMAP_CHECK_LOCKS
/* The checking builds' window lock (private.h): who holds it. */
static __thread pid_t self_tid;

pid_t gmap_self_tid(void)
{
	if (!self_tid)
		self_tid = (pid_t)syscall(SYS_gettid);
	return self_tid;
}

void gmap_lock_violation(struct gmap_window *w, const char *fn, bool held)
{
	GMAP_LOG(w, XTL_CRITICAL, -1, "internal error: %s() needs the window "
		 "lock of d%u %s, and thread %d %s it", fn, w->domid,
		 held ? "held" : "free", (int)gmap_self_tid(),
		 held ? "does not hold" : "holds");
	abort();
}
#endif

/*
 * The windows gmap_open() returned and gmap_close() has not closed, so
 * that a second gmap_close() of the same pointer is found out without
 * reading the freed window.  Lock-free (a child after fork() may find it
 * as any parent thread left it, and closes its inherited windows too);
 * 64 windows per process, plus as many inherited in a child.  A pointer
 * that a later gmap_open() returned again is a live window, and cannot be
 * told from it.
 */
#define MAX_OPEN 128
static _Atomic(struct gmap_window *) open_windows[MAX_OPEN];

static int open_add(struct gmap_window *w)
{
	for (int i = 0; i < MAX_OPEN; i++) {
		struct gmap_window *none = NULL;

		if (atomic_compare_exchange_strong(&open_windows[i], &none, w))
			return 0;
	}
	errno = EMFILE;
	return -1;
}

/* Take @w out of the set; false if it was not in it (closed already, or
 * never a window).  Of two threads closing @w at once, one gets true. */
static bool open_remove(struct gmap_window *w)
{
	for (int i = 0; i < MAX_OPEN; i++) {
		struct gmap_window *expect = w;

		if (atomic_compare_exchange_strong(&open_windows[i], &expect,
						   NULL))
			return true;
	}
	return false;
}

GMAP_EXPORT struct gmap_window *gmap_open(uint32_t domid,
					  const struct gmap_open_opts *opts)
{
	static const struct gmap_open_opts defaults;
	const struct gmap_open_opts *o = opts ? opts : &defaults;
	uint64_t max_mapped, max_vmas, max_meta, around, idle, mode;
	pthread_condattr_t ca;
	struct gmap_window *w;
	int e;

	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->h.uffd = w->h.stop_fd = w->placeholder_fd = w->unarmed_fd = -1;
	w->slot = -1;
	w->c = &w->own.c;
	w->hist = w->own.hist;
	w->pub.fd = w->pub.dfd = -1;
	/* The window's range is reserved as one VMA (vmas.c counts). */
	atomic_store(&w->c->vmas, 1);
	atomic_store(&w->c->vmas_peak, 1);
	pthread_mutex_init(&w->lock, NULL);
	/* Timed waits on it (evict.c) count in CLOCK_MONOTONIC. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	w->domid = domid;

	if (o->logger) {
		w->log = o->logger;
	} else {
		w->own_log = w->log = gmap_default_logger((int)domid, NULL, 0, &e);
		if (!w->log) {
			errno = e;
			goto fail;
		}
	}
	gmap_env_warn_unknown(w);
	if (domid >= 0x7ff0) {
		GMAP_ERR(w, "domid %u is not a domain: expected 0 .. 32751",
			 domid);
		errno = EINVAL;
		goto fail;
	}
	if (check_opts(w, o) < 0 || gmap_publish_open(w) < 0) {
		errno = EINVAL;
		goto fail;
	}
	w->self_domid = o->self_domid;
	w->nr_refs = o->nr_refs ? o->nr_refs : GMAP_DEFAULT_REFS;
	w->h.want = o->handler_threads ? o->handler_threads : 1;
	w->bad_policy = o->bad_policy;
	w->unpin_keep = OPT_HAS(o, unpin_policy) &&
			o->unpin_policy == GMAP_UNPIN_KEEP;
	w->h.spin_ns = OPT_HAS(o, handler_spin_us) ?
		     (uint64_t)o->handler_spin_us * 1000 : 0;
	max_mapped = OPT_HAS(o, max_mapped) ? o->max_mapped : 0;
	max_vmas = OPT_HAS(o, max_vmas) ? o->max_vmas : 0;
	max_meta = OPT_HAS(o, max_meta) ? o->max_meta : 0;
	around = OPT_HAS(o, fault_around) ? o->fault_around : 0;
	w->around_dir = OPT_HAS(o, fault_around_dir) ? o->fault_around_dir :
			GMAP_AROUND_FORWARD;
	idle = OPT_HAS(o, idle_ms) ? o->idle_ms : 0;
	mode = OPT_HAS(o, fault_mode) ? o->fault_mode : GMAP_FAULT_AUTO;
	if (env_num(w, "GMAP_FAULT_MODE", &mode) < 0 ||
	    env_num(w, "GMAP_MAX_MAPPED", &max_mapped) < 0 ||
	    env_num(w, "GMAP_MAX_VMAS", &max_vmas) < 0 ||
	    env_num(w, "GMAP_MAX_META", &max_meta) < 0 ||
	    env_num(w, "GMAP_FAULT_AROUND", &around) < 0 ||
	    env_num(w, "GMAP_IDLE_MS", &idle) < 0) {
		errno = EINVAL;
		goto fail;
	}
	w->around = (unsigned int)around;
	w->h.mode_asked = (enum gmap_fault_mode)mode;
	w->len = (size_t)(w->nr_refs << GMAP_PAGE_SHIFT);

	/* The backend's context: what it may know of the window. */
	w->be = (struct gmap_backend_ctx){
		.ops = pick_backend(w, o->backend), .log = w->log,
		.domid = w->domid, .self_domid = w->self_domid,
		.nr_refs = w->nr_refs, .meta_bytes = &w->c->meta_bytes,
	};
	if (!w->be.ops)
		goto fail;
	if (w->be.ops->open(&w->be) < 0) {
		w->be.priv = NULL;
		goto fail;
	}
	/* The fault mode decides what the window's range is reserved as
	 * (placeholder.c). */
	if (gmap_uffd_open(w) < 0)
		goto fail;
	if (gmap_placeholders_reserve(w) < 0) {
		GMAP_LOG(w, XTL_ERROR, errno, "cannot reserve %#zx bytes for "
			 "the window of d%u", w->len, domid);
		goto fail;
	}
	if (gmap_fork_guard(w) < 0) {
		GMAP_LOG(w, XTL_ERROR, errno, "pthread_atfork failed");
		goto fail;
	}
	if (gmap_dir_init(w) < 0 || gmap_uffd_arm(w) < 0)
		goto fail;
	/* An inline window's untouched pages are its poisoned pages, which
	 * carry MADV_DONTFORK from birth.  With handler threads they are
	 * armed placeholders, which carry it only once a fork has marked
	 * the window (placeholder.c): fork()'s prepare handler keeps them
	 * out of children (fork.c). */
	if (w->h.inline_mode && madvise(w->base, w->len, MADV_DONTFORK) < 0) {
		GMAP_LOG(w, XTL_ERROR, errno, "cannot keep the window of d%u "
			 "out of child processes", domid);
		goto fail;
	}
	gmap_vmas_open(w);
	gmap_budget_init(w, max_mapped, max_vmas, max_meta);
	if (gmap_evict_start(w, (uint32_t)idle) < 0) {
		GMAP_LOG(w, XTL_ERROR, errno, "cannot start the evictor thread");
		goto fail;
	}
	if (gmap_signal_register(w) < 0) {
		e = errno;
		if (e == EEXIST)
			GMAP_ERR(w, "this process already has a window for d%u",
				 domid);
		else if (e == EMFILE)
			GMAP_ERR(w, "this process has 64 windows open already");
		else
			GMAP_LOG(w, XTL_ERROR, e, "cannot install the SIGSEGV "
				 "handler");
		errno = e;
		goto fail;
	}
	if (gmap_handlers_start(w) < 0) {
		GMAP_LOG(w, XTL_ERROR, errno, "cannot start handler threads");
		goto fail;
	}
	if (open_add(w) < 0) {
		GMAP_ERR(w, "this process has %d windows open already, its "
			 "own and inherited", MAX_OPEN);
		goto fail;
	}
	GMAP_LOG(w, XTL_INFO, -1, "d%u: window %p..%p (%llu refs), backend "
		 "%s, %s", domid, (void *)w->base, (void *)(w->base + w->len),
		 (unsigned long long)w->nr_refs, w->be.ops->name,
		 w->h.inline_mode ? "faults served inline" :
		 w->h.nr > 1 ? "handler threads" : "one handler thread");
	gmap_publish_commit(w);
	return w;
fail:
	window_free(w);
	return NULL;
}

/*
 * gmap_close() in a child process (fork.c): the handler and evictor
 * threads, the grant mappings and the window itself exist only in the
 * parent, and the backend's state (a sim domain's shared counters, the
 * gntdev file) is shared with it.  Free this process's copy of the
 * bookkeeping and close its descriptors; touch nothing else.  The locks
 * may have been held by a parent thread at fork(): do not take them.
 */
static void window_forget(struct gmap_window *w)
{
	gmap_signal_unregister(w);
	gmap_dir_teardown(w, false);
	gmap_vmas_close(w);
	/* The inaccessible reservation fork.c made in this child. */
	if (!w->fork.base_lost)
		gmap_munmap_raw(w->base, w->len);
	if (w->h.uffd >= 0)
		close(w->h.uffd);
	if (w->h.stop_fd >= 0)
		close(w->h.stop_fd);
	/* Both backends' close only drops this process's descriptors and
	 * mappings (xengnttab_close() is the one call libxengnttab allows
	 * in a child).  The evictor's queue is left: its thread's state is
	 * unknown here, and the child is about to exit or exec. */
	w->be.ops->close(&w->be);
	gmap_publish_close(w, false);
	if (w->own_log)
		xtl_logger_destroy(w->own_log);
	free(w);
}

GMAP_EXPORT void gmap_close(struct gmap_window *w)
{
	if (!w)
		return;
	if (!open_remove(w)) {
		/* Nothing to log to: the window's logger went with it. */
		fprintf(stderr, "gmap: gmap_close(%p): not an open window "
			"(closed already?); ignored\n", (void *)w);
		return;
	}
	if (gmap_inherited(w)) {
		window_forget(w);
		return;
	}
	/* 1. No more faults are served, nothing more is evicted. */
	gmap_handlers_stop(w);
	gmap_evict_stop(w);
	/*
	 * 2. The whole range becomes inaccessible in one call, which also
	 * drops every grant mapping; then everyone still waiting on a fault
	 * is woken to meet it (SIGSEGV, or EFAULT for a system call) rather
	 * than stay blocked.  Doing it before closing the userfaultfd
	 * matters: a fault on a registered page after the fd is released is
	 * served as a zero page.
	 */
	if (gmap_each_owned(w, gmap_poison) < 0)
		GMAP_LOG(w, XTL_ERROR, errno, "close: cannot make the window "
			 "inaccessible");
	gmap_uffd_wake(w, w->base, w->len);
	/* 3. Backend unmaps (so the granter can end access), then free. */
	window_free(w);
}

GMAP_EXPORT void *gmap_base(const struct gmap_window *w)
{
	return w ? w->base : NULL;
}

GMAP_EXPORT uint64_t gmap_nr_refs(const struct gmap_window *w)
{
	return w ? w->nr_refs : 0;
}

GMAP_EXPORT uint32_t gmap_domid(const struct gmap_window *w)
{
	return w ? w->domid : 0;
}

GMAP_EXPORT const char *gmap_backend_name(const struct gmap_window *w)
{
	return w ? w->be.ops->name : NULL;
}

GMAP_EXPORT void *gmap_translate(const struct gmap_window *w, uint64_t dma,
				 size_t len)
{
	uint64_t off;

	if (!w) {
		errno = EINVAL;
		return NULL;
	}
	if (!(dma & GMAP_DMA_GRANT_BIT)) {
		errno = EINVAL;
		return NULL;
	}
	off = dma & ~GMAP_DMA_GRANT_BIT;
	if (len == 0)
		len = 1;
	/* Written so that nothing can overflow: off < len(w) first. */
	if (off >= w->len || len > w->len - off) {
		errno = ERANGE;
		return NULL;
	}
	return w->base + off;
}

GMAP_EXPORT void *gmap_ref_ptr(const struct gmap_window *w, uint32_t ref)
{
	if (!w) {
		errno = EINVAL;
		return NULL;
	}
	if (ref >= w->nr_refs) {
		errno = ERANGE;
		return NULL;
	}
	return gmap_addr_of(w, ref);
}

GMAP_EXPORT int gmap_dma_of(const struct gmap_window *w, const void *p,
			    uint64_t *dma)
{
	uintptr_t a = (uintptr_t)p;

	if (!w || !dma) {
		errno = EINVAL;
		return -1;
	}
	if (a < (uintptr_t)w->base || a - (uintptr_t)w->base >= w->len) {
		errno = ERANGE;
		return -1;
	}
	*dma = GMAP_DMA_GRANT_BIT | (uint64_t)(a - (uintptr_t)w->base);
	return 0;
}

/* The size of struct gmap_stats in 0.1.0, the first layout: callers
 * pass at least this. */
#define STATS_SIZE_0_1 offsetof(struct gmap_stats, vmas_now)

GMAP_EXPORT int gmap_stats(const struct gmap_window *w, struct gmap_stats *out,
			   size_t size)
{
	struct gmap_counters *c;
	struct gmap_stats full, *st = &full;

	if (!w || !out || size < STATS_SIZE_0_1) {
		errno = EINVAL;
		return -1;
	}
	c = w->c;
	st->faults = atomic_load(&c->faults);
	st->maps = atomic_load(&c->maps);
	st->map_failures = atomic_load(&c->map_failures);
	st->unmaps = atomic_load(&c->unmaps);
	st->pins = atomic_load(&c->pins);
	st->unpins = atomic_load(&c->unpins);
	st->bad_grants = atomic_load(&c->bad_grants);
	st->rearm_waits = atomic_load(&c->rearm_waits);
	st->mapped_now = atomic_load(&c->mapped_now);
	st->pinned_now = atomic_load(&c->pinned_now);
	st->meta_bytes = atomic_load(&c->meta_bytes) + sizeof(*w);
	st->evictions = atomic_load(&c->evictions);
	st->idle_evictions = atomic_load(&c->idle_evictions);
	st->evicting_now = atomic_load(&c->evicting_now);
	st->mapped_peak = atomic_load(&c->mapped_peak);
	st->max_mapped = w->ev.max_mapped;
	st->around_runs = atomic_load(&c->around_runs);
	st->around_pages = atomic_load(&c->around_pages);
	st->vmas_now = atomic_load(&c->vmas);
	st->vmas_peak = atomic_load(&c->vmas_peak);
	st->max_vmas = w->ev.max_vmas;
	st->max_meta = w->ev.max_meta;
	st->meta_freed = atomic_load(&c->meta_freed);
	st->unmap_failures = atomic_load(&c->unmap_failures);
	st->unmaps_due = atomic_load(&c->unmaps_due);
	st->fault_mode = w->h.inline_mode ? GMAP_FAULT_INLINE : GMAP_FAULT_THREAD;
	st->unarmed_now = atomic_load(&c->unarmed_now);
	st->rearms = atomic_load(&c->rearms);
	st->evict_waits = atomic_load(&c->evict_waits);
	if (size > sizeof(full)) {
		memset((char *)out + sizeof(full), 0, size - sizeof(full));
		size = sizeof(full);
	}
	memcpy(out, st, size);
	return 0;
}

GMAP_EXPORT const char *gmap_version(void)
{
	return PACKAGE_VERSION;
}

/* Compiled here, GMAP_CHECK_VERSION() holds this library's numbers, not
 * the caller's: one rule for both checks.  A negative number is a bad
 * call, not an old version that the rule would let pass. */
GMAP_EXPORT int gmap_check_version(int major, int minor, int micro)
{
	if (minor >= 0 && micro >= 0 && GMAP_CHECK_VERSION(major, minor, micro))
		return 0;
	errno = EINVAL;
	return -1;
}
