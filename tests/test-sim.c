/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-sim.c - the simulated domain says no where Xen says no; it can live
 * in another process, where a hostile peer can neither crash nor hang the
 * others; and a full 32-bit window costs what is touched.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "helpers.h"
/* The hostile peer below writes the shared layout as any process holding
 * the descriptors can. */
#include "sim_abi.h"

static struct gmap_sim_ref_info t_ref_of(struct gmap_sim_domain *d, uint32_t ref)
{
	struct gmap_sim_ref_info ri;

	memset(&ri, 0, sizeof(ri));
	gmap_sim_ref_info(d, ref, &ri);
	return ri;
}

static void test_grant_rules(void)
{
	struct gmap_sim_domain *d = gmap_sim_domain_create(T_DOMID, 8, 16);
	struct gmap_sim_ref_info ri;
	uint8_t buf[16];

	CU_ASSERT_FATAL(d != NULL);
	/* A second domain with the same id is refused. */
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_sim_domain_create(T_DOMID, 8, 16));
	CU_ASSERT_EQUAL(errno, EEXIST);
	errno = 0;
	CU_ASSERT_PTR_NULL(gmap_sim_domain_create(8, 0, 16));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(gmap_sim_grant(d, 2, 5, 0, 1), 0);
	CU_ASSERT_EQUAL(gmap_sim_ref_info(d, 2, &ri), 0);
	CU_ASSERT_EQUAL(ri.flags, GTF_permit_access | GTF_readonly);
	CU_ASSERT_EQUAL(ri.frame, 5);
	CU_ASSERT_EQUAL(ri.domid, 0);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_sim_grant(d, 16, 5, 0, 0), -1);
	CU_ASSERT_EQUAL(errno, ERANGE);
	/* Not mapped: end access clears it; revoke of an idle grant says 0. */
	CU_ASSERT_EQUAL(gmap_sim_end_access(d, 2), 0);
	gmap_sim_ref_info(d, 2, &ri);
	CU_ASSERT_EQUAL(ri.flags, 0);
	CU_ASSERT_EQUAL(gmap_sim_grant(d, 3, 1, 0, 0), 0);
	CU_ASSERT_EQUAL(gmap_sim_revoke(d, 3), 0);
	/* Memory bounds. */
	errno = 0;
	CU_ASSERT_EQUAL(gmap_sim_read(d, 8, 0, buf, 1), -1);
	CU_ASSERT_EQUAL(errno, ERANGE);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_sim_write(d, 0, 4090, buf, 16), -1);
	CU_ASSERT_EQUAL(errno, ERANGE);
	CU_ASSERT_EQUAL(gmap_sim_write(d, 7, 4080, buf, 16), 0);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_sim_inject(d, 1, (enum gmap_sim_inject)9, 1), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	gmap_sim_domain_destroy(d);
}

static void test_in_use_flags(void)
{
	struct t_fx fx;
	volatile uint64_t *p;

	CU_ASSERT_FATAL(t_setup(&fx, 16, 1024, 1) == 0);
	p = gmap_ref_ptr(fx.w, 4);
	p[0] = 1;
	CU_ASSERT_EQUAL(t_ref(&fx, 4).flags & (GTF_reading | GTF_writing),
			GTF_reading | GTF_writing);
	/* In use: the guest can neither end access nor re-grant it... */
	errno = 0;
	CU_ASSERT_EQUAL(gmap_sim_end_access(fx.d, 4), -1);
	CU_ASSERT_EQUAL(errno, EBUSY);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_sim_grant(fx.d, 4, 9, T_SELF, 0), -1);
	CU_ASSERT_EQUAL(errno, EBUSY);
	/* ...but it can revoke (a dying guest): the mapping stays until we
	 * let go, and a new map after that is refused. */
	CU_ASSERT_EQUAL(gmap_sim_revoke(fx.d, 4), 1);
	CU_ASSERT_EQUAL(p[1], t_sig(4, 1));
	CU_ASSERT_EQUAL(gmap_release(fx.w, 4, 1), 1);
	CU_ASSERT_EQUAL(t_ref(&fx, 4).flags & (GTF_reading | GTF_writing), 0);
	errno = 0;
	CU_ASSERT_EQUAL(gmap_pin(fx.w, 4, 1, 0, NULL), -1);
	CU_ASSERT_EQUAL(errno, EACCES);
	t_teardown(&fx);
}

/* The checker's own check: a "hypervisor" told to map the wrong frame
 * does so (and only as many times as told), and the data shows it. */
static void test_inject_wrong_frame(void)
{
	struct t_fx fx;
	volatile uint64_t *p;

	CU_ASSERT_FATAL(t_setup(&fx, 16, 64, 1) == 0);
	CU_ASSERT_EQUAL(gmap_sim_inject(fx.d, 5, GMAP_SIM_INJECT_WRONG_FRAME, 1), 0);
	p = gmap_ref_ptr(fx.w, 5);
	CU_ASSERT_EQUAL(p[1], t_sig(6, 1));
	CU_ASSERT_EQUAL(gmap_release(fx.w, 5, 1), 1);
	CU_ASSERT_EQUAL(p[1], t_sig(5, 1));
	CU_ASSERT_EQUAL(t_ref(&fx, 5).maps_total, 2);
	t_teardown(&fx);
}

/* Child mode: a backend process that only has the domain's descriptors. */
static int child_main(int ctl, int mem)
{
	struct gmap_open_opts o = { .size = sizeof(o), .nr_refs = 64 };
	struct gmap_sim_domain *d = gmap_sim_domain_attach(ctl, mem);
	struct gmap_window *w;
	volatile uint64_t *p;

	if (!d)
		return 2;
	w = gmap_open(T_DOMID, &o);
	if (!w)
		return 3;
	p = gmap_ref_ptr(w, 2);
	if (p[0] != 0xc0ffee)
		return 4;
	p[1] = 0xbeef; /* the reply */
	/* The parent holds ref 3 mapped: mapping it here too is a second
	 * live mapping, which the "hypervisor" counts. */
	if (((volatile uint64_t *)gmap_ref_ptr(w, 3))[0] != 0x3333)
		return 6;
	if (gmap_pin(w, 2, 1, GMAP_PIN_WRITE, NULL) < 0 || gmap_unpin(w, 2, 1) < 0)
		return 5;
	gmap_close(w);
	return 0;
}

/* The guest in this process, the backend in another (exec'd) process
 * that received the two descriptors, as over a unix socket. */
static void test_cross_process(void)
{
	struct gmap_sim_domain *d = gmap_sim_domain_create(T_DOMID, 16, 16);
	int ctl, mem, status;
	uint64_t v = 0xc0ffee, back = 0;
	char a1[16], a2[16];
	pid_t pid;

	CU_ASSERT_FATAL(d != NULL);
	struct gmap_open_opts o = { .size = sizeof(o), .nr_refs = 16 };
	struct gmap_sim_domain_info di;
	struct gmap_window *w;
	uint64_t v3 = 0x3333;

	gmap_sim_write(d, 6, 0, &v, 8);
	gmap_sim_grant(d, 2, 6, T_SELF, 0);
	gmap_sim_write(d, 7, 0, &v3, 8);
	gmap_sim_grant(d, 3, 7, T_SELF, 0);
	/* This process maps ref 3 as well (a second backend). */
	w = gmap_open(T_DOMID, &o);
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT_EQUAL(gmap_pin(w, 3, 1, 0, NULL), 0);
	CU_ASSERT_EQUAL(gmap_sim_domain_fds(d, &ctl, &mem), 0);
	pid = fork();
	if (pid == 0) {
		/* dup() drops close-on-exec: the new program inherits these. */
		snprintf(a1, sizeof(a1), "%d", dup(ctl));
		snprintf(a2, sizeof(a2), "%d", dup(mem));
		execl("/proc/self/exe", "test-sim", "--child", a1, a2, (char *)NULL);
		_exit(127);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
	gmap_sim_read(d, 6, 8, &back, 8);
	CU_ASSERT_EQUAL(back, 0xbeef);
	CU_ASSERT_EQUAL(t_ref_of(d, 2).maps_now, 0);
	/* Touched, then pinned and unpinned: still one map. */
	CU_ASSERT_EQUAL(t_ref_of(d, 2).maps_total, 1);
	CU_ASSERT_EQUAL(gmap_sim_end_access(d, 2), 0);
	/* Ref 2 was only ever mapped once at a time; ref 3 twice. */
	gmap_sim_domain_info(d, &di);
	CU_ASSERT_EQUAL(di.double_maps, 1);
	CU_ASSERT_EQUAL(t_ref_of(d, 2).maps_peak, 1);
	CU_ASSERT_EQUAL(t_ref_of(d, 3).maps_peak, 2);
	CU_ASSERT_EQUAL(t_ref_of(d, 3).maps_now, 1);
	gmap_close(w);
	CU_ASSERT_EQUAL(t_ref_of(d, 3).maps_now, 0);
	gmap_sim_domain_destroy(d);
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static void test_sparse_metadata(void)
{
	const uint32_t n = 1000, stride = 1024, dense = 4096, quarter = 4096;
	struct gmap_sim_domain *d;
	struct gmap_open_opts o = { .size = sizeof(o), .logger = &t_log.xtl };
	struct gmap_window *w;
	struct gmap_stats st0, st1, st2, st3;
	long rss0, rss1;
	uint32_t i;

	T_SKIP_UNDER_TSAN();
	d = gmap_sim_domain_create(T_DOMID, 1, n * stride);
	CU_ASSERT_FATAL(d != NULL);
	for (i = 0; i < n; i++)
		gmap_sim_grant(d, i * stride, 0, T_SELF, 0);
	for (i = 0; i < dense; i++)
		gmap_sim_grant(d, i + 1, 0, T_SELF, 0);
	/* One ref in four, past everything else. */
	for (i = 0; i < quarter; i++)
		gmap_sim_grant(d, n * stride / 2 + 4 * i + 2, 0, T_SELF, 0);
	rss0 = rss_kib();
	w = gmap_open(T_DOMID, &o);
	CU_ASSERT_FATAL(w != NULL);
	rss1 = rss_kib();
	gmap_stats(w, &st0, sizeof(st0));
	/* Scattered: one touched grant per 1024 refs. */
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(gmap_prefault(w, i * stride, 1, 0, NULL), 0);
	gmap_stats(w, &st1, sizeof(st1));
	/* Dense: 4095 neighbours of ref 0. */
	CU_ASSERT_EQUAL(gmap_prefault(w, 1, dense - 1, 0, NULL), 0);
	gmap_stats(w, &st2, sizeof(st2));
	for (i = 0; i < quarter; i++)
		CU_ASSERT_EQUAL(gmap_prefault(w, n * stride / 2 + 4 * i + 2, 1, 0,
					      NULL), 0);
	gmap_stats(w, &st3, sizeof(st3));
	printf("\n    16 TiB window: reserve costs %llu B metadata, %ld KiB RSS; "
	       "%u scattered grants: %llu B each; %u dense grants: %llu B each; "
	       "%u grants one in four: %llu B each ",
	       (unsigned long long)st0.meta_bytes, rss1 - rss0, n,
	       (unsigned long long)((st1.meta_bytes - st0.meta_bytes) / n), dense,
	       (unsigned long long)((st2.meta_bytes - st1.meta_bytes) / dense),
	       quarter,
	       (unsigned long long)((st3.meta_bytes - st2.meta_bytes) / quarter));
	CU_ASSERT(st0.meta_bytes <= 64 * 1024);
	CU_ASSERT(rss1 - rss0 <= 1024);
	CU_ASSERT_EQUAL(st1.maps, n);
	/* Proportional to what is touched, never to the 16 TiB. */
	CU_ASSERT(st1.meta_bytes - st0.meta_bytes <= (uint64_t)n * 512);
	/* The scale issue's target: at most 32 bytes per touched grant when
	 * a quarter of a range is touched, and when all of it is. */
	CU_ASSERT(st2.meta_bytes - st1.meta_bytes <= (uint64_t)dense * 32);
	CU_ASSERT(st3.meta_bytes - st2.meta_bytes <= (uint64_t)quarter * 32);
	gmap_close(w);
	gmap_sim_domain_destroy(d);
}

/*
 * A gmap-simdom impostor: answers one attach request with @answer and the
 * descriptors @fds (nfds of them), to check that the sim backend trusts
 * nothing it is sent.
 */
struct impostor {
	char path[108];
	int lfd;
	const char *answer;
	int fds[2], nfds;
	char request[64];
};

static void *impostor_main(void *arg)
{
	struct impostor *im = arg;
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(2 * sizeof(int))];
	} u;
	struct iovec iov = { (void *)im->answer, strlen(im->answer) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;
	int c;

	c = accept(im->lfd, NULL, NULL);
	if (c < 0)
		return NULL;
	n = read(c, im->request, sizeof(im->request) - 1);
	im->request[n > 0 ? n : 0] = 0;
	if (im->nfds) {
		m.msg_control = u.space;
		m.msg_controllen = CMSG_SPACE(im->nfds * sizeof(int));
		CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(im->nfds * sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), im->fds, im->nfds * sizeof(int));
	}
	sendmsg(c, &m, MSG_NOSIGNAL);
	close(c);
	return NULL;
}

/* What the impostor will answer, and with which descriptors. */
static void impostor_says(struct impostor *im, const char *answer, int ctl,
			  int mem)
{
	memset(im, 0, sizeof(*im));
	im->answer = answer;
	im->fds[0] = ctl;
	im->fds[1] = mem;
	im->nfds = ctl >= 0 ? 2 : 0;
}

/* Open a window of d@domid against an impostor; returns errno (0: ok). */
static int attach_via(struct impostor *im, uint32_t domid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM, .nr_refs = 64,
		.logger = &t_log.xtl,
	};
	struct gmap_window *w;
	pthread_t th;
	int e = 0;

	snprintf(im->path, sizeof(im->path), "/tmp/gmap-test-sim.%d.sock",
		 (int)getpid());
	unlink(im->path);
	memcpy(sa.sun_path, im->path, strlen(im->path) + 1);
	im->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (im->lfd < 0 || bind(im->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(im->lfd, 1) < 0)
		return -1;
	pthread_create(&th, NULL, impostor_main, im);
	setenv("GMAP_SIM_SOCKET", im->path, 1);
	t_log_clear();
	w = gmap_open(domid, &o);
	if (!w)
		e = errno;
	gmap_close(w);
	unsetenv("GMAP_SIM_SOCKET");
	pthread_join(th, NULL);
	close(im->lfd);
	unlink(im->path);
	return e;
}

static void test_simdom_answers_checked(void)
{
	struct gmap_sim_domain *d = gmap_sim_domain_create(9, 4, 4);
	struct impostor im;
	int ctl, mem, junk;

	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT_EQUAL(gmap_sim_domain_fds(d, &ctl, &mem), 0);
	junk = memfd_create("junk", MFD_CLOEXEC);
	CU_ASSERT(junk >= 0 && ftruncate(junk, 1 << 20) == 0);

	/* Domain 21 is not in this process: the window asks the socket.
	 * The control area it gets must be domain 21's. */
	impostor_says(&im, "ok 21 4 4\n", ctl, mem);
	CU_ASSERT_EQUAL(attach_via(&im, 21), EINVAL); /* ctl says domain 9 */
	CU_ASSERT_STRING_EQUAL(im.request, "attach 21\n");
	CU_ASSERT(t_log_has("bad control area"));

	/* A refusal is passed on with its reason. */
	impostor_says(&im, "error: this gmap-simdom serves domain 9, not 21\n",
		      -1, -1);
	CU_ASSERT_EQUAL(attach_via(&im, 21), ESRCH);
	CU_ASSERT(t_log_has("serves domain 9, not 21"));

	/* "ok" without the descriptors, or for another domain. */
	impostor_says(&im, "ok 21 4 4\n", -1, -1);
	CU_ASSERT_EQUAL(attach_via(&im, 21), EPROTO);
	impostor_says(&im, "ok 22 4 4\n", ctl, mem);
	CU_ASSERT_EQUAL(attach_via(&im, 21), EPROTO);
	CU_ASSERT(t_log_has("bad answer"));

	/* Descriptors that are not a domain's control area at all. */
	impostor_says(&im, "ok 21 4 4\n", junk, mem);
	CU_ASSERT_EQUAL(attach_via(&im, 21), EINVAL);

	/* And the right answer is taken: domain 9, once it is no longer in
	 * this process, from the socket (its memfds outlive the object). */
	ctl = fcntl(ctl, F_DUPFD_CLOEXEC, 0);
	mem = fcntl(mem, F_DUPFD_CLOEXEC, 0);
	gmap_sim_domain_destroy(d);
	impostor_says(&im, "ok 9 4 4\n", ctl, mem);
	CU_ASSERT_EQUAL(attach_via(&im, 9), 0);
	close(ctl);
	close(mem);
	close(junk);
}

/* ---- a hostile peer --------------------------------------------------- */

/*
 * Each case runs in a process of its own (this program, exec'd: clean
 * under the sanitizers), because what it checks is that the process does
 * not die or hang: the parent kills it past a bound and counts a hang,
 * and counts a death by signal, as failures.  The child exits with the
 * number of the first check that failed, and says why on stderr.
 */
#define H_CHECK(cond, code, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "\n    child: " __VA_ARGS__);		\
		fprintf(stderr, "\n");					\
		return code;						\
	}								\
} while (0)

/* The domain's control area as a peer sees it: all of it writable. */
struct peer {
	struct sim_ctl *c;
	struct sim_active *act;
	size_t size;
};

static int peer_map(struct gmap_sim_domain *d, struct peer *p)
{
	int ctl, mem;
	struct stat st;

	if (gmap_sim_domain_fds(d, &ctl, &mem) < 0 || fstat(ctl, &st) < 0)
		return -1;
	p->size = (size_t)st.st_size;
	p->c = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_SHARED, ctl, 0);
	if (p->c == MAP_FAILED)
		return -1;
	p->act = (struct sim_active *)((char *)p->c + p->c->active_off);
	return 0;
}

static uint64_t h_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* The pid of a process that has exited: reaped (gone), or, with
 * @zombie, not yet (its parent must reap it later). */
static pid_t h_dead_pid(bool zombie)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	if (pid > 0 && zombie) {
		siginfo_t si;

		/* Exited, but left a zombie. */
		waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
	} else if (pid > 0) {
		waitpid(pid, NULL, 0);
	}
	return pid;
}

/* Read @ref's first word; 1 if that got SIGSEGV. */
static int h_read(struct t_fx *fx, uint32_t ref, uint64_t *seen)
{
	return t_touch(gmap_ref_ptr(fx->w, ref), 0, 0, seen, NULL);
}

/*
 * Row 1: a peer truncates guest memory (or the control area) under a
 * mapped grant.  Unsealed, the mapped page's next access and every new
 * map is SIGBUS, in every process; sealed, the truncation fails (EPERM)
 * and nothing changes.
 */
static int hostile_truncate(void)
{
	struct t_fx fx;
	uint64_t seen = 0;
	int ctl, mem, r_mem, e_mem, r_ctl, e_ctl, r_grow, e_grow;

	H_CHECK(t_setup(&fx, 16, 64, 1) == 0, 1, "no window");
	H_CHECK(h_read(&fx, 1, &seen) == 0 && seen == t_sig(1, 0), 2,
		"ref 1 before");
	gmap_sim_domain_fds(fx.d, &ctl, &mem);
	r_mem = ftruncate(mem, 0);
	e_mem = errno;
	/* Whatever the peer did, this process must live on. */
	H_CHECK(h_read(&fx, 1, &seen) == 0 && seen == t_sig(1, 0), 3,
		"ref 1 after the truncation");
	H_CHECK(h_read(&fx, 2, &seen) == 0 && seen == t_sig(2, 0), 4,
		"ref 2 (a new map) after the truncation");
	r_grow = ftruncate(mem, 1 << 30);
	e_grow = errno;
	r_ctl = ftruncate(ctl, 0);
	e_ctl = errno;
	H_CHECK(h_read(&fx, 7, &seen) == 0 && seen == t_sig(7, 0), 5,
		"ref 7 after the control area's truncation");
	H_CHECK(r_mem == -1 && e_mem == EPERM, 6, "ftruncate(guest memory, 0): "
		"%d (%s)", r_mem, strerror(e_mem));
	H_CHECK(r_grow == -1 && e_grow == EPERM, 7, "ftruncate(guest memory, "
		"1 GiB): %d (%s)", r_grow, strerror(e_grow));
	H_CHECK(r_ctl == -1 && e_ctl == EPERM, 8, "ftruncate(control area, 0): "
		"%d (%s)", r_ctl, strerror(e_ctl));
	/* Nor can a peer add a seal (F_SEAL_FUTURE_WRITE would refuse our
	 * writable maps). */
	H_CHECK(fcntl(mem, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == -1 &&
		errno == EPERM, 9, "a seal could be added");
	t_teardown(&fx);
	return 0;
}

/*
 * Row 2, holders that are gone: a lock word left set by a process killed
 * in the middle of a map (reaped, or still a zombie), or junk.  The next
 * map or unmap of that ref takes the lock over and says so; before, it
 * spun for ever.
 */
static int hostile_lock_dead(void)
{
	struct t_fx fx;
	struct peer pe;
	struct stat ns;
	uint64_t seen = 0, t0;
	pid_t dead, zombie;
	char line[128];

	/* Pids are looked up only where the pid namespace is known. */
	if (stat("/proc/self/ns/pid", &ns) < 0) {
		printf("skipped: no /proc/self/ns/pid ");
		return 0;
	}
	dead = h_dead_pid(false);
	zombie = h_dead_pid(true);
	H_CHECK(dead > 0 && zombie > 0, 1, "fork");
	H_CHECK(t_setup(&fx, 16, 64, 1) == 0, 2, "no window");
	H_CHECK(peer_map(fx.d, &pe) == 0, 3, "no peer view");

	atomic_store(&pe.act[3].lock, (uint32_t)dead);
	t0 = h_now_ms();
	H_CHECK(h_read(&fx, 3, &seen) == 0 && seen == t_sig(3, 0), 10,
		"ref 3, locked by a dead pid %d", (int)dead);
	snprintf(line, sizeof(line), "ref 3: map: the ref's lock was held by "
		 "pid %d, which is gone", (int)dead);
	/* A fault served inline logs a moment later, from another thread. */
	H_CHECK(T_WAIT_UNTIL(t_log_has(line), 5), 11, "log lacks '%s':\n%s",
		line, t_log.buf);
	H_CHECK(h_now_ms() - t0 < SIM_LOCK_WAIT_MS, 12, "took %llu ms",
		(unsigned long long)(h_now_ms() - t0));

	/* A zombie holds no lock either (a pidfd says it exited). */
	atomic_store(&pe.act[5].lock, (uint32_t)zombie);
	H_CHECK(h_read(&fx, 5, &seen) == 0 && seen == t_sig(5, 0), 13,
		"ref 5, locked by a zombie");
	waitpid(zombie, NULL, 0);

	/* Junk: no process has such a pid. */
	atomic_store(&pe.act[6].lock, 0xfffffff0u);
	H_CHECK(h_read(&fx, 6, &seen) == 0 && seen == t_sig(6, 0), 14,
		"ref 6, locked with junk");
	H_CHECK(T_WAIT_UNTIL(t_log_has("ref 6: map: the ref's lock word held "
				       "0xfffffff0, not a pid: taken over"), 5), 15, "log:\n%s", t_log.buf);

	/* An unmap does the same; the guest can then end access. */
	H_CHECK(gmap_pin(fx.w, 4, 1, GMAP_PIN_WRITE, NULL) == 0, 20, "pin");
	atomic_store(&pe.act[4].lock, (uint32_t)dead);
	H_CHECK(gmap_unpin(fx.w, 4, 1) == 0, 21, "unpin");
	H_CHECK(t_ref(&fx, 4).maps_now == 0 &&
		gmap_sim_end_access(fx.d, 4) == 0, 22, "ref 4 still in use");
	H_CHECK(t_log_has("ref 4: unmap: the ref's lock was held by pid"), 23,
		"log:\n%s", t_log.buf);
	H_CHECK(atomic_load(&pe.act[4].lock) == 0, 24, "lock left held");
	t_teardown(&fx);
	return 0;
}

/*
 * Row 2, a live holder that never lets go (here: our parent's pid).
 * A map waits SIM_LOCK_WAIT_MS, then is refused: SIGSEGV with a
 * diagnostic naming the ref and the holder.  An unmap waits as long, then
 * goes on without the lock.  The guest's looks do not wait at all.
 */
static int hostile_lock_live(void)
{
	struct gmap_sim_ref_info ri;
	struct t_fx fx;
	struct peer pe;
	uint64_t seen = 0, t0, ms;
	uint32_t holder = (uint32_t)getppid();
	char line[128];

	H_CHECK(t_setup(&fx, 16, 64, 1) == 0, 1, "no window");
	H_CHECK(peer_map(fx.d, &pe) == 0, 2, "no peer view");

	atomic_store(&pe.act[3].lock, holder);
	t0 = h_now_ms();
	H_CHECK(gmap_sim_ref_info(fx.d, 3, &ri) == 0, 10, "ref_info");
	H_CHECK(h_now_ms() - t0 < 500, 11, "ref_info waited %llu ms",
		(unsigned long long)(h_now_ms() - t0));
	t0 = h_now_ms();
	H_CHECK(h_read(&fx, 3, &seen) == 1, 12, "a locked ref was mapped");
	ms = h_now_ms() - t0;
	/* One wait per attempt: libgmap tries writable, then read-only. */
	H_CHECK(ms >= SIM_LOCK_WAIT_MS - 100 && ms < 4 * SIM_LOCK_WAIT_MS + 5000,
		13, "refused after %llu ms", (unsigned long long)ms);
	snprintf(line, sizeof(line), "ref 3: map: the ref's lock is held by "
		 "pid %u for more than %d ms: map refused", holder,
		 SIM_LOCK_WAIT_MS);
	H_CHECK(T_WAIT_UNTIL(t_log_has(line), 5), 14, "log lacks '%s':\n%s",
		line, t_log.buf);
	H_CHECK(t_ref(&fx, 3).maps_now == 0 && t_ref(&fx, 3).flags ==
		GTF_permit_access, 15, "a refused map left ref 3 in use");
	/* Let go: the ref maps again (after a release forgets the refusal). */
	atomic_store(&pe.act[3].lock, 0);
	gmap_release(fx.w, 3, 1);
	H_CHECK(h_read(&fx, 3, &seen) == 0 && seen == t_sig(3, 0), 16,
		"ref 3 once the lock was let go");

	/* An unmap cannot be refused: bounded, then without the lock. */
	H_CHECK(gmap_pin(fx.w, 4, 1, GMAP_PIN_WRITE, NULL) == 0, 20, "pin");
	atomic_store(&pe.act[4].lock, holder);
	t0 = h_now_ms();
	H_CHECK(gmap_unpin(fx.w, 4, 1) == 0, 21, "unpin");
	ms = h_now_ms() - t0;
	H_CHECK(ms < 2 * SIM_LOCK_WAIT_MS + 5000, 22, "unpin took %llu ms",
		(unsigned long long)ms);
	H_CHECK(t_ref(&fx, 4).maps_now == 0 &&
		gmap_sim_end_access(fx.d, 4) == 0, 23, "ref 4 still in use");
	H_CHECK(t_log_has("ref 4: unmap: the ref's lock is held by pid") &&
		t_log_has("unmapped without it"), 24, "log:\n%s", t_log.buf);

	/* The guest's injection: bounded, made anyway, the lock left be. */
	atomic_store(&pe.act[5].lock, holder);
	H_CHECK(gmap_sim_inject(fx.d, 5, GMAP_SIM_INJECT_EAGAIN, 1) == 0, 30,
		"inject");
	H_CHECK(atomic_load(&pe.act[5].inject_count) == 1 &&
		atomic_load(&pe.act[5].lock) == holder, 31, "inject state");
	t_teardown(&fx);
	return 0;
}

/*
 * Row 3: a peer rewrites the layout after this process attached:
 * offsets and sizes pointing far outside the area, a larger nr_frames,
 * another domid.  Maps, unmaps and the guest's calls go on with the
 * layout as it was checked; a new window sees the rewrite and refuses it.
 */
static int hostile_layout(void)
{
	struct gmap_open_opts o = {
		.size = sizeof(o), .backend = GMAP_BACKEND_SIM, .nr_refs = 64,
		.logger = &t_log.xtl,
	};
	struct gmap_sim_domain_info di;
	struct gmap_sim_ref_info ri;
	struct t_fx fx;
	struct peer pe;
	uint64_t seen = 0;

	H_CHECK(t_setup(&fx, 16, 64, 1) == 0, 1, "no window");
	H_CHECK(peer_map(fx.d, &pe) == 0, 2, "no peer view");
	H_CHECK(h_read(&fx, 1, &seen) == 0 && seen == t_sig(1, 0), 3, "ref 1");
	H_CHECK(gmap_pin(fx.w, 2, 1, GMAP_PIN_WRITE, NULL) == 0, 4, "pin");

	pe.c->table_off = pe.c->active_off = 1ull << 40;
	pe.c->nr_grants = pe.c->nr_frames = 0xffffffffu;
	pe.c->ctl_size = 1ull << 41;
	pe.c->domid = 99;

	H_CHECK(h_read(&fx, 3, &seen) == 0 && seen == t_sig(3, 0), 10,
		"ref 3, mapped after the rewrite");
	H_CHECK(gmap_unpin(fx.w, 2, 1) == 0 && t_ref(&fx, 2).maps_now == 0, 11,
		"ref 2's unpin after the rewrite");
	/* A frame past guest memory is still a bad page, whatever the
	 * shared nr_frames says (mapped, it would be SIGBUS). */
	H_CHECK(gmap_sim_grant(fx.d, 9, 1000, T_SELF, 0) == 0, 12, "grant");
	H_CHECK(h_read(&fx, 9, &seen) == 1, 13, "frame 1000 was mapped");
	H_CHECK(t_log_has("GNTST_bad_page"), 14, "log:\n%s", t_log.buf);
	/* The guest's side keeps its own copy too. */
	errno = 0;
	H_CHECK(gmap_sim_ref_info(fx.d, 100000, &ri) == -1 && errno == ERANGE,
		15, "ref 100000 looked up");
	H_CHECK(gmap_sim_domain_info(fx.d, &di) == 0 && di.nr_grants == 16 &&
		di.nr_frames == 16 && di.domid == T_DOMID, 16, "domain info");
	/* A window opened now checks the area as it is now. */
	t_log_clear();
	errno = 0;
	H_CHECK(gmap_open(T_DOMID, &o) == NULL && errno == EINVAL, 17,
		"a window opened on the rewritten area");
	H_CHECK(t_log_has("bad control area"), 18, "log:\n%s", t_log.buf);
	t_teardown(&fx);
	return 0;
}

static int hostile_main(const char *name)
{
	static const struct {
		const char *name;
		int (*fn)(void);
	} cases[] = {
		{ "truncate", hostile_truncate },
		{ "lock-dead", hostile_lock_dead },
		{ "lock-live", hostile_lock_live },
		{ "layout", hostile_layout },
	};

	t_install_segv();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(name, cases[i].name))
			return cases[i].fn();
	return 127;
}

/* Run hostile case @name in a process of its own, for at most @secs. */
static void run_hostile(const char *name, int secs)
{
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test-sim", "--hostile", name,
		      (char *)NULL);
		_exit(127);
	}
	if (!T_WAIT_UNTIL(waitpid(pid, &status, WNOHANG) == pid, secs)) {
		printf("\n    watchdog: '%s' still running after %d s: hung, "
		       "killed ", name, secs);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		CU_FAIL("hung (killed by the watchdog)");
		return;
	}
	if (WIFSIGNALED(status))
		printf("\n    '%s' died of signal %d (%s) ", name,
		       WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (WEXITSTATUS(status))
		printf("\n    '%s' failed check %d ", name, WEXITSTATUS(status));
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_hostile_truncate(void) { run_hostile("truncate", 30); }
static void test_hostile_lock_dead(void) { run_hostile("lock-dead", 30); }
static void test_hostile_lock_live(void) { run_hostile("lock-live", 30); }
static void test_hostile_layout(void) { run_hostile("layout", 30); }

/* A domain passed without its seals is refused, by attach and by a
 * window that receives it from a gmap-simdom. */
static void test_unsealed_refused(void)
{
	struct gmap_sim_domain *d = gmap_sim_domain_create(9, 4, 4), *a;
	int ctl, mem, ctl2, mem2;
	struct sim_ctl *c;
	struct impostor im;
	struct stat st;

	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT_EQUAL(gmap_sim_domain_fds(d, &ctl, &mem), 0);
	CU_ASSERT_EQUAL(fcntl(ctl, F_GET_SEALS) & SIM_SEALS, SIM_SEALS);
	CU_ASSERT_EQUAL(fcntl(mem, F_GET_SEALS) & SIM_SEALS, SIM_SEALS);
	/* The same domain as domain 21, copied into unsealed memfds. */
	fstat(ctl, &st);
	ctl2 = memfd_create("copy", MFD_CLOEXEC);
	mem2 = memfd_create("copy", MFD_CLOEXEC);
	CU_ASSERT_FATAL(ctl2 >= 0 && mem2 >= 0);
	CU_ASSERT(ftruncate(ctl2, st.st_size) == 0 &&
		  ftruncate(mem2, 4 * 4096) == 0);
	c = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 ctl2, 0);
	CU_ASSERT_FATAL(c != MAP_FAILED);
	CU_ASSERT_EQUAL(pread(ctl, c, (size_t)st.st_size, 0), st.st_size);
	c->domid = 21;
	munmap(c, (size_t)st.st_size);

	errno = 0;
	a = gmap_sim_domain_attach(ctl2, mem2);
	CU_ASSERT_PTR_NULL(a);
	CU_ASSERT_EQUAL(errno, EINVAL);
	gmap_sim_domain_destroy(a);
	/* Sealed control area, unsealed memory: refused all the same. */
	errno = 0;
	a = gmap_sim_domain_attach(ctl, mem2);
	CU_ASSERT_PTR_NULL(a);
	CU_ASSERT_EQUAL(errno, EINVAL);
	gmap_sim_domain_destroy(a);

	impostor_says(&im, "ok 21 4 4\n", ctl2, mem2);
	CU_ASSERT_EQUAL(attach_via(&im, 21), EINVAL);
	CU_ASSERT(t_log_has("bad control area: not a memfd sealed against "
			    "resizing"));
	close(ctl2);
	close(mem2);
	gmap_sim_domain_destroy(d);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "injected wrong frame is served, then cleared", test_inject_wrong_frame },
		{ "grant, end access, revoke, bounds", test_grant_rules },
		{ "in-use flags follow mappings", test_in_use_flags },
		{ "descriptors shared with another process", test_cross_process },
		{ "what a gmap-simdom sends is checked", test_simdom_answers_checked },
		{ "a full-space window costs what is touched", test_sparse_metadata },
		{ "unsealed descriptors are refused", test_unsealed_refused },
		{ "hostile peer: truncated memory cannot SIGBUS others", test_hostile_truncate },
		{ "hostile peer: a dead holder's lock is taken over", test_hostile_lock_dead },
		{ "hostile peer: a live holder's lock costs a bounded wait", test_hostile_lock_live },
		{ "hostile peer: a rewritten layout is never used", test_hostile_layout },
		{ NULL, NULL },
	};
	if (argc == 4 && !strcmp(argv[1], "--child"))
		return child_main(atoi(argv[2]), atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "--hostile"))
		return hostile_main(argv[2]);
	return t_main("sim", cases);
}
