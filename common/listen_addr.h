/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * listen_addr.h: the ADDR:PORT form of the daemons' HTTP listeners (the aggregator's --http,
 * both daemons' --metrics): numeric only, IPv6 in brackets.
 */
#ifndef EDGECAP_LISTEN_ADDR_H
#define EDGECAP_LISTEN_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * "127.0.0.1:7100", "[::1]:7100", "0.0.0.0:0" (port 0: any free port) into *ss and *len.
 * -EINVAL with err saying what the form must be.
 */
int listen_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
		      size_t errlen);
/* The address with port as "127.0.0.1:7100" or "[::1]:7100". */
void listen_addr_format(const struct sockaddr_storage *ss, uint16_t port, char *buf, size_t len);

/*
 * A setting of that form (e.g. --metrics): value checked with listen_addr_parse and copied into
 * dst (size bytes). -EINVAL with err naming the setting and the value.
 */
int listen_addr_set(char *dst, size_t size, const char *name, const char *value, char *err,
		    size_t errlen);

#endif /* EDGECAP_LISTEN_ADDR_H */
