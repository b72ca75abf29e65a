// SPDX-License-Identifier: BSD-2-Clause
/*
 * store_clock.c: the aggregator's clock (store.h, "Clock"). store_now_us() is CLOCK_BOOTTIME
 * put on the epoch's scale once, at its first call: it never steps, so every timer, deadline,
 * grace and rate rule measured on it ignores a wall-clock step. store_wall_us() turns one of its
 * times into the wall clock for what the user sees and for what is kept across a restart.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "store_internal.h"

/* CLOCK_REALTIME - CLOCK_BOOTTIME changes only when the wall clock steps; smaller is read noise. */
#define STEP_MIN_US 10000

static _Atomic int64_t base_us;	 /* wall - boottime at the first reading; 0: not read yet */
static _Atomic int64_t steps_us; /* the wall clock's steps since then, as last seen */
static _Atomic int64_t shift_us; /* store_clock_shift: the tests' wall-clock step */

static int64_t read_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * (int64_t)US_PER_S + ts.tv_nsec / 1000;
}

static int64_t wall_minus_boot(void)
{
	int64_t boot = read_us(CLOCK_BOOTTIME);

	return read_us(CLOCK_REALTIME) + atomic_load(&shift_us) - boot;
}

static int64_t base(void)
{
	int64_t b = atomic_load(&base_us), expected = 0;

	if (b)
		return b;
	b = wall_minus_boot();
	if (!atomic_compare_exchange_strong(&base_us, &expected, b))
		b = expected;
	return b;
}

uint64_t store_now_us(void)
{
	int64_t b = base();

	return (uint64_t)(read_us(CLOCK_BOOTTIME) + b);
}

int64_t store_clock_steps_us(void)
{
	int64_t raw = wall_minus_boot() - base(), seen = atomic_load(&steps_us);

	if (llabs(raw - seen) >= STEP_MIN_US) {
		atomic_store(&steps_us, raw);
		seen = raw;
	}
	return seen;
}

uint64_t store_wall_us(uint64_t t)
{
	int64_t w = (int64_t)t + store_clock_steps_us();

	return t && w > 0 ? (uint64_t)w : t;
}

uint64_t store_from_wall_us(uint64_t wall)
{
	int64_t t = (int64_t)wall - store_clock_steps_us();
	uint64_t now = store_now_us();

	if (!wall)
		return 0;
	/* A time the wall clock now puts in the future (it stepped back since) counts as now. */
	return t <= 0 ? 1 : (uint64_t)t > now ? now : (uint64_t)t;
}

void store_clock_shift(int64_t us)
{
	base();
	atomic_fetch_add(&shift_us, us);
}
