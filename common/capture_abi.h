/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * capture_abi.h: the contract between bpf/capture.bpf.c and user space.
 *
 * Everything here is shared memory or wire format between the kernel and the capture engine, so
 * it uses only <linux/types.h> types, carries explicit padding, and never changes layout without
 * both sides being rebuilt. User space checks every size with _Static_assert (agent/loader.c).
 *
 * Control is three pieces of the program's global data (.bss, mmapped by user space):
 *   ec_slot_cfg[i]   what slot i selects and its limits; written while slot i is inactive;
 *   ec_slot_use[i]   budget used by slot i, updated atomically by every CPU;
 *   ec_active_mask   bit i set while slot i is live; set last when a slot starts, cleared first
 *                    when it stops, so the kernel never sees a half-written configuration.
 * Counters are per CPU and per slot (map ec_counters); records go to the ring buffer ec_records.
 */
#ifndef EDGECAP_CAPTURE_ABI_H
#define EDGECAP_CAPTURE_ABI_H

#include <linux/types.h>

/* Captures that can run at once on one interface. */
#define EC_MAX_SLOTS 8
/* Largest number of packet bytes one record carries. */
#define EC_MAX_CAPLEN 65535
/* IPv6 extension headers (hop-by-hop, routing, fragment, destination options) walked at most. */
#define EC_MAX_IPV6_EXT 6

/* Which filter_v1 fields a slot's filter uses; a field not set matches everything. */
enum ec_filter_field {
	EC_F_SRC_ADDR = 1 << 0,
	EC_F_DST_ADDR = 1 << 1,
	EC_F_PROTOCOL = 1 << 2,
	EC_F_SRC_PORT = 1 << 3,
	EC_F_DST_PORT = 1 << 4,
};

/* Where a program is attached; recorded in every record. */
enum ec_hook {
	EC_HOOK_XDP = 0,
	EC_HOOK_TC_INGRESS = 1,
	EC_HOOK_TC_EGRESS = 2,
};

/* An address or prefix. addr is pre-masked; IPv4 uses word 0 only. Network byte order. */
struct ec_prefix_match {
	__be32 addr[4];
	__be32 mask[4];
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
};

struct ec_filter {
	__u32 fields; /* enum ec_filter_field bits */
	__be16 src_port;
	__be16 dst_port;
	__u8 protocol;
	__u8 pad[3];
	struct ec_prefix_match src;
	struct ec_prefix_match dst;
};

struct ec_slot_config {
	struct ec_filter filter;
	__u32 sample_rate; /* keep 1 match in N, at random; 0 and 1 keep every match */
	__u32 snaplen;	   /* bytes recorded per packet, 1..EC_MAX_CAPLEN */
	__u32 pad;
	__u64 packet_limit; /* records this slot may emit; 0: no limit */
	__u64 byte_limit;   /* packet bytes this slot may emit; 0: no limit */
	__u64 deadline_ns;  /* CLOCK_TAI; nothing is emitted at or after it; 0: none */
};

/* Budget used so far; one per slot, shared by all CPUs, updated with atomics. */
struct ec_slot_use {
	__u64 packets;
	__u64 bytes;
};

/*
 * Per-slot counters. Every packet a live slot matches ends in exactly one of the four outcomes:
 * matched == sampled_out + budget_exhausted + ring_full + submitted.
 */
struct ec_slot_counters {
	__u64 seen;		/* packets examined while the slot was live */
	__u64 matched;		/* passed the filter before the deadline */
	__u64 sampled_out;	/* matched, skipped by 1-in-N sampling */
	__u64 budget_exhausted; /* matched and sampled, but over the packet or byte budget */
	__u64 ring_full;	/* selected, but the ring buffer had no room */
	__u64 submitted;	/* recorded in the ring buffer */
	__u64 bytes;		/* packet bytes recorded for this slot (its own snaplen) */
};

/* Value of the one-entry per-CPU map ec_counters. */
struct ec_cpu_counters {
	struct ec_slot_counters slot[EC_MAX_SLOTS];
};

/*
 * One ring-buffer record: this header, then cap_len packet bytes. cap_len is the largest
 * min(orig_len, snaplen) of the slots in slot_mask; user space trims to each slot's own snaplen.
 */
struct ec_record {
	__u64 tstamp_ns; /* CLOCK_TAI, taken in the kernel when the packet was selected */
	__u32 ifindex;
	__u32 rx_queue; /* rx queue at XDP and tc ingress, the skb's queue mapping at tc egress */
	__u32 orig_len; /* whole frame, all fragments of a multi-buffer frame included */
	__u32 cap_len;
	__u8 slot_mask; /* bit i: slot i selected this packet */
	__u8 hook;	/* enum ec_hook */
	__u16 pad0;
	__u32 pad1;
};

#endif /* EDGECAP_CAPTURE_ABI_H */
