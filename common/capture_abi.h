/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * capture_abi.h: the contract between bpf/capture.bpf.c and user space.
 *
 * Everything here is shared memory or wire format between the kernel and the capture engine, so
 * it uses only <linux/types.h> types, carries explicit padding, and never changes layout without
 * both sides being rebuilt. User space checks every size with _Static_assert (engine/slot.c).
 *
 * Control is three pieces of the program's global data (.bss, mmapped by user space):
 *   ec_slot_cfg[i]   what slot i selects and its limits; written while slot i is inactive;
 *   ec_slot_match[i] slot i's filter compiled for the kernel (struct ec_key_match), likewise;
 *   ec_slot_use[i]   budget used by slot i, updated atomically by every CPU;
 *   ec_active_mask   bit i set while slot i is live; set last when a slot starts, cleared first
 *                    when it stops, so the kernel never sees a half-written configuration.
 * Counters are per CPU and per slot (map ec_counters); records go to the ring buffer of the CPU
 * that made them (ec_rings, an array of ring buffers, one per possible CPU, when rodata
 * ec_ring_percpu is set, as the loader does), or to the one ring ec_records that every CPU
 * shares (ec_ring_percpu 0). One more .bss word paces wake-ups: the kernel wakes the reader with
 * one record once ec_wakeup_bytes wait in a ring, and sets ec_wakeup_sent so that the records
 * after it, on any CPU, do not wake it again; the reader clears ec_wakeup_sent each time it has
 * drained the rings.
 */
#ifndef EDGECAP_CAPTURE_ABI_H
#define EDGECAP_CAPTURE_ABI_H

#include <linux/types.h>

#include "counters.h"

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

/*
 * What filter_v1 matches on, as the kernel parses it from a frame (bpf/parse.bpf.h), laid out as
 * EC_KEY_WORDS 64-bit words: a slot's filter, compiled by user space into want and mask (struct
 * ec_key_match, ec_slot_match[i]), matches a key when ((word ^ want) & mask) is 0 for every word.
 * A field the parser could not read stays 0, and its flag says so. The first two words hold all
 * an IPv4 filter looks at, so the kernel compares the other three only for a key that passed them.
 */
enum ec_key_flag {
	EC_KEY_PROTO = 1 << 0, /* protocol holds the upper-layer protocol */
	EC_KEY_PORTS = 1 << 1, /* sport and dport hold the TCP, UDP or SCTP ports */
};

struct ec_pkt_key {
	__be32 saddr0; /* the IPv4 source, or the first 32 bits of the IPv6 one */
	__be32 daddr0;
	__u8 family; /* 0: no well-formed IP header, 4, 6 */
	__u8 flags;  /* enum ec_key_flag */
	__u8 protocol;
	__u8 never; /* always 0: a filter that can match nothing wants it 1 */
	__be16 sport;
	__be16 dport;
	__be32 saddr6[3]; /* the other 96 bits of an IPv6 source; 0 for IPv4 */
	__be32 daddr6[3];
} __attribute__((aligned(8)));

#define EC_KEY_WORDS (sizeof(struct ec_pkt_key) / sizeof(__u64))

struct ec_key_match {
	__u64 want[EC_KEY_WORDS];
	__u64 mask[EC_KEY_WORDS];
};

/*
 * A slot's deadline is checked on the coarse monotonic clock (bpf_ktime_get_coarse_ns: the last
 * tick's time, a load) while that reads more than this before it, and on the exact clock
 * (bpf_ktime_get_ns, a clock-source read) only in this last stretch. The coarse clock never
 * reads ahead of the exact one, and is trusted to lag it by less than this (a tick or two, 4 to
 * 8 ms measured on a VM): the deadline holds to the nanosecond while reading the clock source
 * for it only in a capture's last second.
 */
#define EC_DEADLINE_GUARD_NS 1000000000ULL

struct ec_slot_config {
	struct ec_filter filter;
	__u32 sample_rate; /* keep 1 match in N, at random; 0 and 1 keep every match */
	__u32 snaplen;	   /* bytes recorded per packet, 1..EC_MAX_CAPLEN */
	__u32 pad;
	__u64 packet_limit; /* records this slot may emit; 0: no limit */
	__u64 byte_limit;   /* packet bytes this slot may emit; 0: no limit */
	/*
	 * CLOCK_MONOTONIC: nothing is emitted once the clock reads deadline_ns or later; 0: none.
	 * The kernel reads the coarse clock first (EC_DEADLINE_GUARD_NS).
	 */
	__u64 deadline_ns;
};

/* Budget used so far; one per slot, shared by all CPUs, updated with atomics. */
struct ec_slot_use {
	__u64 packets;
	__u64 bytes;
};

/*
 * Per-slot counters: one __u64 per line of EC_KERNEL_COUNTERS (counters.h), in its order. Every
 * packet a live slot matches ends in exactly one of the four outcomes:
 * matched == sampled_out + budget_exhausted + ring_full + submitted.
 */
struct ec_slot_counters {
#define EC_ABI_COUNTER(name, help) __u64 name;
	EC_KERNEL_COUNTERS(EC_ABI_COUNTER)
#undef EC_ABI_COUNTER
};

/* Value of the one-entry per-CPU map ec_counters. */
struct ec_cpu_counters {
	struct ec_slot_counters slot[EC_MAX_SLOTS];
};

/*
 * Record sizes come in classes. bpf_ringbuf_reserve() needs a size the verifier knows, and the
 * kernel writes each record in place (header, then the packet bytes straight from the frame, no
 * bounce buffer), so it reserves sizeof(struct ec_record) + ec_record_room(cap_len) bytes: the
 * smallest class that holds cap_len. The bytes past cap_len are padding and never read. Classes
 * step by at most 1.5x, with one at 1536 so that a 1514-byte frame wastes little.
 */
/* clang-format off */
#define EC_ROOM_CLASSES(X)                                                                         \
	X(64) X(128) X(192) X(256) X(384) X(512) X(768) X(1024) X(1280) X(1536) X(2048) X(3072)    \
	X(4096) X(6144) X(8192) X(12288) X(16384) X(24576) X(32768) X(49152) X(65536)
/* clang-format on */

/*
 * Smallest ring buffer user space accepts: three records of the largest class (65,576 bytes with
 * the ring's own 8-byte header), so that any frame can be recorded.
 */
#define EC_MIN_RING_BYTES (256 * 1024)

/* Packet bytes a record of cap_len bytes reserves room for; 0 if cap_len is too large. */
static inline __u32 ec_record_room(__u32 cap_len)
{
#define EC_ROOM_OF(room)       \
	if (cap_len <= (room)) \
		return (room);
	EC_ROOM_CLASSES(EC_ROOM_OF)
#undef EC_ROOM_OF
	return 0;
}

/*
 * One ring-buffer record: this header, then cap_len packet bytes (then padding up to its class,
 * see ec_record_room). cap_len is the largest
 * min(orig_len, snaplen) of the slots in slot_mask; user space trims to each slot's own snaplen.
 */
struct ec_record {
	__u64 tstamp_ns; /* CLOCK_TAI, taken in the kernel as the record is written */
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
