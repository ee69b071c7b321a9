/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * worker.c - the faulting threads: pick a ref by the access pattern, lease
 * it, touch it through the window (from user mode, or from the kernel
 * through pread/pwrite) and check what was seen against the guest's
 * signature; writes are read back through the guest.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "stress.h"

struct st_run *st_the_run;

/* ---- guarded touches ----------------------------------------------------
 *
 * A touch that ends in SIGSEGV (libgmap's outcome for a grant it cannot
 * map: it logs, then chains to this handler) must be counted, not kill
 * the run.  sigsetjmp(.., 0) keeps the fast path free of system calls; the
 * handler restores the thread's signal mask itself before jumping out.
 * The whole mask, not just SIGSEGV: an inline window's SIGBUS handler can
 * call this one from inside itself (SIGBUS is blocked there), and a
 * runtime may block more around a handler (ThreadSanitizer blocks all
 * signals in its wrapper); a signal left blocked would kill the thread at
 * its next fault. */
static __thread sigjmp_buf *volatile tl_jmp;
static __thread void *volatile tl_addr;
static __thread sigset_t tl_mask;
static __thread bool tl_mask_saved;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!tl_jmp) {
		/* Not a guarded touch: a real crash.  Die of it. */
		signal(sig, SIG_DFL);
		return;
	}
	tl_addr = si->si_addr;
	pthread_sigmask(SIG_SETMASK, &tl_mask, NULL);
	siglongjmp(*tl_jmp, 1);
}

/* Installed before the window opens, so that libgmap chains to it. */
void st_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
}

bool st_touch(volatile uint64_t *p, bool write, uint64_t val, uint64_t *out)
{
	sigjmp_buf jb;

	if (!tl_mask_saved) {
		pthread_sigmask(SIG_BLOCK, NULL, &tl_mask);
		tl_mask_saved = true;
	}
	if (sigsetjmp(jb, 0)) {
		tl_jmp = NULL;
		return false;
	}
	tl_jmp = &jb;
	if (write)
		*p = val;
	else
		*out = *p;
	tl_jmp = NULL;
	return true;
}

/* ---- the access pattern -------------------------------------------------- */

/*
 * A bijection of [0, n) keyed by @seed: a 4-round Feistel network on the
 * next power of two up from n (balanced halves), walked until it lands
 * inside (cycle walking).
 */
static uint32_t st_permute(uint32_t n, uint64_t seed, uint32_t i)
{
	unsigned int bits = 2;
	uint32_t half, mask, x = i;

	while ((1ull << bits) < n)
		bits += 2;
	half = bits / 2;
	mask = (1u << half) - 1;
	do {
		uint32_t l = x >> half, rr = x & mask;

		for (unsigned int k = 0; k < 4; k++) {
			uint32_t t = rr;

			rr = l ^ ((uint32_t)st_mix64(seed + k * 0x9e37 + rr) & mask);
			l = t;
		}
		x = l << half | rr;
	} while (x >= n);
	return x;
}

static uint32_t next_idx(struct st_run *r, struct st_worker *wk)
{
	const struct st_config *c = &r->cfg;
	uint32_t n = c->pages, hot;

	switch (c->pattern) {
	case PAT_SEQ:
		return (uint32_t)(wk->cursor++ % n);
	case PAT_STRIDE:
		wk->cursor = (wk->cursor + c->stride) % n;
		return (uint32_t)wk->cursor;
	case PAT_HOT:
		hot = (uint32_t)((uint64_t)n * c->hot_pages_pct / 100);
		if (hot == 0)
			hot = 1;
		if (st_rand(&wk->rng) % 100 < c->hot_access_pct)
			return (uint32_t)(st_rand(&wk->rng) % hot);
		return (uint32_t)(st_rand(&wk->rng) % n);
	case PAT_RUNS:
		if (wk->run_left == 0) {
			wk->cursor = st_rand(&wk->rng) % n;
			wk->run_left = c->run;
		}
		wk->run_left--;
		return (uint32_t)(wk->cursor++ % n);
	case PAT_SHUFFLE:
		/* Every page once per pass, in a random order: each thread
		 * walks its own share of a permutation of all pages. */
		return st_permute(n, c->seed, (uint32_t)(wk->cursor++ % n));
	case PAT_RANDOM:
	default:
		return (uint32_t)(st_rand(&wk->rng) % n);
	}
}

/* ---- one access ------------------------------------------------------------ */

void st_check_read(struct st_run *r, uint32_t ref, uint32_t gen,
		       unsigned int word, uint64_t w0, uint64_t wk,
		       const char *how)
{
	if (w0 == st_sig(ref, gen, 0) && wk == st_sig(ref, gen, word))
		return;
	if (w0 == 0 && wk == 0)
		st_fail(r, &r->fail.zero_reads, "ref %u: %s read a zero page",
			ref, how);
	else
		st_fail(r, &r->fail.wrong_data, "ref %u gen %u: %s read "
			"%#llx/%#llx at words 0/%u, expected %#llx/%#llx", ref,
			gen, how, (unsigned long long)w0,
			(unsigned long long)wk, word,
			(unsigned long long)st_sig(ref, gen, 0),
			(unsigned long long)st_sig(ref, gen, word));
}

/* The guest must see what the backend wrote, in the guest's own frame. */
void st_check_written(struct st_run *r, uint32_t idx, unsigned int slot,
			  uint64_t token, const char *how)
{
	uint64_t back = 0;

	st_guest_read(r, idx, (size_t)slot * 8, &back, 8);
	if (back != token)
		st_fail(r, &r->fail.lost_writes, "ref %u: %s write of %#llx "
			"to word %u is not in the guest's page (it holds %#llx)",
			st_ref(r, idx), how,
			(unsigned long long)token, slot,
			(unsigned long long)back);
}

void st_signalled(struct st_run *r, uint32_t ref, bool write,
		      const char *how)
{
	st_fail(r, &r->fail.unexpected_signals, "ref %u: SIGSEGV at %p on "
		"a %s %s of a granted page", ref, tl_addr, how,
		write ? "write" : "read");
}

/*
 * One system call that copies to or from the window.  While a page is
 * being released its placeholder is briefly PROT_NONE (see rearm.c): a
 * user-mode access waits that out in libgmap's SIGSEGV handler, but the
 * kernel can only fail the call with EFAULT, as gmap_release(3) says.  So
 * an EFAULT that met a concurrent release of the ref is retried and
 * counted; any other is a failure.
 */
static bool kernel_copy(struct st_run *r, uint32_t idx, bool to_window,
			int fd, void *win, void *buf, size_t len, off_t off)
{
	uint64_t t0 = st_now_ns();

	/* The releasing thread may be preempted mid-release for a while on
	 * a busy machine; a second is far beyond any release. */
	while (st_now_ns() - t0 < 1000000000ULL) {
		uint32_t e0 = atomic_load(&r->rel_epoch[idx]);
		struct st_evict_mark ev0 = st_evict_mark(r);
		ssize_t n = to_window ? pread(fd, win, len, off) :
					pwrite(fd, win, len, off);

		if (n == (ssize_t)len)
			return to_window || pread(fd, buf, len, off) == (ssize_t)len;
		if (n < 0 && errno == EFAULT && r->inline_faults) {
			uint64_t v;

			/* Inline: the kernel cannot fault the page in; a
			 * user-mode touch can (a bad grant: SIGSEGV). */
			atomic_fetch_add(&r->kernel_touched, 1);
			if (st_touch((volatile uint64_t *)win, false, 0, &v))
				continue;
			errno = EFAULT;
			break;
		}
		if (n >= 0 || errno != EFAULT ||
		    (!st_release_met(r, idx, e0) && !st_eviction_met(r, ev0)))
			break;
		atomic_fetch_add(&r->kernel_raced, 1);
		sched_yield();
	}
	{
		int e = errno;
		uint64_t v = 0;
		bool touched = st_touch((volatile uint64_t *)win, false, 0, &v);

		st_fail(r, &r->fail.kernel_errors, "ref %u: kernel %s the "
			"window: %s (a user-mode read of it then %s)",
			st_ref(r, idx), to_window ? "write into" :
			"read from", strerror(e), touched ? "worked" :
			"got SIGSEGV");
	}
	return false;
}

/* Kernel-mode access: the kernel copies to or from the window. */
static void kernel_access(struct st_run *r, struct st_worker *wk,
			  uint32_t idx, uint32_t gen, bool write, uint64_t tok)
{
	uint32_t ref = st_ref(r, idx);
	uint64_t *page = (uint64_t *)(void *)(r->base + ((uint64_t)ref << 12));
	unsigned int slot = ST_MAILBOX0 + wk->idx;
	uint64_t buf[2] = { 0, 0 };

	if (write) {
		/* pread() writes into the window: a write fault in the kernel. */
		if (pwrite(wk->kfd, &tok, 8, 64) != 8 ||
		    !kernel_copy(r, idx, true, wk->kfd, &page[slot], NULL, 8, 64))
			return;
		if (r->cfg.verify)
			st_check_written(r, idx, slot, tok, "kernel");
	}
	/* pwrite() from the window: a read fault in the kernel. */
	if (!kernel_copy(r, idx, false, wk->kfd, page, buf, 16, 0))
		return;
	if (r->cfg.verify)
		st_check_read(r, ref, gen, 1, buf[0], buf[1], "kernel");
}

static void user_access(struct st_run *r, struct st_worker *wk, uint32_t idx,
			uint32_t gen, bool write, uint64_t tok)
{
	uint32_t ref = st_ref(r, idx);
	volatile uint64_t *page =
		(volatile uint64_t *)(void *)(r->base + ((uint64_t)ref << 12));
	unsigned int slot = ST_MAILBOX0 + wk->idx;
	unsigned int word = 1 + (unsigned int)(st_rand(&wk->rng) % (ST_PATTERN_WORDS - 1));
	uint64_t w0 = 0, wv = 0;

	/* A write goes first, so that write faults are exercised too. */
	if (write) {
		if (!st_touch(&page[slot], true, tok, NULL)) {
			st_signalled(r, ref, true, "user");
			return;
		}
		if (r->cfg.verify)
			st_check_written(r, idx, slot, tok, "user");
	}
	if (!st_touch(&page[0], false, 0, &w0) ||
	    !st_touch(&page[word], false, 0, &wv)) {
		st_signalled(r, ref, false, "user");
		return;
	}
	if (r->cfg.verify)
		st_check_read(r, ref, gen, word, w0, wv, "user");
}

static void access_one(struct st_run *r, struct st_worker *wk)
{
	const struct st_config *c = &r->cfg;
	uint32_t idx = next_idx(r, wk), v;
	uint64_t t0 = 0, tok;
	bool write, kernel, first;

	atomic_store_explicit(&wk->cur_ref, st_ref(r, idx),
			      memory_order_relaxed);
	if (st_lease_get(r, idx, &v) < 0) {
		wk->skipped++;   /* the guest is reusing it right now */
		return;
	}
	write = c->mix == MIX_WRITE ||
		(c->mix == MIX_MIXED && st_rand(&wk->rng) % 100 < c->write_pct);
	if (v & LEASE_RO)
		write = false;   /* a backend knows a read-only buffer */
	kernel = c->kernel_pct && st_rand(&wk->rng) % 100 < c->kernel_pct;
	/* Unique per write, never 0 (a mailbox's initial value). */
	tok = (uint64_t)(wk->idx + 1) << 48 | (wk->accesses & 0xffffffffffffULL);
	first = !atomic_load_explicit(&r->seen[idx], memory_order_relaxed) &&
		!atomic_exchange(&r->seen[idx], 1);
	if (first)
		t0 = st_now_ns();
	if (kernel)
		kernel_access(r, wk, idx, lease_gen(v), write, tok);
	else
		user_access(r, wk, idx, lease_gen(v), write, tok);
	if (first) {
		st_hist_add(&wk->hist, st_now_ns() - t0);
		wk->first_touches++;
	}
	st_lease_put(r, idx);
	wk->accesses++;
	wk->reads += !write;
	wk->writes += write;
	wk->kernel_ops += kernel;
}

void *st_worker_main(void *arg)
{
	struct st_worker *wk = arg;
	struct st_run *r = st_the_run;
	uint64_t quota = 0;

	if (r->cfg.ops) {
		quota = r->cfg.ops / r->cfg.threads;
		if (wk->idx < r->cfg.ops % r->cfg.threads)
			quota++;
	}
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		if (r->cfg.ops && wk->accesses >= quota)
			break;
		access_one(r, wk);
		atomic_store_explicit(&wk->heartbeat,
				      wk->accesses + wk->skipped,
				      memory_order_relaxed);
	}
	atomic_store(&wk->end_ns, st_now_ns());
	atomic_store(&wk->heartbeat, UINT64_MAX); /* done: not hung */
	return NULL;
}
