/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * parse.bpf.h: parse a frame once into the fields filter_v1 matches on.
 *
 * Contract: ec_parse() fills a zeroed struct ec_pkt_key (capture_abi.h). It reads only
 * [data, data_end), checking bounds right before each access, and never fails: what it cannot
 * parse it leaves 0, with its flag clear, and such a field never matches a filter field that
 * needs it.
 *   - Headers are found after Ethernet and at most two VLAN tags (0x8100, 0x88a8, any order).
 *   - family is set only for a well-formed outermost IPv4 or IPv6 header; a malformed or
 *     truncated IP header leaves the packet matching only the empty filter.
 *   - EC_KEY_PROTO: the IPv4 protocol, or for IPv6 the upper-layer protocol after at most
 *     EC_MAX_IPV6_EXT hop-by-hop, routing, fragment and destination-options headers.
 *   - EC_KEY_PORTS: TCP, UDP or SCTP with its whole fixed header inside both the frame and the IP
 *     packet's own length, and not a non-first fragment.
 */
#ifndef EDGECAP_PARSE_BPF_H
#define EDGECAP_PARSE_BPF_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "capture_abi.h"

#define EC_ETH_P_8021Q	0x8100
#define EC_ETH_P_8021AD 0x88a8
#define EC_IPPROTO_SCTP 132
#define EC_IP_OFFMASK	0x1fff

struct ec_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* IPv6 fragment header (RFC 8200 4.5); the UAPI headers do not export one. */
struct ec_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

/* The fixed header each port-carrying protocol needs before its ports count as complete. */
static __always_inline __u32 ec_l4_min_len(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 20;
	case IPPROTO_UDP:
		return 8;
	case EC_IPPROTO_SCTP:
		return 12;
	default:
		return 0;
	}
}

/*
 * Ports of the L4 header at l4, if the protocol carries them and its fixed header fits both in
 * the frame and in the l4_room bytes the IP header says the packet still has.
 */
static __always_inline void ec_parse_ports(void *l4, void *data_end, __u32 l4_room,
					   struct ec_pkt_key *m)
{
	__u32 need = ec_l4_min_len(m->protocol);
	__be16 *ports = l4;

	if (!need || l4_room < need)
		return;
	if ((void *)(ports + 2) > data_end || l4 + need > data_end)
		return;
	m->sport = ports[0];
	m->dport = ports[1];
	m->flags |= EC_KEY_PORTS;
}

static __always_inline void ec_parse_ipv4(void *nh, void *data_end, struct ec_pkt_key *m)
{
	struct iphdr *iph = nh;
	__u32 hlen, tot_len;

	if ((void *)(iph + 1) > data_end)
		return;
	if (iph->version != 4 || iph->ihl < 5)
		return;
	hlen = iph->ihl * 4;
	/* Options are skipped, but they must be there. */
	if (nh + hlen > data_end)
		return;
	tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < hlen)
		return;

	m->family = 4;
	m->saddr0 = iph->saddr;
	m->daddr0 = iph->daddr;
	m->protocol = iph->protocol;
	m->flags |= EC_KEY_PROTO;
	/* Only the first fragment carries the L4 header. */
	if (bpf_ntohs(iph->frag_off) & EC_IP_OFFMASK)
		return;
	ec_parse_ports(nh + hlen, data_end, tot_len - hlen, m);
}

static __always_inline void ec_parse_ipv6(void *nh, void *data_end, struct ec_pkt_key *m)
{
	struct ipv6hdr *ip6h = nh;
	void *cur = nh + sizeof(*ip6h);
	__u32 room, hlen;
	__u8 next;
	int i;

	if ((void *)(ip6h + 1) > data_end)
		return;
	if (ip6h->version != 6)
		return;

	m->family = 6;
	m->saddr0 = ip6h->saddr.in6_u.u6_addr32[0];
	__builtin_memcpy(m->saddr6, &ip6h->saddr.in6_u.u6_addr32[1], 12);
	m->daddr0 = ip6h->daddr.in6_u.u6_addr32[0];
	__builtin_memcpy(m->daddr6, &ip6h->daddr.in6_u.u6_addr32[1], 12);
	next = ip6h->nexthdr;
	room = bpf_ntohs(ip6h->payload_len);

	for (i = 0; i < EC_MAX_IPV6_EXT; i++) {
		struct ipv6_opt_hdr *oh = cur;
		struct ec_frag_hdr *fh = cur;

		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if ((void *)(oh + 1) > data_end)
				return;
			hlen = (oh->hdrlen + 1) * 8;
			next = oh->nexthdr;
			break;
		case IPPROTO_FRAGMENT:
			if ((void *)(fh + 1) > data_end)
				return;
			hlen = sizeof(*fh);
			next = fh->nexthdr;
			/* A non-first fragment names the upper layer but carries no ports. */
			if (bpf_ntohs(fh->frag_off) & ~0x7) {
				if (room < hlen)
					return;
				if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING ||
				    next == IPPROTO_DSTOPTS || next == IPPROTO_FRAGMENT)
					return;
				m->protocol = next;
				m->flags |= EC_KEY_PROTO;
				return;
			}
			break;
		default:
			goto upper;
		}
		if (room < hlen)
			return;
		room -= hlen;
		cur += hlen;
	}
	/* More extension headers than we walk: the upper layer stays unknown. */
	if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
	    next == IPPROTO_FRAGMENT)
		return;
upper:
	m->protocol = next;
	m->flags |= EC_KEY_PROTO;
	ec_parse_ports(cur, data_end, room, m);
}

static __always_inline void ec_parse(void *data, void *data_end, struct ec_pkt_key *m)
{
	struct ethhdr *eth = data;
	void *nh = data + sizeof(*eth);
	__be16 proto;
	int i;

	if ((void *)(eth + 1) > data_end)
		return;
	proto = eth->h_proto;

	for (i = 0; i < 2; i++) {
		struct ec_vlan_hdr *vh = nh;

		if (proto != bpf_htons(EC_ETH_P_8021Q) && proto != bpf_htons(EC_ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > data_end)
			return;
		proto = vh->encap_proto;
		nh = vh + 1;
	}

	if (proto == bpf_htons(ETH_P_IP))
		ec_parse_ipv4(nh, data_end, m);
	else if (proto == bpf_htons(ETH_P_IPV6))
		ec_parse_ipv6(nh, data_end, m);
}

#endif /* EDGECAP_PARSE_BPF_H */
