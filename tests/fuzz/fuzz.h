/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz.h - what the libFuzzer targets share: a reader that takes typed
 * values from the input (zeros once it is used up), a logger that formats
 * every message (so that a bad format argument shows under ASan) and
 * prints nothing, and the check that turns a broken contract into a crash
 * libFuzzer reports.
 *
 * Header-only, as tests/helpers.h: each target is one program built from
 * one file and the library's sources (tests/fuzz/run.sh).
 */
#ifndef GMAP_FUZZ_H
#define GMAP_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmap.h>
#include <gmap-sim.h>

/* ---- reading the input -------------------------------------------------- */

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint64_t fz_bytes(struct fz *f, unsigned int len)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < len; i++)
		v |= (uint64_t)fz_u8(f) << (8 * i);
	return v;
}

static inline uint16_t fz_u16(struct fz *f) { return (uint16_t)fz_bytes(f, 2); }
static inline uint32_t fz_u32(struct fz *f) { return (uint32_t)fz_bytes(f, 4); }
static inline uint64_t fz_u64(struct fz *f) { return fz_bytes(f, 8); }

/*
 * A 32-bit value that is mostly small or near an edge: the values that
 * matter for ranges (0, 1, the sizes the target set up, UINT32_MAX) come
 * up far more often than from four random bytes.  @near is the size the
 * caller cares about.
 */
static inline uint32_t fz_count(struct fz *f, uint32_t near)
{
	uint8_t k = fz_u8(f);

	switch (k & 7) {
	case 0:
		return fz_u32(f);
	case 1:
		return UINT32_MAX - fz_u8(f);
	case 2:
		return near + fz_u8(f) - 128;
	default:
		return fz_u8(f) % (near ? near + 2 : 2);
	}
}

/* ---- checks --------------------------------------------------------------- */

/* A broken contract: say which and crash, so that libFuzzer keeps the
 * input.  (fd 2 stays the terminal: run.sh does not close it.) */
#define FZ_CHECK(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz: %s:%d: check failed: %s: ",	\
			__FILE__, __LINE__, #cond);			\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

/* ---- a logger that formats and keeps quiet -------------------------------- */

static char fz_last_log[1024];
static int fz_log_on = -1;

__attribute__((format(printf, 5, 0)))
static void fz_vmessage(struct xentoollog_logger *l, xentoollog_level level,
			int errnoval, const char *ctx, const char *fmt,
			va_list al)
{
	(void)l; (void)level; (void)errnoval; (void)ctx;
	vsnprintf(fz_last_log, sizeof(fz_last_log), fmt, al);
	/* FUZZ_LOG=1 in the environment shows them (when reproducing). */
	if (fz_log_on < 0)
		fz_log_on = getenv("FUZZ_LOG") != NULL;
	if (fz_log_on)
		fprintf(stderr, "log: %s\n", fz_last_log);
}

static void fz_progress(struct xentoollog_logger *l, const char *ctx,
			const char *what, int pct, unsigned long done,
			unsigned long total)
{
	(void)l; (void)ctx; (void)what; (void)pct; (void)done; (void)total;
}

static void fz_destroy(struct xentoollog_logger *l) { (void)l; }

static xentoollog_logger fz_logger = {
	.vmessage = fz_vmessage,
	.progress = fz_progress,
	.destroy = fz_destroy,
};

#endif /* GMAP_FUZZ_H */
