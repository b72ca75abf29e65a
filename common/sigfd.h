/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sigfd.h: signals as a file descriptor, for a poll or epoll loop. sigfd_open blocks the given
 * signals in the calling thread (threads created later inherit the mask, so call it before any
 * exists) and returns a non-blocking, close-on-exec signalfd that reports them, or a negative
 * errno. The caller reads struct signalfd_siginfo from it and closes it.
 */
#ifndef EDGECAP_SIGFD_H
#define EDGECAP_SIGFD_H

#include <stddef.h>

int sigfd_open(const int *signals, size_t n);

#endif /* EDGECAP_SIGFD_H */
