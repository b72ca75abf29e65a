// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>

#include "sigfd.h"

int sigfd_open(const int *signals, size_t n)
{
	sigset_t set;
	size_t i;
	int ret, fd;

	sigemptyset(&set);
	for (i = 0; i < n; i++) {
		if (sigaddset(&set, signals[i]))
			return -errno;
	}
	/* Blocked, so that only the descriptor sees them (pthread_sigmask returns the errno). */
	ret = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (ret)
		return -ret;
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}
