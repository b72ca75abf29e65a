// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_sampling_budgets.c: the BPF tier, what limits a slot: sampling, the packet and byte budgets
 * (and what a full ring gives back), the ring's wake-up watermark, the deadline, and a slot that
 * is idle touching nothing.
 * Needs root (see harness.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "harness.h"

/* ---------------------------------------------------------------------------------------------
 * Sampling, budgets, deadlines, idle.
 */

static void test_sampling_one_in_four(void)
{
	const uint32_t runs = 40000, rate = 4;
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_config cfg = slot_config(&filter_empty, 64);
	struct ec_slot_counters c;
	double mean, sigma;
	struct pkt p;

	CHECK(e, "set-up");
	cfg.sample_rate = rate;
	CHECK(!env_start(e, 0, &cfg), "start slot 0");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	run(e, &p, runs);
	c = env_counters(e, 0);
	mean = runs / (double)rate;
	sigma = sqrt(runs * (1.0 / rate) * (1.0 - 1.0 / rate));
	CHECK_EQ_U64(c.matched, runs, "matched");
	CHECK(fabs((double)c.submitted - mean) <= 6 * sigma,
	      "submitted %llu of %u, want %.0f +- %.0f (6 sigma)", c.submitted, runs, mean,
	      6 * sigma);
	CHECK(c.submitted > 0 && c.submitted < c.matched, "sampling kept none or all");
	CHECK_EQ_U64(c.sampled_out, runs - c.submitted, "sampled_out");
	CHECK_EQ_U64(e->nrec, c.submitted, "records");
	assert_identity(e);
	printf("     1 in %u: %llu of %u kept (expected %.0f +- %.0f)\n", rate, c.submitted, runs,
	       mean, 6 * sigma);
}

static void test_sampling_one_keeps_every_match(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_config cfg = slot_config(&filter_empty, 64);
	struct ec_slot_counters c;
	struct pkt p;
	uint32_t rate;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	for (rate = 0; rate <= 1; rate++) {
		cfg.sample_rate = rate;
		CHECK(!env_start(e, 0, &cfg), "start slot 0");
		run(e, &p, 2000);
		c = env_counters(e, 0);
		CHECK_EQ_U64(c.submitted, 2000, "sample_rate 0 or 1 keeps every match");
		CHECK_EQ_U64(c.sampled_out, 0, "sampled_out");
		assert_identity(e);
	}
}

static void test_budget_packet_limit(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_config cfg = slot_config(&filter_empty, 64);
	struct ec_slot_counters c;
	struct pkt p;

	CHECK(e, "set-up");
	cfg.packet_limit = 5;
	CHECK(!env_start(e, 0, &cfg), "start slot 0");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	run(e, &p, 100);
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.matched, 100, "matched");
	CHECK_EQ_U64(c.submitted, 5, "submitted: exactly packet_limit");
	CHECK_EQ_U64(c.budget_exhausted, 95, "budget_exhausted");
	CHECK_EQ_U64(e->nrec, 5, "records");
	CHECK_EQ_U64(e->skel->bss->ec_slot_use[0].packets, 5,
		     "packet budget used: refused packets leave no trace");
	assert_identity(e);
	run(e, &p, 10);
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, 5, "nothing more on a later run");
	CHECK_EQ_U64(c.budget_exhausted, 105, "budget_exhausted");
	assert_identity(e);
}

static void test_budget_byte_limit(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_config cfg = slot_config(&filter_empty, 1500);
	struct ec_slot_counters c;
	struct pkt big, small;

	CHECK(e, "set-up");
	build_ipv4_udp(&big, V4_A, V4_B, 1, 2);
	put_payload(&big, 200 - big.len);
	fix_lengths(&big);
	build_ipv4_udp(&small, V4_A, V4_B, 1, 2);
	put_payload(&small, 100 - small.len);
	fix_lengths(&small);
	cfg.byte_limit = 500;
	CHECK(!env_start(e, 0, &cfg), "start slot 0");

	run(e, &big, 5); /* 200 + 200 fit, the next 200 would make 600 */
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, 2, "200-byte frames under a 500-byte budget");
	CHECK_EQ_U64(c.budget_exhausted, 3, "200-byte frames refused");
	CHECK_EQ_U64(c.bytes, 400, "bytes");
	run(e, &small, 3); /* 400 + 100 = 500 fits exactly; then nothing */
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, 3, "a smaller frame still fits after a larger one is refused");
	CHECK_EQ_U64(c.bytes, 500, "bytes: exactly byte_limit");
	CHECK_EQ_U64(c.budget_exhausted, 5, "refused");
	assert_identity(e);

	/* The budget counts captured bytes: snaplen 60 of each 200-byte frame. */
	cfg.snaplen = 60;
	cfg.byte_limit = 200;
	CHECK(!env_start(e, 0, &cfg), "restart slot 0");
	run(e, &big, 10);
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, 3, "60-byte captures under a 200-byte budget");
	CHECK_EQ_U64(c.bytes, 180, "bytes");
	assert_identity(e);

	/* Both limits: the first reached wins. */
	cfg.snaplen = 1500;
	cfg.byte_limit = 1000;
	cfg.packet_limit = 3;
	CHECK(!env_start(e, 0, &cfg), "restart slot 0");
	run(e, &small, 10);
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, 3, "packet limit before byte limit");
	cfg.byte_limit = 250;
	cfg.packet_limit = 10;
	CHECK(!env_start(e, 0, &cfg), "restart slot 0");
	run(e, &small, 10);
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, 2, "byte limit before packet limit");
	CHECK_EQ_U64(c.budget_exhausted, 8, "refused by bytes");
	CHECK_EQ_U64(e->skel->bss->ec_slot_use[0].packets, 2,
		     "packet budget used: packets refused by bytes are given back");
	assert_identity(e);
}

static void test_budget_ring_full_gives_back(void)
{
	struct env *e = env_open_ring(EC_HOOK_XDP, RING_SMALL);
	struct ec_slot_config by_packets = slot_config(&filter_empty, 1500);
	struct ec_slot_config by_bytes = slot_config(&filter_empty, 1500);
	uint32_t per_record, fits;
	struct ec_slot_counters c;
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	put_payload(&p, 100 - p.len);
	fix_lengths(&p);
	/* What one record takes in the ring: its 8-byte header, rounded up to 8. */
	per_record = BPF_RINGBUF_HDR_SZ + sizeof(struct ec_record) + ec_record_room(100);
	fits = RING_SMALL / per_record;
	by_packets.packet_limit = fits + 3;
	by_bytes.byte_limit = (fits + 3) * 100;
	CHECK(!env_start(e, 0, &by_packets), "start slot 0");
	CHECK(!env_start(e, 1, &by_bytes), "start slot 1");

	/* One test run of 100 packets: the ring is not drained until it returns. */
	run(e, &p, 100);
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, fits, "records that fit in a one-page ring");
	CHECK_EQ_U64(c.ring_full, 100 - fits, "ring_full");
	/* A selected packet counts as submitted until its record fails: then not, nor its bytes. */
	CHECK_EQ_U64(c.bytes, fits * 100, "bytes: only the records written");
	CHECK_EQ_U64(c.budget_exhausted, 0, "budget_exhausted while the ring was full");
	CHECK_EQ_U64(e->skel->bss->ec_slot_use[0].packets, fits,
		     "packet budget used: ring-full packets given back");
	CHECK_EQ_U64(e->skel->bss->ec_slot_use[1].bytes, fits * 100,
		     "byte budget used: ring-full packets given back");
	c = env_counters(e, 1);
	CHECK_EQ_U64(c.ring_full, 100 - fits, "ring_full of the byte-limited slot");
	assert_identity(e);

	/* Drained: the 3 packets of budget left are still there, and then no more. */
	run(e, &p, 100);
	c = env_counters(e, 0);
	CHECK_EQ_U64(c.submitted, fits + 3, "submitted: exactly packet_limit");
	CHECK_EQ_U64(c.ring_full, 100 - fits, "no ring_full with a drained ring");
	CHECK_EQ_U64(c.budget_exhausted, 97, "budget_exhausted");
	c = env_counters(e, 1);
	CHECK_EQ_U64(c.submitted, fits + 3, "submitted: exactly byte_limit / 100");
	CHECK_EQ_U64(c.bytes, (fits + 3) * 100, "bytes: exactly byte_limit");
	CHECK_EQ_U64(e->skel->bss->ec_slot_use[0].packets, fits + 3, "packet budget used");
	CHECK_EQ_U64(e->skel->bss->ec_slot_use[1].bytes, (fits + 3) * 100, "byte budget used");
	assert_identity(e);
}

/*
 * Records go in without waking the reader (it drains on a timer) until ec_wakeup_bytes are
 * waiting; then one record wakes it, and the ones after it do not until the reader has drained
 * and cleared ec_wakeup_sent (a wake-up per record would cost an IPI each). Seen through epoll:
 * ring_buffer__poll only returns records after a wake-up.
 */
static void test_ring_wakes_reader_only_past_watermark(void)
{
	struct env *quiet_ring = env_open_opts(EC_HOOK_XDP, RING_BIG, 0);
	struct env *e = env_open_opts(EC_HOOK_XDP, RING_BIG, 1000);
	uint32_t per_record, k;
	struct pkt p;
	int n;

	CHECK(quiet_ring && e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	put_payload(&p, 100 - p.len);
	fix_lengths(&p);
	per_record = BPF_RINGBUF_HDR_SZ + sizeof(struct ec_record) + ec_record_room(100);

	quiet_ring->hold = true;
	CHECK(!env_start_filter(quiet_ring, 0, &filter_empty, 1500), "start slot 0");
	run(quiet_ring, &p, 20);
	n = ring_buffer__poll(quiet_ring->rb, 50);
	CHECK(n == 0, "no watermark: poll returned %d records, want 0 (no wake-up)", n);
	env_drain(quiet_ring);
	CHECK_EQ_U64(quiet_ring->nrec, 20, "records in the ring all along");
	assert_identity(quiet_ring);

	/* The k-th record is the first with 1000 bytes in the ring, itself included: it wakes. */
	k = (1000 + per_record - 1) / per_record;
	CHECK(k >= 3, "record size %u: the watermark is %u records away", per_record, k);
	e->hold = true;
	CHECK(!env_start_filter(e, 0, &filter_empty, 1500), "start slot 0");
	run(e, &p, k - 1);
	n = ring_buffer__poll(e->rb, 50);
	CHECK(n == 0, "%u records (%u bytes): poll returned %d, want 0", k - 1,
	      (k - 1) * per_record, n);
	run(e, &p, 1);
	n = ring_buffer__poll(e->rb, 1000);
	CHECK(n == (int)k, "record %u past the watermark: poll returned %d records, want %u", k, n,
	      k);
	CHECK(e->skel->bss->ec_wakeup_sent == 1, "the waking record marks the wake-up sent");
	/* epoll rescans a level-triggered fd it just reported: one empty poll settles it. */
	n = ring_buffer__poll(e->rb, 0);
	CHECK(n == 0, "ring drained: poll returned %d, want 0", n);

	/* Not cleared by the reader: past the watermark again, no second wake-up. */
	run(e, &p, k + 2);
	n = ring_buffer__poll(e->rb, 50);
	CHECK(n == 0, "wake-up already sent: poll returned %d, want 0", n);
	env_drain(e);

	/* Cleared after the drain, as the engine does: the next crossing wakes the reader again. */
	e->skel->bss->ec_wakeup_sent = 0;
	run(e, &p, k - 1);
	n = ring_buffer__poll(e->rb, 50);
	CHECK(n == 0, "re-armed, below the watermark: poll returned %d, want 0", n);
	run(e, &p, 1);
	n = ring_buffer__poll(e->rb, 1000);
	CHECK(n == (int)k, "re-armed, past the watermark: poll returned %d records, want %u", n, k);
	assert_identity(e);
}

static uint64_t mono_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * The deadline is on CLOCK_MONOTONIC: a wall-clock step (which moves CLOCK_TAI) leaves it be.
 * Far from it the kernel reads the coarse clock, within EC_DEADLINE_GUARD_NS the exact one:
 * nothing is emitted at or after the true time, though the coarse clock lags by a tick or more.
 */
static void test_deadline(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	struct ec_slot_config cfg = slot_config(&filter_empty, 64);
	struct ec_slot_counters c;
	uint64_t end, n;
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	cfg.deadline_ns = mono_now_ns() - 1000000000ull;
	CHECK(!env_start(e, 0, &cfg), "start slot 0");
	run(e, &p, 10);
	c = env_counters(e, 0);
	CHECK_EQ_U64(e->nrec, 0, "records after the deadline");
	CHECK_EQ_U64(c.seen, 10, "seen after the deadline");
	CHECK_EQ_U64(c.matched, 0, "matched after the deadline");
	assert_identity(e);

	/* 60 s ahead on the monotonic clock, long past on CLOCK_TAI: as after a forward step. */
	cfg.deadline_ns = mono_now_ns() + 60 * 1000000000ull;
	CHECK(cfg.deadline_ns < tai_now_ns(), "the monotonic clock is behind CLOCK_TAI");
	CHECK(!env_start(e, 0, &cfg), "restart slot 0");
	run(e, &p, 10);
	CHECK_EQ_U64(e->nrec, 10, "records before the deadline (the wall clock must not count)");
	/* The record's timestamp stays on CLOCK_TAI, for the pcap's real time. */
	CHECK(e->kept[0].hdr.tstamp_ns + 60 * 1000000000ull > tai_now_ns(),
	      "record stamped on CLOCK_TAI");
	assert_identity(e);

	/*
	 * A deadline 300 ms ahead: packets sent until the true clock reaches it; not one of them
	 * may be recorded at or after it, though the kernel reads a clock up to a tick behind.
	 */
	end = mono_now_ns() + 300000000ull;
	cfg.deadline_ns = end;
	CHECK(!env_start(e, 0, &cfg), "restart slot 0 with a near deadline");
	while (mono_now_ns() < end) {
		run(e, &p, 1);
		usleep(1000);
	}
	c = env_counters(e, 0);
	CHECK(c.submitted > 0, "records before a near deadline");
	run(e, &p, 10);
	n = env_counters(e, 0).submitted;
	CHECK_EQ_U64(e->nrec, 0, "records once the true clock reached the deadline");
	CHECK_EQ_U64(n, c.submitted, "submitted once the true clock reached the deadline");
	assert_identity(e);
}

static uint64_t all_counters_sum(struct env *e)
{
	int ncpus = libbpf_num_possible_cpus();
	struct ec_cpu_counters *percpu = calloc((size_t)ncpus, sizeof(*percpu));
	const uint64_t *w;
	uint64_t sum = 0;
	uint32_t key = 0;
	size_t i;

	EXPECT(percpu != NULL, "out of memory");
	if (!percpu)
		return 0;
	EXPECT(!bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.ec_counters), &key, percpu),
	       "reading ec_counters: %s", strerror(errno));
	w = (const uint64_t *)percpu;
	for (i = 0; i < (size_t)ncpus * sizeof(*percpu) / sizeof(*w); i++)
		sum += w[i];
	free(percpu);
	return sum;
}

static void test_idle_touches_nothing(void)
{
	struct env *e = env_open(EC_HOOK_XDP);
	uint64_t before;
	struct pkt p;

	CHECK(e, "set-up");
	build_ipv4_udp(&p, V4_A, V4_B, 1, 2);
	run(e, &p, 100);
	CHECK_EQ_U64(all_counters_sum(e), 0, "counters with no slot ever started");
	CHECK_EQ_U64(e->nrec, 0, "records with no slot ever started");

	CHECK(!env_start_filter(e, 3, &filter_empty, 64), "start slot 3");
	run(e, &p, 1);
	CHECK_EQ_U64(e->nrec, 1, "records while live");
	slot_stop(e->skel, 3);
	before = all_counters_sum(e);
	run(e, &p, 100);
	CHECK_EQ_U64(all_counters_sum(e), before, "counters after every slot stopped");
	CHECK_EQ_U64(e->nrec, 0, "records after every slot stopped");
	assert_identity(e);
}

int main(void)
{
	if (!bpf_harness_init())
		return TEST_SUMMARY();
	RUN_BPF(test_sampling_one_in_four);
	RUN_BPF(test_sampling_one_keeps_every_match);
	RUN_BPF(test_budget_packet_limit);
	RUN_BPF(test_budget_byte_limit);
	RUN_BPF(test_budget_ring_full_gives_back);
	RUN_BPF(test_ring_wakes_reader_only_past_watermark);
	RUN_BPF(test_deadline);
	RUN_BPF(test_idle_touches_nothing);
	return TEST_SUMMARY();
}
