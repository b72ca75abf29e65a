/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nnsock.h: the file descriptor behind a nanomsg socket (NN_RCVFD: readable when a message
 * waits; NN_SNDFD: readable when the socket can take one), for the agent's poll loop. -1 when
 * the socket has none.
 */
#ifndef EDGECAP_NNSOCK_H
#define EDGECAP_NNSOCK_H

#include <stddef.h>
#include <nanomsg/nn.h>

static inline int nnsock_fd(int sock, int opt)
{
	size_t sz = sizeof(int);
	int fd = -1;

	if (nn_getsockopt(sock, NN_SOL_SOCKET, opt, &fd, &sz) < 0)
		return -1;
	return fd;
}

#endif /* EDGECAP_NNSOCK_H */
