/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sp_fault.h: NNG 1.5.2's "dialer gave up", on demand. Include it in one file of a program (a
 * unit test, or ec_sppeer): it defines sendmsg, which the program's copy of libnng then calls
 * instead of libc's (the executable's definition comes first in symbol lookup).
 * sp_fault_header(proto) makes the next write of an SP connection header of protocol proto
 * (PUSH 0x50, RESPONDENT 0x63: a dialer's side, so the listener's own header is never the one
 * failed) fail with EPIPE, as writing to a listener that is closing does. NNG maps EPIPE to
 * NNG_ECLOSED, and on NNG_ECLOSED its dialer stops redialling for good. The listener is not hurt
 * (below). Only plain SP transports (ipc://, tcp://) write the header in the clear.
 */
#ifndef EDGECAP_TEST_SP_FAULT_H
#define EDGECAP_TEST_SP_FAULT_H

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define SP_FAULT_PUSH0	    0x50
#define SP_FAULT_RESPONDENT 0x63

/* Per protocol (every SP protocol number is below 256): its next header fails. */
static atomic_bool sp_fault_armed[256];
static atomic_int sp_fault_hits; /* headers failed so far */

static inline void sp_fault_header(int proto)
{
	atomic_store(&sp_fault_armed[proto & 0xff], true);
}

/* An SP header: 0x00 'S' 'P' 0x00, the protocol (16 bits, big-endian), 2 reserved bytes. */
static inline int sp_fault_header_proto(const struct msghdr *m)
{
	const uint8_t *b;

	if (m->msg_iovlen < 1 || m->msg_iov[0].iov_len != 8)
		return -1;
	b = m->msg_iov[0].iov_base;
	if (memcmp(b, "\0SP\0", 4))
		return -1;
	return b[4] << 8 | b[5];
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	static ssize_t (*real)(int, const struct msghdr *, int);
	int proto = sp_fault_header_proto(m);

	if (proto >= 0 && proto < 256 && atomic_load(&sp_fault_armed[proto])) {
		char b;
		ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

		/*
		 * Only once the listener's own header is here: NNG shuts the connection down at
		 * once, and an ipc:// listener whose header write then fails stops accepting for
		 * good (NNG 1.5.2 again). Not waited for here (NNG runs both ends' I/O on one
		 * thread): EAGAIN, and NNG writes again when the socket polls writable. A
		 * connection that is already over (a listener that went away) is left to fail by
		 * itself, and the fault waits for the next one.
		 */
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			errno = EAGAIN;
			return -1;
		}
		if (n == 1 && atomic_exchange(&sp_fault_armed[proto], false)) {
			atomic_fetch_add(&sp_fault_hits, 1);
			errno = EPIPE;
			return -1;
		}
	}
	if (!real)
		real = (ssize_t(*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
	return real(fd, m, flags);
}

#endif /* EDGECAP_TEST_SP_FAULT_H */
