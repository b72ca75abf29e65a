// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_headers.c: the BPF tier, header variants: where the parser must find (or must refuse to
 * find) each filter_v1 field: VLAN tags, IPv4 options and damage, fragments, truncated headers,
 * IPv6 extension headers and their limit, ARP, and tunnels (matched on the outer header). Needs
 * root (see harness.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "harness.h"

/* ---------------------------------------------------------------------------------------------
 * Header variants: where the parser must find (or must refuse to find) each field.
 */

static const struct sees sees_v4_udp = { V4_A, V4_B, IPPROTO_UDP, true, 1111, 2222 };
static const struct sees sees_v6_tcp = { V6_A, V6_B, IPPROTO_TCP, true, 1111, 2222 };

static void test_plain_ethernet_sees_every_field(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
	expect_sees(e, &p, &sees_v4_udp, "untagged IPv4 UDP");
	build_ipv6(&p, V6_A, V6_B, IPPROTO_TCP, 1111, 2222);
	expect_sees(e, &p, &sees_v6_tcp, "untagged IPv6 TCP");
}

static void test_vlan_one_and_two_tags(void)
{
	static const uint16_t tags[][2] = {
		{ 0x8100, 0 },	    /* single 802.1Q */
		{ 0x88a8, 0 },	    /* single 802.1ad */
		{ 0x8100, 0x88a8 }, /* QinQ: 88a8 outer, 8100 inner */
		{ 0x8100, 0x8100 }, /* double 802.1Q */
		{ 0x88a8, 0x8100 }, /* 8100 outer, 88a8 inner */
	};
	struct env *e = env_open(EC_HOOK_XDP);
	char what[64];
	struct pkt p;
	size_t i;

	CHECK(e, "set-up");
	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		/* Tags are pushed inner first. */
		build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
		push_vlan(&p, tags[i][0], 100);
		if (tags[i][1])
			push_vlan(&p, tags[i][1], 200);
		snprintf(what, sizeof(what), "IPv4 in tags outer 0x%04x inner 0x%04x",
			 get_be16(p.b + 12), tags[i][1] ? get_be16(p.b + 16) : 0);
		expect_sees(e, &p, &sees_v4_udp, what);

		build_ipv6(&p, V6_A, V6_B, IPPROTO_TCP, 1111, 2222);
		push_vlan(&p, tags[i][0], 100);
		if (tags[i][1])
			push_vlan(&p, tags[i][1], 200);
		snprintf(what, sizeof(what), "IPv6 in tags outer 0x%04x", get_be16(p.b + 12));
		expect_sees(e, &p, &sees_v6_tcp, what);
	}
}

static void test_vlan_three_tags_not_parsed(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
	push_vlan(&p, 0x8100, 1);
	push_vlan(&p, 0x8100, 2);
	push_vlan(&p, 0x88a8, 3);
	expect_only_empty(e, &p, 1111, 2222, "IPv4 under three tags");
	build_ipv6(&p, V6_A, V6_B, IPPROTO_TCP, 1111, 2222);
	push_vlan(&p, 0x8100, 1);
	push_vlan(&p, 0x88a8, 2);
	push_vlan(&p, 0x8100, 3);
	expect_only_empty(e, &p, 1111, 2222, "IPv6 under three tags");
}

static void test_vlan_truncated_tag(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_eth(&p, 0x8100);
	put_be16(&p, 100); /* TCI, but no inner ethertype */
	EXPECT_SELECTS(e, filter_empty, &p, "a 16-byte frame ending inside a VLAN tag");
	EXPECT_SKIPS(e, filter_src("0.0.0.0/0"), &p, "a frame ending inside a VLAN tag");
}

static void test_ipv4_options(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	char what[64];
	struct pkt p;
	unsigned int ihl;

	CHECK(e, "set-up");
	for (ihl = 6; ihl <= 15; ihl++) {
		snprintf(what, sizeof(what), "IPv4 IHL %u", ihl);
		build_ipv4_opts(&p, V4_A, V4_B, ihl, IPPROTO_UDP, 1111, 2222);
		expect_sees(e, &p, &sees_v4_udp, what);
	}
	/* Options present but the frame ends inside them: malformed. */
	build_ipv4_opts(&p, V4_A, V4_B, 15, IPPROTO_UDP, 1111, 2222);
	p.len = p.l3 + 40;
	expect_only_empty(e, &p, 0x0101, 0x0101, "IHL 15 with 40 bytes of header in the frame");
}

static void test_ipv4_bad_ihl_and_version(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	char what[64];
	struct pkt p;
	unsigned int v;

	CHECK(e, "set-up");
	for (v = 0; v < 5; v++) {
		snprintf(what, sizeof(what), "IPv4 IHL %u", v);
		build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
		p.b[p.l3] = (uint8_t)(0x40 | v);
		expect_only_empty(e, &p, 1111, 2222, what);
	}
	for (v = 0; v < 16; v++) {
		if (v == 4)
			continue;
		snprintf(what, sizeof(what), "IP version %u under ethertype 0x0800", v);
		build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
		p.b[p.l3] = (uint8_t)(v << 4 | 5);
		expect_only_empty(e, &p, 1111, 2222, what);
	}
}

static void test_ipv4_truncated_header(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	char what[64];
	struct pkt p;
	size_t n;

	CHECK(e, "set-up");
	for (n = 0; n < 20; n += 19) {
		snprintf(what, sizeof(what), "%zu bytes of IPv4 header", n);
		build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
		p.len = p.l3 + n;
		expect_only_empty(e, &p, 1111, 2222, what);
	}
	/* A total length below the header's own length is malformed. */
	build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
	set_be16(&p, p.l3 + 2, 19);
	expect_only_empty(e, &p, 1111, 2222, "IPv4 total length 19");
}

static void test_ipv4_fragments(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct sees later = { V4_A, V4_B, IPPROTO_UDP, false, 1111, 2222 };
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
	set_be16(&p, p.l3 + 6, 0x2000); /* MF, offset 0 */
	expect_sees(e, &p, &sees_v4_udp, "first fragment");
	set_be16(&p, p.l3 + 6, 0x4000); /* DF, offset 0: not a fragment */
	expect_sees(e, &p, &sees_v4_udp, "DF set");
	/* Later fragments whose payload happens to begin with the port bytes. */
	set_be16(&p, p.l3 + 6, 0x2000 | 185);
	expect_sees(e, &p, &later, "middle fragment (offset 185)");
	set_be16(&p, p.l3 + 6, 1);
	expect_sees(e, &p, &later, "last fragment (offset 1)");
	set_be16(&p, p.l3 + 6, 0x1fff);
	expect_sees(e, &p, &later, "last fragment (offset 8191)");
}

static void test_truncated_l4_has_no_ports(void)
{
	static const struct {
		uint8_t proto;
		size_t fixed;
	} l4[] = { { IPPROTO_TCP, 20 }, { IPPROTO_UDP, 8 }, { IPPROTO_SCTP, 12 } };
	struct env *e = env_open(EC_HOOK_XDP);
	struct sees s;
	char what[96];
	struct pkt p;
	size_t i;

	CHECK(e, "set-up");
	for (i = 0; i < sizeof(l4) / sizeof(l4[0]); i++) {
		s = (struct sees){ V4_A, V4_B, l4[i].proto, false, 1111, 2222 };
		/* The frame ends one byte short of the fixed header, lengths consistent. */
		build_ipv4(&p, V4_A, V4_B, l4[i].proto, 1111, 2222);
		p.len = p.l4 + l4[i].fixed - 1;
		fix_lengths(&p);
		snprintf(what, sizeof(what), "IPv4 protocol %u with %zu bytes of L4", l4[i].proto,
			 l4[i].fixed - 1);
		expect_sees(e, &p, &s, what);
		/* Exactly the fixed header: ports. */
		p.len = p.l4 + l4[i].fixed;
		fix_lengths(&p);
		s.ports = true;
		snprintf(what, sizeof(what), "IPv4 protocol %u with exactly %zu bytes of L4",
			 l4[i].proto, l4[i].fixed);
		expect_sees(e, &p, &s, what);
		/* The whole header is in the frame, but the IP packet ends before it does. */
		build_ipv4(&p, V4_A, V4_B, l4[i].proto, 1111, 2222);
		set_be16(&p, p.l3 + 2, (uint16_t)(20 + l4[i].fixed - 1));
		s.ports = false;
		snprintf(what, sizeof(what), "IPv4 protocol %u, total length %zu", l4[i].proto,
			 20 + l4[i].fixed - 1);
		expect_sees(e, &p, &s, what);
		/* The same for IPv6's payload length. */
		build_ipv6(&p, V6_A, V6_B, l4[i].proto, 1111, 2222);
		set_be16(&p, p.l3 + 4, (uint16_t)(l4[i].fixed - 1));
		s = (struct sees){ V6_A, V6_B, l4[i].proto, false, 1111, 2222 };
		snprintf(what, sizeof(what), "IPv6 protocol %u, payload length %zu", l4[i].proto,
			 l4[i].fixed - 1);
		expect_sees(e, &p, &s, what);
	}
	/* The brief's case: UDP with just its four port bytes. */
	build_ipv4_udp(&p, V4_A, V4_B, 1111, 2222);
	p.len = p.l4 + 4;
	fix_lengths(&p);
	s = (struct sees){ V4_A, V4_B, IPPROTO_UDP, false, 1111, 2222 };
	expect_sees(e, &p, &s, "UDP with 4 bytes of L4");
}

static void test_ipv6_each_ext_header(void)
{
	static const uint8_t types[] = { IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT,
					 IPPROTO_DSTOPTS };
	struct env *e = env_open(EC_HOOK_XDP);
	struct sees s = sees_v6_tcp;
	uint8_t two[2];
	char what[64];
	struct pkt p;
	size_t i;

	CHECK(e, "set-up");
	for (i = 0; i < sizeof(types); i++) {
		snprintf(what, sizeof(what), "IPv6 TCP after extension header %u", types[i]);
		build_ipv6_with_ext(&p, V6_A, V6_B, &types[i], 1, IPPROTO_TCP, 1111, 2222);
		expect_sees(e, &p, &s, what);
		/* The second header of a pair is 16 bytes long: hdrlen is used. */
		two[0] = types[i];
		two[1] = types[(i + 1) % sizeof(types)];
		snprintf(what, sizeof(what), "IPv6 TCP after extension headers %u, %u", two[0],
			 two[1]);
		build_ipv6_with_ext(&p, V6_A, V6_B, two, 2, IPPROTO_TCP, 1111, 2222);
		expect_sees(e, &p, &s, what);
	}
}

static void test_ipv6_fragments(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct sees later = { V6_A, V6_B, IPPROTO_UDP, false, 1111, 2222 };
	struct sees first = { V6_A, V6_B, IPPROTO_UDP, true, 1111, 2222 };
	struct pkt p;

	CHECK(e, "set-up");
	build_eth(&p, ETH_P_IPV6);
	put_ipv6(&p, V6_A, V6_B, IPPROTO_FRAGMENT);
	put_ipv6_frag(&p, IPPROTO_UDP, 0, true);
	put_l4(&p, IPPROTO_UDP, 1111, 2222);
	put_payload(&p, 40);
	fix_lengths(&p);
	expect_sees(e, &p, &first, "first fragment");
	/* A later fragment whose data happens to begin with the port bytes. */
	set_be16(&p, 14 + 40 + 2, 185 << 3 | 1);
	expect_sees(e, &p, &later, "middle fragment");
	set_be16(&p, 14 + 40 + 2, 185 << 3);
	expect_sees(e, &p, &later, "last fragment");
	/* Non-first fragment after hop-by-hop: still the fragment's next header. */
	build_eth(&p, ETH_P_IPV6);
	put_ipv6(&p, V6_A, V6_B, IPPROTO_HOPOPTS);
	put_ipv6_opts(&p, IPPROTO_FRAGMENT, 8);
	put_ipv6_frag(&p, IPPROTO_UDP, 7, false);
	put_l4(&p, IPPROTO_UDP, 1111, 2222);
	fix_lengths(&p);
	expect_sees(e, &p, &later, "last fragment after hop-by-hop");
}

static void test_ipv6_ext_chain_limit(void)
{
	static const uint8_t six[] = { IPPROTO_HOPOPTS,	 IPPROTO_DSTOPTS, IPPROTO_ROUTING,
				       IPPROTO_FRAGMENT, IPPROTO_ROUTING, IPPROTO_DSTOPTS };
	static const uint8_t seven[] = { IPPROTO_HOPOPTS,  IPPROTO_DSTOPTS, IPPROTO_ROUTING,
					 IPPROTO_FRAGMENT, IPPROTO_ROUTING, IPPROTO_DSTOPTS,
					 IPPROTO_DSTOPTS };
	struct sees unknown = { V6_A, V6_B, -1, false, 1111, 2222 };
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv6_with_ext(&p, V6_A, V6_B, six, 6, IPPROTO_TCP, 1111, 2222);
	expect_sees(e, &p, &sees_v6_tcp, "six extension headers");
	/* Seven: the upper layer is past what the parser walks; the addresses are still known. */
	build_ipv6_with_ext(&p, V6_A, V6_B, seven, 7, IPPROTO_TCP, 1111, 2222);
	expect_sees(e, &p, &unknown, "seven extension headers");
}

static void test_ipv6_malformed(void)
{
	struct sees unknown = { V6_A, V6_B, -1, false, 1111, 2222 };
	struct sees no_ports = { V6_A, V6_B, IPPROTO_UDP, false, 1111, 2222 };
	struct env *e = env_open(EC_HOOK_XDP);
	char what[64];
	struct pkt p;
	unsigned int v;

	CHECK(e, "set-up");
	build_ipv6(&p, V6_A, V6_B, IPPROTO_UDP, 1111, 2222);
	p.len = p.l3 + 39;
	expect_only_empty(e, &p, 1111, 2222, "39 bytes of IPv6 header");
	for (v = 0; v < 16; v++) {
		if (v == 6)
			continue;
		snprintf(what, sizeof(what), "IP version %u under ethertype 0x86dd", v);
		build_ipv6(&p, V6_A, V6_B, IPPROTO_UDP, 1111, 2222);
		p.b[p.l3] = (uint8_t)(v << 4);
		expect_only_empty(e, &p, 1111, 2222, what);
	}
	/*
	 * A broken extension header after a well-formed IPv6 header: the upper layer is unknown,
	 * the addresses are not (the IPv6 header itself is well-formed).
	 */
	build_eth(&p, ETH_P_IPV6);
	put_ipv6(&p, V6_A, V6_B, IPPROTO_HOPOPTS);
	put_ipv6_opts(&p, IPPROTO_UDP, 16);
	put_l4(&p, IPPROTO_UDP, 1111, 2222);
	fix_lengths(&p);
	set_be16(&p, p.l3 + 4, 15); /* payload length ends inside hop-by-hop */
	expect_sees(e, &p, &unknown, "payload length shorter than hop-by-hop");
	build_eth(&p, ETH_P_IPV6);
	put_ipv6(&p, V6_A, V6_B, IPPROTO_DSTOPTS);
	put_u8(&p, IPPROTO_UDP); /* the frame ends after one byte of the header */
	expect_sees(e, &p, &unknown, "frame ends inside destination options");
	/* Lengths say the header is whole, the frame ends after it: protocol known, no ports. */
	build_eth(&p, ETH_P_IPV6);
	put_ipv6(&p, V6_A, V6_B, IPPROTO_ROUTING);
	put_ipv6_opts(&p, IPPROTO_UDP, 8);
	put_l4(&p, IPPROTO_UDP, 1111, 2222);
	fix_lengths(&p);
	p.len -= 5;
	expect_sees(e, &p, &no_ports, "frame truncated inside UDP after routing");
}

static void test_arp_matches_only_empty_filter(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_arp(&p, V4_A, V4_B);
	expect_only_empty(e, &p, 0x0800, 0x0604, "ARP request");
	EXPECT_SKIPS(e, filter_src(V4_A), &p, "ARP sender address");
	EXPECT_SKIPS(e, filter_dst(V4_B), &p, "ARP target address");
}

static void test_tunnels_match_outer_header(void)
{
	struct sees outer_gre = { V4_A, V4_B, IPPROTO_GRE, false, 0, ETH_P_IP };
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_gre_ipv4(&p, V4_A, V4_B, "10.1.1.1", "10.2.2.2", IPPROTO_UDP, 1111, 2222);
	expect_sees(e, &p, &outer_gre, "GRE");
	EXPECT_SKIPS(e, filter_src("10.1.1.1"), &p, "GRE, inner source");
	EXPECT_SKIPS(e, filter_dst("10.2.2.2"), &p, "GRE, inner destination");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_UDP), &p, "GRE, inner protocol");
	EXPECT_SKIPS(e, filter_sport(1111), &p, "GRE, inner source port");
	EXPECT_SKIPS(e, filter_dport(2222), &p, "GRE, inner destination port");

	/* IPv6 in IPv4 (41): protocol 41, outer addresses, no ports. */
	build_eth(&p, ETH_P_IP);
	put_ipv4(&p, V4_A, V4_B, IPPROTO_IPV6, 5);
	put_ipv6(&p, V6_A, V6_B, IPPROTO_TCP);
	put_l4(&p, IPPROTO_TCP, 1111, 2222);
	p.family = 4;
	p.l3 = 14;
	p.proto = IPPROTO_IPV6;
	fix_lengths(&p);
	set_be16(&p, 14 + 20 + 4, 20);
	EXPECT_SELECTS(e, filter_proto(IPPROTO_IPV6), &p, "6in4");
	EXPECT_SELECTS(e, filter_src(V4_A), &p, "6in4, outer source");
	EXPECT_SKIPS(e, filter_src(V6_A), &p, "6in4, inner source");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_TCP), &p, "6in4, inner protocol");
	EXPECT_SKIPS(e, filter_sport(1111), &p, "6in4, inner source port");
}

int main(void)
{
	if (!bpf_harness_init())
		return TEST_SUMMARY();
	RUN_BPF(test_plain_ethernet_sees_every_field);
	RUN_BPF(test_vlan_one_and_two_tags);
	RUN_BPF(test_vlan_three_tags_not_parsed);
	RUN_BPF(test_vlan_truncated_tag);
	RUN_BPF(test_ipv4_options);
	RUN_BPF(test_ipv4_bad_ihl_and_version);
	RUN_BPF(test_ipv4_truncated_header);
	RUN_BPF(test_ipv4_fragments);
	RUN_BPF(test_truncated_l4_has_no_ports);
	RUN_BPF(test_ipv6_each_ext_header);
	RUN_BPF(test_ipv6_fragments);
	RUN_BPF(test_ipv6_ext_chain_limit);
	RUN_BPF(test_ipv6_malformed);
	RUN_BPF(test_arp_matches_only_empty_filter);
	RUN_BPF(test_tunnels_match_outer_header);
	return TEST_SUMMARY();
}
