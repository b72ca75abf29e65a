// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * capture.bpf.c: edgecap's in-kernel capture, at XDP or at tc ingress/egress.
 *
 * Per packet: if no slot is live, return at once (one load, one branch). Otherwise, for every
 * live slot: count it seen, apply its filter (the frame is parsed at most once, and only if some
 * slot filters), check its deadline, sample 1 in N, take its packet and byte budget; then write
 * one ring-buffer record for all the slots that selected the packet. The verdict never depends on
 * any of this: XDP_PASS, or TCX_NEXT at tc, with the packet's bytes untouched.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "capture_abi.h"
#include "parse.bpf.h"

/* tc verdict that hands the packet on to the next program, or to the stack, unchanged. */
#define EC_TCX_NEXT (-1)

_Static_assert(EC_MAX_CAPLEN == 0xffff, "the clamp before each copy masks with 0xffff");

/* Set before load: the hook this object is attached to, written into every record. */
const volatile __u8 ec_hook = EC_HOOK_XDP;
/* Set before load: ring fill in bytes above which a record wakes the drain up (0: never). */
const volatile __u64 ec_wakeup_bytes = 0;

/* Control, written by user space through the mmapped .bss; see capture_abi.h for the order. */
volatile __u32 ec_active_mask;
/* Bit i set if slot i's filter has any field: the frame is parsed only when a live slot needs it.
 */
volatile __u32 ec_filter_mask;
struct ec_slot_config ec_slot_cfg[EC_MAX_SLOTS];
struct ec_slot_use ec_slot_use[EC_MAX_SLOTS];

/* Selected packets, one record each; user space sets the size before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} ec_records SEC(".maps");

/* Per-CPU counters of every slot, in one entry so a packet costs one lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ec_cpu_counters);
} ec_counters SEC(".maps");

struct ec_scratch {
	struct ec_record rec;
	__u8 data[EC_MAX_CAPLEN + 1];
};

/*
 * Where a record is assembled before it is copied into the ring (the ring's reserve needs a
 * constant size). One entry per CPU, indexed by CPU id: a per-CPU map cannot hold 64 KiB values.
 * User space sets max_entries to the number of possible CPUs before load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ec_scratch);
} ec_scratch SEC(".maps");

static __always_inline int ec_prefix_match(const struct ec_prefix_match *p, const __be32 *addr,
					   __u8 family)
{
	if (p->family != family)
		return 0;
	if ((addr[0] & p->mask[0]) != p->addr[0])
		return 0;
	if (family == 4)
		return 1;
	return (addr[1] & p->mask[1]) == p->addr[1] && (addr[2] & p->mask[2]) == p->addr[2] &&
	       (addr[3] & p->mask[3]) == p->addr[3];
}

static __always_inline int ec_filter_match(const struct ec_filter *f, const struct ec_pkt_meta *m)
{
	__u32 fields = f->fields;

	if (!fields)
		return 1;
	if (!m->family)
		return 0;
	if ((fields & EC_F_SRC_ADDR) && !ec_prefix_match(&f->src, m->saddr, m->family))
		return 0;
	if ((fields & EC_F_DST_ADDR) && !ec_prefix_match(&f->dst, m->daddr, m->family))
		return 0;
	if ((fields & EC_F_PROTOCOL) && (!m->has_proto || m->protocol != f->protocol))
		return 0;
	if ((fields & (EC_F_SRC_PORT | EC_F_DST_PORT)) && !m->has_ports)
		return 0;
	if ((fields & EC_F_SRC_PORT) && m->sport != f->src_port)
		return 0;
	if ((fields & EC_F_DST_PORT) && m->dport != f->dst_port)
		return 0;
	return 1;
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
 * Runs slot i's steps for one packet: filter, deadline, sampling, budget. Returns the bytes the
 * slot wants recorded, or 0 if it does not select the packet. A global function, so the verifier
 * checks it once rather than once per slot and per path through the parser.
 */
__noinline int ec_slot_select(struct ec_slot_counters *c, const struct ec_pkt_meta *m, __u32 i,
			      __u32 pkt_len, __u64 *now)
{
	const struct ec_slot_config *cfg;
	__u32 slot_cap;

	if (!c || !m || !now || i >= EC_MAX_SLOTS)
		return 0;
	cfg = &ec_slot_cfg[i];
	c->seen++;
	if (!ec_filter_match(&cfg->filter, m))
		return 0;
	/* The clock is read only for traffic some slot matched. */
	if (!*now)
		*now = bpf_ktime_get_tai_ns();
	if (cfg->deadline_ns && *now >= cfg->deadline_ns)
		return 0;
	c->matched++;
	if (cfg->sample_rate > 1 && bpf_get_prandom_u32() % cfg->sample_rate) {
		c->sampled_out++;
		return 0;
	}
	slot_cap = ec_min(pkt_len, cfg->snaplen);
	if (!slot_cap || ec_budget_take(cfg, &ec_slot_use[i], slot_cap)) {
		c->budget_exhausted++;
		return 0;
	}
	return slot_cap;
}

/* Counts the outcome of a record for slot i, and gives back its budget if it was not written. */
__noinline int ec_slot_account(struct ec_slot_counters *c, __u32 i, __u32 pkt_len, int written)
{
	const struct ec_slot_config *cfg;
	__u32 slot_cap;

	if (!c || i >= EC_MAX_SLOTS)
		return 0;
	cfg = &ec_slot_cfg[i];
	slot_cap = ec_min(pkt_len, cfg->snaplen);
	if (written) {
		c->submitted++;
		c->bytes += slot_cap;
	} else {
		c->ring_full++;
		ec_budget_return(cfg, &ec_slot_use[i], slot_cap);
	}
	return 0;
}

__noinline int ec_parse_xdp(struct xdp_md *ctx, struct ec_pkt_meta *m)
{
	if (!m)
		return 0;
	ec_parse((void *)(long)ctx->data, (void *)(long)ctx->data_end, m);
	return 0;
}

__noinline int ec_parse_tc(struct __sk_buff *skb, struct ec_pkt_meta *m)
{
	if (!m)
		return 0;
	ec_parse((void *)(long)skb->data, (void *)(long)skb->data_end, m);
	return 0;
}

static __always_inline void ec_capture(void *ctx, __u32 pkt_len, __u32 ifindex, __u32 queue,
				       __u32 active, const int is_xdp)
{
	struct ec_cpu_counters *cnt;
	struct ec_pkt_meta meta = {};
	struct ec_scratch *scratch;
	__u32 key = 0, selected = 0, cap = 0, i;
	__u64 now = 0, flags, len;
	int err, slot_cap;

	cnt = bpf_map_lookup_elem(&ec_counters, &key);
	if (!cnt)
		return;
	/* Parse once, and only if a live slot has a filter. */
	if (active & ec_filter_mask) {
		if (is_xdp)
			ec_parse_xdp(ctx, &meta);
		else
			ec_parse_tc(ctx, &meta);
	}

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (!(active & (1U << i)))
			continue;
		slot_cap = ec_slot_select(&cnt->slot[i], &meta, i, pkt_len, &now);
		if (slot_cap <= 0)
			continue;
		selected |= 1U << i;
		if ((__u32)slot_cap > cap)
			cap = slot_cap;
	}
	if (!selected)
		return;

	key = bpf_get_smp_processor_id();
	scratch = bpf_map_lookup_elem(&ec_scratch, &key);
	err = -1;
	if (scratch && cap > 0 && cap <= EC_MAX_CAPLEN) {
		scratch->rec.tstamp_ns = now;
		scratch->rec.ifindex = ifindex;
		scratch->rec.rx_queue = queue;
		scratch->rec.orig_len = pkt_len;
		scratch->rec.cap_len = cap;
		scratch->rec.slot_mask = selected;
		scratch->rec.hook = ec_hook;
		scratch->rec.pad0 = 0;
		scratch->rec.pad1 = 0;
		/*
		 * The verifier needs the bounds (1..65536) on the very register the helper gets;
		 * for cap in 1..EC_MAX_CAPLEN this leaves it unchanged.
		 */
		len = cap - 1;
		asm volatile("%0 &= 0xffff" : "+r"(len));
		len += 1;
		if (is_xdp)
			err = bpf_xdp_load_bytes(ctx, 0, scratch->data, len);
		else
			err = bpf_skb_load_bytes(ctx, 0, scratch->data, len);
		if (!err) {
			/* No wake-up per record: the drain runs on a timer, or past the watermark.
			 */
			flags = BPF_RB_NO_WAKEUP;
			if (ec_wakeup_bytes &&
			    bpf_ringbuf_query(&ec_records, BPF_RB_AVAIL_DATA) >= ec_wakeup_bytes)
				flags = BPF_RB_FORCE_WAKEUP;
			len = cap - 1;
			asm volatile("%0 &= 0xffff" : "+r"(len));
			len += 1;
			err = bpf_ringbuf_output(&ec_records, scratch, sizeof(scratch->rec) + len,
						 flags);
		}
	}

	for (i = 0; i < EC_MAX_SLOTS; i++) {
		if (selected & (1U << i))
			ec_slot_account(&cnt->slot[i], i, pkt_len, !err);
	}
}

SEC("xdp.frags")
int edgecap_xdp(struct xdp_md *ctx)
{
	__u32 active = ec_active_mask;

	if (!active)
		return XDP_PASS;
	ec_capture(ctx, bpf_xdp_get_buff_len(ctx), ctx->ingress_ifindex, ctx->rx_queue_index,
		   active, 1);
	return XDP_PASS;
}

SEC("tc")
int edgecap_tc(struct __sk_buff *skb)
{
	__u32 active = ec_active_mask;

	if (!active)
		return EC_TCX_NEXT;
	ec_capture(skb, skb->len, skb->ifindex, skb->queue_mapping, active, 0);
	return EC_TCX_NEXT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
