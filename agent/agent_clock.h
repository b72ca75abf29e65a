/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * agent_clock.h: the agent's monotonic clock in milliseconds, which timers and batch ages are
 * measured on. Apart from loop.c so that the batcher, and the benchmark that links it, have the
 * same clock as the agent's loop.
 */
#ifndef EDGECAP_AGENT_CLOCK_H
#define EDGECAP_AGENT_CLOCK_H

#include <stdint.h>

uint64_t agent_now_ms(void);

#endif /* EDGECAP_AGENT_CLOCK_H */
