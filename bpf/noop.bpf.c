// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * noop.bpf.c: two tiny XDP programs that the benchmarks and test tools measure or run.
 *
 *   xdp_noop  returns XDP_PASS and nothing else: the floor that benchmark B1 (tests/bench)
 *             compares the capture program with. Attached to the receiving end of a veth, it
 *             also lets that end take the frames ec_livegen redirects into it.
 *   xdp_drop  returns XDP_DROP: a sink at the receiving end, to measure what ec_livegen itself
 *             can send when nothing above XDP runs.
 *   xdp_tx    the engine of ec_livegen (tests/tools). Run through BPF_PROG_RUN with
 *             BPF_F_TEST_XDP_LIVE_FRAMES, its XDP_TX sends the frame out of the interface given
 *             as ingress_ifindex in ctx_in, at the cost of one program run per frame.
 *
 * xdp_tx acts only on frames whose metadata starts with EC_GEN_MAGIC, which only ec_livegen's
 * test runs carry; anything else gets XDP_PASS. That lets ec_livegen also attach it to an
 * interface (in skb mode) without touching real traffic: a program attached somewhere stays in
 * the kernel's XDP dispatcher, and without that every BPF_PROG_RUN call would add it and remove
 * it again, each time waiting for an RCU grace period (milliseconds per call).
 *
 * It counts every generator run in ec_gen_runs (so user space knows exactly how many frames it
 * sent, even when a run is cut short by a signal) and, when ec_gen_seq_off is set, writes the
 * run's sequence number into the frame's ECT1 payload header, fixing up the UDP checksum at
 * ec_gen_csum_off. Live-frame pages are recycled without their data being reset, so the stamp is
 * a read-modify-write of whatever the page holds: correct whether it was reset or not.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/*
 * First 4 bytes of the metadata ec_livegen puts before each frame: "ECTG" read as a host u32
 * (tests/tools/ec_livegen.c has the same value).
 */
#define EC_GEN_MAGIC 0x47544345

/* Set before load: offset of the 32-bit big-endian sequence number in the frame; 0: none. */
const volatile __u32 ec_gen_seq_off = 0;
/* Set before load: offset of the UDP checksum; 0: none (IPv4 without a checksum). */
const volatile __u32 ec_gen_csum_off = 0;

/* Runs of xdp_tx so far, the next frame's sequence number. One generator per loaded object. */
__u32 ec_gen_runs;

SEC("xdp")
int xdp_noop(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

/* RFC 1624, eqn. 3: the checksum after one 16-bit word changes from old to new. */
static __always_inline __u16 csum_replace16(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + (__u32) new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

SEC("xdp")
int xdp_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 *meta = (void *)(long)ctx->data_meta;
	__u16 *stamp, *check, hi, lo, sum;
	__u32 seq;

	/* Real traffic, where the program is attached only to stay in the dispatcher. */
	if ((void *)(meta + 1) > data || *meta != EC_GEN_MAGIC)
		return XDP_PASS;
	seq = ec_gen_runs++;
	if (!ec_gen_seq_off || ec_gen_seq_off > 4096 || ec_gen_csum_off > 4096)
		return XDP_TX;
	stamp = data + ec_gen_seq_off;
	if ((void *)(stamp + 2) > data_end)
		return XDP_TX;
	/* The words in network byte order, as they sit in the packet. */
	hi = __builtin_bswap16((__u16)(seq >> 16));
	lo = __builtin_bswap16((__u16)seq);
	if (ec_gen_csum_off) {
		check = data + ec_gen_csum_off;
		if ((void *)(check + 1) > data_end)
			return XDP_TX;
		/* A zero UDP checksum means "none" (IPv4 only): leave it so. */
		if (*check) {
			sum = csum_replace16(*check, stamp[0], hi);
			sum = csum_replace16(sum, stamp[1], lo);
			*check = sum ? sum : 0xffff;
		}
	}
	stamp[0] = hi;
	stamp[1] = lo;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
