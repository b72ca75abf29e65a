// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_filter_fields.c: the BPF tier, loading and filter_v1's fields. The capture object loads with
 * both programs, and each field (addresses exact and by prefix, protocol, ports), alone and
 * combined, selects exactly the frames it should, on hand-built frames run through edgecap_xdp.
 * Needs root (see harness.h).
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
 * Loading.
 */

static void test_object_loads_both_programs(void)
{
	struct capture_bpf *skel = capture_bpf__open();
	int err;

	CHECK(skel != NULL, "capture_bpf__open: %s", strerror(errno));
	err = capture_bpf__load(skel);
	if (err)
		capture_bpf__destroy(skel);
	CHECK(err == 0, "both programs should pass the verifier: %s", strerror(-err));
	/* Frags support itself is exercised by test_record_multi_buffer. */
	err = bpf_program__type(skel->progs.edgecap_xdp) == BPF_PROG_TYPE_XDP &&
	      !strcmp(bpf_program__section_name(skel->progs.edgecap_xdp), "xdp.frags") &&
	      bpf_program__type(skel->progs.edgecap_tc) == BPF_PROG_TYPE_SCHED_CLS;
	capture_bpf__destroy(skel);
	CHECK(err, "want edgecap_xdp an XDP program in xdp.frags, edgecap_tc SCHED_CLS");
}

/* ---------------------------------------------------------------------------------------------
 * filter_v1 fields.
 */

static void test_filter_empty_matches_everything(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt *p = malloc(sizeof(*p));

	CHECK(e && p, "set-up");
	build_ipv4_udp(p, V4_A, V4_B, 1000, 53);
	EXPECT_SELECTS(e, filter_empty, p, "IPv4 UDP");
	build_ipv6(p, V6_A, V6_B, IPPROTO_TCP, 40000, 443);
	EXPECT_SELECTS(e, filter_empty, p, "IPv6 TCP");
	build_arp(p, V4_A, V4_B);
	EXPECT_SELECTS(e, filter_empty, p, "ARP");
	build_garbage(p, 60, 1);
	EXPECT_SELECTS(e, filter_empty, p, "60 random bytes");
	build_garbage(p, 14, 2);
	EXPECT_SELECTS(e, filter_empty, p, "14 random bytes");
	build_eth(p, ETH_P_IP);
	EXPECT_SELECTS(e, filter_empty, p, "an IPv4 ethertype with nothing after it");
	free(p);
}

static void test_filter_ipv4_address_exact(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1000, 53);
	EXPECT_SELECTS(e, filter_src(V4_A), &p, "source address");
	EXPECT_SELECTS(e, filter_dst(V4_B), &p, "destination address");
	EXPECT_SKIPS(e, filter_src(V4_B), &p, "source filter given the destination address");
	EXPECT_SKIPS(e, filter_dst(V4_A), &p, "destination filter given the source address");
	EXPECT_SKIPS(e, filter_src("192.0.2.2"), &p, "source differing in the last bit");
	EXPECT_SKIPS(e, filter_src("193.0.2.1"), &p, "source differing in the first byte");
	EXPECT_SKIPS(e, filter_dst("198.51.100.3"), &p, "destination differing in the last byte");
	EXPECT_SKIPS(e, filter_dst(V4_C), &p, "another destination");
}

static void test_filter_ipv4_address_cidr(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, "192.0.2.77", "10.20.30.40", 1000, 53);
	EXPECT_SELECTS(e, filter_src("192.0.2.0/24"), &p, "source in /24");
	EXPECT_SELECTS(e, filter_dst("10.0.0.0/8"), &p, "destination in /8");
	EXPECT_SELECTS(e, filter_dst("10.20.28.0/22"), &p, "destination in /22");
	EXPECT_SELECTS(e, filter_src("192.0.2.64/26"), &p, "source in /26");
	EXPECT_SELECTS(e, filter_src("192.0.2.76/31"), &p, "source in /31");
	EXPECT_SELECTS(e, filter_src("0.0.0.0/0"), &p, "source in /0");
	EXPECT_SKIPS(e, filter_src("192.0.3.0/24"), &p, "source outside /24");
	EXPECT_SKIPS(e, filter_src("192.0.2.0/26"), &p, "source just below /26");
	EXPECT_SKIPS(e, filter_src("192.0.2.128/25"), &p, "source below the upper /25");
	EXPECT_SKIPS(e, filter_src("192.0.2.78/31"), &p, "source just below /31");
	EXPECT_SKIPS(e, filter_dst("10.20.32.0/22"), &p, "destination just below /22");
	EXPECT_SKIPS(e, filter_dst("11.0.0.0/8"), &p, "destination outside /8");
	EXPECT_SKIPS(e, filter_dst("192.0.2.0/24"), &p,
		     "destination filter given the source's /24");
}

static void test_filter_ipv6_address_exact(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv6(&p, V6_A, V6_B, IPPROTO_UDP, 1000, 53);
	EXPECT_SELECTS(e, filter_src(V6_A), &p, "source address");
	EXPECT_SELECTS(e, filter_dst(V6_B), &p, "destination address");
	EXPECT_SKIPS(e, filter_src(V6_B), &p, "source filter given the destination address");
	EXPECT_SKIPS(e, filter_dst(V6_A), &p, "destination filter given the source address");
	/* One differing bit in each of the four 32-bit words the kernel compares. */
	EXPECT_SKIPS(e, filter_src("2001:db9:1::1"), &p, "source differing in word 0");
	EXPECT_SKIPS(e, filter_src("2001:db8:1:1::1"), &p, "source differing in word 1");
	EXPECT_SKIPS(e, filter_src("2001:db8:1:0:1::1"), &p, "source differing in word 2");
	EXPECT_SKIPS(e, filter_src("2001:db8:1::3"), &p, "source differing in word 3");
	EXPECT_SKIPS(e, filter_dst("2001:db8:2::2:2"), &p, "destination differing in word 3");
}

static void test_filter_ipv6_address_prefix(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv6(&p, "2001:db8:1234:5678:9abc:def0:1234:5678", "fe80::1", IPPROTO_TCP, 1, 2);
	EXPECT_SELECTS(e, filter_src("2001:db8::/32"), &p, "source in /32");
	EXPECT_SELECTS(e, filter_src("2001:db8:1234::/48"), &p, "source in /48");
	EXPECT_SELECTS(e, filter_src("2001:db8:1234:5678::/64"), &p, "source in /64");
	EXPECT_SELECTS(e, filter_src("2001:db8:1234:5600::/56"), &p, "source in /56");
	EXPECT_SELECTS(e, filter_src("2001:db8:1234:5678:9abc:def0:1234:5600/120"), &p,
		       "source in /120");
	EXPECT_SELECTS(e, filter_src("2001:db8:1234:5678:8000::/65"), &p, "source in /65");
	EXPECT_SELECTS(e, filter_src("::/0"), &p, "source in ::/0");
	EXPECT_SELECTS(e, filter_dst("fe80::/10"), &p, "destination in fe80::/10");
	EXPECT_SKIPS(e, filter_src("2001:db9::/32"), &p, "source outside /32");
	EXPECT_SKIPS(e, filter_src("2001:db8:1235::/48"), &p, "source outside /48");
	EXPECT_SKIPS(e, filter_src("2001:db8:1234:5679::/64"), &p, "source outside /64");
	EXPECT_SKIPS(e, filter_src("2001:db8:1234:5678::/65"), &p, "source below /65");
	EXPECT_SKIPS(e, filter_src("2001:db8:1234:5678:9abc:def0:1234:5700/120"), &p,
		     "source outside /120");
	EXPECT_SKIPS(e, filter_dst("fec0::/10"), &p, "destination outside fe80::/10");
}

static void test_filter_address_family_never_crosses(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p4, p6;

	CHECK(e, "set-up");
	build_ipv4_udp(&p4, V4_A, V4_B, 1000, 53);
	build_ipv6(&p6, "::ffff:192.0.2.1", "::ffff:198.51.100.2", IPPROTO_UDP, 1000, 53);
	EXPECT_SKIPS(e, filter_src("0.0.0.0/0"), &p6, "IPv4 /0 on IPv6");
	EXPECT_SKIPS(e, filter_dst("0.0.0.0/0"), &p6, "IPv4 /0 on IPv6");
	EXPECT_SKIPS(e, filter_src(V4_A), &p6, "IPv4 address on its IPv4-mapped IPv6 form");
	EXPECT_SKIPS(e, filter_src("::/0"), &p4, "IPv6 ::/0 on IPv4");
	EXPECT_SKIPS(e, filter_dst("::/0"), &p4, "IPv6 ::/0 on IPv4");
	EXPECT_SKIPS(e, filter_src("::ffff:192.0.2.1"), &p4, "IPv4-mapped IPv6 address on IPv4");
	/* An IPv6 address whose first word equals the IPv4 packet's address. */
	EXPECT_SKIPS(e, filter_src("c000:201::/32"), &p4, "IPv6 prefix with the IPv4 bits");
}

static void test_filter_protocol_ipv4(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1000, 53);
	EXPECT_SELECTS(e, filter_proto(IPPROTO_UDP), &p, "UDP");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_TCP), &p, "UDP packet, TCP filter");
	build_ipv4(&p, V4_A, V4_B, IPPROTO_TCP, 1000, 80);
	EXPECT_SELECTS(e, filter_proto(IPPROTO_TCP), &p, "TCP");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_UDP), &p, "TCP packet, UDP filter");
	build_ipv4(&p, V4_A, V4_B, IPPROTO_ICMP, 0x0800, 0);
	EXPECT_SELECTS(e, filter_proto(IPPROTO_ICMP), &p, "ICMP");
	build_ipv4(&p, V4_A, V4_B, 0, 1, 2);
	EXPECT_SELECTS(e, filter_proto(0), &p, "protocol 0");
	EXPECT_SKIPS(e, filter_proto(255), &p, "protocol 0 packet, 255 filter");
	build_ipv4(&p, V4_A, V4_B, 255, 1, 2);
	EXPECT_SELECTS(e, filter_proto(255), &p, "protocol 255");
	build_arp(&p, V4_A, V4_B);
	EXPECT_SKIPS(e, filter_proto(0), &p, "ARP, protocol 0 filter");
}

static void test_filter_protocol_ipv6_after_ext_headers(void)
{
	static const uint8_t ext[] = { IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT,
				       IPPROTO_DSTOPTS };
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv6(&p, V6_A, V6_B, IPPROTO_ICMPV6, 0x8000, 0);
	EXPECT_SELECTS(e, filter_proto(IPPROTO_ICMPV6), &p, "ICMPv6, no extension header");
	build_ipv6_with_ext(&p, V6_A, V6_B, ext, 4, IPPROTO_UDP, 1000, 53);
	EXPECT_SELECTS(e, filter_proto(IPPROTO_UDP), &p, "UDP after HBH, RH, FH, DO");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_HOPOPTS), &p, "the first next-header (0)");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_ROUTING), &p, "an extension header (43)");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_FRAGMENT), &p, "an extension header (44)");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_DSTOPTS), &p, "the last extension header (60)");
	EXPECT_SKIPS(e, filter_proto(IPPROTO_TCP), &p, "another upper layer");
}

static void expect_ports(struct env *e, const struct pkt *p, const char *what)
{
	EXPECT_SELECTS(e, filter_sport(1111), p, what);
	EXPECT_SELECTS(e, filter_dport(2222), p, what);
	EXPECT_SKIPS(e, filter_sport(2222), p, what);
	EXPECT_SKIPS(e, filter_dport(1111), p, what);
	EXPECT_SKIPS(e, filter_sport(1112), p, what);
	EXPECT_SKIPS(e, filter_dport(2223), p, what);
	EXPECT_SKIPS(e, filter_sport(0x5704), p, what); /* 1111 byte-swapped */
	EXPECT_SKIPS(e, filter_dport(0xae08), p, what); /* 2222 byte-swapped */
}

static void test_filter_ports_tcp_udp_sctp(void)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	struct env *e = env_open(EC_HOOK_XDP);
	char what[64];
	struct pkt p;
	size_t i;

	CHECK(e, "set-up");
	for (i = 0; i < sizeof(protos); i++) {
		snprintf(what, sizeof(what), "IPv4 protocol %u", protos[i]);
		build_ipv4(&p, V4_A, V4_B, protos[i], 1111, 2222);
		expect_ports(e, &p, what);
		snprintf(what, sizeof(what), "IPv6 protocol %u", protos[i]);
		build_ipv6(&p, V6_A, V6_B, protos[i], 1111, 2222);
		expect_ports(e, &p, what);
	}
	build_ipv4(&p, V4_A, V4_B, IPPROTO_UDP, 0, 65535);
	EXPECT_SELECTS(e, filter_sport(0), &p, "source port 0");
	EXPECT_SELECTS(e, filter_dport(65535), &p, "destination port 65535");
}

static void test_filter_ports_never_match_without_ports(void)
{
	/* Protocols whose first four L4 bytes hold 1111, 2222 but that carry no ports. */
	static const uint8_t protos[] = { IPPROTO_ICMP, IPPROTO_GRE, 0, IPPROTO_ESP,
					  136 /* UDP-Lite */ };
	struct env *e = env_open(EC_HOOK_XDP);
	char what[64];
	struct pkt p;
	size_t i;

	CHECK(e, "set-up");
	for (i = 0; i < sizeof(protos); i++) {
		snprintf(what, sizeof(what), "IPv4 protocol %u", protos[i]);
		build_ipv4(&p, V4_A, V4_B, protos[i], 1111, 2222);
		EXPECT_SELECTS(e, filter_proto(protos[i]), &p, what);
		EXPECT_SKIPS(e, filter_sport(1111), &p, what);
		EXPECT_SKIPS(e, filter_dport(2222), &p, what);
	}
	build_ipv6(&p, V6_A, V6_B, IPPROTO_ICMPV6, 1111, 2222);
	EXPECT_SKIPS(e, filter_sport(1111), &p, "ICMPv6");
	EXPECT_SKIPS(e, filter_dport(2222), &p, "ICMPv6");
}

static void test_filter_combined_fields_all_must_match(void)
{
	struct req_filter all = {
		.fields = EC_F_SRC_ADDR | EC_F_DST_ADDR | EC_F_PROTOCOL | EC_F_SRC_PORT |
			  EC_F_DST_PORT,
		.src = prefix("192.0.2.0/24"),
		.dst = prefix(V4_B),
		.protocol = IPPROTO_TCP,
		.src_port = 1111,
		.dst_port = 2222,
	};
	struct req_filter f;
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4(&p, V4_A, V4_B, IPPROTO_TCP, 1111, 2222);
	EXPECT_SELECTS(e, all, &p, "every field matches");
	build_ipv4(&p, V4_C, V4_B, IPPROTO_TCP, 1111, 2222);
	EXPECT_SKIPS(e, all, &p, "only the source address differs");
	build_ipv4(&p, V4_A, V4_C, IPPROTO_TCP, 1111, 2222);
	EXPECT_SKIPS(e, all, &p, "only the destination address differs");
	build_ipv4(&p, V4_A, V4_B, IPPROTO_UDP, 1111, 2222);
	EXPECT_SKIPS(e, all, &p, "only the protocol differs");
	build_ipv4(&p, V4_A, V4_B, IPPROTO_TCP, 1112, 2222);
	EXPECT_SKIPS(e, all, &p, "only the source port differs");
	build_ipv4(&p, V4_A, V4_B, IPPROTO_TCP, 1111, 2223);
	EXPECT_SKIPS(e, all, &p, "only the destination port differs");

	f = (struct req_filter){ .fields = EC_F_PROTOCOL | EC_F_DST_PORT,
				 .protocol = IPPROTO_UDP,
				 .dst_port = 53 };
	build_ipv6(&p, V6_A, V6_B, IPPROTO_UDP, 1000, 53);
	EXPECT_SELECTS(e, f, &p, "IPv6 UDP to 53, protocol and port");
	build_ipv6(&p, V6_A, V6_B, IPPROTO_TCP, 1000, 53);
	EXPECT_SKIPS(e, f, &p, "IPv6 TCP to 53, protocol differs");
	f.fields |= EC_F_SRC_ADDR;
	f.src = prefix("2001:db8::/32");
	EXPECT_SKIPS(e, f, &p, "IPv6 TCP to 53 with a matching source");
	build_ipv6(&p, V6_A, V6_B, IPPROTO_UDP, 1000, 53);
	EXPECT_SELECTS(e, f, &p, "IPv6 UDP to 53 from 2001:db8::/32");
}

int main(void)
{
	if (!bpf_harness_init())
		return TEST_SUMMARY();
	RUN_BPF(test_object_loads_both_programs);
	RUN_BPF(test_filter_empty_matches_everything);
	RUN_BPF(test_filter_ipv4_address_exact);
	RUN_BPF(test_filter_ipv4_address_cidr);
	RUN_BPF(test_filter_ipv6_address_exact);
	RUN_BPF(test_filter_ipv6_address_prefix);
	RUN_BPF(test_filter_address_family_never_crosses);
	RUN_BPF(test_filter_protocol_ipv4);
	RUN_BPF(test_filter_protocol_ipv6_after_ext_headers);
	RUN_BPF(test_filter_ports_tcp_udp_sctp);
	RUN_BPF(test_filter_ports_never_match_without_ports);
	RUN_BPF(test_filter_combined_fields_all_must_match);
	return TEST_SUMMARY();
}
