/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-fault.c - first touch by read, write, pread(2) and recv(2); many
 * threads on one page make one map, counted by the simulated domain. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "helpers.h"

static void test_first_read(void)
{
	struct t_fx fx;
	volatile uint64_t *p;
	struct gmap_stats st;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	p = gmap_ref_ptr(fx.w, 17);
	CU_ASSERT_EQUAL(t_ref(&fx, 17).maps_total, 0);
	CU_ASSERT_EQUAL(p[0], t_sig(17, 0));
	CU_ASSERT_EQUAL(p[511], t_sig(17, 511));
	CU_ASSERT_EQUAL(t_ref(&fx, 17).maps_total, 1);
	CU_ASSERT_EQUAL(t_ref(&fx, 17).maps_now, 1);
	/* Neighbours stay untouched. */
	CU_ASSERT_EQUAL(t_ref(&fx, 16).maps_total, 0);
	CU_ASSERT_EQUAL(t_ref(&fx, 18).maps_total, 0);
	gmap_stats(fx.w, &st, sizeof(st));
	CU_ASSERT(st.faults >= 1);
	CU_ASSERT_EQUAL(st.maps, 1);
	CU_ASSERT_EQUAL(st.mapped_now, 1);
	/* While mapped, the guest sees the grant in use. */
	CU_ASSERT(t_ref(&fx, 17).flags & GTF_reading);
	t_teardown(&fx);
}

static void test_first_write(void)
{
	struct t_fx fx;
	volatile uint64_t *p;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	p = gmap_ref_ptr(fx.w, 40);
	p[3] = 0xabcdef;
	CU_ASSERT_EQUAL(t_guest_word(&fx, 40, 3), 0xabcdef);
	CU_ASSERT_EQUAL(p[4], t_sig(40, 4));
	/* and the other way: the guest writes, we see it at once */
	{
		uint64_t v = 0x5151;

		gmap_sim_write(fx.d, 40, 8 * 9, &v, 8);
		CU_ASSERT_EQUAL(p[9], 0x5151);
	}
	CU_ASSERT_EQUAL(t_ref(&fx, 40).maps_total, 1);
	CU_ASSERT(t_ref(&fx, 40).flags & GTF_writing);
	t_teardown(&fx);
}

static void test_pread_into_window(void)
{
	struct t_fx fx;
	char path[] = "/tmp/gmap-test-XXXXXX";
	char data[6000];
	uint8_t *p;
	int fd;
	size_t i;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	T_SKIP_IF_INLINE(&fx, "system calls into untouched pages get EFAULT (test-inline)");
	for (i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 + 1);
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	unlink(path);
	CU_ASSERT_FATAL(write(fd, data, sizeof(data)) == (ssize_t)sizeof(data));
	/* A buffer straddling two untouched grants, 100 bytes into ref 20:
	 * the kernel's copy faults both in. */
	p = (uint8_t *)gmap_ref_ptr(fx.w, 20) + 100;
	CU_ASSERT_EQUAL(pread(fd, p, sizeof(data), 0), (ssize_t)sizeof(data));
	CU_ASSERT_EQUAL(memcmp(p, data, sizeof(data)), 0);
	{
		char g[100];

		gmap_sim_read(fx.d, 21, 0, g, sizeof(g));
		CU_ASSERT_EQUAL(memcmp(g, data + 3996, sizeof(g)), 0);
	}
	CU_ASSERT_EQUAL(t_ref(&fx, 20).maps_total, 1);
	CU_ASSERT_EQUAL(t_ref(&fx, 21).maps_total, 1);
	/* The kernel's own copy faulted on placeholders, and the file
	 * behind them got no page (placeholder.c). */
	CU_ASSERT_EQUAL(t_placeholder_blocks(NULL), 0);
	close(fd);
	t_teardown(&fx);
}

static void test_recv_into_window(void)
{
	struct t_fx fx;
	int sv[2];
	char msg[] = "reply from the socket, straight into guest memory";
	char g[sizeof(msg)];
	void *p;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	T_SKIP_IF_INLINE(&fx, "system calls into untouched pages get EFAULT (test-inline)");
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CU_ASSERT_FATAL(send(sv[0], msg, sizeof(msg), 0) == (ssize_t)sizeof(msg));
	p = gmap_ref_ptr(fx.w, 33);
	CU_ASSERT_EQUAL(recv(sv[1], p, sizeof(msg), 0), (ssize_t)sizeof(msg));
	gmap_sim_read(fx.d, 33, 0, g, sizeof(g));
	CU_ASSERT_STRING_EQUAL(g, msg);
	close(sv[0]);
	close(sv[1]);
	t_teardown(&fx);
}

struct racer {
	struct t_fx *fx;
	uint32_t ref;
	pthread_barrier_t *bar;
	uint64_t seen;
};

static void *race_one(void *arg)
{
	struct racer *r = arg;
	volatile uint64_t *p = gmap_ref_ptr(r->fx->w, r->ref);

	pthread_barrier_wait(r->bar);
	r->seen = p[r->ref % 512];
	return NULL;
}

/* N threads fault the same untouched page at once: one map, all see it. */
static void race(unsigned int handlers, unsigned int nthreads, unsigned int rounds,
		 unsigned int spin_us)
{
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM, .nr_refs = 1024,
		.handler_threads = handlers, .logger = &t_log.xtl,
		.self_domid = T_SELF, .handler_spin_us = spin_us,
	};
	struct t_fx fx;
	pthread_t th[32];
	struct racer rs[32];
	pthread_barrier_t bar;
	unsigned int i, k, ok = 0, hung = 0, bad_maps = 0;

	CU_ASSERT_FATAL(t_setup_opts(&fx, 256, &o) == 0);
	for (k = 0; k < rounds; k++) {
		uint32_t ref = k;

		pthread_barrier_init(&bar, NULL, nthreads);
		for (i = 0; i < nthreads; i++) {
			rs[i] = (struct racer){ &fx, ref, &bar, 0 };
			pthread_create(&th[i], NULL, race_one, &rs[i]);
		}
		for (i = 0; i < nthreads; i++) {
			if (t_join_within(th[i], 30)) {
				hung++;
				continue;
			}
			ok += rs[i].seen == t_sig(ref, ref % 512);
		}
		pthread_barrier_destroy(&bar);
		bad_maps += t_ref(&fx, ref).maps_total != 1;
	}
	printf("\n    %u handler(s) polling %u us, %u threads x %u pages: %u "
	       "verified reads, %u pages with maps != 1, %u hung ", handlers,
	       spin_us, nthreads, rounds, ok, bad_maps, hung);
	CU_ASSERT_EQUAL(hung, 0);
	CU_ASSERT_EQUAL(ok, nthreads * rounds);
	CU_ASSERT_EQUAL(bad_maps, 0);
	t_teardown(&fx);
}

static void test_race_one_handler(void)
{
	race(1, 16, 200, 0);
}

static void test_race_many_handlers(void)
{
	race(4, 16, 200, 0);
}

/* Handlers that poll before sleeping serve the same races, and a window
 * closes under them (a polling handler must notice the stop). */
static void test_race_polling_handlers(void)
{
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM, .nr_refs = 16,
		.logger = &t_log.xtl, .handler_spin_us = 10001,
	};

	race(2, 16, 100, 200);
	/* Past the bound: refused by name. */
	t_log_clear();
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_open(T_DOMID, &o));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT(t_log_has("handler_spin_us 10001"));
}

static void test_touched_stay_mapped_until_release(void)
{
	struct t_fx fx;
	volatile uint64_t *p;
	struct gmap_sim_domain_info di;

	CU_ASSERT_FATAL(t_setup(&fx, 64, 1024, 1) == 0);
	for (uint32_t r = 0; r < 8; r++) {
		p = gmap_ref_ptr(fx.w, r);
		(void)p[0];
	}
	gmap_sim_domain_info(fx.d, &di);
	CU_ASSERT_EQUAL(di.maps_now, 8);
	/* Touched, never pinned: the guest cannot end access yet. */
	errno = 0;
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 3), -1);
	CU_ASSERT_EQUAL(errno, EBUSY);
	CU_ASSERT_EQUAL(gmap_release(fx.w, 0, 8), 8);
	gmap_sim_domain_info(fx.d, &di);
	CU_ASSERT_EQUAL(di.maps_now, 0);
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 3), 0);
	/* A released page faults in again on the next touch. */
	p = gmap_ref_ptr(fx.w, 5);
	CU_ASSERT_EQUAL(p[1], t_sig(5, 1));
	CU_ASSERT_EQUAL(t_ref(&fx, 5).maps_total, 2);
	/* Release of an untouched range does nothing. */
	CU_ASSERT_EQUAL(gmap_release(fx.w, 100, 900), 0);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_release(fx.w, 1000, 25), -1);
	CU_ASSERT_EQUAL(errno, ERANGE);
	t_teardown(&fx);
}

/* Make userfaultfd(2) fail with ENOSYS in this process, as on a kernel
 * without it or under a container's seccomp filter; 0 or -1. */
static int no_userfaultfd(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_userfaultfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]),
				   .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

/*
 * A window opened with the default (GMAP_FAULT_AUTO) where kernel-mode
 * faults cannot be served: inline, nothing warned about, a touch of ref
 * @ref served, a read(2) of @fd into an untouched page EFAULT.  0, or the
 * failed step counted from @step.
 */
static int auto_serves_inline(int fd, uint32_t ref, int step)
{
	struct gmap_stats st;
	volatile uint64_t *p;
	struct t_fx fx;
	int rc = 0;

	if (t_setup(&fx, 16, 64, 1) < 0)
		return step;
	if (gmap_stats(fx.w, &st, sizeof(st)) < 0 ||
	    st.fault_mode != GMAP_FAULT_INLINE)
		rc = step + 1;
	else if (t_log_has_since_open("only user-mode faults can be served"))
		rc = step + 2;
	p = gmap_ref_ptr(fx.w, ref);
	if (!rc && p[3] != t_sig(ref, 3))
		rc = step + 3;
	errno = 0;
	if (!rc && (read(fd, gmap_ref_ptr(fx.w, 6), 8) != -1 ||
		    errno != EFAULT))
		rc = step + 4;
	t_teardown(&fx);
	return rc;
}

/* Child of test_user_mode_only(), as user nobody. */
static int user_mode_child(void)
{
	struct t_fx fx;
	volatile uint64_t *p;
	int fd, rc;

	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM, .nr_refs = 64,
		.logger = &t_log.xtl, .self_domid = T_SELF,
		.fault_mode = GMAP_FAULT_THREAD,
	};

	/* The modes are this test's to choose. */
	unsetenv("GMAP_FAULT_MODE");
	if (setgid(65534) < 0 || setuid(65534) < 0)
		return 10;
	if (t_setup_opts(&fx, 16, &o) < 0)
		return 11;
	/* The clear word at open, where handler threads were asked for... */
	if (!t_log_has_since_open("only user-mode faults can be served"))
		return 12;
	/* ...user-mode touches are served... */
	p = gmap_ref_ptr(fx.w, 2);
	if (p[3] != t_sig(2, 3))
		return 13;
	/* ...and a system call into an untouched page fails as announced. */
	fd = open("/dev/zero", O_RDONLY);
	errno = 0;
	if (read(fd, gmap_ref_ptr(fx.w, 6), 8) != -1 || errno != EFAULT)
		return 14;
	/* A prefaulted page works for system calls too. */
	if (gmap_prefault(fx.w, 7, 1, GMAP_PIN_WRITE, NULL) < 0 ||
	    read(fd, gmap_ref_ptr(fx.w, 7), 8) != 8)
		return 15;
	t_teardown(&fx);
	/* The default (GMAP_FAULT_AUTO) serves faults inline here, where
	 * system calls cannot be served anyway: nothing to warn about, and
	 * the same outcomes. */
	if ((rc = auto_serves_inline(fd, 2, 16)) != 0)
		return rc;
	/* No userfaultfd at all (and no /dev/userfaultfd for nobody): handler
	 * threads cannot be had, which open says; the default serves faults
	 * inline, which needs none. */
	if (no_userfaultfd() < 0)
		return 21;
	if (access("/dev/userfaultfd", R_OK | W_OK) < 0) {
		if (t_setup_opts(&fx, 16, &o) == 0)
			return 22;
		if (!t_log_has("no userfaultfd for this process"))
			return 23;
	}
	if ((rc = auto_serves_inline(fd, 5, 24)) != 0)
		return rc;
	close(fd);
	return 0;
}

/*
 * Where only user-mode faults may be caught (an unprivileged process with
 * vm.unprivileged_userfaultfd=0 and no access to /dev/userfaultfd), open
 * works, says what will not, and read(2) into the window gets EFAULT.
 * Where there is no userfaultfd at all (seccomp), handler threads are
 * refused with the reason and the default serves faults inline.
 */
static void test_user_mode_only(void)
{
	int status;
	pid_t pid;

	if (geteuid() != 0)
		T_SKIP("needs root to become another user");
	pid = fork();
	if (pid == 0)
		_exit(user_mode_child());
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status));
	if (WIFEXITED(status) && WEXITSTATUS(status))
		printf("child failed at step %d ", WEXITSTATUS(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
}

int main(void)
{
	static const struct t_case cases[] = {
		{ "first touch by read", test_first_read },
		{ "first touch by write", test_first_write },
		{ "pread(2) into untouched pages", test_pread_into_window },
		{ "recv(2) into an untouched page", test_recv_into_window },
		{ "16 threads fault one page: one map (1 handler)", test_race_one_handler },
		{ "16 threads fault one page: one map (4 handlers)", test_race_many_handlers },
		{ "16 threads fault one page: one map (2 polling handlers)", test_race_polling_handlers },
		{ "touched pages stay mapped until released", test_touched_stay_mapped_until_release },
		{ "user-mode-only or no userfaultfd: warned or refused (thread), inline (auto), read(2) gets EFAULT", test_user_mode_only },
		{ NULL, NULL },
	};
	return t_main("fault", cases);
}
