// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture_abi.h"
/* The skeleton uses the ABI structs without including their header. */
#include "capture.skel.h"
#include "slot.h"

_Static_assert(sizeof(struct ec_slot_config) == 120, "ec_slot_config layout");
_Static_assert(sizeof(struct ec_slot_counters) == 8 * EC_N_KERNEL_COUNTERS,
	       "ec_slot_counters layout");
_Static_assert(sizeof(struct ec_record) == 32, "ec_record layout");
_Static_assert(sizeof(struct ec_filter) == 84, "ec_filter layout");

/*
 * One address field: the family must be the prefix's, and the masked address its own. addr0 and
 * addr6 are where the key keeps the address's first 32 bits and, for IPv6, the other 96.
 */
static void compile_prefix(const struct ec_prefix_match *p, size_t addr0, size_t addr6,
			   struct ec_pkt_key *want, struct ec_pkt_key *mask)
{
	__be32 *want0 = (__be32 *)((char *)want + addr0), *mask0 = (__be32 *)((char *)mask + addr0);
	__be32 *want6 = (__be32 *)((char *)want + addr6), *mask6 = (__be32 *)((char *)mask + addr6);
	unsigned int w;

	if (mask->family && want->family != p->family)
		want->never = 1; /* source and destination of two families: nothing matches */
	want->family = p->family;
	mask->family = 0xff;
	*want0 = p->addr[0] & p->mask[0];
	*mask0 = p->mask[0];
	if (p->family != 6)
		return;
	for (w = 1; w < 4; w++) {
		want6[w - 1] = p->addr[w] & p->mask[w];
		mask6[w - 1] = p->mask[w];
	}
}

void slot_compile_filter(const struct ec_filter *f, struct ec_key_match *out)
{
	struct ec_pkt_key want = { 0 }, mask = { 0 };

	if (f->fields & EC_F_SRC_ADDR)
		compile_prefix(&f->src, offsetof(struct ec_pkt_key, saddr0),
			       offsetof(struct ec_pkt_key, saddr6), &want, &mask);
	if (f->fields & EC_F_DST_ADDR)
		compile_prefix(&f->dst, offsetof(struct ec_pkt_key, daddr0),
			       offsetof(struct ec_pkt_key, daddr6), &want, &mask);
	if (f->fields & EC_F_PROTOCOL) {
		want.flags |= EC_KEY_PROTO;
		mask.flags |= EC_KEY_PROTO;
		want.protocol = f->protocol;
		mask.protocol = 0xff;
	}
	if (f->fields & (EC_F_SRC_PORT | EC_F_DST_PORT)) {
		want.flags |= EC_KEY_PORTS;
		mask.flags |= EC_KEY_PORTS;
	}
	if (f->fields & EC_F_SRC_PORT) {
		want.sport = f->src_port;
		mask.sport = 0xffff;
	}
	if (f->fields & EC_F_DST_PORT) {
		want.dport = f->dst_port;
		mask.dport = 0xffff;
	}
	if (want.never)
		mask.never = 0xff;
	memcpy(out->want, &want, sizeof(want));
	memcpy(out->mask, &mask, sizeof(mask));
}

int slot_start(struct capture_bpf *skel, unsigned int slot, const struct ec_slot_config *cfg,
	       struct ec_slot_counters *baseline)
{
	struct capture_bpf__bss *bss = skel->bss;
	__u32 bit = 1U << slot;
	int err;

	if (slot >= EC_MAX_SLOTS || !cfg->snaplen || cfg->snaplen > EC_MAX_CAPLEN)
		return -EINVAL;
	if (__atomic_load_n(&bss->ec_active_mask, __ATOMIC_ACQUIRE) & bit)
		return -EBUSY;

	memcpy(&bss->ec_slot_cfg[slot], cfg, sizeof(*cfg));
	slot_compile_filter(&cfg->filter, &bss->ec_slot_match[slot]);
	__atomic_store_n(&bss->ec_slot_use[slot].packets, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&bss->ec_slot_use[slot].bytes, 0, __ATOMIC_RELAXED);
	if (cfg->filter.fields)
		__atomic_fetch_or(&bss->ec_filter_mask, bit, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(&bss->ec_filter_mask, ~bit, __ATOMIC_SEQ_CST);

	err = slot_counters(skel, slot, NULL, baseline);
	if (err)
		return err;
	/* Last: from here on the kernel reads this slot. */
	__atomic_fetch_or(&bss->ec_active_mask, bit, __ATOMIC_SEQ_CST);
	return 0;
}

void slot_stop(struct capture_bpf *skel, unsigned int slot)
{
	if (slot >= EC_MAX_SLOTS)
		return;
	__atomic_fetch_and(&skel->bss->ec_active_mask, ~(1U << slot), __ATOMIC_SEQ_CST);
}

void slot_counters_add(struct ec_slot_counters *a, const struct ec_slot_counters *b)
{
#define ADD(name, help) a->name += b->name;
	EC_KERNEL_COUNTERS(ADD)
#undef ADD
}

int slot_counters(struct capture_bpf *skel, unsigned int slot,
		  const struct ec_slot_counters *baseline, struct ec_slot_counters *out)
{
	int ncpus = libbpf_num_possible_cpus();
	struct ec_cpu_counters *percpu;
	__u32 key = 0;
	int err, cpu;

	if (slot >= EC_MAX_SLOTS || ncpus <= 0)
		return -EINVAL;
	percpu = calloc((size_t)ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	err = bpf_map_lookup_elem(bpf_map__fd(skel->maps.ec_counters), &key, percpu);
	if (err) {
		err = -errno;
		goto cleanup;
	}
	memset(out, 0, sizeof(*out));
	for (cpu = 0; cpu < ncpus; cpu++)
		slot_counters_add(out, &percpu[cpu].slot[slot]);
	if (baseline) {
#define SUB(name, help) out->name -= baseline->name;
		EC_KERNEL_COUNTERS(SUB)
#undef SUB
	}
cleanup:
	free(percpu);
	return err;
}
