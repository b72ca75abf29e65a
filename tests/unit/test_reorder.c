// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_reorder.c: the capture engine's reorder window (engine/reorder.h). Pinned: records come out
 * in (timestamp, arrival) order, merged across sources; equal timestamps keep arrival order,
 * within a source and across sources; only records below the horizon come out; every record
 * comes out intact (header and data) through arena growth, wrap-around and reuse; memory follows
 * what is held, never below the window's floor, which is allocated once, pre-faulted, and
 * reused without a page fault; running out of memory leaves the window as it was.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "reorder.h"
#include "testing.h"

#define MAX_CAP 1600

/* Packet bytes of record id: its own pattern, so that a record moved or overwritten shows. */
static void fill_data(uint8_t *data, uint32_t len, uint32_t id)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		data[i] = (uint8_t)(id * 131 + i * 7 + (i >> 8));
}

static bool data_ok(const uint8_t *data, uint32_t len, uint32_t id)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		if (data[i] != (uint8_t)(id * 131 + i * 7 + (i >> 8)))
			return false;
	return true;
}

/*
 * Lengths vary with the id, from none to len_mod - 1 bytes; an id with the top bit set names its
 * length in its low 11 bits instead (see with_len).
 */
static uint32_t len_mod = MAX_CAP;

static uint32_t len_of(uint32_t id)
{
	if (id & 0x80000000U)
		return id & 0x7ff;
	return (id * 2654435761U) % len_mod;
}

static uint32_t with_len(uint32_t n, uint32_t len)
{
	return 0x80000000U | n << 11 | len;
}

/*
 * Pushes record id with timestamp ts from source src; the id travels in rx_queue, the source in
 * ifindex, and the data is the id's pattern. The ring's header carries a timestamp and length
 * that reorder_push must replace.
 */
static int push(struct reorder *r, unsigned int src, uint64_t ts, uint32_t id)
{
	uint8_t data[MAX_CAP];
	struct ec_record rec = {
		.tstamp_ns = ~ts,
		.ifindex = src,
		.rx_queue = id,
		.orig_len = len_of(id) + 100,
		.cap_len = MAX_CAP + 1,
		.slot_mask = 0x5,
	};

	fill_data(data, len_of(id), id);
	return reorder_push(r, src, &rec, ts, data, len_of(id));
}

/* What a record must look like when it comes out. */
struct expect {
	uint64_t ts;
	uint64_t seq;
	unsigned int src;
	uint32_t id;
};

static int expect_cmp(const void *a, const void *b)
{
	const struct expect *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool record_ok(const struct ec_record *rec, const struct expect *want)
{
	return rec->tstamp_ns == want->ts && rec->ifindex == want->src &&
	       rec->rx_queue == want->id && rec->cap_len == len_of(want->id) &&
	       rec->orig_len == len_of(want->id) + 100 && rec->slot_mask == 0x5 &&
	       data_ok(reorder_data(rec), rec->cap_len, want->id);
}

/*
 * Takes every record below horizon out of r and checks it against the n oldest of want (sorted
 * here), which are then dropped from want. Returns the records taken, or -1 (after a failed
 * CHECK: the caller's own CHECK then returns).
 */
static long take_and_check(struct reorder *r, uint64_t horizon, struct expect *want, size_t *n)
{
	const struct ec_record *rec;
	size_t i = 0, due = 0;

	qsort(want, *n, sizeof(*want), expect_cmp);
	while (due < *n && want[due].ts < horizon)
		due++;
	while ((rec = reorder_next(r, horizon))) {
		if (i >= due) {
			fprintf(stderr,
				"record %u (ts %" PRIu64 ") came out past the horizon %" PRIu64
				"\n",
				rec->rx_queue, (uint64_t)rec->tstamp_ns, horizon);
			return -1;
		}
		if (!record_ok(rec, &want[i])) {
			fprintf(stderr,
				"out of order or damaged: got id %u ts %" PRIu64 " src %u len %u, "
				"want id %u ts %" PRIu64 " src %u len %u\n",
				rec->rx_queue, (uint64_t)rec->tstamp_ns, rec->ifindex, rec->cap_len,
				want[i].id, want[i].ts, want[i].src, len_of(want[i].id));
			return -1;
		}
		i++;
	}
	if (i != due) {
		fprintf(stderr, "%zu records came out, %zu were due\n", i, due);
		return -1;
	}
	memmove(want, want + due, (*n - due) * sizeof(*want));
	*n -= due;
	return (long)due;
}

static void test_empty_window_gives_nothing(void)
{
	struct reorder r = { 0 };

	CHECK(reorder_next(&r, UINT64_MAX) == NULL, "nothing held, nothing out");
	CHECK_EQ_U64(reorder_held(&r), 0, "held");
	CHECK_EQ_U64(reorder_mem(&r), 0, "an unused window allocates nothing");
	reorder_free(&r);
	reorder_free(&r);
}

static void test_one_source_comes_out_in_timestamp_order(void)
{
	/* Nearly sorted, as CPUs racing on one ring give it, with one straggler far behind. */
	static const uint64_t ts[] = { 100, 102, 101, 103, 106, 104, 105, 107, 50, 108, 110, 109 };
	struct expect want[12];
	struct reorder r = { 0 };
	size_t i, n = 12;

	for (i = 0; i < n; i++) {
		CHECK(push(&r, 0, ts[i], (uint32_t)i) == 0, "push %zu", i);
		want[i] = (struct expect){ ts[i], i, 0, (uint32_t)i };
	}
	CHECK_EQ_U64(reorder_held(&r), 12, "held");
	CHECK(take_and_check(&r, UINT64_MAX, want, &n) == 12, "all twelve, in order");
	CHECK_EQ_U64(reorder_held(&r), 0, "held after");
	reorder_free(&r);
}

static void test_equal_timestamps_keep_arrival_order(void)
{
	struct reorder r = { 0 };
	struct expect want[64];
	size_t n = 0;
	uint32_t id;

	/*
	 * Runs of equal timestamps, some arriving after a newer record, from two sources:
	 * arrival order decides within a source and across them.
	 */
	for (id = 0; id < 64; id++) {
		unsigned int src = (id / 3) % 2;
		uint64_t ts = 1000 + (id % 8 == 7 ? 0 : (id / 16) * 10);

		CHECK(push(&r, src, ts, id) == 0, "push %u", id);
		want[n++] = (struct expect){ ts, id, src, id };
	}
	CHECK(take_and_check(&r, UINT64_MAX, want, &n) == 64, "stable for equal timestamps");
	reorder_free(&r);
}

static void test_only_records_below_the_horizon_come_out(void)
{
	const struct ec_record *rec;
	struct reorder r = { 0 };

	CHECK(push(&r, 0, 10, 1) == 0, "push");
	CHECK(push(&r, 1, 20, 2) == 0, "push");
	CHECK(push(&r, 0, 30, 3) == 0, "push");
	CHECK(reorder_next(&r, 10) == NULL, "a record at the horizon stays");
	rec = reorder_next(&r, 21);
	CHECK(rec && rec->rx_queue == 1, "10 is below 21");
	rec = reorder_next(&r, 21);
	CHECK(rec && rec->rx_queue == 2, "20 is below 21");
	CHECK(reorder_next(&r, 21) == NULL, "30 waits");
	/* A record older than the horizon that comes late is next, before the held ones. */
	CHECK(push(&r, 1, 5, 4) == 0, "push");
	rec = reorder_next(&r, 21);
	CHECK(rec && rec->rx_queue == 4, "the late record");
	CHECK(reorder_next(&r, 21) == NULL, "30 still waits");
	CHECK_EQ_U64(reorder_held(&r), 1, "held");
	rec = reorder_next(&r, 31);
	CHECK(rec && rec->rx_queue == 3 && data_ok(reorder_data(rec), rec->cap_len, 3), "30");
	reorder_free(&r);
}

/* Sources drained one after the other, as the engine drains its rings: blocks interleave. */
static void test_sources_merge_in_timestamp_order(void)
{
	enum {
		SOURCES = REORDER_MAX_SOURCES,
		PER = 300
	};
	static struct expect want[SOURCES * PER];
	struct reorder r = { 0 };
	unsigned int src, k;
	size_t n = 0;

	for (src = 0; src < SOURCES; src++) {
		for (k = 0; k < PER; k++) {
			/* Each source its own pace and phase, with a little local disorder. */
			uint64_t ts = 1000000 + (uint64_t)k * (97 + src * 13) + src * 7 +
				      (k % 5 == 2 ? 150 : 0);
			uint32_t id = (uint32_t)n;

			CHECK(push(&r, src, ts, id) == 0, "push");
			want[n] = (struct expect){ ts, n, src, id };
			n++;
		}
	}
	CHECK(push(&r, SOURCES, 1, 0) == -EINVAL, "a source out of range is refused");
	CHECK_EQ_U64(reorder_held(&r), SOURCES * PER, "held");
	/* Out in three steps of the horizon, then the rest. */
	CHECK(take_and_check(&r, 1010000, want, &n) > 0, "first step");
	CHECK(take_and_check(&r, 1020000, want, &n) > 0, "second step");
	CHECK(take_and_check(&r, 1020001, want, &n) >= 0, "a small step");
	CHECK(take_and_check(&r, UINT64_MAX, want, &n) > 0, "the rest");
	CHECK_EQ_U64(n, 0, "nothing left expected");
	CHECK_EQ_U64(reorder_held(&r), 0, "nothing left held");
	reorder_free(&r);
}

/* Many records held at once, far past the first arena and index: they grow and keep them all. */
static void test_growth_keeps_every_record(void)
{
	enum {
		N = 30000
	};
	static struct expect want[N];
	struct reorder r = { 0 };
	size_t n = 0, mem;
	uint32_t id;

	for (id = 0; id < N; id++) {
		/* Mostly in order, every tenth record from further back. */
		uint64_t ts = (uint64_t)id * 10 - (id % 10 == 9 ? 85 : 0) + 100;

		CHECK(push(&r, 3, ts, id) == 0, "push %u", id);
		want[n++] = (struct expect){ ts, id, 3, id };
	}
	mem = reorder_mem(&r);
	CHECK(mem > (size_t)N * (MAX_CAP / 2), "the arena grew to hold them (%zu bytes)", mem);
	CHECK(mem < (size_t)N * (MAX_CAP / 2 + 64) * 4, "within 4x what it holds (%zu bytes)", mem);
	CHECK(take_and_check(&r, (uint64_t)N * 5, want, &n) > 0, "half");
	CHECK(take_and_check(&r, UINT64_MAX, want, &n) > 0, "the rest");
	reorder_free(&r);
	CHECK_EQ_U64(reorder_mem(&r), 0, "freed");
}

/*
 * A long steady stream through a window of about W records: the arena is reused lap after lap,
 * records keep their bytes where they wrap, and memory stays a small multiple of what is held.
 */
static void test_a_long_stream_reuses_the_arena(void)
{
	enum {
		W = 2000,
		STEP = 700,
		TOTAL = 400000,
		SOURCES = 2
	};
	static struct expect want[W + 3 * STEP];
	struct reorder r = { 0 };
	size_t n = 0, peak = 0;
	uint32_t id = 0;
	uint64_t now = 0;

	while (id < TOTAL) {
		uint32_t k;

		/* A drain: STEP records, each source's block in turn, slightly out of order. */
		for (k = 0; k < STEP; k++, id++) {
			unsigned int src = k < STEP / 2 ? 0 : 1;
			uint64_t ts = now + (k % (STEP / 2)) * 2 + src + (k % 7 == 3 ? 5 : 0);

			CHECK(push(&r, src, ts, id) == 0, "push %u", id);
			want[n++] = (struct expect){ ts, id, src, id };
		}
		now += STEP;
		/* Release what is older than about W records. */
		CHECK(take_and_check(&r, now > W ? now - W : 0, want, &n) >= 0,
		      "release at %" PRIu64, now);
		if (reorder_mem(&r) > peak)
			peak = reorder_mem(&r);
	}
	/* Held at most W + STEP records of at most MAX_CAP + 40 bytes, per source about half. */
	CHECK(peak <= 4 * (size_t)(W + STEP) * (MAX_CAP + 48) + SOURCES * (64 << 10),
	      "memory bounded by what is held: peak %zu bytes", peak);
	CHECK(take_and_check(&r, UINT64_MAX, want, &n) > 0, "the rest");
	reorder_free(&r);
}

/* A burst's memory goes back once the window has emptied a few times. */
static void test_memory_comes_back_after_a_burst(void)
{
	struct expect want[1];
	struct reorder r = { 0 };
	size_t n, big;
	uint32_t id;
	int round;

	for (id = 0; id < 20000; id++)
		CHECK(push(&r, 0, id, id) == 0, "push");
	big = reorder_mem(&r);
	while (reorder_next(&r, UINT64_MAX))
		;
	for (round = 0; round < 20; round++) {
		CHECK(push(&r, 0, 100000 + round, 7) == 0, "push");
		want[0] = (struct expect){ 100000 + round, 0, 0, 7 };
		n = 1;
		CHECK(take_and_check(&r, UINT64_MAX, want, &n) == 1, "one at a time");
	}
	/* Arena and index both: back near their smallest sizes. */
	CHECK(reorder_mem(&r) < (256 << 10), "%zu bytes after the burst, %zu during",
	      reorder_mem(&r), big);
	reorder_free(&r);
}

/* ... and when the window never empties after it, as under steady traffic. */
static void test_memory_comes_back_while_records_are_held(void)
{
	enum {
		BURST = 20000,
		TRICKLE = 200000,
		HELD = 8
	};
	static struct expect want[BURST + HELD + 1];
	struct reorder r = { 0 };
	size_t n = 0, big;
	uint32_t id;

	for (id = 0; id < BURST; id++) {
		CHECK(push(&r, 0, id, id) == 0, "push");
		want[n++] = (struct expect){ id, id, 0, id };
	}
	big = reorder_mem(&r);
	/* Then a trickle, with the last HELD records always held. */
	for (; id < BURST + TRICKLE; id++) {
		CHECK(push(&r, 0, id, id) == 0, "push %u", id);
		want[n++] = (struct expect){ id, id, 0, id };
		CHECK(take_and_check(&r, id - HELD + 1, want, &n) >= 0, "at %u", id);
		CHECK_EQ_U64(reorder_held(&r), HELD, "held");
	}
	/* Arena and index both: back near their smallest sizes. */
	CHECK(reorder_mem(&r) < (256 << 10), "%zu bytes after the burst, %zu during",
	      reorder_mem(&r), big);
	reorder_free(&r);
}

/*
 * A window with a floor (reorder_init) that holds less than the floor: its memory is allocated
 * on the first record, never shrinks or grows after, and a long stream through it takes no page
 * fault (the arena and the index are pre-faulted and reused lap after lap).
 */
static void test_a_floor_is_allocated_once_and_reused(void)
{
	enum {
		W = 3000,
		STEP = 1000,
		TOTAL = 300000
	};
	static struct expect want[W + 2 * STEP];
	struct reorder r;
	struct rusage before, after;
	size_t n = 0, mem;
	uint32_t id = 0;
	uint64_t now = 0;
	long faults;

#if UNDER_ASAN
	/* Its shadow memory takes page faults of its own as the arena is first written. */
	SKIP("under AddressSanitizer: the fault count is the sanitizer's");
#endif
	reorder_init(&r, 1 << 20);
	CHECK_EQ_U64(reorder_mem(&r), 0, "nothing allocated before the first record");
	len_mod = 64; /* about 40 + 32 bytes a record: W + STEP of them fit in 1 MiB */
	CHECK(push(&r, 0, now++, id) == 0, "push");
	want[n++] = (struct expect){ 0, id, 0, id };
	id++;
	mem = reorder_mem(&r);
	CHECK(mem >= (1 << 20), "the floor at once: %zu bytes", mem);
	getrusage(RUSAGE_SELF, &before);
	while (id < TOTAL) {
		uint32_t k;

		for (k = 0; k < STEP; k++, id++) {
			uint64_t ts = now + k - (k % 5 == 2 ? 3 : 0);

			CHECK(push(&r, 0, ts, id) == 0, "push %u", id);
			want[n++] = (struct expect){ ts, id, 0, id };
		}
		now += STEP;
		CHECK(take_and_check(&r, now > W ? now - W : 0, want, &n) >= 0, "release");
		CHECK_EQ_U64(reorder_mem(&r), mem, "memory stays what was allocated first");
	}
	getrusage(RUSAGE_SELF, &after);
	faults = after.ru_minflt - before.ru_minflt;
	CHECK(faults < TOTAL / 1000, "%ld minor page faults over %d records", faults, TOTAL);
	CHECK(take_and_check(&r, UINT64_MAX, want, &n) > 0, "the rest");
	reorder_free(&r);
	CHECK_EQ_U64(reorder_mem(&r), 0, "freed");
	len_mod = MAX_CAP;
}

/*
 * A window with a floor that a burst grew: reorder_trim gives the memory back to the floor once
 * it has held little (at most a quarter of the floor) at several drains in a row, and every
 * record still comes out in order. While it holds more, drain after drain, the memory stays (no
 * churn under a steady load that needs it).
 */
static void test_trim_gives_a_burst_back_to_the_floor(void)
{
	enum {
		BURST = 40000,
		HELD_MANY = 8000,
		HELD_FEW = 100,
		DRAINS = 40,
		PER_DRAIN = 500
	};
	static struct expect want[BURST + 2 * DRAINS * PER_DRAIN];
	struct reorder r;
	size_t n = 0, floor_mem, big;
	uint32_t id = 0;
	int d;

	reorder_init(&r, 256 << 10);
	len_mod = 64;
	CHECK(push(&r, 0, id, id) == 0, "push");
	want[n++] = (struct expect){ id, id, 0, id };
	id++;
	floor_mem = reorder_mem(&r);
	for (; id < BURST; id++) {
		CHECK(push(&r, 0, id, id) == 0, "push %u", id);
		want[n++] = (struct expect){ id, id, 0, id };
	}
	big = reorder_mem(&r);
	CHECK(big > floor_mem, "the burst grew the window: %zu bytes, floor %zu", big, floor_mem);

	/* Steady, holding the last HELD_MANY (more than a quarter of the floor): it stays. */
	for (d = 0; d < DRAINS; d++) {
		uint32_t k;

		CHECK(take_and_check(&r, id - HELD_MANY, want, &n) >= 0, "release");
		reorder_trim(&r);
		CHECK_EQ_U64(reorder_mem(&r), big, "holding much: the memory stays");
		for (k = 0; k < PER_DRAIN; k++, id++) {
			CHECK(push(&r, 0, id, id) == 0, "push %u", id);
			want[n++] = (struct expect){ id, id, 0, id };
		}
	}
	/* Then holding only the last HELD_FEW: back to the floor after a few drains. */
	for (d = 0; d < DRAINS; d++) {
		uint32_t k;

		CHECK(take_and_check(&r, id - HELD_FEW, want, &n) >= 0, "release");
		reorder_trim(&r);
		CHECK_EQ_U64(reorder_held(&r), HELD_FEW, "held");
		for (k = 0; k < PER_DRAIN / 10; k++, id++) {
			CHECK(push(&r, 0, id, id) == 0, "push %u", id);
			want[n++] = (struct expect){ id, id, 0, id };
		}
	}
	CHECK_EQ_U64(reorder_mem(&r), floor_mem, "back to the floor");
	CHECK(take_and_check(&r, UINT64_MAX, want, &n) > 0, "the rest, in order");
	/* Empty and trimmed: the window works on at its floor. */
	for (d = 0; d < 20; d++)
		reorder_trim(&r);
	CHECK(push(&r, 0, id, id) == 0, "push after");
	want[n++] = (struct expect){ id, id, 0, id };
	CHECK(take_and_check(&r, UINT64_MAX, want, &n) == 1, "and out");
	CHECK_EQ_U64(reorder_mem(&r), floor_mem, "at the floor");
	reorder_free(&r);
	len_mod = MAX_CAP;
}

/*
 * Around the first wrap of the smallest arena (64 KiB): the first record, of every length, is
 * released just before the wrap, so that the next record fits only if the padding at the end
 * is not counted. It must go to a larger arena, not over the second record.
 */
static void test_wrap_never_overwrites_a_held_record(void)
{
	static struct expect want[128];
	uint32_t first_len, count;

	for (first_len = 0; first_len < MAX_CAP; first_len += 40) {
		for (count = 55; count < 75; count++) {
			struct reorder r = { 0 };
			size_t n = 0;
			uint32_t id;

			CHECK(push(&r, 0, 0, with_len(0, first_len)) == 0, "push first");
			for (id = 1; id <= count + 3; id++) {
				/* 992 bytes: 1032 in the arena. */
				uint32_t rid = with_len(id, 992);

				if (id == count + 1) {
					const struct ec_record *rec = reorder_next(&r, 1);

					CHECK(rec && rec->rx_queue == with_len(0, first_len),
					      "first out");
				}
				CHECK(push(&r, 0, id, rid) == 0, "push");
				want[n++] = (struct expect){ id, id, 0, rid };
			}
			CHECK(take_and_check(&r, UINT64_MAX, want, &n) == count + 3,
			      "first record of %u bytes, wrap after %u records", first_len, count);
			reorder_free(&r);
		}
	}
}

/*
 * The index fills up again in a later lap: a record released from its head, then as many pushed
 * as it holds, and more. Sizes around the index's smallest (1024 entries) and beyond.
 */
static void test_index_fills_in_a_later_lap(void)
{
	static const uint32_t sizes[] = { 300, 700, 1000, 1023, 1024, 1025, 2000, 3000 };
	static struct expect want[4 * 3000 + 64];
	unsigned int k;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct reorder r = { 0 };
		uint32_t a = sizes[k], id;
		size_t n = 0;

		for (id = 0; id < a; id++) {
			CHECK(push(&r, 0, id, id) == 0, "push");
			want[n++] = (struct expect){ id, id, 0, id };
		}
		CHECK(take_and_check(&r, a - 1, want, &n) == a - 1, "all but one out");
		for (; id < 3 * a + 50; id++) {
			CHECK(push(&r, 0, id, id) == 0, "push");
			want[n++] = (struct expect){ id, id, 0, id };
		}
		CHECK(take_and_check(&r, UINT64_MAX, want, &n) == 2 * a + 51, "the rest, %u", a);
		reorder_free(&r);
	}
}

/* Random traffic against a model: sources, timestamps, horizons and lengths all vary. */
static void test_random_against_a_model(void)
{
	enum {
		N = 200000,
		HELD_MAX = 20000
	};
	static struct expect want[HELD_MAX + 64];
	struct reorder r = { 0 };
	uint64_t clock[5] = { 1000, 1000, 1000, 1000, 1000 }, horizon, low;
	uint32_t id = 0, x = 12345;
	size_t n = 0;

	while (id < N) {
		unsigned int src;
		uint32_t burst;

		x = x * 1103515245 + 12345;
		for (burst = (x >> 16) % 64; burst && n < HELD_MAX; burst--, id++) {
			uint64_t ts;

			x = x * 1103515245 + 12345;
			src = (x >> 8) % 5;
			clock[src] += (x >> 20) % 4; /* equal timestamps are common */
			ts = clock[src] - ((x >> 12) % 16 == 0 ? (x >> 24) % 40 : 0);
			CHECK(push(&r, src, ts, id) == 0, "push %u", id);
			want[n++] = (struct expect){ ts, id, src, id };
		}
		/* The horizon trails the slowest source by a random lag, and may step back. */
		x = x * 1103515245 + 12345;
		for (low = clock[0], src = 1; src < 5; src++)
			low = clock[src] < low ? clock[src] : low;
		horizon = low - (x >> 16) % 64;
		CHECK(take_and_check(&r, horizon, want, &n) >= 0, "at horizon %" PRIu64, horizon);
	}
	CHECK(take_and_check(&r, UINT64_MAX, want, &n) >= 0, "the rest");
	CHECK_EQ_U64(reorder_held(&r), 0, "held");
	reorder_free(&r);
}

/*
 * Fills a window under an address-space cap of room bytes over what the process maps now, until
 * a push fails. Returns that push's result (the cap lifted again); want[0..*n) are the records
 * held. Records of mod > 1 vary in length; mod 1 makes them all empty, which fills the index
 * about as fast as the arena.
 */
static int fill_until_out_of_memory(struct reorder *r, size_t room, uint32_t mod,
				    struct expect *want, size_t *n, size_t max)
{
	unsigned long vm_pages = 0;
	struct rlimit old, cap;
	uint32_t id;
	int ret = 0;
	FILE *f;

	f = fopen("/proc/self/statm", "r");
	if (!f)
		return -errno;
	if (fscanf(f, "%lu", &vm_pages) != 1)
		ret = -EIO;
	fclose(f);
	if (ret || getrlimit(RLIMIT_AS, &old))
		return ret ? ret : -errno;
	cap = old;
	cap.rlim_cur = (rlim_t)vm_pages * (rlim_t)sysconf(_SC_PAGESIZE) + room;
	if (setrlimit(RLIMIT_AS, &cap))
		return -errno;
	len_mod = mod;
	for (id = 0; id < max; id++) {
		uint64_t ts = 1000 + id - (id % 4 == 1 ? 3 : 0);

		ret = push(r, 0, ts, id);
		if (ret)
			break;
		want[(*n)++] = (struct expect){ ts, id, 0, id };
	}
	setrlimit(RLIMIT_AS, &old);
	return ret;
}

/*
 * Out of memory, in the arena or in the index: the push fails with -ENOMEM and every record
 * pushed before it still comes out, in order and intact; the window works on afterwards.
 */
static void test_out_of_memory_leaves_the_window_intact(void)
{
	enum {
		N = 300000
	};
	static struct expect want[N];
	const struct ec_record *rec;
	unsigned int i;

#if UNDER_ASAN
	/* Its allocator reserves address space of its own and aborts when it runs out. */
	SKIP("under AddressSanitizer");
#endif
	/* Large records run the arena out; empty ones, at some of these caps, the index. */
	for (i = 0; i < 14; i++) {
		size_t room = i == 0 ? 48 << 20 : (6 << 20) + (i - 1) * (512 << 10), n = 0;
		uint32_t mod = i == 0 ? MAX_CAP : 1;
		struct reorder r = { 0 };
		int ret;

		ret = fill_until_out_of_memory(&r, room, mod, want, &n, N);
		CHECK(ret == -ENOMEM, "cap %zu bytes: -ENOMEM expected (got %d after %zu records)",
		      room, ret, n);
		CHECK_EQ_U64(reorder_held(&r), n, "every record pushed before is held");
		CHECK(take_and_check(&r, UINT64_MAX, want, &n) > 0,
		      "and comes out in order, intact");
		CHECK(push(&r, 0, 5, 1) == 0, "push after");
		rec = reorder_next(&r, UINT64_MAX);
		CHECK(rec && rec->rx_queue == 1, "next after");
		reorder_free(&r);
		len_mod = MAX_CAP;
	}
}

int main(void)
{
	RUN(test_empty_window_gives_nothing);
	RUN(test_one_source_comes_out_in_timestamp_order);
	RUN(test_equal_timestamps_keep_arrival_order);
	RUN(test_only_records_below_the_horizon_come_out);
	RUN(test_sources_merge_in_timestamp_order);
	RUN(test_growth_keeps_every_record);
	RUN(test_a_long_stream_reuses_the_arena);
	RUN(test_memory_comes_back_after_a_burst);
	RUN(test_memory_comes_back_while_records_are_held);
	RUN(test_a_floor_is_allocated_once_and_reused);
	RUN(test_trim_gives_a_burst_back_to_the_floor);
	RUN(test_wrap_never_overwrites_a_held_record);
	RUN(test_index_fills_in_a_later_lap);
	RUN(test_random_against_a_model);
	RUN(test_out_of_memory_leaves_the_window_intact);
	return TEST_SUMMARY();
}
