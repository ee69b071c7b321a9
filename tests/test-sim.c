/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-sim.c - the simulated domain says no where Xen says no; it can live
 * in another process; and a full 32-bit window costs what is touched.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "helpers.h"

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

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "injected wrong frame is served, then cleared", test_inject_wrong_frame },
		{ "grant, end access, revoke, bounds", test_grant_rules },
		{ "in-use flags follow mappings", test_in_use_flags },
		{ "descriptors shared with another process", test_cross_process },
		{ "what a gmap-simdom sends is checked", test_simdom_answers_checked },
		{ "a full-space window costs what is touched", test_sparse_metadata },
		{ NULL, NULL },
	};
	if (argc == 4 && !strcmp(argv[1], "--child"))
		return child_main(atoi(argv[2]), atoi(argv[3]));
	return t_main("sim", cases);
}
