/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * counters.h: the counter table, the one place where a counter is added.
 *
 * Every counter edgecap keeps for a capture is one line below. The kernel's per-slot counters
 * (struct ec_slot_counters in capture_abi.h), the agent's per-capture counters (struct
 * wire_counters in wire.h), the final message of the data plane, the control plane's status
 * reply, the aggregator's manifest and checkpoint, edgecapctl's JSON summary and the agent's
 * status are all generated from these lists, so a counter has one name everywhere.
 *
 * X(name, help): name is the C member and the JSON/manifest name; help says what it counts.
 *
 * Order is part of the protocol: the final message carries the counters in this order
 * (docs/protocol.md). Add new counters at the end of a list, never in between; a counter added
 * to EC_KERNEL_COUNTERS changes the kernel ABI (both sides are rebuilt together) and, through
 * EC_CAPTURE_COUNTERS, the final message: append it to EC_AGENT_COUNTERS' end instead if old
 * peers must keep decoding it.
 *
 * No includes: capture_abi.h includes this header and must stay usable from BPF code.
 */
#ifndef EDGECAP_COUNTERS_H
#define EDGECAP_COUNTERS_H

/*
 * Counted by the kernel per slot and CPU, summed by user space. Every packet a live slot matches
 * ends in exactly one of four outcomes:
 * matched == sampled_out + budget_exhausted + ring_full + submitted.
 */
#define EC_KERNEL_COUNTERS(X)                                                             \
	X(seen, "packets examined while the capture was live")                            \
	X(matched, "packets that passed the filter before the deadline")                  \
	X(sampled_out, "matched packets skipped by 1-in-N sampling")                      \
	X(budget_exhausted, "matched and sampled packets over the packet or byte budget") \
	X(ring_full, "selected packets lost because the ring buffer had no room")         \
	X(submitted, "packets recorded in the ring buffer")                               \
	X(bytes, "packet bytes recorded (each capture's own snaplen)")

/* Counted by the agent per fleet capture, on the way to the aggregator. */
#define EC_AGENT_COUNTERS(X)                                                    \
	X(packets_sent, "records handed to the send queue")                     \
	X(bytes_sent, "packet bytes handed to the send queue (sum of cap_len)") \
	X(batches_sent, "batches handed to the send queue")                     \
	X(records_dropped, "records the bounded send queue refused")            \
	X(batches_dropped, "batches the bounded send queue refused")            \
	X(last_seq, "the last batch sequence number used")

/* What one agent reports for one capture: the kernel's counters, then the agent's. */
#define EC_CAPTURE_COUNTERS(X) EC_KERNEL_COUNTERS(X) EC_AGENT_COUNTERS(X)

#define EC_COUNTER_ONE(name, help) +1
#define EC_N_KERNEL_COUNTERS	   (0 EC_KERNEL_COUNTERS(EC_COUNTER_ONE))
#define EC_N_CAPTURE_COUNTERS	   (0 EC_CAPTURE_COUNTERS(EC_COUNTER_ONE))

#endif /* EDGECAP_COUNTERS_H */
