/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * private.h - libgmap internals shared by the library's source files.
 * Nothing here is installed or exported.
 */
#ifndef GMAP_PRIVATE_H
#define GMAP_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "gmap.h"
#include "gmap-sim.h"

#define GMAP_EXPORT __attribute__((visibility("default")))

#include "grant.h"
#include "publish.h"

/* ---- backends ----------------------------------------------------------
 *
 * In the shape of Xen's osdep split: a backend sees its context, never the
 * window.  It keeps what it needs in @priv; the core keeps the grants'
 * state and the placeholders, and restores the latter after a failed map.
 */
/* A backend map refused before it touched the range (map's *placed). */
#define GMAP_UNTOUCHED UINT32_MAX

struct gmap_backend_ctx {
	const struct gmap_backend_ops *ops;
	void *priv;                 /* the backend's own                   */
	xentoollog_logger *log;     /* GMAP_LOG(b, ...) works on it too    */
	uint32_t domid;             /* the granting domain                 */
	uint16_t self_domid;        /* ours, as its grants name us         */
	uint64_t nr_refs;           /* the window's refs                   */
	/* The window's metadata count: what a backend allocates per map
	 * (the xen backend's runs) counts against the window's budget. */
	_Atomic uint64_t *meta_bytes;
};

struct gmap_backend_ops {
	const char *name;
	int (*open)(struct gmap_backend_ctx *b);
	void (*close)(struct gmap_backend_ctx *b);
	/*
	 * Map @count grants from @ref at @addr (MAP_FIXED, replacing the
	 * placeholder), writable or read-only, and return 0; whatever the
	 * unmap needs (gntdev's index) the backend keeps itself, so that the
	 * core's state stays one word per grant.  On success, bit i of
	 * @split (count bits, zeroed by the caller) is set where ref + i
	 * starts a VMA of its own: bit 0 only, for a gntdev map; each piece
	 * of contiguous frames, on sim.
	 * On failure return -1 with errno set and *@status the GNTST_*
	 * status (or GMAP_ST_*), every grant of the call released, and
	 * *@placed the number of leading pages of the range that hold
	 * something the backend placed (their grants released too); the
	 * other pages are as they were, or holes (gntdev's mmap handler
	 * refuses after mmap(MAP_FIXED) took the placeholders).  The core
	 * then re-arms the placed pages and fills the holes.  A refusal
	 * before any mmap (the hypervisor's checks, gntdev's ioctl) sets
	 * *@placed to GMAP_UNTOUCHED: the range is as it was, and the core
	 * skips the search for holes, which reads /proc/self/smaps.
	 */
	int (*map)(struct gmap_backend_ctx *b, uint32_t ref, uint32_t count,
		   void *addr, bool writable, uint64_t *split, int16_t *status,
		   uint32_t *placed);
	/*
	 * Release grants, mapped as @writable, whose pages were already
	 * replaced in the address space by the core (so nothing of them is
	 * mapped here any more).
	 */
	int (*unmap)(struct gmap_backend_ctx *b, uint32_t ref, uint32_t count,
		     bool writable);
	/*
	 * Optional, for the preload shim's maps that are not one run of a
	 * window (outside.c): map grants @refs[0..@count) (any order) as one
	 * mapping of their own outside the window, as libxengnttab's own map
	 * does.  With @addr NULL the kernel chooses the place, so a refused
	 * map touches nothing of ours; with @addr, MAP_FIXED over a range the
	 * caller reserved, and a refused map fills the hole the kernel
	 * leaves without replacing anything (*@status GMAP_ST_LOST if
	 * another mapping took a page first: the caller must never unmap
	 * it).  Returns the address, or MAP_FAILED with errno and *@status;
	 * *@handle is what unmap_extra() needs once the caller has unmapped
	 * the pages.  Only where the window's pages cannot be aliased
	 * (gntdev's mappings cannot be duplicated); NULL on sim.
	 */
	void *(*map_extra)(struct gmap_backend_ctx *b, uint32_t count,
			   const uint32_t *refs, void *addr, bool writable,
			   uint64_t *handle, int16_t *status);
	void (*unmap_extra)(struct gmap_backend_ctx *b, uint64_t handle,
			    uint32_t count);
	/*
	 * Optional: grant copy as the hypervisor does it, one call for
	 * @count segments in libxengnttab's layout (xengnttab_grant_copy_
	 * segment_t), each given its own GNTST_* status; -1 with errno only
	 * if the call itself failed.  NULL on sim, whose copies the shim
	 * makes through the window.
	 */
	int (*copy)(struct gmap_backend_ctx *b, uint32_t count, void *segs);
};

extern const struct gmap_backend_ops gmap_sim_ops;
#ifdef HAVE_XEN_BACKEND /* configure --with-xen */
extern const struct gmap_backend_ops gmap_xen_ops;
#endif

/* ---- the window -------------------------------------------------------- */

#define GMAP_MAX_HANDLERS 64

struct gmap_counters {
	_Atomic uint64_t faults, maps, map_failures, unmaps, pins, unpins,
		bad_grants, rearm_waits, mapped_now, pinned_now, meta_bytes,
		evictions, idle_evictions, evicting_now, mapped_peak,
		around_runs, around_pages, vmas, vmas_peak, meta_freed,
		unmap_failures, unmaps_due,
		unarmed_now,  /* GS_UNARMED words (gstate.c), for map.c's cap */
		rearms,       /* unmapped pages re-armed (map.c)             */
		evict_waits;  /* maps that waited for the evictor (evict.c)  */
};

/* publish.c: the file a window's counters live in, for gmap-top. */
struct gmap_pub {
	uint8_t *page;             /* its shared mapping, or NULL: none    */
	int fd;                    /* holds the flock that says we live    */
	int dfd;                   /* its directory (O_PATH), for the *at calls */
	pid_t pid;                 /* who made it (a child does not own it) */
	uint64_t start;            /* the process's start, in clock ticks  */
	uint64_t pidns;            /* its pid namespace's inode            */
	unsigned int serial;
	bool named;                /* renamed from tmp to path             */
	char comm[16];
	char name[64], tmp[64];    /* in dfd: the final name, the one made */
};

/* evict.c: the mapped-grant budget and the evictor thread. */
struct gmap_fifo_entry {
	uint32_t ref;
	uint32_t when;             /* ms since the window opened            */
};

struct gmap_evictor {
	struct gmap_fifo_entry *ring; /* FIFO in map order (lock held)      */
	size_t cap, head, len;
	uint64_t max_mapped;       /* the budget                           */
	uint64_t high, low;        /* evict from high down to low          */
	/* The budget of VMAs (w->c->vmas) and its watermarks: they follow
	 * the process's room at run time (gmap_budget_refresh), so they are
	 * read lock-free and written under the window lock. */
	_Atomic uint64_t max_vmas, vhigh, vlow;
	uint64_t vmas_ceil;        /* the caller's max_vmas, or the one
				    * derived at open ... */
	long limit_at_open;        /* ... when vm.max_map_count was this   */
	_Atomic uint64_t refreshed_ms; /* mono_ms() of the last refresh      */
	uint64_t max_meta;         /* the budget of metadata bytes          */
	uint64_t mhigh, mlow;      /* ... and its watermarks (reclaim.c)   */
	uint64_t meta_stuck_at;    /* metadata when a pass found nothing   */
	bool meta_warned;          /* ... and that was logged              */
	uint64_t evicted_since;    /* grants evicted since the last pass   */
	uint64_t promised;         /* VMAs this window may take (max_vmas) */
	_Atomic uint64_t taken;    /* slots: mapped grants + maps in flight */
	uint32_t idle_ms;          /* release unpinned grants this old; 0 off */
	uint32_t *due;             /* refs whose unmap failed, to retry    */
	size_t ndue, due_cap;
	size_t due_busy;            /* taken by a retry in flight          */
	uint64_t due_at;           /* mono_ms() of the next retry, or 0    */
	unsigned int due_backoff;  /* ms between retries                   */
	uint64_t t0_ms;            /* CLOCK_MONOTONIC ms at open             */
	/* The evictor is unmapping a batch: maps wait (gmap_evict_gated);
	 * batches done.  Written by the evictor, lock held. */
	bool gated;
	uint64_t batches;
	pthread_cond_t cv;         /* the evictor sleeps here              */
	bool cv_ready, running;
	pthread_t thread;
};

/* fault.c (the threads) and uffd.c (the descriptor and its ioctls). */
struct gmap_handlers {
	int uffd;
	bool user_mode_only;       /* kernel-mode faults are not served    */
	/* GMAP_FAULT_INLINE: untouched pages are PROT_NONE and a touch
	 * raises SIGSEGV in the faulting thread, which serves its own fault
	 * (inline.c); no userfaultfd (uffd is -1), no handler threads and
	 * nobody to wake.  Set at open, read-only after. */
	bool inline_mode;
	enum gmap_fault_mode mode_asked; /* option or GMAP_FAULT_MODE      */
	int stop_fd;               /* eventfd: handlers exit when readable */
	unsigned int want;         /* handler threads asked for            */
	unsigned int nr;           /* ... running                          */
	uint64_t spin_ns;          /* poll this long before sleeping       */
	/* Handlers serving messages now: a message that comes meanwhile
	 * may wait, so a map elsewhere wakes its range (gmap_wake_waiters);
	 * with none busy, the next message is read at once, and its
	 * handler wakes the thread when it finds the page mapped. */
	_Atomic unsigned int busy;
	pthread_t threads[GMAP_MAX_HANDLERS];
};

/* slab.c: fixed-size objects from chunks of our own mmaps, for what the
 * fault path allocates (a signal handler in the inline fault mode, where
 * malloc may not be called).  The caller locks. */
struct gmap_slab {
	size_t size, chunk;        /* bytes per object, per chunk          */
	void *free;                /* freed objects, linked by first word  */
	void *chunks;              /* every chunk, linked by first word    */
	uint8_t *next, *end;       /* the newest chunk's unused part       */
};
void gmap_slab_init(struct gmap_slab *s, size_t size, size_t chunk);
void *gmap_slab_alloc(struct gmap_slab *s);  /* zeroed; NULL, ENOMEM */
void gmap_slab_free(struct gmap_slab *s, void *p);
void gmap_slab_destroy(struct gmap_slab *s);
/* The library's own memory (slab chunks, the evictor's ring, the grant
 * directory, the sim backend's colours): anonymous, zeroed, unreserved
 * (MAP_NORESERVE: touched as used); NULL with errno set on failure. */
void *gmap_mem_map(size_t len);
void gmap_mem_unmap(void *p, size_t len);

/* dir.c: where the state words live (grant.h); reclaim.c frees idle
 * leaves. */
struct gmap_dir {
	_Atomic(struct gmap_grant *) *slots; /* lazily populated          */
	size_t len;                /* bytes reserved for slots             */
	size_t reclaim_at;         /* next slot reclaim.c scans            */
	struct gmap_slab leaves;   /* window lock held                     */
};

/* placeholder.c: refs whose page another mapping of the process took,
 * after the kernel left a hole there (gmap_refill): libgmap never places,
 * poisons or unmaps them again.  Append-only under the lock, read
 * lock-free; a count past GMAP_MAX_LOST means "too many to remember": no
 * placement at all any more. */
#define GMAP_MAX_LOST 64
struct gmap_lost {
	uint32_t refs[GMAP_MAX_LOST];
	_Atomic uint32_t n;
};

/* fork.c: how a child knows its window is not its own. */
struct gmap_fork_state {
	unsigned int gen;          /* gmap_fork_gen when opened            */
	bool base_lost;            /* in a child: the range is not ours    */
	bool guarded;              /* in fork.c's table of ranges          */
	/* A fork's prepare handler marked the whole range MADV_DONTFORK:
	 * new placeholders must carry it too (placeholder.c).  Set while
	 * placements wait for the fork (gmap_place_enter), never cleared. */
	_Atomic bool marked;
};

/* The window: its identity and options first, then one part per owner.
 * What is not in a sub-struct is set at open and read-only after, or
 * says which file owns it. */
struct gmap_window {
	uint32_t domid;
	uint16_t self_domid;
	uint64_t nr_refs;
	uint8_t *base;
	size_t len;
	enum gmap_bad_policy bad_policy;
	bool unpin_keep;           /* GMAP_UNPIN_KEEP                      */
	_Atomic bool keep_warned;  /* ... and that was said once (pin.c)   */
	unsigned int around;       /* fault-around: pages per fault        */
	enum gmap_around_dir around_dir;
	int slot;                  /* in the signal handler's table (signal.c) */
	_Atomic bool closing;      /* gmap_close() has begun (window.c)    */

	xentoollog_logger *log;
	xentoollog_logger *own_log; /* ours to destroy, or NULL            */

	struct gmap_backend_ctx be; /* be.ops NULL until chosen            */
	struct gmap_handlers h;

	pthread_mutex_t lock;        /* window_lock(): see below         */
	_Atomic pid_t lock_owner;    /* ... its holder, in checking builds */
	pthread_cond_t cv;           /* claims ended (gstate.c)          */

	struct gmap_dir dir;
	struct gmap_evictor ev;      /* budget.c and evict.c             */
	/* The live counters and serve-time histogram: in the file gmap-top
	 * reads (publish.c), or in own where there is none. */
	struct gmap_counters *c;
	_Atomic uint64_t *hist;
	struct {
		struct gmap_counters c;
		_Atomic uint64_t hist[GMAP_PUB_BUCKETS];
	} own;
	struct gmap_pub pub;
	int placeholder_fd;          /* handler threads: the memfd armed
				      * placeholders map (placeholder.c) */
	int unarmed_fd;              /* inline: the memfd unarmed pages map
				      * (placeholder.c), or -1: none left */
	struct gmap_fork_state fork;
	struct gmap_lost lost;
};

/* publish.c: the window's counters in a file for gmap-top.  _open moves
 * w->c and w->hist into it (before any other thread of the window runs;
 * 0 also when nothing is published, -1 if GMAP_RUNTIME_DIR or
 * GMAP_PUBLISH is bad), _commit fills the head and gives the file its
 * name once the window is open, _close removes it (if @owner, and this
 * process made it) and moves the counters back into the window. */
int gmap_publish_open(struct gmap_window *w);
void gmap_publish_commit(struct gmap_window *w);
void gmap_publish_close(struct gmap_window *w, bool owner);
/* Count a fault served in gmap_mono_ns() - @t0 in the histogram. */
void gmap_serve_time(struct gmap_window *w, uint64_t t0);

/* env.c: the GMAP_* environment variables */
enum gmap_env_kind { GMAP_ENV_NUM, GMAP_ENV_WORD, GMAP_ENV_PATH };
struct gmap_env_var {
	const char *name;
	enum gmap_env_kind kind;
	uint64_t lo, hi;            /* NUM: range; PATH: length range     */
	const char *const *words;   /* WORD: NULL-terminated, any case    */
	const char *dflt;           /* the default, as text               */
	const char *what;           /* what it is for                     */
};
extern const struct gmap_env_var gmap_env_vars[];  /* NULL name ends */
const struct gmap_env_var *gmap_env_find(const char *name);
/* The known name within 3 edits of the @len bytes at @name, or NULL. */
const char *gmap_env_nearest(const char *name, size_t len);
/* The message for an unknown GMAP_ name of @len bytes at @name. */
void gmap_env_unknown_msg(const char *name, size_t len, char *msg,
			  size_t msglen);
/* The next GMAP_ entry of the environment from *@e whose name is not
 * libgmap's: the name's length (*@e points at it), or 0 at the end. */
size_t gmap_env_next_unknown(char ***e);
/* Warn once per process of unknown GMAP_ names (gmap_open). */
void gmap_env_warn_unknown(struct gmap_window *w);
/* 0: unset (or not a GMAP_* variable); 1: valid, *@out the number or
 * the word's index; -1: invalid, @msg names it and what was expected. */
int gmap_env_get(const char *name, uint64_t *out, char *msg, size_t msglen);

/* logger.c: the logger of GMAP_LOG, GMAP_LOG_TARGET, GMAP_LOG_FILE and
 * GMAP_LOG_SYSLOG, its lines tagged with domain @domid (-1: none); NULL
 * and *@err_out if they are bad, said in @why (or on stderr if NULL). */
xentoollog_logger *gmap_default_logger(int domid, char *why, size_t why_len,
				       int *err_out);
/* log.c */
/* xtl_log(), or deferred while the thread serves its own fault: the line
 * is formatted into a static ring and written by the next thread that
 * logs outside a fault, the evictor or gmap_close() (gmap_log_flush). */
void gmap_log(xentoollog_logger *log, xentoollog_level lvl, int errnoval,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void gmap_log_flush(void);
bool gmap_log_deferred(void);   /* lines wait for gmap_log_flush() */
#define GMAP_LOG(w, lvl, errnoval, ...) \
	gmap_log((w)->log, (lvl), (errnoval), __VA_ARGS__)
#define GMAP_ERR(w, ...) GMAP_LOG(w, XTL_ERROR, -1, __VA_ARGS__)

/* ---- the window lock ----------------------------------------------------
 *
 * One mutex per window guards the grant words' changes, the evictor's
 * queues and the budgets' bookkeeping.  Functions that need it held say
 * so with window_assert_locked(), which in the sanitizer builds (and with
 * -DGMAP_LOCK_CHECKS) checks that the calling thread holds it and aborts
 * with a message otherwise; elsewhere it costs nothing.
 */
/*
 * What the calling thread is doing inside libgmap, for the inline fault
 * path (inline.c), which runs in a SIGSEGV handler and so must not take a
 * lock this thread may already hold.  @locks counts the libgmap locks the
 * thread holds or is taking (the window lock, the backends' locks): it is
 * raised before pthread_mutex_lock() and lowered after the unlock, so a
 * fault that interrupts either finds it raised.  @in_fault is set while
 * the thread serves its own fault: log lines are deferred (log.c) and
 * nothing that may call malloc runs.  Initial-exec TLS: a signal handler
 * may read it.
 */
struct gmap_tls {
	unsigned int locks;
	bool in_fault;
};
extern __thread struct gmap_tls gmap_tls
	__attribute__((tls_model("initial-exec")));

static inline void gmap_lock_enter(void)
{
	gmap_tls.locks++;
	atomic_signal_fence(memory_order_seq_cst);
}

static inline void gmap_lock_leave(void)
{
	atomic_signal_fence(memory_order_seq_cst);
	gmap_tls.locks--;
}

/* pthread_mutex_lock/unlock of a libgmap lock other than the window's. */
static inline void gmap_mutex_lock(pthread_mutex_t *m)
{
	gmap_lock_enter();
	pthread_mutex_lock(m);
}

static inline void gmap_mutex_unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
	gmap_lock_leave();
}

#if defined(GMAP_LOCK_CHECKS) || defined(__SANITIZE_ADDRESS__) || \
	defined(__SANITIZE_THREAD__)
#define GMAP_CHECK_LOCKS 1
#endif

#ifdef GMAP_CHECK_LOCKS
void gmap_lock_violation(struct gmap_window *w, const char *fn, bool held);
pid_t gmap_self_tid(void);

static inline void window_lock(struct gmap_window *w)
{
	gmap_mutex_lock(&w->lock);
	atomic_store_explicit(&w->lock_owner, gmap_self_tid(),
			      memory_order_relaxed);
}

static inline void window_unlock(struct gmap_window *w)
{
	atomic_store_explicit(&w->lock_owner, 0, memory_order_relaxed);
	gmap_mutex_unlock(&w->lock);
}

#define window_assert_locked(w) do {					\
	if (atomic_load_explicit(&(w)->lock_owner, memory_order_relaxed) != \
	    gmap_self_tid())						\
		gmap_lock_violation((w), __func__, true);		\
} while (0)

/* pthread_cond_(timed)wait on @cv with the window lock: it is released
 * while waiting. */
static inline int window_wait(struct gmap_window *w, pthread_cond_t *cv,
			      const struct timespec *until)
{
	int rc;

	window_assert_locked(w);
	atomic_store_explicit(&w->lock_owner, 0, memory_order_relaxed);
	rc = until ? pthread_cond_timedwait(cv, &w->lock, until) :
		     pthread_cond_wait(cv, &w->lock);
	atomic_store_explicit(&w->lock_owner, gmap_self_tid(),
			      memory_order_relaxed);
	return rc;
}
#else
static inline void window_lock(struct gmap_window *w)
{
	gmap_mutex_lock(&w->lock);
}

static inline void window_unlock(struct gmap_window *w)
{
	gmap_mutex_unlock(&w->lock);
}

#define window_assert_locked(w) ((void)(w))

static inline int window_wait(struct gmap_window *w, pthread_cond_t *cv,
			      const struct timespec *until)
{
	return until ? pthread_cond_timedwait(cv, &w->lock, until) :
		       pthread_cond_wait(cv, &w->lock);
}
#endif

/* dir.c: the directory of grant state words */
int gmap_dir_init(struct gmap_window *w);
/* Free the grant metadata; with @unmap (gmap_close), release what is
 * still mapped to the backend (the window's range is unmapped whole
 * afterwards, so nothing is re-armed). */
void gmap_dir_teardown(struct gmap_window *w, bool unmap);
/* The grant of @ref; with @create, allocate its leaf (window lock held).
 * Without the lock: gmap_grant_peek() (grant.h). */
struct gmap_grant *gmap_grant_get(struct gmap_window *w, uint32_t ref,
				  bool create);

/* gstate.c: the only writer of the state words (window lock held) */
/* Wait until @ref is not BUSY (with @create, nor EMPTY while the evictor
 * unmaps a batch: gmap_evict_gated) and return its grant, looked up again after
 * every wait (reclaim.c may free an idle leaf meanwhile); with @create a
 * missing leaf is allocated.  NULL if that fails, or without @create if
 * the ref has no state (it is EMPTY). */
struct gmap_grant *gmap_grant_wait(struct gmap_window *w, uint32_t ref,
				   bool create);
/* Claim a grant that is not BUSY: it becomes BUSY, the caller's to map
 * or unmap with the lock dropped (GS_QUEUED kept, and GS_RO if it was
 * MAPPED).  Returns the word it had. */
uint32_t gmap_grant_claim(struct gmap_window *w, uint32_t ref,
			  struct gmap_grant *g);
/* A claimed grant takes state @st (GS_EMPTY, GS_MAPPED, GS_BAD), with
 * @bits (GS_RO, GS_JOIN, GS_TRIED, GS_NOPOISON) and, if BAD, @status. */
void gmap_grant_commit(struct gmap_window *w, uint32_t ref,
		       struct gmap_grant *g, unsigned int st, uint32_t bits,
		       int16_t status);
/* The same for claimed refs [@ref, @ref + @n), each keeping GS_RO if @st
 * is GS_MAPPED (an unmap that failed). */
void gmap_grant_commit_run(struct gmap_window *w, uint32_t ref, uint32_t n,
			   unsigned int st, int16_t status);
/* Claimed placeholders [@lo, @lo + @n), placed by one backend map: MAPPED
 * (with @ro), joined but where bit i of @split starts a VMA, and queued
 * for the evictor; one pass for the run. */
void gmap_grant_commit_mapped_run(struct gmap_window *w, uint32_t lo,
				  uint32_t n, const uint64_t *split, uint32_t ro);
/* Claimed EMPTY refs [@ref, @ref + @n) go back to EMPTY with nothing done
 * to their pages: no system call, unlike a commit after a re-arm. */
void gmap_grant_unclaim_run(struct gmap_window *w, uint32_t ref, uint32_t n);
/* Claimed mapped pages [@lo, @lo + @n), unmapped and left unarmed, take
 * @word (GS_EMPTY | GS_UNARMED | a colour); one pass for the run. */
void gmap_grant_commit_unarmed_run(struct gmap_window *w, uint32_t lo,
				   uint32_t n, uint32_t word);
/* A claimed grant goes back to @prev, the word gmap_grant_claim()
 * returned, after a failed map (its page was refilled). */
void gmap_grant_restore(struct gmap_window *w, uint32_t ref,
			struct gmap_grant *g, uint32_t prev);
/* One pin more or less on a MAPPED grant; the word before. */
uint32_t gmap_grant_pin(struct gmap_window *w, struct gmap_grant *g);
uint32_t gmap_grant_unpin(struct gmap_window *w, struct gmap_grant *g);
/* GS_QUEUED, for evict.c's FIFO; unqueue returns the word before. */
void gmap_grant_enqueue(struct gmap_window *w, struct gmap_grant *g);
uint32_t gmap_grant_unqueue(struct gmap_window *w, struct gmap_grant *g);

/* map.c: the backend's maps and unmaps of claimed grants */
/* The most pages an inline window's unmaps leave unarmed (map.c). */
#define GMAP_UNARMED_MAX 1024
/* The longest run gmap_map_run() maps (a side of fault-around: 255, a
 * piece of a pin): backends keep per-map arrays of it on the stack. */
#define GMAP_RUN_MAX 256
/* How a grant may be mapped: writable, or read-only if it refuses that
 * (ANY: faults, GMAP_PIN_READ); writable only (WRITE: GMAP_PIN_WRITE);
 * read-only at once (READ: GMAP_PIN_READONLY). */
enum gmap_access { GMAP_ACCESS_ANY, GMAP_ACCESS_WRITE, GMAP_ACCESS_READ };
/* Map claimed @ref within the budget (a slot first, waiting for the
 * evictor if @wait), as @access allows (*@ro GS_RO if read-only).  0, or
 * -1 with errno and *@st, and nothing placed. */
int gmap_map_claimed(struct gmap_window *w, uint32_t ref,
		     enum gmap_access access, bool wait, uint32_t *ro,
		     int16_t *st);
/* Commit a claimed grant that is now mapped, by a map of its own (@ro:
 * GS_RO or 0), and queue it for eviction. */
void gmap_commit_mapped(struct gmap_window *w, uint32_t ref, uint32_t ro);
/* Map untouched (EMPTY) refs as one run from @start going @dir (1 or -1),
 * up to @max, each with a budget slot free without waiting: one backend
 * map (on xen one gntdev map and one VMA), @writable or read-only.
 * Returns how many were mapped (the run is [*@lo, *@lo + n)), 0 if fewer
 * than @min could be taken, -1 if the map failed (a read-only grant in a
 * writable run, or a bad grant). */
int gmap_map_run(struct gmap_window *w, uint32_t start, uint32_t max, int dir,
		 uint32_t min, bool writable, uint32_t *lo);
/* Why claimed grants are unmapped: the counters and the log differ. */
enum gmap_unmap_why {
	GMAP_UNMAP_UNPIN, GMAP_UNMAP_RELEASE, GMAP_UNMAP_EVICT, GMAP_UNMAP_RETRY
};
/* Unmap claimed grants @refs[0..@n) (were MAPPED; sorted here), runs of
 * contiguous refs at once, re-arm their pages and commit them; a grant
 * whose unmap the kernel refused stays MAPPED and is retried by the
 * evictor (gmap_unmap_due).  Window lock not held.  Returns how many are
 * EMPTY again. */
size_t gmap_unmap_claimed(struct gmap_window *w, uint32_t *refs, size_t n,
			  enum gmap_unmap_why why);


/* around.c: map untouched neighbours of a served fault */
void gmap_fault_around(struct gmap_window *w, uint32_t ref);

/* status.c */
int gmap_status_errno(int16_t status);

/* pin.c: One more pin on @ref if it is mapped and pinned already (writable, for
 * @write): 0, or -1 and nothing changed.  For a copy that is cheaper from
 * the window than from the hypervisor; gmap_unpin() gives it back (pin.c). */
int gmap_pin_held(struct gmap_window *w, uint32_t ref, bool write);

/* CLOCK_MONOTONIC in nanoseconds: for timeouts (the window's condition
 * variable and the evictor's count in this clock too). */
static inline uint64_t gmap_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline uint64_t gmap_mono_ms(void)
{
	return gmap_mono_ns() / 1000000;
}

/* The absolute CLOCK_MONOTONIC time @ms from now, for timed waits. */
static inline struct timespec gmap_mono_after(unsigned int ms)
{
	uint64_t t = gmap_mono_ns() + (uint64_t)ms * 1000000ULL;

	return (struct timespec){ .tv_sec = (time_t)(t / 1000000000ULL),
				  .tv_nsec = (long)(t % 1000000000ULL) };
}

static inline void *gmap_addr_of(const struct gmap_window *w, uint32_t ref)
{
	return w->base + ((uint64_t)ref << GMAP_PAGE_SHIFT);
}

/* The ref whose page holds @a, an address inside the window. */
static inline uint32_t gmap_ref_of(const struct gmap_window *w, uintptr_t a)
{
	return (uint32_t)((a - (uintptr_t)w->base) >> GMAP_PAGE_SHIFT);
}

/* vmas.c: the window's count of VMAs (window lock held) */
void gmap_vmas_open(struct gmap_window *w);
void gmap_vmas_close(struct gmap_window *w);
/* The arithmetic of borders between refs' VMAs: vmas.h (gstate.c's). */
void gmap_vmas_add(struct gmap_window *w, int delta);

/* budget.c: the budgets and their slots */
void gmap_budget_init(struct gmap_window *w, uint64_t max_mapped,
		      uint64_t max_vmas, uint64_t max_meta);
void gmap_budget_fini(struct gmap_window *w);
/* A slot for a map about to be made: 0, or -1 with ENOSPC and *@st
 * (GMAP_ST_BUDGET or GMAP_ST_VMAS) once the budget stayed full for a
 * while (@wait: the evictor was woken and given a second) or at once. */
int gmap_budget_take(struct gmap_window *w, bool wait, int16_t *st);
uint32_t gmap_budget_take_some(struct gmap_window *w, uint32_t n, int16_t *st);
void gmap_budget_put(struct gmap_window *w);
/* Fit the VMA budget to the room the process has now; @enomem: a map or
 * unmap just failed for want of it (window lock not held). */
void gmap_budget_refresh(struct gmap_window *w, bool enomem);
/* After a failed map or unmap: if errno is ENOMEM (for a placement, the
 * process out of VMAs), gmap_budget_refresh(w, true); errno kept. */
void gmap_budget_enomem(struct gmap_window *w);

/* Whether the use of the budgets of grants or VMAs has reached a high
 * watermark: grants must be evicted. */
bool gmap_budget_over_high(struct gmap_window *w);

/* queue.c: the evictor's queues (window lock held) */
/* Grants were just mapped: queue each through its word not yet stored
 * (@word, returned with GS_QUEUED if queued); then, once per map, the
 * peak and the evictor's wake-up (gmap_evict_mapped). */
uint32_t gmap_evict_push_word(struct gmap_window *w, uint32_t ref,
			      uint32_t word);
void gmap_evict_mapped(struct gmap_window *w);
/* Drop FIFO entries of refs no longer mapped. */
void gmap_evict_compact(struct gmap_window *w);
/* Free the FIFO's memory (gmap_close). */
void gmap_evict_ring_free(struct gmap_evictor *ev);

/* Take (claim) up to @max of the oldest unpinned mapped grants: down to
 * the low watermarks, or with @idle those mapped for idle_ms. */
size_t gmap_evict_pick(struct gmap_window *w, uint32_t *out, size_t max,
		       bool idle);
/* Whether the oldest FIFO entry has been mapped for idle_ms. */
bool gmap_evict_head_idle(struct gmap_evictor *ev);
/* Whether a map must wait for the evictor (evict.c): while it unmaps a
 * batch, but for one batch at most.  *@seen is 0 before the first call;
 * a wait counts in evict_waits.  Window lock held. */
static inline bool gmap_evict_gated(struct gmap_window *w, uint64_t *seen)
{
	if (!w->ev.gated)
		return false;
	if (!*seen) {
		*seen = w->ev.batches + 1;
		atomic_fetch_add(&w->c->evict_waits, 1);
		return true;
	}
	return *seen == w->ev.batches + 1;
}
/* A grant whose unmap failed stays mapped: retry it, first after
 * GMAP_DUE_MIN_MS, backing off to GMAP_DUE_MAX_MS (evict.c). */
#define GMAP_DUE_MIN_MS 10
#define GMAP_DUE_MAX_MS 1000
void gmap_unmap_due(struct gmap_window *w, uint32_t ref);
/* Take (claim) up to @max due refs still mapped and unpinned; drop the
 * others. */
size_t gmap_due_take(struct gmap_window *w, uint32_t *out, size_t max);
void gmap_due_done(struct gmap_window *w);  /* the retry of those is over */

/* evict.c: the evictor thread */
int gmap_evict_start(struct gmap_window *w, uint32_t idle_ms);
/* Wake the evictor, starting it if need be (window lock held).  The one
 * call that goes up the layers: every producer of work for it makes it. */
void gmap_evict_kick(struct gmap_window *w);
void gmap_evict_stop(struct gmap_window *w);

/* reclaim.c: free leaves whose refs are all EMPTY until the metadata is
 * at most @target bytes (window lock held; dropped while freeing).
 * Returns the bytes freed. */
uint64_t gmap_meta_reclaim(struct gmap_window *w, uint64_t target);

/* Whether the directory page holding slot @idx points at no leaf (window
 * lock held): a leaf published there makes the page count as metadata,
 * and reclaim gives an empty page back. */
static inline bool gmap_dir_page_empty(struct gmap_window *w, size_t idx)
{
	size_t i, first = idx - idx % GMAP_DIR_PAGE_SLOTS;

	for (i = first; i < first + GMAP_DIR_PAGE_SLOTS; i++)
		if (atomic_load(&w->dir.slots[i]))
			return false;
	return true;
}

/* placeholder.c: the window's pages that hold no grant */
void *gmap_mmap_raw(void *addr, size_t len, int prot, int flags, int fd,
		    off_t off);
int gmap_munmap_raw(void *addr, size_t len);
/* With handler threads: the window's placeholder file, then its range
 * reserved as armed placeholders (or, inline, inaccessible pages). */
#define GMAP_PLACEHOLDER_NAME "libgmap-placeholders"
int gmap_placeholders_open(struct gmap_window *w, bool quiet);
int gmap_placeholders_reserve(struct gmap_window *w);
void gmap_placeholders_close(struct gmap_window *w);
int gmap_rearm(struct gmap_window *w, void *addr, size_t len);
/* A re-arm's first step: the range inaccessible, unregistered, marked
 * MADV_DONTFORK as the window's placeholders are; then
 * gmap_arm_unplaced(). */
int gmap_unplace(struct gmap_window *w, void *addr, size_t len);
/* An inline window's unmapped page, left unarmed: the window's memfd,
 * PROT_NONE, at the page's offset in the window in the copy of the
 * window that @colour (GS_COLOUR) names. */
#define GMAP_UNARMED_NAME "libgmap-unarmed"
int gmap_poison_unarmed(struct gmap_window *w, void *addr, size_t len,
			uint32_t colour);
int gmap_arm_unplaced(struct gmap_window *w, void *addr, size_t len);
int gmap_poison(struct gmap_window *w, void *addr, size_t len);
void gmap_no_fork(struct gmap_window *w, void *addr, size_t len);
/* After a failed MAP_FIXED or MREMAP_FIXED over [addr, addr+len): fill
 * the holes the kernel left there (PROT_NONE, MADV_DONTFORK) without
 * replacing anything, and say for each page whose it is now in fill[i]. */
enum { GMAP_FILL_HOLE = 1, GMAP_FILL_OURS, GMAP_FILL_LOST };
void gmap_fill_holes(void *addr, size_t len, uint8_t *fill);
/* gmap_fill_hole() for a range of armed window pages whose placement
 * failed: holes are re-armed, pages another mapping took are recorded as
 * lost.  0, or -1 and EEXIST if a page was lost. */
int gmap_refill(struct gmap_window *w, void *addr, size_t len);
bool gmap_ref_lost(struct gmap_window *w, uint32_t ref);
/* @fn over the whole window but its lost pages. */
int gmap_each_owned(struct gmap_window *w,
		    int (*fn)(struct gmap_window *, void *, size_t));

/* uffd.c: the userfaultfd and its ioctls */
int gmap_uffd_open(struct gmap_window *w);
int gmap_uffd_arm(struct gmap_window *w);
/* register a range for missing-page faults (re-arming it) */
int gmap_uffd_register(struct gmap_window *w, void *addr, size_t len);
/* wake the threads waiting on a fault in a range */
int gmap_uffd_wake(struct gmap_window *w, void *addr, size_t len);
/* ... after a map outside the fault path, only if a handler is busy (see
 * gmap_handlers.busy): one system call less per pin otherwise */
void gmap_wake_waiters(struct gmap_window *w, void *addr, size_t len);

/* fault.c: the handler threads, and serving one fault */
int gmap_handlers_start(struct gmap_window *w);
void gmap_handlers_stop(struct gmap_window *w);
int gmap_fault_serve(struct gmap_window *w, uint32_t ref, const char *what,
		     pid_t tid);

/* inline.c: a fault served by the faulting thread, from signal.c's SIGSEGV
 * handler.  The check reads the grant lock-free (the window's slot
 * entered): 2: serve it; 1: retry the access; 0: deliver SIGSEGV, @why
 * (of @len bytes) says why; -1: not a fault of the window's (the SIGSEGV
 * goes to the handler installed before ours).  The serving itself runs outside
 * the slot's reader count, which the evictor's reclaim waits to drain
 * while the fault may wait for the evictor; gmap_close() waits for it
 * (gmap_signal_drain). */
int gmap_inline_check(struct gmap_window *w, uintptr_t addr, char *why,
		      size_t len);
void gmap_inline_serve(struct gmap_window *w, uintptr_t addr);

/* signal.c: the SIGSEGV handler and the table it reads */
int gmap_signal_register(struct gmap_window *w);
void gmap_signal_unregister(struct gmap_window *w);
void gmap_signal_after_fork(void);
void gmap_signal_kick(struct gmap_window *w, pid_t tid, void *addr);
/* Wait until no SIGSEGV handler is reading @w's grant state. */
void gmap_signal_quiesce(struct gmap_window *w);
/* Wait until no fault of @w is being served inline (w->closing set). */
void gmap_signal_drain(struct gmap_window *w);

/* outside.c: for the preload shim, the backend's maps outside the window
 * (gmap_can_map_outside: only where the window's pages cannot be aliased;
 * see map_extra above) and its grant copies (gmap_can_copy; @segs in
 * libxengnttab's layout). */
bool gmap_can_map_outside(const struct gmap_window *w);
void *gmap_map_outside(struct gmap_window *w, uint32_t count,
		       const uint32_t *refs, void *addr, bool writable,
		       uint64_t *handle, int16_t *status);
void gmap_unmap_outside(struct gmap_window *w, uint64_t handle, uint32_t count);
bool gmap_can_copy(const struct gmap_window *w);
int gmap_copy_segs(struct gmap_window *w, uint32_t count, void *segs);

/* fork.c: a child has no window (MADV_DONTFORK) and may only close it */
extern _Atomic unsigned int gmap_fork_gen;
int gmap_fork_guard(struct gmap_window *w);
void gmap_fork_unguard(struct gmap_window *w);
/* Around each backend map: a fork waits for the maps in flight and marks
 * the windows MADV_DONTFORK, as maps no longer do one by one. */
void gmap_place_enter(void);
void gmap_place_leave(void);
static inline bool gmap_inherited(const struct gmap_window *w)
{
	return w->fork.gen != atomic_load_explicit(&gmap_fork_gen,
						   memory_order_relaxed);
}
/* True (and EPERM, and a message naming @what) in a child. */
bool gmap_inherited_check(const struct gmap_window *w, const char *what);

/* sim_domain.c: looking up an in-process simulated domain */
int gmap_sim_lookup_fds(uint32_t domid, int *ctl_fd, int *mem_fd);
/* sim_sock.c: ... or from a gmap-simdom process over a unix socket */
int gmap_sim_connect(struct gmap_backend_ctx *b, const char *path, int *ctl_fd,
		     int *mem_fd);

#endif /* GMAP_PRIVATE_H */
