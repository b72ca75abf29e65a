// SPDX-License-Identifier: BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture_abi.h"
/* The skeleton uses the ABI structs without including their header. */
#include "capture.skel.h"
#include "slot.h"

_Static_assert(sizeof(struct ec_slot_config) == 120, "ec_slot_config layout");
_Static_assert(sizeof(struct ec_slot_counters) == 56, "ec_slot_counters layout");
_Static_assert(sizeof(struct ec_record) == 32, "ec_record layout");
_Static_assert(sizeof(struct ec_filter) == 84, "ec_filter layout");

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
	a->seen += b->seen;
	a->matched += b->matched;
	a->sampled_out += b->sampled_out;
	a->budget_exhausted += b->budget_exhausted;
	a->ring_full += b->ring_full;
	a->submitted += b->submitted;
	a->bytes += b->bytes;
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
		out->seen -= baseline->seen;
		out->matched -= baseline->matched;
		out->sampled_out -= baseline->sampled_out;
		out->budget_exhausted -= baseline->budget_exhausted;
		out->ring_full -= baseline->ring_full;
		out->submitted -= baseline->submitted;
		out->bytes -= baseline->bytes;
	}
cleanup:
	free(percpu);
	return err;
}
