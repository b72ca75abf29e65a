// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_filter.c: filter_compile (common/filter.c) turns a filter_v1 into the kernel's struct
 * ec_filter: prefixes become an address and mask in network byte order, pre-masked; ports are
 * big-endian; unset fields stay zero, padding included.
 */
#include <arpa/inet.h>
#include <string.h>

#include "request.h"
#include "testing.h"

/* A filter with one address field, parsed the way a request parses it. */
static int filter_with_src(const char *prefix, struct req_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->fields = EC_F_SRC_ADDR;
	return prefix_parse(prefix, &f->src, NULL, 0);
}

static void test_empty_filter_compiles_to_zeros(void)
{
	static const struct ec_filter zero;
	struct req_filter f;
	struct ec_filter out;

	memset(&f, 0, sizeof(f));
	memset(&out, 0xab, sizeof(out));
	filter_compile(&f, &out);
	CHECK(!memcmp(&out, &zero, sizeof(out)), "every byte zero, padding included");
}

static void test_ipv4_prefix_mask_in_network_order(void)
{
	struct req_filter f;
	struct ec_filter out;

	CHECK(filter_with_src("192.0.2.0/24", &f) == 0, "parse");
	filter_compile(&f, &out);
	CHECK_EQ_U64(out.fields, EC_F_SRC_ADDR, "fields");
	CHECK_EQ_U64(out.src.family, 4, "family");
	CHECK(out.src.mask[0] == htonl(0xffffff00), "mask %08x, want ffffff00 in network order",
	      ntohl(out.src.mask[0]));
	CHECK(!memcmp(out.src.mask, "\xff\xff\xff\x00", 4), "mask bytes as on the wire");
	CHECK(out.src.addr[0] == htonl(0xc0000200), "addr %08x", ntohl(out.src.addr[0]));
	CHECK(!out.src.mask[1] && !out.src.mask[2] && !out.src.mask[3], "IPv4 uses word 0 only");
	CHECK(!out.src.addr[1] && !out.src.addr[2] && !out.src.addr[3], "IPv4 uses word 0 only");
	CHECK(out.dst.family == 0 && !out.dst.mask[0], "destination left unset");
}

static void test_ipv4_prefix_lengths(void)
{
	static const struct {
		const char *prefix;
		uint32_t mask;
	} cases[] = {
		{ "192.0.2.1", 0xffffffff },  { "192.0.2.128/25", 0xffffff80 },
		{ "10.0.0.0/8", 0xff000000 }, { "128.0.0.0/1", 0x80000000 },
		{ "0.0.0.0/0", 0x00000000 },  { "192.0.2.0/23", 0xfffffe00 },
	};
	struct req_filter f;
	struct ec_filter out;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(filter_with_src(cases[i].prefix, &f) == 0, "parse %s", cases[i].prefix);
		filter_compile(&f, &out);
		CHECK(out.src.mask[0] == htonl(cases[i].mask), "%s: mask %08x, want %08x",
		      cases[i].prefix, ntohl(out.src.mask[0]), cases[i].mask);
	}
}

static void test_address_is_pre_masked(void)
{
	struct req_filter f;
	struct ec_filter out;

	/* Built by hand, with host bits that prefix_parse would refuse. */
	memset(&f, 0, sizeof(f));
	f.fields = EC_F_DST_ADDR;
	f.dst.family = 4;
	f.dst.len = 24;
	memcpy(f.dst.addr, "\xc0\x00\x02\x63", 4);
	filter_compile(&f, &out);
	CHECK(out.dst.addr[0] == htonl(0xc0000200), "addr %08x, want c0000200",
	      ntohl(out.dst.addr[0]));
}

static void test_ipv6_prefix_masks(void)
{
	struct req_filter f;
	struct ec_filter out;

	CHECK(filter_with_src("2001:db8::/32", &f) == 0, "parse");
	filter_compile(&f, &out);
	CHECK_EQ_U64(out.src.family, 6, "family");
	CHECK(out.src.mask[0] == 0xffffffff && !out.src.mask[1] && !out.src.mask[2] &&
		      !out.src.mask[3],
	      "/32 mask");
	CHECK(out.src.addr[0] == htonl(0x20010db8) && !out.src.addr[1], "addr");

	CHECK(filter_with_src("2001:db8:0:10::/60", &f) == 0, "parse /60");
	filter_compile(&f, &out);
	CHECK(out.src.mask[0] == 0xffffffff && out.src.mask[1] == htonl(0xfffffff0) &&
		      !out.src.mask[2],
	      "/60 mask: word 1 is %08x", ntohl(out.src.mask[1]));
	CHECK(out.src.addr[1] == htonl(0x00000010), "addr word 1 %08x", ntohl(out.src.addr[1]));

	CHECK(filter_with_src("2001:db8::1", &f) == 0, "parse /128");
	filter_compile(&f, &out);
	CHECK(out.src.mask[0] == 0xffffffff && out.src.mask[3] == 0xffffffff, "/128 mask");
	CHECK(out.src.addr[3] == htonl(1), "last word %08x", ntohl(out.src.addr[3]));
}

static void test_ports_are_big_endian(void)
{
	struct req_filter f;
	struct ec_filter out;

	memset(&f, 0, sizeof(f));
	f.fields = EC_F_SRC_PORT | EC_F_DST_PORT;
	f.src_port = 123;
	f.dst_port = 0x1f90; /* 8080 */
	filter_compile(&f, &out);
	CHECK(out.src_port == htons(123), "source port %04x", out.src_port);
	CHECK(!memcmp(&out.dst_port, "\x1f\x90", 2), "destination port bytes as on the wire");
	CHECK(out.src.family == 0 && out.protocol == 0, "other fields left zero");
}

static void test_protocol_and_unset_fields(void)
{
	struct req_filter f;
	struct ec_filter out;

	memset(&f, 0, sizeof(f));
	f.fields = EC_F_PROTOCOL;
	f.protocol = 17;
	f.src_port = 53; /* not in fields: must not reach the kernel */
	filter_compile(&f, &out);
	CHECK_EQ_U64(out.protocol, 17, "protocol");
	CHECK_EQ_U64(out.src_port, 0, "source port not set in fields");
	CHECK_EQ_U64(out.fields, EC_F_PROTOCOL, "fields");
}

static void test_seed_request_compiles(void)
{
	static const char text[] =
		"{\"filter_v1\": {\"source_address\": \"1.2.3.4\", "
		"\"source_port\": 123, \"destination_address\": \"5.6.7.8\", "
		"\"destination_port\": 80, \"protocol\": 6}, \"time_limit\": 300, "
		"\"packet_limit\": 10000, \"type\": \"simple\", "
		"\"system\": \"magic-transit\"}";
	struct capture_request req;
	struct ec_filter out;
	char err[200];

	CHECK(request_from_json(text, strlen(text), REQ_SCOPE_API, &req, err, sizeof(err)) == 0,
	      "%s", err);
	filter_compile(&req.filter, &out);
	CHECK(out.src.addr[0] == htonl(0x01020304) && out.src.mask[0] == 0xffffffff, "source");
	CHECK(out.dst.addr[0] == htonl(0x05060708) && out.dst.mask[0] == 0xffffffff, "destination");
	CHECK(out.src_port == htons(123) && out.dst_port == htons(80), "ports");
	CHECK_EQ_U64(out.protocol, 6, "protocol");
}

int main(void)
{
	RUN(test_empty_filter_compiles_to_zeros);
	RUN(test_ipv4_prefix_mask_in_network_order);
	RUN(test_ipv4_prefix_lengths);
	RUN(test_address_is_pre_masked);
	RUN(test_ipv6_prefix_masks);
	RUN(test_ports_are_big_endian);
	RUN(test_protocol_and_unset_fields);
	RUN(test_seed_request_compiles);
	return TEST_SUMMARY();
}
