/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmap.h - libgmap public API: a userspace, fault-driven Xen grant mapper.
 *
 * A *window* is one large reserved virtual range per (process, granting
 * domain).  Grant reference r of that domain lives at base + r * 4096,
 * matching Linux's grant DMA addresses (bit 63 set, ref in bits 62..12,
 * offset in bits 11..0), so translating a grant DMA address to a pointer is
 * one bounds check and one add.  Nothing is mapped until it is touched:
 * userfaultfd catches the first access to a page and a handler thread maps
 * that grant at exactly that address.  Every grant has one state and one
 * reference count per window, so it is mapped at most once, whoever asks.
 *
 * Error convention (as libxengnttab): functions returning int return 0 (or
 * a non-negative count) on success and -1 with errno set on failure;
 * functions returning a pointer return NULL with errno set.  errno is never
 * negative.  "Logs errors" means a failure also writes one line to the
 * window's logger; "Never logs" means it does not.
 *
 * Thread safety: every function taking a window may be called from any
 * thread concurrently, except gmap_close(), which must not race with other
 * calls on the same window.
 *
 * Signals: a touch of a grant that cannot be mapped ends in SIGSEGV in the
 * touching thread, with si_addr the faulting address (see gmap_open(3)).
 * libgmap installs a SIGSEGV handler when the first window opens and chains
 * to the handler that was installed before it.  A program that installs its
 * own SIGSEGV handler after opening a window must chain to the previous one.
 *
 * fork(): a child does not inherit windows.  Their mappings are not
 * copied (MADV_DONTFORK) and their ranges are inaccessible in the child:
 * any access gets SIGSEGV.  In the child gmap_pin(), gmap_unpin(),
 * gmap_prefault() and gmap_release() fail with EPERM, gmap_close() frees
 * the child's copy only, and the child may open windows of its own.
 */
#ifndef GMAP_H
#define GMAP_H

#include <stddef.h>
#include <stdint.h>

#include <xentoollog.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The release: also the package's version (configure.ac reads it here). */
#define GMAP_VERSION_MAJOR 0
#define GMAP_VERSION_MINOR 2
#define GMAP_VERSION_MICRO 0

/*
 * True if this header is at least version major.minor.micro of the same
 * major version: the compile-time twin of gmap_check_version(), usable in
 * #if.
 */
#define GMAP_CHECK_VERSION(major, minor, micro)				\
	(GMAP_VERSION_MAJOR == (major) &&				\
	 (GMAP_VERSION_MINOR > (minor) ||				\
	  (GMAP_VERSION_MINOR == (minor) && GMAP_VERSION_MICRO >= (micro))))

#define GMAP_PAGE_SHIFT 12
#define GMAP_PAGE_SIZE  (1UL << GMAP_PAGE_SHIFT)

/* Bit 63 of a grant DMA address says "this is a grant, not a frame". */
#define GMAP_DMA_GRANT_BIT (UINT64_C(1) << 63)

/* The largest window: the whole 32-bit grant space (16 TiB). */
#define GMAP_MAX_REFS (UINT64_C(1) << 32)
/*
 * The default window: 2^24 refs, 64 GiB of address space, so that a
 * process can open its 64 windows (4 TiB) in x86-64's 128 TiB of user
 * space with room to spare; 2^32-ref windows fit 7.  Xen's grant tables
 * are far smaller: 64 frames by default (32768 v1 refs), and 2^24 refs
 * would take 32768 frames (gnttab_max_frames).  Ask for GMAP_MAX_REFS to
 * serve any 32-bit ref a guest may send.
 */
#define GMAP_DEFAULT_REFS (UINT64_C(1) << 24)

struct gmap_window;

enum gmap_backend {
	GMAP_BACKEND_DEFAULT = 0, /* GMAP_BACKEND env, else sim */
	GMAP_BACKEND_SIM,         /* simulated granting domain (this process
				   * or a gmap-simdom process)             */
	GMAP_BACKEND_XEN,         /* /dev/xen/gntdev                       */
};

/* What happens to a thread that touches a grant that cannot be mapped. */
enum gmap_bad_policy {
	/*
	 * Default.  The thread gets SIGSEGV with si_addr set to the faulting
	 * address; one diagnostic line (domain, ref, address, status and its
	 * meaning) and a backtrace of the thread are logged first (the logger
	 * is then called from the signal handler).  The page stays poisoned
	 * until gmap_release() or a successful gmap_pin() or gmap_prefault().
	 */
	GMAP_BAD_SIGNAL = 0,
	/*
	 * As GMAP_BAD_SIGNAL but without the backtrace (for programs that
	 * handle SIGSEGV themselves and only want the diagnostic line).
	 */
	GMAP_BAD_SIGNAL_QUIET,
};

/* What the last gmap_unpin() of a grant does. */
enum gmap_unpin_policy {
	/*
	 * Default.  Unmap the grant at once, so the granter can end foreign
	 * access as soon as the backend is done with it.
	 */
	GMAP_UNPIN_UNMAP = 0,
	/*
	 * Keep it mapped, as a touched page is, until gmap_release() or
	 * gmap_close().  For rings that reuse the same buffer grants I/O
	 * after I/O (Xen's "persistent grants"): a pin of a mapped grant
	 * costs no map.  The granter cannot end access meanwhile.
	 */
	GMAP_UNPIN_KEEP,
};

/* Which neighbours of a faulting ref fault-around maps with it. */
enum gmap_around_dir {
	GMAP_AROUND_FORWARD = 0, /* refs after it (sequential readers)   */
	GMAP_AROUND_BACKWARD,    /* refs before it                        */
	GMAP_AROUND_BOTH,        /* half after, half before               */
};

/* Who serves a fault on an untouched window page (gmap_open(3)). */
enum gmap_fault_mode {
	/*
	 * Default: INLINE where only user-mode faults can be served anyway
	 * (no access to /dev/userfaultfd, no CAP_SYS_PTRACE,
	 * vm.unprivileged_userfaultfd=0), THREAD where system calls into
	 * untouched pages can be served too.
	 */
	GMAP_FAULT_AUTO = 0,
	/*
	 * Handler threads read the window's userfaultfd and map the page
	 * while the faulting thread sleeps; a read(2) into an untouched
	 * page waits for its map too (where the system allows).  Each fault
	 * costs two cross-thread wake-ups.
	 */
	GMAP_FAULT_THREAD,
	/*
	 * The faulting thread maps its own page: untouched pages are
	 * PROT_NONE, a touch raises SIGSEGV in the thread, libgmap's
	 * SIGSEGV handler maps the grant (and fault-around's neighbours) and
	 * returns, and the access is retried.  No handler threads, no
	 * wake-ups, no userfaultfd.  A system call into an untouched page
	 * fails with EFAULT instead of waiting: pin or prefault buffers that
	 * the kernel fills.  A SIGSEGV outside every window goes to the
	 * handler installed before libgmap's.
	 */
	GMAP_FAULT_INLINE,
};

struct gmap_open_opts {
	/* Size of this struct, for forward compatibility: set it to
	 * sizeof(struct gmap_open_opts).  0 means "the 0.1 layout". */
	size_t size;
	enum gmap_backend backend;
	/* Window size in grant refs (1 .. GMAP_MAX_REFS); 0: GMAP_DEFAULT_REFS. */
	uint64_t nr_refs;
	/* Handler threads serving faults (1..64); 0: 1. */
	unsigned int handler_threads;
	enum gmap_bad_policy bad_policy;
	/* Logger; NULL: a stderr logger whose level GMAP_LOG sets
	 * (debug|verbose|detail|progress|info|notice|warn|error|critical|none,
	 * default warn). */
	xentoollog_logger *logger;
	/* sim only: the domid this process plays as grantee (the grant
	 * entry's domid must match it); the hypervisor knows it on xen. */
	uint16_t self_domid;
	uint16_t reserved[3];     /* the first layout's padding: set to 0 */
	/* Added after 0.1's first layout (whose sizeof was 48 on 64-bit
	 * systems); read only if @size covers them. */
	enum gmap_unpin_policy unpin_policy;
	/*
	 * After serving a fault, a handler keeps polling for the next one
	 * this many microseconds before it sleeps (0..10000; 0, the default:
	 * sleep at once).  Polling burns CPU while faults come in, and saves
	 * the wake-up of the handler for faults that follow closely, which
	 * matters where waking an idle CPU is slow (virtual machines).
	 */
	unsigned int handler_spin_us;
	/*
	 * Budget: at most this many grants mapped at once (0: half of
	 * max_vmas, two VMAs per isolated grant; the GMAP_MAX_MAPPED
	 * variable overrides it).  An evictor thread unmaps the oldest
	 * unpinned grants from 15/16 of the budget down to 7/8; a map that
	 * finds the budget used up waits (up to 1 s) and then fails with
	 * status -102, as an unmappable grant does (a fault ends in
	 * SIGSEGV, gmap_pin() in ENOSPC), when every mapped grant is pinned.
	 */
	uint64_t max_mapped;
	/*
	 * Fault-around: a fault maps up to this many refs in one go, the
	 * faulting one and its neighbours in @fault_around_dir that are not
	 * mapped yet, stopping at the first that cannot be mapped the same
	 * way (1..256; 0 or 1: only the faulting ref; GMAP_FAULT_AROUND
	 * overrides it).  Neighbours mapped this way hold their grants like
	 * touched pages until released or evicted.
	 */
	unsigned int fault_around;
	enum gmap_around_dir fault_around_dir;
	/*
	 * Idle timeout: unmap unpinned grants that have been mapped for this
	 * many milliseconds, so that the guest can end access to buffers
	 * the backend touched but no longer uses (0, the default: never;
	 * up to 3600000; GMAP_IDLE_MS overrides it).  Age counts from the
	 * map, or from when the evictor last found the grant pinned and put
	 * it back in its queue: libgmap cannot see
	 * accesses to a mapped page, so a page in use is unmapped too and
	 * faults back in on its next touch.
	 */
	unsigned int idle_ms;
	/*
	 * Budget of VMAs: the window's range is split into at most about
	 * this many mappings (vmas_now in gmap_stats) (0: three quarters of
	 * what vm.max_map_count leaves this process, after the budgets of
	 * its other windows; 8 .. 2^31; GMAP_MAX_VMAS overrides it).  Every
	 * map and every poisoned page counts, so it holds where max_mapped
	 * alone cannot: a raised max_mapped with runs, or many bad grants.
	 * The evictor also runs from 15/16 of it down to 7/8; a map that
	 * finds it used up waits (up to 1 s) and then fails with
	 * status -103, as for max_mapped.
	 */
	uint64_t max_vmas;
	/*
	 * Budget of metadata memory, in bytes (0: 2.25 KiB per VMA of the
	 * budget of VMAs, at least 16 MiB; 65536 .. 2^40; GMAP_MAX_META
	 * overrides it).  From 15/16 of it the evictor frees the grant
	 * state of refs that are all back to untouched, down to 7/8; the
	 * state of mapped, pinned and bad grants stays (the other budgets
	 * bound those), so the window may stay above it, with a warning.
	 */
	uint64_t max_meta;
	/*
	 * Who serves faults (GMAP_FAULT_MODE overrides it: thread, inline
	 * or auto).  handler_threads and handler_spin_us apply to
	 * GMAP_FAULT_THREAD only.
	 */
	enum gmap_fault_mode fault_mode;
};

/*
 * Open the window for granting domain @domid.  @opts may be NULL for all
 * defaults.  Fails with EEXIST if this process already has a window for
 * @domid, ENOENT/EACCES if the backend device is missing or closed to us,
 * ESRCH if the sim backend finds no simulated domain @domid, EINVAL for a
 * bad option or environment variable (named in the log), ENOMEM if the
 * address space cannot be reserved, EMFILE past 64 windows, EOPNOTSUPP
 * for the xen backend in a libgmap built without it.  userfaultfd
 * is opened so that faults from kernel mode (read(2) into the window) are
 * served; where the system only allows user-mode faults, open succeeds
 * with a warning that such system calls will fail with EFAULT, and fails
 * with EPERM only if userfaultfd is refused altogether.  Logs errors.
 */
struct gmap_window *gmap_open(uint32_t domid, const struct gmap_open_opts *opts);

/*
 * Close a window: stop its handlers, unmap every grant (so the granter can
 * end access), make the range inaccessible and release it.  A thread still
 * waiting on a fault in the window is woken and gets SIGSEGV; none is left
 * blocked.  Never fails; NULL is a no-op.  Logs errors.
 */
void gmap_close(struct gmap_window *w);

/* Base address of the window and its size in refs.  Never log. */
void *gmap_base(const struct gmap_window *w);
uint64_t gmap_nr_refs(const struct gmap_window *w);
uint32_t gmap_domid(const struct gmap_window *w);
/* Name of the backend in use ("sim" or "xen").  Never logs. */
const char *gmap_backend_name(const struct gmap_window *w);

/*
 * Translate the grant DMA address @dma, a buffer of @len bytes (len 0 is
 * treated as 1), to a pointer into the window.  Fails with EINVAL if bit 63
 * is clear and ERANGE if the buffer does not lie wholly inside the window.
 * Nothing is mapped: the pointer faults in on first touch.  Never logs.
 */
void *gmap_translate(const struct gmap_window *w, uint64_t dma, size_t len);

/* The pointer at grant @ref, offset 0; NULL/ERANGE outside.  Never logs. */
void *gmap_ref_ptr(const struct gmap_window *w, uint32_t ref);

/*
 * The grant DMA address of pointer @p, into *@dma.  Fails with ERANGE if
 * @p is outside the window.  Never logs.
 */
int gmap_dma_of(const struct gmap_window *w, const void *p, uint64_t *dma);

/* Flags for gmap_pin() and gmap_prefault(). */
#define GMAP_PIN_READ  0x0  /* read access is enough (read-only grants ok) */
#define GMAP_PIN_WRITE 0x1  /* the grant must be mapped writable           */
/*
 * Only read access will be used (libxengnttab's PROT_READ): a grant not
 * mapped yet is mapped read-only at once.  GMAP_PIN_READ tries writable
 * first (a later write then needs no new map), which for a read-only
 * grant costs a refused map.  While the page stays mapped read-only (this
 * pin held, or GMAP_UNPIN_KEEP), a GMAP_PIN_WRITE pin of it fails with
 * EACCES.  Added in 0.2.0.
 */
#define GMAP_PIN_READONLY 0x2

/* Where a range operation stopped, for reporting to the guest. */
struct gmap_error {
	uint32_t ref;    /* the first ref that could not be mapped        */
	int16_t status;  /* the backend's GNTST_* status, 0 if none       */
	int err;         /* the errno the call failed with                */
};

/*
 * Pin refs [@ref, @ref + @count): map each (once per window, whatever else
 * maps it) and hold it mapped until the matching gmap_unpin().  Pins
 * nest.  All or nothing: on failure no pin is left taken.  Errors: EINVAL
 * (count 0 or bad flags), ERANGE (outside the window), EACCES (not
 * permitted: grant not for us, write pin of a read-only grant),
 * ENXIO (ref past the granter's table), ESRCH (domain gone),
 * EFAULT (bad frame), EAGAIN (granter's page unavailable), EIO (backend
 * failure), EEXIST (the ref's page was lost to another mapping after a
 * refused map left a hole, status -104); @err (may be NULL) says which ref
 * and status.  Logs errors.
 */
int gmap_pin(struct gmap_window *w, uint32_t ref, uint32_t count, int flags,
	     struct gmap_error *err);

/*
 * Drop one pin from each ref of the range.  When a grant's last pin goes,
 * it is unmapped at once (so the granter can end foreign access) and its
 * page is re-armed, unless the window was opened with GMAP_UNPIN_KEEP:
 * then it stays mapped, as a touched page does.  Fails with EINVAL, changing nothing, if any ref of the
 * range is not pinned.  Logs errors.
 */
int gmap_unpin(struct gmap_window *w, uint32_t ref, uint32_t count);

/*
 * Map the range now without pinning it, as first touches would.  Errors as
 * gmap_pin(); grants mapped before a failure stay mapped.  Logs errors.
 */
int gmap_prefault(struct gmap_window *w, uint32_t ref, uint32_t count,
		  int flags, struct gmap_error *err);

/*
 * Unmap every unpinned grant of the range that is mapped (by a touch or a
 * prefault) and re-arm its page; clear poisoned (bad) pages so that the
 * next touch tries again.  Pinned grants are left alone.  Returns the number
 * of pages unmapped or cleared, or -1 (EINVAL, ERANGE).  Logs errors.
 */
int gmap_release(struct gmap_window *w, uint32_t ref, uint32_t count);

struct gmap_stats {
	uint64_t faults;        /* faults served (either mode)           */
	uint64_t maps;          /* successful backend maps               */
	uint64_t map_failures;  /* backend maps that failed              */
	uint64_t unmaps;        /* backend unmaps                        */
	uint64_t pins;          /* gmap_pin() refs pinned                */
	uint64_t unpins;        /* refs unpinned                         */
	uint64_t bad_grants;    /* pages poisoned because unmappable     */
	uint64_t rearm_waits;   /* accesses that met a re-arm and waited */
	uint64_t mapped_now;    /* grants mapped at this moment          */
	uint64_t pinned_now;    /* grants with at least one pin          */
	uint64_t meta_bytes;    /* metadata memory in use                */
	uint64_t evictions;     /* grants unmapped by the evictor        */
	uint64_t idle_evictions; /* ... of them, for the idle timeout    */
	/* Grants being evicted at this moment (counted in evictions once
	 * their pages are armed again and their state says so: at 0, the
	 * other counters describe one moment).  While a page is evicted a
	 * system call copying to or from it fails with EFAULT: see
	 * gmap_release. */
	uint64_t evicting_now;
	uint64_t mapped_peak;   /* most grants mapped at once            */
	uint64_t max_mapped;    /* the budget of mapped grants           */
	uint64_t around_runs;   /* faults that mapped neighbours too     */
	uint64_t around_pages;  /* neighbours mapped by fault-around     */
	/* The VMAs the window's range is split into, by the library's own
	 * account (each backend map is one VMA, or one per piece of
	 * contiguous frames on sim; placeholders between them merge unless
	 * the kernel says otherwise), and the most at one time.  What
	 * /proc/self/maps shows when no map or unmap is in flight (on Linux
	 * 6.11 and later: gmap_stats(3)); off by at most two for each one in
	 * flight. */
	uint64_t vmas_now;
	uint64_t vmas_peak;
	uint64_t max_vmas;      /* the budget of VMAs                    */
	uint64_t max_meta;      /* the budget of metadata bytes          */
	uint64_t meta_freed;    /* metadata bytes freed to keep within it */
	/* Unmaps the kernel refused (out of VMAs: a grant's page could not
	 * be replaced), each retried until it succeeds; the grants waiting
	 * for such a retry now. */
	uint64_t unmap_failures;
	uint64_t unmaps_due;
	/* The fault mode in use: GMAP_FAULT_THREAD or GMAP_FAULT_INLINE
	 * (what GMAP_FAULT_AUTO chose). */
	uint64_t fault_mode;
	/* An inline window's unmapped pages: left unarmed (PROT_NONE, no
	 * re-arm) now, and unmapped pages that were re-armed instead
	 * (handler threads, evictions, past the cap of unarmed pages). */
	uint64_t unarmed_now;
	uint64_t rearms;
	/* Faults, pins and prefaults that waited for the evictor to finish
	 * unmapping a batch before they could map (the window was at a
	 * budget's high watermark). */
	uint64_t evict_waits;
	/* New counters are added here, at the end. */
};

/*
 * Fill @st, of @size bytes (sizeof(struct gmap_stats) as the caller was
 * built), with a snapshot of the window's counters.  A caller built with
 * an older header gets the fields it knows; a caller built with a newer
 * one gets zeros in the fields this library does not have.  Fails with
 * EINVAL for a size below that of the first layout.  Never logs.
 */
int gmap_stats(const struct gmap_window *w, struct gmap_stats *st, size_t size);

/*
 * Text for a GNTST_* status (for example "GNTST_bad_gntref: unrecognised
 * or inappropriate grant reference").  Never NULL.  Never logs.
 */
const char *gmap_status_str(int16_t status);

/* "0.2.0": the library's version, to check against GMAP_VERSION_*. */
const char *gmap_version(void);

/*
 * Whether the library loaded at run time is at least version
 * @major.@minor.@micro: 0 if it has that major version and its (minor,
 * micro) is not lower; else -1 with errno EINVAL (also for a negative
 * number).  Added in 0.2.0 (symbol version LIBGMAP_0.2).  Never logs.
 */
int gmap_check_version(int major, int minor, int micro);

/* The simulated granting domain that the sim backend maps from, for tests
 * and tools that play the guest: <gmap-sim.h>. */

#ifdef __cplusplus
}
#endif

#endif /* GMAP_H */
