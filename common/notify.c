// SPDX-License-Identifier: BSD-2-Clause
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* sd_notify returns 0 when there is no NOTIFY_SOCKET: only a real failure is worth a line. */
static void send_state(const char *state)
{
	int ret = sd_notify(0, state);

	if (ret < 0)
		pr_warn("cannot notify the service manager (%s): %s", state, strerror(-ret));
}

void notify_init(struct notify *n)
{
	uint64_t usec = 0;

	n->watchdog_us = 0;
	n->last_ping_us = 0;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec) {
		n->watchdog_us = usec;
		pr_debug("watchdog every %llu ms: pinging at half of it",
			 (unsigned long long)(usec / 1000));
	}
}

void notify_ready(struct notify *n, const char *status)
{
	char msg[256];

	if (status)
		snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	else
		snprintf(msg, sizeof(msg), "READY=1");
	send_state(msg);
	/* Counts as the first ping: the next one is due half an interval from now. */
	n->last_ping_us = mono_us();
}

void notify_extend_timeout(uint64_t usec, const char *status)
{
	char msg[256];

	if (status)
		snprintf(msg, sizeof(msg), "EXTEND_TIMEOUT_USEC=%llu\nSTATUS=%s",
			 (unsigned long long)usec, status);
	else
		snprintf(msg, sizeof(msg), "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)usec);
	send_state(msg);
}

void notify_stopping(const char *status)
{
	char msg[256];

	if (status)
		snprintf(msg, sizeof(msg), "STOPPING=1\nSTATUS=%s", status);
	else
		snprintf(msg, sizeof(msg), "STOPPING=1");
	send_state(msg);
}

int notify_timeout_ms(const struct notify *n, int max_ms)
{
	uint64_t due, now, ms;

	if (!n->watchdog_us)
		return max_ms;
	due = n->last_ping_us + n->watchdog_us / 2;
	now = mono_us();
	if (due <= now)
		return 0;
	ms = (due - now + 999) / 1000;
	if (ms > INT_MAX)
		ms = INT_MAX;
	return max_ms >= 0 && ms > (uint64_t)max_ms ? max_ms : (int)ms;
}

void notify_tick(struct notify *n)
{
	uint64_t now;

	if (!n->watchdog_us)
		return;
	now = mono_us();
	if (now - n->last_ping_us < n->watchdog_us / 2)
		return;
	send_state("WATCHDOG=1");
	n->last_ping_us = now;
}
