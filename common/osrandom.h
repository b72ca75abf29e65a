/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * osrandom.h: bytes from the kernel's random pool (getrandom(2)), for ids and hash seeds: every
 * byte of buf filled, short reads and EINTR retried. Keys and secrets use OpenSSL's RAND_bytes
 * (common/identity.h), not this.
 */
#ifndef EDGECAP_OSRANDOM_H
#define EDGECAP_OSRANDOM_H

#include <stddef.h>

/* 0, or -errno from getrandom (buf then holds no usable bytes). */
int osrandom_fill(void *buf, size_t len);

#endif /* EDGECAP_OSRANDOM_H */
