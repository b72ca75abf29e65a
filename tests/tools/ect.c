// SPDX-License-Identifier: BSD-2-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include "ect.h"

size_t ect_payload_min(const char *tag)
{
	return ECT_HDR_LEN + (tag ? strlen(tag) : 0);
}

int ect_payload_build(uint8_t *buf, size_t size, uint32_t seq, const char *tag)
{
	size_t tag_len = tag ? strlen(tag) : 0;

	if (size < ECT_HDR_LEN + tag_len)
		return -EINVAL;
	memset(buf, 0, size);
	memcpy(buf, ECT_MAGIC, ECT_MAGIC_LEN);
	ect_payload_set_seq(buf, seq);
	if (tag_len)
		memcpy(buf + ECT_HDR_LEN, tag, tag_len);
	return 0;
}

void ect_payload_set_seq(uint8_t *buf, uint32_t seq)
{
	uint32_t be = htonl(seq);

	memcpy(buf + ECT_SEQ_OFF, &be, sizeof(be));
}

int ect_payload_parse(const uint8_t *buf, size_t len, uint32_t *seq, char *tag, size_t tag_size)
{
	size_t i, n = 0;
	uint32_t be;

	if (len < ECT_HDR_LEN || memcmp(buf, ECT_MAGIC, ECT_MAGIC_LEN))
		return -EINVAL;
	memcpy(&be, buf + ECT_SEQ_OFF, sizeof(be));
	*seq = ntohl(be);
	if (!tag || !tag_size)
		return 0;
	for (i = ECT_HDR_LEN; i < len && buf[i] && n < ECT_TAG_MAX && n + 1 < tag_size; i++)
		tag[n++] = (char)buf[i];
	tag[n] = '\0';
	return 0;
}

int ect_addr_parse(const char *text, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

double ect_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ect_sleep_until(double t, const volatile sig_atomic_t *stop)
{
	struct timespec ts;

	if (ect_now() >= t)
		return;
	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !*stop)
		;
}
