// SPDX-License-Identifier: BSD-2-Clause
/* filter.c: turns a filter_v1 into the kernel's struct ec_filter (capture_abi.h). */
#include <arpa/inet.h>
#include <string.h>

#include "request.h"

static void prefix_compile(const struct req_prefix *p, struct ec_prefix_match *out)
{
	uint8_t mask[16] = { 0 };
	unsigned int bits = p->len, i;

	memset(out, 0, sizeof(*out));
	out->family = p->family;
	for (i = 0; i < 16 && bits; i++) {
		mask[i] = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
		bits -= bits >= 8 ? 8 : bits;
	}
	/* Both stay in network byte order: the kernel compares them with the packet's words. */
	memcpy(out->mask, mask, sizeof(out->mask));
	for (i = 0; i < 16; i++)
		((uint8_t *)out->addr)[i] = p->addr[i] & mask[i];
}

void filter_compile(const struct req_filter *f, struct ec_filter *out)
{
	memset(out, 0, sizeof(*out));
	out->fields = f->fields;
	if (f->fields & EC_F_SRC_ADDR)
		prefix_compile(&f->src, &out->src);
	if (f->fields & EC_F_DST_ADDR)
		prefix_compile(&f->dst, &out->dst);
	if (f->fields & EC_F_PROTOCOL)
		out->protocol = f->protocol;
	if (f->fields & EC_F_SRC_PORT)
		out->src_port = htons(f->src_port);
	if (f->fields & EC_F_DST_PORT)
		out->dst_port = htons(f->dst_port);
}
