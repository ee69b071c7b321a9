/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-vmas.c - the VMAs of a window: a backend map is one VMA and maps
 * never merge, the window's own count of its VMAs follows what
 * /proc/self/maps shows, and a budget of VMAs evicts scattered grants.
 */
#include <sys/wait.h>

#include "helpers.h"

/* The page count of the VMA holding window page @ref (0: none). */
static unsigned long vma_pages_at(struct t_fx *fx, uint32_t ref, uint32_t *first)
{
	uintptr_t lo, hi, base = (uintptr_t)gmap_base(fx->w);

	if (!t_vma_of((uint8_t *)gmap_base(fx->w) + ((size_t)ref << 12), &lo, &hi))
		return 0;
	*first = (uint32_t)((lo - base) >> 12);
	return (hi - lo) >> 12;
}

/*
 * How the sim places runs, as gntdev does: one map of contiguous frames is
 * one VMA, and two maps never merge, even of adjacent frames (the budget
 * counts on each map costing a VMA).  A run of scattered frames is a VMA
 * per piece of contiguous frames on sim (one VMA on xen).
 */
static void test_runs_are_vmas(void)
{
	struct gmap_open_opts o = t_budget_opts(0, 0, GMAP_AROUND_FORWARD);
	static const uint32_t scattered[4] = { 300, 200, 201, 50 };
	struct t_fx fx;
	uint32_t first = 0, i;
	unsigned int v0;

	CU_ASSERT_FATAL(t_setup_opts(&fx, 512, &o) == 0);
	v0 = t_window_vmas(fx.w);
	CU_ASSERT(v0 == 1);
	CU_ASSERT(vmas_agree(fx.w));
	/* Refs 0..15, frames 0..15: one map, one VMA. */
	CU_ASSERT_FATAL(gmap_pin(fx.w, 0, 16, GMAP_PIN_WRITE, NULL) == 0);
	CU_ASSERT(vma_pages_at(&fx, 5, &first) == 16 && first == 0);
	/* Refs 16..31 next to it, frames 16..31 next to its frames: a map
	 * of its own, not merged. */
	CU_ASSERT_FATAL(gmap_pin(fx.w, 16, 16, GMAP_PIN_WRITE, NULL) == 0);
	CU_ASSERT(vma_pages_at(&fx, 0, &first) == 16 && first == 0);
	CU_ASSERT(vma_pages_at(&fx, 16, &first) == 16 && first == 16);
	/* Ref 32 alone, then ref 33 alone: two maps, two VMAs. */
	CU_ASSERT_FATAL(gmap_pin(fx.w, 32, 1, 0, NULL) == 0);
	CU_ASSERT_FATAL(gmap_pin(fx.w, 33, 1, 0, NULL) == 0);
	CU_ASSERT(vma_pages_at(&fx, 32, &first) == 1 && first == 32);
	CU_ASSERT(vma_pages_at(&fx, 33, &first) == 1 && first == 33);
	/* The window: 4 maps and the placeholder after them. */
	CU_ASSERT(t_window_vmas(fx.w) == 5);
	CU_ASSERT(vmas_agree(fx.w));
	/* Ref 8 given back: the first map splits around its placeholder. */
	CU_ASSERT(gmap_unpin(fx.w, 8, 1) == 0);
	CU_ASSERT(vma_pages_at(&fx, 7, &first) == 8 && first == 0);
	CU_ASSERT(vma_pages_at(&fx, 8, &first) == 1 && first == 8);
	CU_ASSERT(vma_pages_at(&fx, 9, &first) == 7 && first == 9);
	CU_ASSERT(t_window_vmas(fx.w) == 7);
	CU_ASSERT(vmas_agree(fx.w));
	/* Refs 100..103 granted scattered frames: one run, a VMA per piece
	 * of contiguous frames (300 | 200 201 | 50), each the right page. */
	for (i = 0; i < 4; i++) {
		CU_ASSERT(gmap_sim_end_access(fx.d, 100 + i) == 0);
		CU_ASSERT(gmap_sim_grant(fx.d, 100 + i, scattered[i], T_SELF, 0) == 0);
	}
	CU_ASSERT_FATAL(gmap_pin(fx.w, 100, 4, 0, NULL) == 0);
	CU_ASSERT(vma_pages_at(&fx, 100, &first) == 1 && first == 100);
	CU_ASSERT(vma_pages_at(&fx, 101, &first) == 2 && first == 101);
	CU_ASSERT(vma_pages_at(&fx, 103, &first) == 1 && first == 103);
	for (i = 0; i < 4; i++)
		CU_ASSERT(*(volatile uint64_t *)(void *)((uint8_t *)gmap_base(fx.w) +
			  ((size_t)(100 + i) << 12) + 8) == t_sig(scattered[i], 1));
	CU_ASSERT(vmas_agree(fx.w));
	/* Unpinned one by one from the middle out: each unmap is counted. */
	for (i = 0; i < 34; i++) {
		uint32_t r = (i * 7) % 34;

		if (r == 8)
			continue;
		CU_ASSERT(gmap_unpin(fx.w, r, 1) == 0);
		if (!vmas_agree(fx.w)) {
			CU_FAIL("VMA count off after an unpin");
			break;
		}
	}
	CU_ASSERT(gmap_unpin(fx.w, 101, 2) == 0);
	CU_ASSERT(vmas_agree(fx.w));
	printf("\n    VMAs: %u at open, 7 after 4 maps and a split, then 3 "
	       "pieces of a scattered run ", v0);
	t_teardown(&fx);
}

/*
 * The window's count of its VMAs after each of 20000 random operations,
 * one thread (so that nothing is in flight): touches that read and write
 * (writes would give anonymous placeholders anon_vmas, which keep the
 * kernel from merging them; placeholder.c says why libgmap's are not
 * anonymous), pins, unpins, releases, prefaults, re-grants with other
 * frames and read-only, with fault-around and without.  It must be what
 * /proc/self/maps shows, and the placeholder file must stay empty.
 */
/*
 * Whether the VMA holding @addr carries MADV_DONTFORK ("dc" in its
 * VmFlags): 1 or 0, -1 if /proc/self/smaps does not say.
 */
static int vma_marked(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	int r = -1;

	if (!f)
		return -1;
	while (r < 0 && fgets(line, sizeof(line), f)) {
		char *end;
		uintptr_t lo = strtoul(line, &end, 16), hi;

		if (*end == '-') {
			hi = strtoul(end + 1, NULL, 16);
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			r = strstr(line, " dc") != NULL;
		}
	}
	fclose(f);
	return r;
}

/* A child that exits at once: a fork, as a backend's helper script is. */
static void fork_and_reap(void)
{
	int status = -1;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(0);
	CU_ASSERT_FATAL(pid > 0);
	waitpid(pid, &status, 0);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * The window's count of its VMAs against /proc/self/maps after each of
 * 10000 random operations, with fault-around off and on; with @forks, a
 * fork every 2000 steps.  With handler threads a window's placeholders
 * carry no MADV_DONTFORK until its first fork marks the whole window,
 * and every one made after it carries it (placeholder.c): if a re-arm
 * after a fork left its page unmarked, that page would not merge with
 * its marked neighbours and the count would fall short.  The marks are
 * checked too, on a page unpinned (re-armed) before and after each fork.
 */
static void vma_count_follows(bool forks)
{
	unsigned int checked = 0, nforks = 0, marks = 0, files = 0;

	for (unsigned int around = 0; around <= 4; around += 4) {
		struct gmap_open_opts o = t_budget_opts(0, around, GMAP_AROUND_BOTH);
		static unsigned int pinned[256];
		struct gmap_stats st;
		struct t_fx fx;
		unsigned int seed = 1 + around, v, win_forks = 0;
		uint64_t seen;

		o.nr_refs = 256;
		memset(pinned, 0, sizeof(pinned));
		CU_ASSERT_FATAL(t_setup_opts(&fx, 200, &o) == 0);
		for (int step = 0; step < 10000; step++) {
			uint32_t r = (uint32_t)rand_r(&seed) % (forks ? 190 : 250),
				 n = 1 + (uint32_t)rand_r(&seed) % 8, i;

			if (forks && step % 2000 == 1000) {
				/* Ref 199 is left to this (the random refs
				 * end at 196): with handler threads an unpin
				 * re-arms it, marked as the window's
				 * placeholders are.  (Inline, an unpin leaves
				 * it unarmed, a mapping of the window's file
				 * that is never marked: map.c.) */
				bool armed = !t_inline(fx.w);

				CU_ASSERT_EQUAL(gmap_pin(fx.w, 199, 1, 0, NULL), 0);
				CU_ASSERT_EQUAL(gmap_unpin(fx.w, 199, 1), 0);
				if (armed) {
					CU_ASSERT_EQUAL(vma_marked(gmap_ref_ptr(fx.w, 199)),
							win_forks > 0);
					marks++;
				}
				fork_and_reap();
				nforks++;
				win_forks++;
				CU_ASSERT_EQUAL(gmap_pin(fx.w, 199, 1, 0, NULL), 0);
				CU_ASSERT_EQUAL(gmap_unpin(fx.w, 199, 1), 0);
				if (armed) {
					CU_ASSERT_EQUAL(vma_marked(gmap_ref_ptr(fx.w, 199)), 1);
					marks++;
				}
			}

			switch (rand_r(&seed) % 6) {
			case 0:
				t_touch(gmap_ref_ptr(fx.w, r), rand_r(&seed) & 1,
					1, &seen, NULL);
				break;
			case 1:
				if (gmap_pin(fx.w, r, n, 0, NULL) == 0)
					for (i = 0; i < n; i++)
						pinned[r + i]++;
				break;
			case 2:
				for (i = 0; i < n && pinned[r + i]; i++)
					pinned[r + i]--;
				if (i)
					gmap_unpin(fx.w, r, i);
				break;
			case 3:
				gmap_release(fx.w, r, n);
				break;
			case 4:
				gmap_prefault(fx.w, r, n, 0, NULL);
				break;
			default:
				if (gmap_sim_end_access(fx.d, r) == 0)
					gmap_sim_grant(fx.d, r, (r * 7 + (uint32_t)step) % 200,
						       T_SELF, rand_r(&seed) % 4 == 0);
				break;
			}
			gmap_stats(fx.w, &st, sizeof(st));
			v = t_window_vmas(fx.w);
			checked++;
			if (v != st.vmas_now) {
				fprintf(stderr, "step %d: the window counts %llu VMAs, "
					"/proc/self/maps %u\n", step,
					(unsigned long long)st.vmas_now, v);
				CU_FAIL("the window's count of VMAs is off");
				break;
			}
		}
		/* Thousands of writes and reads of placeholders, and not one
		 * page landed in their file. */
		if (!t_inline(fx.w)) {
			long long size = 0;

			CU_ASSERT_EQUAL(t_placeholder_blocks(&size), 0);
			CU_ASSERT_EQUAL(size, 256 * 4096);
			files++;
		}
		t_teardown(&fx);
	}
	printf("\n    %u exact checks against /proc/self/maps; %u forks, %u "
	       "marks checked; %u placeholder files checked ", checked,
	       nforks, marks, files);
}

static void test_vma_count_follows(void)
{
	vma_count_follows(false);
}

static void test_vma_count_across_forks(void)
{
	vma_count_follows(true);
}

/*
 * The budget of VMAs holds where the budget of mapped grants does not
 * bind: scattered grants under a large max_mapped are evicted to keep the
 * window's VMAs within max_vmas, and when poisoned pages use the VMAs up a
 * map fails with the VMA budget's reason until they are released.
 */
static void test_vma_budget(void)
{
	struct gmap_open_opts o = t_budget_opts(2048, 0, GMAP_AROUND_FORWARD);
	struct gmap_error err;
	struct gmap_stats st;
	struct t_fx fx;
	uint32_t r, bad = 0, verified = 0, segv = 0;
	uint64_t seen, before;

	o.max_vmas = 64;
	CU_ASSERT_FATAL(t_setup_opts(&fx, 2048, &o) == 0);
	/* Every other ref: each mapped grant is two VMAs of its own. */
	for (r = 0; r < 2048; r += 2) {
		seen = 0;
		if (t_touch(gmap_ref_ptr(fx.w, r), 0, 0, &seen, NULL)) {
			bad++;
			continue;
		}
		if (seen == t_sig(r, 0))
			verified++;
	}
	/* The evictor is done when the window is back under the high
	 * watermark (or it is at rest, for the equality with /proc). */
	T_WAIT_UNTIL((gmap_stats(fx.w, &st, sizeof(st)),
		      !st.evicting_now && st.vmas_now <= 64), 10);
	gmap_stats(fx.w, &st, sizeof(st));
	printf("\n    1024 scattered grants, budget 64 VMAs: %u verified, %u "
	       "bad, %llu evictions, VMAs peak %llu, mapped peak %llu ",
	       verified, bad, (unsigned long long)st.evictions,
	       (unsigned long long)st.vmas_peak,
	       (unsigned long long)st.mapped_peak);
	CU_ASSERT_EQUAL(verified, 1024);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(st.max_vmas, 64);
	CU_ASSERT_EQUAL(st.max_mapped, 2048);
	/* One fault in flight at a time: at most its two over. */
	CU_ASSERT(st.vmas_peak <= 64 + 2);
	CU_ASSERT(st.mapped_peak <= 32);
	CU_ASSERT(st.evictions >= 1024 - 32);
	CU_ASSERT(vmas_agree(fx.w));

	/* Poisoned pages count too: touch 31 ungranted refs, every other
	 * one, which leaves 1 + 2 * 31 = 63 VMAs and no room for a map; the
	 * evictor frees the mapped grants, then a pin fails with the VMA
	 * budget's status.  Not in a window whose faults are served inline:
	 * there an untouched page is PROT_NONE and anonymous as a poisoned
	 * one is, so they merge, and bad pages cost no VMA. */
	before = st.vmas_now;
	for (r = 2049; r < 2049 + 2 * 31; r += 2)
		segv += t_touch(gmap_ref_ptr(fx.w, r), 0, 0, &seen, NULL);
	CU_ASSERT_EQUAL(segv, 31);
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT_EQUAL(st.bad_grants, 31);
	if (st.fault_mode == GMAP_FAULT_INLINE) {
		printf("(inline: %llu VMAs before the bad pages, %llu after) ",
		       (unsigned long long)before,
		       (unsigned long long)st.vmas_now);
		CU_ASSERT(st.vmas_now <= before);
		CU_ASSERT(vmas_agree(fx.w));
		CU_ASSERT_EQUAL(gmap_pin(fx.w, 100, 1, 0, &err), 0);
		CU_ASSERT_EQUAL(gmap_unpin(fx.w, 100, 1), 0);
		CU_ASSERT_EQUAL(gmap_release(fx.w, 2049, 62), 31);
		CU_ASSERT(vmas_agree(fx.w));
		t_teardown(&fx);
		return;
	}
	t_log_clear();
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 100, 1, 0, &err), -1);
	CU_ASSERT_EQUAL(errno, ENOSPC);
	CU_ASSERT_EQUAL(err.status, -103);
	CU_ASSERT(t_log_has("budget of VMAs stayed used up"));
	/* Released, the poisoned pages give their VMAs back. */
	CU_ASSERT_EQUAL(gmap_release(fx.w, 2049, 62), 31);
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 100, 1, 0, &err), 0);
	CU_ASSERT_EQUAL(*(volatile uint64_t *)gmap_ref_ptr(fx.w, 100), t_sig(100, 0));
	CU_ASSERT_EQUAL(gmap_unpin(fx.w, 100, 1), 0);
	CU_ASSERT(vmas_agree(fx.w));
	t_teardown(&fx);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "a map is a VMA: runs whole, neighbours never merged", test_runs_are_vmas },
		{ "the window's count of VMAs follows random operations", test_vma_count_follows },
		{ "... and across forks, placeholders marked after the first", test_vma_count_across_forks },
		{ "a budget of VMAs: scattered grants evicted, bad pages count", test_vma_budget },
		{ NULL, NULL },
	};
	return t_main("vmas", cases);
}
