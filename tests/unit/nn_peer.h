/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nn_peer.h: what the agent's unit tests share: a fresh directory for their sockets and files,
 * and the far end of an agent socket (a nanomsg socket bound at ipc://DIR/NAME) that receives
 * with a timeout, so that a test that gets nothing fails instead of hanging.
 */
#ifndef EDGECAP_TEST_NN_PEER_H
#define EDGECAP_TEST_NN_PEER_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <nanomsg/nn.h>

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

/* Removes dir and the files in it. */
static inline void peer_tmpdir_remove(const char *dir)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* A socket of protocol proto bound at ipc://dir/name (its URL in url); -1 on failure. */
static inline int peer_bind(int proto, const char *dir, const char *name, char *url, size_t urllen)
{
	int sock = nn_socket(AF_SP, proto), timeout_ms = 2000;

	if (sock < 0)
		return -1;
	snprintf(url, urllen, "ipc://%s/%s", dir, name);
	nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout_ms, sizeof(timeout_ms));
	nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &timeout_ms, sizeof(timeout_ms));
	if (nn_bind(sock, url) < 0) {
		nn_close(sock);
		return -1;
	}
	return sock;
}

/* Waits up to 2 s for sock to have a connection; whether it has one. */
static inline int peer_wait_connected(int sock)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (nn_get_statistic(sock, NN_STAT_CURRENT_CONNECTIONS) > 0)
			return 1;
		usleep(10000);
	}
	return 0;
}

#endif /* EDGECAP_TEST_NN_PEER_H */
