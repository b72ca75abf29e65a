// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * capture.bpf.c: edgecap's in-kernel capture, at XDP or at tc ingress/egress.
 *
 * Per packet: if no slot is live, return at once (one load, one branch). Otherwise parse the
 * frame once (only if a live slot filters) and run every live slot's filter, all inline: a packet
 * that no slot matches costs no function call and no helper call. Only for a slot that matches
 * does a function run its deadline, its 1-in-N sampling and its packet and byte budget; then one
 * ring-buffer record, written in place, serves all the slots that selected the packet. The
 * verdict never depends on any of this: XDP_PASS, or TCX_NEXT at tc, with the bytes untouched.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "capture_abi.h"
#include "parse.bpf.h"

/* tc verdict that hands the packet on to the next program, or to the stack, unchanged. */
#define EC_TCX_NEXT (-1)

_Static_assert(EC_MAX_CAPLEN == 0xffff, "the clamp before each copy masks with 0xffff");
_Static_assert(sizeof(struct ec_record) == 32, "record header size");

/* Set before load: the hook this object is attached to, written into every record. */
const volatile __u8 ec_hook = EC_HOOK_XDP;
/* Set before load: ring fill in bytes at which a record wakes the drain up (0: never). */
const volatile __u64 ec_wakeup_bytes = 0;
/*
 * Set before load: 1 to write each record into the ring of the CPU it runs on (ec_rings, filled
 * by user space), 0 for the one ring that every CPU shares (ec_records; tests and the
 * EDGECAP_RING_LAYOUT=shared bench switch). The verifier drops the branch not taken.
 */
const volatile __u8 ec_ring_percpu = 0;

/* Control, written by user space through the mmapped .bss; see capture_abi.h for the order. */
volatile __u32 ec_active_mask;
/* Bit i set if slot i's filter has any field: the frame is parsed only when a live slot needs it.
 */
volatile __u32 ec_filter_mask;
/* Set by the record that woke the reader, cleared by the reader once it has drained the ring. */
volatile __u32 ec_wakeup_sent;
struct ec_slot_config ec_slot_cfg[EC_MAX_SLOTS];
struct ec_key_match ec_slot_match[EC_MAX_SLOTS];
struct ec_slot_use ec_slot_use[EC_MAX_SLOTS];

/* Selected packets, one record each, in one ring shared by every CPU; sized before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} ec_records SEC(".maps");

/*
 * The template of a per-CPU ring, freed once ec_rings exists (64 KiB: a multiple of any page
 * size); user space creates the rings at the size it chose.
 */
struct ec_ring_cpu {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
};

/* Per-CPU layout: entry c is the ring of CPU c, so CPUs never contend on a ring's lock. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct ec_ring_cpu);
} ec_rings SEC(".maps");

/* Per-CPU counters of every slot, in one entry so a packet costs one lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ec_cpu_counters);
} ec_counters SEC(".maps");

/* What the slots that matched a packet have learnt about it, read once for all of them. */
struct ec_lazy {
	__u64 coarse; /* the coarse CLOCK_MONOTONIC, read at the first deadline; 0 until then */
	__u64 exact;  /* the exact one, read at the first deadline within the guard; 0 until then */
	__u32 pkt_len; /* whole frame, every fragment of a multi-buffer frame included */
	__u32 cap;     /* largest number of bytes a selecting slot wants recorded */
};

/* A masked compare per word (see struct ec_pkt_key): IPv4's two words, then IPv6's three. */
static __always_inline int ec_key_matches(const struct ec_key_match *km, const struct ec_pkt_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 diff;

	_Static_assert(EC_KEY_WORDS == 5, "two words, then three");
	diff = ((w[0] ^ km->want[0]) & km->mask[0]) | ((w[1] ^ km->want[1]) & km->mask[1]);
	if (diff)
		return 0;
	diff = ((w[2] ^ km->want[2]) & km->mask[2]) | ((w[3] ^ km->want[3]) & km->mask[3]) |
	       ((w[4] ^ km->want[4]) & km->mask[4]);
	return diff == 0;
}

/* Take one packet of cap bytes from slot i's budget; 0 on success. */
static __always_inline int ec_budget_take(const struct ec_slot_config *cfg, struct ec_slot_use *use,
					  __u32 cap)
{
	if (cfg->packet_limit) {
		/*
		 * A refusal gives its count back at once, as a byte refusal does: left in place it
		 * would outlive a ring-full give-back racing with it on another CPU and lose that
		 * packet of budget for good. The count may run over the limit only in passing.
		 */
		if (__sync_fetch_and_add(&use->packets, 1) >= cfg->packet_limit) {
			__sync_fetch_and_sub(&use->packets, 1);
			return -1;
		}
	}
	if (cfg->byte_limit) {
		/* Give back a refused packet's bytes so a smaller one that fits is still taken. */
		if (__sync_fetch_and_add(&use->bytes, cap) + cap > cfg->byte_limit) {
			__sync_fetch_and_sub(&use->bytes, cap);
			if (cfg->packet_limit)
				__sync_fetch_and_sub(&use->packets, 1);
			return -1;
		}
	}
	return 0;
}

static __always_inline void ec_budget_return(const struct ec_slot_config *cfg,
					     struct ec_slot_use *use, __u32 cap)
{
	if (cfg->packet_limit)
		__sync_fetch_and_sub(&use->packets, 1);
	if (cfg->byte_limit)
		__sync_fetch_and_sub(&use->bytes, cap);
}

static __always_inline __u32 ec_min(__u32 a, __u32 b)
{
	return a < b ? a : b;
}

/*
 * Whether the monotonic clock has reached deadline (capture_abi.h, EC_DEADLINE_GUARD_NS): on the
 * coarse clock, a load, unless that is within the guard of it; on the exact clock, a clock-source
 * read (about 35 ns a matching packet on the B2 test bed), only then. Monotonic: a wall-clock
 * (and so TAI) step does not move it. Each clock is read once a packet, for every slot.
 */
static __always_inline int ec_past_deadline(struct ec_lazy *lz, __u64 deadline)
{
	if (!lz->coarse)
		lz->coarse = bpf_ktime_get_coarse_ns();
	if (lz->coarse >= deadline)
		return 1; /* the coarse clock never reads ahead */
	if (deadline - lz->coarse > EC_DEADLINE_GUARD_NS)
		return 0;
	if (!lz->exact)
		lz->exact = bpf_ktime_get_ns();
	return lz->exact >= deadline;
}

/*
 * Slot i matched the packet: check its deadline, sample 1 in N, take its budget. Returns the
 * slot's bit if it selects the packet (and raises lz->cap to what it wants), else 0. A global
 * function: verified once, and called only for traffic a slot matched.
 *
 * A selected packet is counted as submitted here, while the slot's counters are in cache, and
 * moved to ring_full by ec_account_lost if its record cannot be written: no second pass over the
 * slots for the common outcome. matched = sampled_out + budget_exhausted + ring_full + submitted
 * holds at every moment; only a reader racing with a failing record may see it as submitted for
 * that moment.
 */
__noinline __u32 ec_slot_select(struct ec_slot_counters *c, struct ec_lazy *lz, __u32 i)
{
	const struct ec_slot_config *cfg;
	__u32 slot_cap;

	if (!c || !lz || i >= EC_MAX_SLOTS)
		return 0;
	cfg = &ec_slot_cfg[i];
	if (cfg->deadline_ns && ec_past_deadline(lz, cfg->deadline_ns))
		return 0;
	c->matched++;
	if (cfg->sample_rate > 1 && bpf_get_prandom_u32() % cfg->sample_rate) {
		c->sampled_out++;
		return 0;
	}
	slot_cap = ec_min(lz->pkt_len, cfg->snaplen);
	if (!slot_cap || ec_budget_take(cfg, &ec_slot_use[i], slot_cap)) {
		c->budget_exhausted++;
		return 0;
	}
	if (slot_cap > lz->cap)
		lz->cap = slot_cap;
	c->submitted++;
	c->bytes += slot_cap;
	return 1U << i;
}

/*
 * The record of the slots in sel could not be written: each of them counted it as submitted
 * (ec_slot_select); count it as ring_full instead and give back the budget it took.
 */
static __always_inline void ec_account_lost(struct ec_cpu_counters *cnt, __u32 sel, __u32 pkt_len)
{
	const struct ec_slot_config *cfg;
	struct ec_slot_counters *c;
	__u32 i, slot_cap;

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (!(sel & (1U << i)))
			continue;
		cfg = &ec_slot_cfg[i];
		c = &cnt->slot[i];
		slot_cap = ec_min(pkt_len, cfg->snaplen);
		c->submitted--;
		c->bytes -= slot_cap;
		c->ring_full++;
		ec_budget_return(cfg, &ec_slot_use[i], slot_cap);
	}
}

/* Ring-buffer flags for the next record: wake the reader once per drain, past the watermark. */
static __always_inline __u64 ec_wakeup_flags(void *ring)
{
	if (!ec_wakeup_bytes || ec_wakeup_sent)
		return BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) < ec_wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	ec_wakeup_sent = 1;
	return BPF_RB_FORCE_WAKEUP;
}

/*
 * Writes one record of cap packet bytes straight into the ring, in a reservation of the constant
 * size the verifier needs (room is one of EC_ROOM_CLASSES, the smallest that holds cap).
 *
 * The clock is read last, after the header and the packet bytes are stored. Those stores usually
 * miss (the ring's lines were last written a whole ring ago, and read since by the drain on
 * another CPU), and the commit's atomic exchange waits until they have landed; the clock read,
 * which does not wait for stores, then runs while they are in flight instead of before them. On
 * the B2 test bed (issue 12), of about 105 ns a 64-byte record added on the receiving CPU, the
 * clock read took about 35 and the reserve and commit about 45.
 */
static __always_inline int ec_emit(void *ctx, const struct ec_lazy *lz, __u32 sel, __u32 ifindex,
				   __u32 queue, __u32 room, const int is_xdp)
{
	struct ec_record *r;
	__u64 len = lz->cap;
	void *ring = &ec_records;
	__u32 cpu;
	int err;

	if (ec_ring_percpu) {
		cpu = bpf_get_smp_processor_id();
		ring = bpf_map_lookup_elem(&ec_rings, &cpu);
		if (!ring)
			return -1;
	}
	r = bpf_ringbuf_reserve(ring, sizeof(*r) + room, 0);
	if (!r)
		return -1;
	r->ifindex = ifindex;
	r->rx_queue = queue;
	r->orig_len = lz->pkt_len;
	r->cap_len = lz->cap;
	r->slot_mask = sel;
	r->hook = ec_hook;
	r->pad0 = 0;
	r->pad1 = 0;
	/* The verifier needs 1..room on the very register the helper gets. */
	asm volatile("" : "+r"(len));
	if (len < 1 || len > room) {
		bpf_ringbuf_discard(r, BPF_RB_NO_WAKEUP);
		return -1;
	}
	if (is_xdp)
		err = bpf_xdp_load_bytes(ctx, 0, r + 1, len);
	else
		err = bpf_skb_load_bytes(ctx, 0, r + 1, len);
	if (err) {
		bpf_ringbuf_discard(r, BPF_RB_NO_WAKEUP);
		return -1;
	}
	r->tstamp_ns = bpf_ktime_get_tai_ns();
	bpf_ringbuf_submit(r, ec_wakeup_flags(ring));
	return 0;
}

/* Emits the record in the smallest size class that holds lz->cap bytes. */
static __always_inline int ec_emit_sized(void *ctx, const struct ec_lazy *lz, __u32 sel,
					 __u32 ifindex, __u32 queue, const int is_xdp)
{
	__u32 cap = lz->cap;

#define EC_EMIT_IN(room)   \
	if (cap <= (room)) \
		return ec_emit(ctx, lz, sel, ifindex, queue, (room), is_xdp);
	EC_ROOM_CLASSES(EC_EMIT_IN)
#undef EC_EMIT_IN
	return -1;
}

/*
 * Writes the record of the slots in sel; if it cannot, moves its count in cnt, this CPU's
 * counters, from submitted to ring_full. Global functions: verified once, called on a selection.
 */
__noinline int ec_record_xdp(struct xdp_md *ctx, struct ec_cpu_counters *cnt,
			     const struct ec_lazy *lz, __u32 sel)
{
	if (!ctx || !cnt || !lz)
		return 0;
	if (ec_emit_sized(ctx, lz, sel, ctx->ingress_ifindex, ctx->rx_queue_index, 1))
		ec_account_lost(cnt, sel, lz->pkt_len);
	return 0;
}

__noinline int ec_record_tc(struct __sk_buff *skb, struct ec_cpu_counters *cnt,
			    const struct ec_lazy *lz, __u32 sel)
{
	if (!skb || !cnt || !lz)
		return 0;
	if (ec_emit_sized(skb, lz, sel, skb->ifindex, skb->queue_mapping, 0))
		ec_account_lost(cnt, sel, lz->pkt_len);
	return 0;
}

/* Slot i's filter on the key and, for a match, the slot's own steps (ec_slot_select). */
static __always_inline void ec_slot_filter(void *ctx, struct ec_cpu_counters *cnt,
					   const struct ec_pkt_key *k, struct ec_lazy *lz,
					   __u32 *sel, int *matched, __u32 i, const int is_xdp)
{
	cnt->slot[i].seen++;
	if (!ec_key_matches(&ec_slot_match[i], k))
		return;
	if (!*matched) {
		*matched = 1;
		lz->coarse = 0;
		lz->exact = 0;
		lz->cap = 0;
		lz->pkt_len = is_xdp ? bpf_xdp_get_buff_len(ctx) : ((struct __sk_buff *)ctx)->len;
	}
	*sel |= ec_slot_select(&cnt->slot[i], lz, i);
}

/*
 * Everything a packet costs while a slot is live. Up to the first match it is all inline: the
 * parse, the per-CPU "seen" counters and every live slot's filter.
 */
static __always_inline void ec_capture(void *ctx, void *data, void *data_end, __u32 active,
				       const int is_xdp)
{
	struct ec_cpu_counters *cnt;
	struct ec_pkt_key key = {}, *k = &key;
	struct ec_lazy lz;
	__u32 zero = 0, sel = 0;
	int matched = 0;

	cnt = bpf_map_lookup_elem(&ec_counters, &zero);
	if (!cnt)
		return;
	/*
	 * Hide where k points from the compiler: the parser's many early returns then write its
	 * fields to memory once, instead of every return path materialising all of them in
	 * registers and spills (clang splits a local struct into scalars), which cost more than the
	 * parse itself. No instruction is emitted.
	 */
	asm volatile("" : "+r"(k));
	/* Parse once, and only if a live slot has a filter. */
	if (active & ec_filter_mask)
		ec_parse(data, data_end, k);

		/* Each live slot in turn, stopping after the highest one. */
#define EC_SLOT(i)                \
	if (!(active >> (i)))     \
		goto done;        \
	if (active & (1U << (i))) \
		ec_slot_filter(ctx, cnt, k, &lz, &sel, &matched, (i), is_xdp);
	_Static_assert(EC_MAX_SLOTS == 8, "one EC_SLOT line per slot");
	EC_SLOT(0)
	EC_SLOT(1)
	EC_SLOT(2)
	EC_SLOT(3)
	EC_SLOT(4)
	EC_SLOT(5)
	EC_SLOT(6)
	EC_SLOT(7)
#undef EC_SLOT
done:
	if (!sel)
		return;
	if (is_xdp)
		ec_record_xdp(ctx, cnt, &lz, sel);
	else
		ec_record_tc(ctx, cnt, &lz, sel);
}

SEC("xdp.frags")
int edgecap_xdp(struct xdp_md *ctx)
{
	__u32 active = ec_active_mask;

	if (!active)
		return XDP_PASS;
	ec_capture(ctx, (void *)(long)ctx->data, (void *)(long)ctx->data_end, active, 1);
	return XDP_PASS;
}

SEC("tc")
int edgecap_tc(struct __sk_buff *skb)
{
	__u32 active = ec_active_mask;

	if (!active)
		return EC_TCX_NEXT;
	ec_capture(skb, (void *)(long)skb->data, (void *)(long)skb->data_end, active, 0);
	return EC_TCX_NEXT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
