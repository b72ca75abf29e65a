// SPDX-License-Identifier: BSD-2-Clause
/*
 * ec_nngclosehang.so: an LD_PRELOAD shim whose nng_close never returns, the way NNG 1.5.2's can
 * (nng #1543; common/sp.h, "Closing"), for tests of what a daemon has done before it closes its
 * sockets and how it ends. Without EC_NNG_CLOSE_HANG in the environment it passes every call on
 * to NNG's own.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include <nng/nng.h>

int nng_close(nng_socket s)
{
	int (*real)(nng_socket);

	if (getenv("EC_NNG_CLOSE_HANG"))
		for (;;)
			pause();
	real = (int (*)(nng_socket))dlsym(RTLD_NEXT, "nng_close");
	return real ? real(s) : NNG_ENOTSUP;
}
