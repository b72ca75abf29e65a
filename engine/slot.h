/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * slot.h: start, stop and read one capture slot of a loaded capture object.
 *
 * A slot's configuration is written only while the slot is inactive, and ec_active_mask is set
 * last (after a full barrier) and cleared first, so the kernel never reads a half-written slot.
 * Counters are never written by user space (other CPUs may be counting other slots in the same
 * per-CPU entry): slot_start snapshots a baseline and slot_counters reports the difference.
 */
#ifndef EDGECAP_SLOT_H
#define EDGECAP_SLOT_H

#include "capture_abi.h"

struct capture_bpf;

/* Starts slot (0..EC_MAX_SLOTS-1) with cfg; -EBUSY if it is live, -EINVAL for a bad config. */
int slot_start(struct capture_bpf *skel, unsigned int slot, const struct ec_slot_config *cfg,
	       struct ec_slot_counters *baseline);
/* Stops the slot; packets being processed on other CPUs may still finish their record. */
void slot_stop(struct capture_bpf *skel, unsigned int slot);
/* The slot's counters summed over CPUs, less baseline (which may be NULL). */
int slot_counters(struct capture_bpf *skel, unsigned int slot,
		  const struct ec_slot_counters *baseline, struct ec_slot_counters *out);
/* Compiles filter f into the masked compare the kernel runs on each frame's struct ec_pkt_key. */
void slot_compile_filter(const struct ec_filter *f, struct ec_key_match *out);
/* Adds b to a, field by field. */
void slot_counters_add(struct ec_slot_counters *a, const struct ec_slot_counters *b);

#endif /* EDGECAP_SLOT_H */
