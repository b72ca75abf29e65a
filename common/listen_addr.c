// SPDX-License-Identifier: BSD-2-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "listen_addr.h"
#include "strnum.h"

int listen_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
		      size_t errlen)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *port;
	uint32_t p;
	size_t n;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		colon = strchr(s, ']');
		if (!colon || colon[1] != ':')
			goto bad;
		n = (size_t)(colon - s - 1);
		port = colon + 2;
		s++;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			goto bad;
		n = (size_t)(colon - s);
		port = colon + 1;
	}
	if (!n || n >= sizeof(host))
		goto bad;
	memcpy(host, s, n);
	host[n] = '\0';
	if (strnum_u32(port, 0, 65535, &p))
		goto bad;
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)p);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*in6);
		return 0;
	}
bad:
	snprintf(err, errlen,
		 "must be ADDR:PORT with a numeric IPv4 address or a bracketed IPv6 one and a port "
		 "from 0 to 65535, e.g. 127.0.0.1:7100 or [::1]:7100");
	return -EINVAL;
}

void listen_addr_format(const struct sockaddr_storage *ss, uint16_t port, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, port);
	} else {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, port);
	}
}

int listen_addr_set(char *dst, size_t size, const char *name, const char *value, char *err,
		    size_t errlen)
{
	struct sockaddr_storage ss;
	char why[256];
	socklen_t len;

	if (strlen(value) >= size || listen_addr_parse(value, &ss, &len, why, sizeof(why))) {
		(void)name;
		snprintf(err, errlen, "%s", strlen(value) >= size ? "too long" : why);
		return -EINVAL;
	}
	memcpy(dst, value, strlen(value) + 1);
	return 0;
}
