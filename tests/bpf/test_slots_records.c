// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_slots_records.c: the BPF tier, slots and records: several slots share one record, the slot
 * mask, stopping a slot, the record's header and bytes, snaplen, multi-buffer frames, and the tc
 * program, which passes every frame on and captures what the XDP program would.
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
 * Slots, records.
 */

static void test_slots_share_one_record(void)
{
	struct req_filter udp53 = { .fields = EC_F_PROTOCOL | EC_F_DST_PORT,
				    .protocol = IPPROTO_UDP,
				    .dst_port = 53 };
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_counters c[3];
	struct pkt p;
	int i;

	CHECK(e, "set-up");
	CHECK(!env_start_filter(e, 0, &filter_empty, 64), "start slot 0");
	CHECK(!env_start_filter(e, 1, &udp53, 128), "start slot 1");
	CHECK(!env_start_filter(
		      e, 5,
		      &(struct req_filter){ .fields = EC_F_PROTOCOL, .protocol = IPPROTO_TCP },
		      1500),
	      "start slot 5");

	build_ipv4_udp(&p, V4_A, V4_B, 1000, 53);
	put_payload(&p, 300);
	fix_lengths(&p);
	run(e, &p, 1);
	CHECK_EQ_U64(e->nrec, 1, "records for a UDP/53 frame (slots 0 and 1)");
	CHECK_EQ_U64(e->kept[0].hdr.slot_mask, 0x03, "slot mask");
	CHECK_EQ_U64(e->kept[0].hdr.cap_len, 128, "cap_len: the larger of 64 and 128");

	build_ipv6(&p, V6_A, V6_B, IPPROTO_TCP, 1000, 80);
	put_payload(&p, 200);
	fix_lengths(&p);
	run(e, &p, 1);
	CHECK_EQ_U64(e->nrec, 1, "records for a TCP frame (slots 0 and 5)");
	CHECK_EQ_U64(e->kept[0].hdr.slot_mask, 0x21, "slot mask");
	CHECK_EQ_U64(e->kept[0].hdr.cap_len, p.len, "cap_len: the whole frame, under 1500");

	build_ipv4(&p, V4_A, V4_B, IPPROTO_ICMP, 0x0800, 0);
	put_payload(&p, 100);
	fix_lengths(&p);
	run(e, &p, 1);
	CHECK_EQ_U64(e->nrec, 1, "records for an ICMP frame (slot 0)");
	CHECK_EQ_U64(e->kept[0].hdr.slot_mask, 0x01, "slot mask");
	CHECK_EQ_U64(e->kept[0].hdr.cap_len, 64, "cap_len: slot 0's snaplen");

	build_ipv4_udp(&p, V4_A, V4_B, 1000, 53);
	p.len = p.l4 + 8;
	fix_lengths(&p);
	run(e, &p, 1);
	CHECK_EQ_U64(e->kept[0].hdr.cap_len, p.len, "cap_len of a frame shorter than all snaplens");

	c[0] = env_counters(e, 0);
	c[1] = env_counters(e, 1);
	c[2] = env_counters(e, 5);
	for (i = 0; i < 3; i++)
		CHECK_EQ_U64(c[i].seen, 4, "seen by every live slot");
	CHECK_EQ_U64(c[0].submitted, 4, "slot 0 submitted");
	CHECK_EQ_U64(c[1].submitted, 2, "slot 1 submitted");
	CHECK_EQ_U64(c[2].submitted, 1, "slot 5 submitted");
	CHECK_EQ_U64(c[0].bytes, 64 * 3 + 42, "slot 0 bytes, at its own snaplen");
	CHECK_EQ_U64(c[1].bytes, 128 + 42, "slot 1 bytes, at its own snaplen");
	assert_identity(e);
}

static void test_slots_all_eight(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_counters c;
	struct pkt p;
	unsigned int i;

	CHECK(e, "set-up");
	for (i = 0; i < EC_MAX_SLOTS; i++)
		CHECK(!env_start_filter(e, i, &filter_empty, 20 + 10 * i), "start slot %u", i);
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	put_payload(&p, 200);
	fix_lengths(&p);
	run(e, &p, 3);
	CHECK_EQ_U64(e->nrec, 3, "one record per packet");
	CHECK_EQ_U64(e->kept[2].hdr.slot_mask, 0xff, "every slot in the mask");
	CHECK_EQ_U64(e->kept[2].hdr.cap_len, 20 + 10 * 7, "cap_len: slot 7's snaplen");
	for (i = 0; i < EC_MAX_SLOTS; i++) {
		c = env_counters(e, i);
		CHECK_EQ_U64(c.submitted, 3, "submitted per slot");
		CHECK_EQ_U64(c.bytes, 3 * (20 + 10 * i), "bytes per slot");
	}
	assert_identity(e);

	/* Slot 7 alone selects: bit 7 of the byte-wide mask. */
	CHECK(!env_start_filter(
		      e, 7,
		      &(struct req_filter){ .fields = EC_F_PROTOCOL, .protocol = IPPROTO_UDP }, 30),
	      "restart slot 7");
	for (i = 0; i < 7; i++)
		CHECK(!env_start_filter(e, i,
					&(struct req_filter){ .fields = EC_F_PROTOCOL,
							      .protocol = IPPROTO_TCP },
					100),
		      "restart slot %u", i);
	run(e, &p, 1);
	CHECK_EQ_U64(e->nrec, 1, "records");
	CHECK_EQ_U64(e->kept[0].hdr.slot_mask, 0x80, "slot 7 alone");
	CHECK_EQ_U64(e->kept[0].hdr.cap_len, 30, "cap_len: slot 7's snaplen");
	assert_identity(e);
}

static void test_slot_stop(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_counters c0, c1;
	struct pkt p;

	CHECK(e, "set-up");
	CHECK(!env_start_filter(e, 0, &filter_empty, 100), "start slot 0");
	CHECK(!env_start_filter(e, 1, &filter_empty, 100), "start slot 1");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	run(e, &p, 2);
	slot_stop(e->skel, 1);
	run(e, &p, 3);
	c0 = env_counters(e, 0);
	c1 = env_counters(e, 1);
	CHECK_EQ_U64(c0.submitted, 5, "the live slot keeps capturing");
	CHECK_EQ_U64(c1.seen, 2, "the stopped slot sees nothing after its stop");
	CHECK_EQ_U64(c1.submitted, 2, "the stopped slot's records");
	CHECK_EQ_U64(e->kept[0].hdr.slot_mask, 0x01, "mask after the stop");
	assert_identity(e);
}

static void test_record_header_and_bytes(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	const struct kept_rec *r;
	uint64_t before, after;
	struct pkt p;

	CHECK(e, "set-up");
	CHECK(veth_ifindex, "no veth to run on (see netns_private)");
	/* Arriving on queue 3 of the test's four-queue veth, not on lo's only queue. */
	e->ifindex = veth_ifindex;
	e->rx_queue = 3;
	CHECK(!env_start_filter(e, 0, &filter_empty, 1500), "start slot 0");
	build_ipv4_udp(&p, V4_A, V4_B, 1000, 53);
	put_payload(&p, 100);
	fix_lengths(&p);
	before = tai_now_ns();
	run(e, &p, 1);
	after = tai_now_ns();
	CHECK_EQ_U64(e->nrec, 1, "records");
	r = &e->kept[0];
	CHECK(r->hdr.tstamp_ns >= before && r->hdr.tstamp_ns <= after,
	      "tstamp %llu not within CLOCK_TAI [%" PRIu64 ", %" PRIu64 "]", r->hdr.tstamp_ns,
	      before, after);
	CHECK_EQ_U64(r->hdr.ifindex, veth_ifindex, "ifindex (ctx_in ingress_ifindex)");
	CHECK_EQ_U64(r->hdr.rx_queue, 3, "rx_queue (ctx_in rx_queue_index)");
	CHECK_EQ_U64(r->hdr.orig_len, p.len, "orig_len");
	CHECK_EQ_U64(r->hdr.cap_len, p.len, "cap_len: the whole frame under the snaplen");
	CHECK_EQ_U64(r->hdr.slot_mask, 1, "slot_mask");
	CHECK_EQ_U64(r->hdr.hook, EC_HOOK_XDP, "hook");
	CHECK_EQ_U64(r->hdr.pad0 | r->hdr.pad1, 0, "padding");
	CHECK(r->data && !memcmp(r->data, p.b, p.len), "record bytes differ from the frame");
	assert_identity(e);
}

static void test_record_snaplen(void)
{
	static const uint32_t snaplens[] = { 1, 14, 60, 159, 160, 161, 1000 };
	struct env *e = env_open(EC_HOOK_XDP);
	uint32_t want;
	struct pkt p;
	size_t i;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1000, 53);
	put_payload(&p, 100);
	fix_lengths(&p); /* 160 bytes */
	for (i = 0; i < sizeof(snaplens) / sizeof(snaplens[0]); i++) {
		CHECK(!env_start_filter(e, 0, &filter_empty, snaplens[i]), "start slot 0");
		run(e, &p, 1);
		want = snaplens[i] < p.len ? snaplens[i] : (uint32_t)p.len;
		CHECK_EQ_U64(e->nrec, 1, "records");
		CHECK_EQ_U64(e->kept[0].hdr.orig_len, p.len, "orig_len");
		CHECK_EQ_U64(e->kept[0].hdr.cap_len, want, "cap_len = min(len, snaplen)");
		CHECK(!memcmp(e->kept[0].data, p.b, want), "snaplen %u: bytes differ", snaplens[i]);
		assert_identity(e);
	}
}

/*
 * A frame larger than test_run's linear part (XDP_LINEAR) arrives as a multi-buffer xdp_buff:
 * the kernel puts the rest in page frags (xdp.frags programs only). The record must carry
 * bytes from the frags too, and orig_len the whole frame.
 */
static void test_record_multi_buffer(void)
{
	static const uint32_t snaplens[] = { 100,  XDP_LINEAR, XDP_LINEAR + 1,
					     5000, 9000,       EC_MAX_CAPLEN };
	struct env *e = env_open(EC_HOOK_XDP);
	struct pkt *p = malloc(sizeof(*p));
	uint32_t want;
	size_t i;

	CHECK(e && p, "set-up");
	build_ipv4_udp(p, V4_A, V4_B, 1000, 53);
	put_payload(p, 9000 - p->len);
	fix_lengths(p);
	for (i = 0; i < sizeof(snaplens) / sizeof(snaplens[0]); i++) {
		CHECK(!env_start_filter(e, 0, &filter_empty, snaplens[i]), "start slot 0");
		if (run(e, p, 1))
			break;
		want = snaplens[i] < p->len ? snaplens[i] : (uint32_t)p->len;
		CHECK_EQ_U64(e->nrec, 1, "records of a 9000-byte frame");
		CHECK_EQ_U64(e->kept[0].hdr.orig_len, 9000, "orig_len: every buffer of the frame");
		CHECK_EQ_U64(e->kept[0].hdr.cap_len, want, "cap_len");
		CHECK(!memcmp(e->kept[0].data, p->b, want), "snaplen %u: bytes differ",
		      snaplens[i]);
		assert_identity(e);
	}
	/* Larger than a record carries: cap_len stops at EC_MAX_CAPLEN. */
	put_payload(p, 70000 - p->len);
	CHECK(!env_start_filter(e, 0, &filter_empty, EC_MAX_CAPLEN), "start slot 0");
	if (!run(e, p, 1)) {
		CHECK_EQ_U64(e->nrec, 1, "records of a 70000-byte frame");
		CHECK_EQ_U64(e->kept[0].hdr.orig_len, 70000, "orig_len");
		CHECK_EQ_U64(e->kept[0].hdr.cap_len, EC_MAX_CAPLEN, "cap_len");
		CHECK(!memcmp(e->kept[0].data, p->b, EC_MAX_CAPLEN), "bytes differ");
	}
	/* The parser reads the first buffer: filters work on a multi-buffer frame. */
	EXPECT_SELECTS(e, filter_dport(53), p, "70000-byte UDP frame, destination port");
	EXPECT_SKIPS(e, filter_dport(54), p, "70000-byte UDP frame, another port");
	assert_identity(e);
	free(p);
}

/* ---------------------------------------------------------------------------------------------
 * tc.
 */

static void test_tc_passes_on_and_captures_like_xdp(void)
{
	struct req_filter udp53 = { .fields = EC_F_DST_PORT, .dst_port = 53 };
	struct env *tc = env_open(EC_HOOK_TC_INGRESS);
	struct env *xdp = env_open(EC_HOOK_XDP);
	struct pkt frames[3];
	size_t i;

	CHECK(tc && xdp, "set-up");
	build_ipv4_udp(&frames[0], V4_A, V4_B, 1000, 53);
	push_vlan(&frames[0], 0x8100, 7);
	build_ipv6(&frames[1], V6_A, V6_B, IPPROTO_TCP, 1000, 443);
	put_payload(&frames[1], 500);
	fix_lengths(&frames[1]);
	build_arp(&frames[2], V4_A, V4_B);
	CHECK(!env_start_filter(tc, 0, &filter_empty, 100), "start tc slot 0");
	CHECK(!env_start_filter(tc, 2, &udp53, 1500), "start tc slot 2");
	CHECK(!env_start_filter(xdp, 0, &filter_empty, 100), "start xdp slot 0");
	CHECK(!env_start_filter(xdp, 2, &udp53, 1500), "start xdp slot 2");
	for (i = 0; i < 3; i++) {
		/* run() checks the verdict: TCX_NEXT at tc. */
		CHECK(!run(tc, &frames[i], 1) && !run(xdp, &frames[i], 1), "frame %zu", i);
		CHECK(tc->nrec == 1 && xdp->nrec == 1, "frame %zu: %zu tc records, %zu xdp", i,
		      tc->nrec, xdp->nrec);
		CHECK(tc->kept[0].hdr.slot_mask == xdp->kept[0].hdr.slot_mask,
		      "frame %zu: tc slot mask 0x%x, xdp 0x%x", i, tc->kept[0].hdr.slot_mask,
		      xdp->kept[0].hdr.slot_mask);
		CHECK_EQ_U64(tc->kept[0].hdr.cap_len, xdp->kept[0].hdr.cap_len, "cap_len");
		CHECK_EQ_U64(tc->kept[0].hdr.orig_len, frames[i].len, "tc orig_len");
		CHECK_EQ_U64(tc->kept[0].hdr.hook, EC_HOOK_TC_INGRESS, "tc hook");
		CHECK_EQ_U64(tc->kept[0].hdr.ifindex, LO_IFINDEX, "tc ifindex");
		CHECK(!memcmp(tc->kept[0].data, xdp->kept[0].data, tc->kept[0].hdr.cap_len),
		      "frame %zu: tc and xdp records differ", i);
	}
	CHECK_EQ_U64(xdp->kept[0].hdr.slot_mask, 0x01, "ARP: slot 0 only");
	assert_identity(tc);
	assert_identity(xdp);
}

int main(void)
{
	if (!bpf_harness_init())
		return TEST_SUMMARY();
	RUN_BPF(test_slots_share_one_record);
	RUN_BPF(test_slots_all_eight);
	RUN_BPF(test_slot_stop);
	RUN_BPF(test_record_header_and_bytes);
	RUN_BPF(test_record_snaplen);
	RUN_BPF(test_record_multi_buffer);
	RUN_BPF(test_tc_passes_on_and_captures_like_xdp);
	return TEST_SUMMARY();
}
