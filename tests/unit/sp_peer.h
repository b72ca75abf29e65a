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

/*
 * The exit status of a test program whose own socket's close hung (peer_sock_close): 1, a
 * failure, unless the program runs such a test again (test_fanout).
 */
static int peer_close_hung_status = 1;

/*
 * nng_close of a test's own socket, through sp_close_within: NNG 1.5.2's can wait for ever
 * (nng #1543; common/sp.h, "Closing"), and every later close in the process with it. What is
 * in flight arrives first (20 ms), to be read and dropped before the close: every hang seen in
 * test_fanout came right after the fan-out had sent its next survey, still queued on the peer.
 * Past 5 s the program says so and exits with peer_close_hung_status.
 */
static inline void peer_sock_close(nng_socket s)
{
	usleep(20 * 1000);
	sp_close_within(s, "the test's own socket", 5000, peer_close_hung_status);
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
