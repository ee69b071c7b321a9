/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * simdom.h - gmap-simdom internals: a simulated granting Xen domain served
 * from its own process over a unix socket.  Backends in other processes
 * "attach" to it and receive its two memfds; scripts play the guest with
 * one-line text commands.  See gmap-simdom(1) for the protocol.
 *
 * main.c  options, client mode, server start and daemonising
 * serve.c the socket, the peers' credentials, the poll loop (fair, with
 *         idle timeouts), per-connection buffers, fd passing
 * cmd.c   one command line in, one reply line out
 */
#ifndef GMAP_SIMDOM_H
#define GMAP_SIMDOM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "gmap.h"
#include "gmap-sim.h"

#define SD_NAME "gmap-simdom"

#define SD_LINE_MAX 4096          /* a request line, its newline included */
#define SD_REPLY_MAX 4096         /* a reply line, its newline included   */
#define SD_MAX_CONNS 64           /* client connections at once           */
#define SD_ALLOW_MAX 16           /* --allow-uid entries                  */
#define SD_IDLE_DEFAULT_S 60      /* --idle-timeout                       */
#define SD_IDLE_MAX_S 86400u
#define SD_BACKLOG 16
#define SD_MAX_RANGE 1048576u     /* refs in one RANGE                    */
#define SD_DOMID_MAX 32751u       /* below DOMID_FIRST_RESERVED           */
#define SD_LISTED_MAX 64          /* in-use refs named by quit            */
#define SD_END_LISTED_MAX 16      /* failed refs named by end             */

struct simdom {
	struct gmap_sim_domain *dom;
	uint32_t domid, nr_frames, nr_grants;
	const char *path;
	int log_fd;                   /* one line per command; -1: none  */

	/* Who may connect: the server's own uid, root, and these. */
	uid_t allow[SD_ALLOW_MAX];
	unsigned int nr_allow;
	unsigned int idle_s;          /* close a connection idle this long;
	                               * 0: never (it may still be evicted) */

	/* The listening socket, and what was bound at @path, so that an
	 * exit unlinks our socket and never a successor's. */
	int lfd;
	dev_t sock_dev;
	ino_t sock_ino;

	bool quit;                    /* leave the poll loop             */
	/* The in-use report, taken once (at quit or at the signal), so that
	 * the reply, the exit line and the exit status agree. */
	bool reported;
	uint32_t in_use;
	char in_use_refs[SD_LISTED_MAX * 11 + 8]; /* " R1 R2 ... [...]" */
};

/* What the server does with a reply once a command has run. */
enum sd_verb {
	SD_REPLY = 0,  /* send it, keep the connection                   */
	SD_CLOSE,      /* send it, then close the connection             */
	SD_ATTACH,     /* send it with the domain's two fds, then close  */
	SD_QUIT,       /* stop listening, send it, exit                  */
};

struct sd_reply {
	enum sd_verb verb;
	char text[SD_REPLY_MAX];      /* without the newline             */
};

/* cmd.c */
int sd_number(const char *s, uint64_t lo, uint64_t hi, uint64_t *v);
void sd_command(struct simdom *sd, char *line, struct sd_reply *r);
void sd_take_report(struct simdom *sd);

/* serve.c */
int sd_listen(struct simdom *sd);
void sd_unlisten(struct simdom *sd);
int sd_serve(struct simdom *sd, int sigfd);

#endif /* GMAP_SIMDOM_H */
