/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sp_peer.h: what the agent's unit tests share: a fresh directory for their sockets and files,
 * and the far end of an agent socket (an NNG socket bound at ipc://DIR/NAME) that receives
 * with a timeout, so that a test that gets nothing fails instead of hanging.
 */
#ifndef EDGECAP_TEST_SP_PEER_H
#define EDGECAP_TEST_SP_PEER_H

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <nng/nng.h>

#include "sp.h"

/* A fresh empty directory under TMPDIR (or /tmp); "" when it could not be made. */
static inline void peer_tmpdir(char *dir, size_t len)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, len, "%s/edgecap-test-XXXXXX", tmp && strlen(tmp) < 30 ? tmp : "/tmp");
	if (!mkdtemp(dir))
		dir[0] = '\0';
}

/* How many entries of dir have part in their name (-1: dir cannot be read). */
static inline int peer_dir_count(const char *dir, const char *part)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += strstr(de->d_name, part) != NULL;
	closedir(d);
	return n;
}

/*
 * Removes dir and everything beneath it (a test's own directories too: test_captures left its
 * "victim" directory, and with it dir, in /tmp at every run). Links are removed, not followed.
 */
static inline void peer_tmpdir_remove(const char *dir)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(dir);
	int n;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		if (unlink(path) && errno == EISDIR)
			peer_tmpdir_remove(path);
	}
	closedir(d);
	rmdir(dir);
}

/* The far end: a socket and its connections. */
struct peer {
	nng_socket sock;
	struct sp_pipes pipes;
	int open;
};

/*
 * Opens a socket with open (nng_pull0_open, nng_surveyor0_open...) bound at ipc://dir/name (its
 * URL in url), receiving and sending with a 2 s timeout; 0, or -1 on failure.
 */
static inline int peer_bind(struct peer *p, int (*open)(nng_socket *), const char *dir,
			    const char *name, char *url, size_t urllen)
{
	p->open = 0;
	if (open(&p->sock))
		return -1;
	p->open = 1;
	snprintf(url, urllen, "ipc://%s/%s", dir, name);
	nng_socket_set_ms(p->sock, NNG_OPT_RECVTIMEO, 2000);
	nng_socket_set_ms(p->sock, NNG_OPT_SENDTIMEO, 2000);
	nng_socket_set_size(p->sock, NNG_OPT_RECVMAXSZ, 0);
	if (sp_pipes_track(p->sock, &p->pipes) || nng_listen(p->sock, url, NULL, 0)) {
		nng_close(p->sock);
		p->open = 0;
		return -1;
	}
	return 0;
}

struct peer_closing {
	nng_socket sock;
	atomic_bool done;
};

static inline void *peer_closing_run(void *arg)
{
	struct peer_closing *c = arg;

	nng_close(c->sock);
	atomic_store(&c->done, true);
	return NULL;
}

/* What peer_sock_close does after it said a close hung: NULL goes on without the close. */
static void (*peer_close_hung)(void);

/*
 * nng_close of a test's own socket, bounded: NNG 1.5.2's can wait for ever (nng #1543;
 * common/sp.h, "Closing"), as test_fanout's peers did about once in 25 runs under load. Past
 * 5 s it says so on stderr and calls peer_close_hung, or goes on without the close, whose thread
 * is left behind (every later close in the process may hang as well).
 */
static inline void peer_sock_close(nng_socket s)
{
	struct peer_closing *c = calloc(1, sizeof(*c));
	pthread_t t;
	int i;

	/*
	 * What came in and was not read goes first: every hang seen came right after the fan-out
	 * had sent its next survey, with that survey still in the peer's queue at the close.
	 */
	usleep(20 * 1000);
	sp_drain(s);
	if (!c) {
		nng_close(s);
		return;
	}
	c->sock = s;
	atomic_init(&c->done, false);
	if (pthread_create(&t, NULL, peer_closing_run, c)) {
		free(c);
		nng_close(s);
		return;
	}
	for (i = 0; i < 500 && !atomic_load(&c->done); i++)
		usleep(10 * 1000);
	if (atomic_load(&c->done)) {
		pthread_join(t, NULL);
		free(c);
		return;
	}
	fprintf(stderr, "note: the test's nng_close has hung for 5 s (NNG 1.5.2, nng #1543)\n");
	pthread_detach(t);
	if (peer_close_hung)
		peer_close_hung();
}

static inline void peer_close(struct peer *p)
{
	if (p->open)
		peer_sock_close(p->sock);
	p->open = 0;
}

/* Waits up to 2 s for the peer to have a connection; whether it has one. */
static inline int peer_wait_connected(struct peer *p)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (sp_pipes_count(&p->pipes) > 0)
			return 1;
		usleep(10000);
	}
	return 0;
}

#endif /* EDGECAP_TEST_SP_PEER_H */
