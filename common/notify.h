/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * notify.h: what both daemons tell the service manager (systemd, Type=notify), through
 * libsystemd's sd_notify: READY=1 once they serve, WATCHDOG=1 at half of WatchdogSec, STOPPING=1
 * on the way out, and EXTEND_TIMEOUT_USEC during a start that takes long. Without NOTIFY_SOCKET
 * (not started by systemd) every call does nothing.
 *
 * The watchdog is on when WATCHDOG_USEC is set and WATCHDOG_PID is unset or this process's
 * (sd_watchdog_enabled). A loop asks notify_timeout_ms how long it may sleep and calls
 * notify_tick on every pass; the ping goes out when half the interval has passed since the last.
 */
#ifndef EDGECAP_NOTIFY_H
#define EDGECAP_NOTIFY_H

#include <stdint.h>

struct notify {
	uint64_t watchdog_us; /* WATCHDOG_USEC; 0: no watchdog */
	uint64_t last_ping_us;
};

/* Reads the watchdog settings; logs at debug level what it found. */
void notify_init(struct notify *n);
/* READY=1, with STATUS=status when status is not NULL. */
void notify_ready(struct notify *n, const char *status);
/*
 * EXTEND_TIMEOUT_USEC=usec, with STATUS=status when status is not NULL: a start (or stop) that
 * takes long is given usec more from now before the service manager gives up on it.
 */
void notify_extend_timeout(uint64_t usec, const char *status);
/* STOPPING=1, with STATUS=status when status is not NULL. */
void notify_stopping(const char *status);
/* Milliseconds until the next ping is due, at most max_ms (max_ms when no watchdog). */
int notify_timeout_ms(const struct notify *n, int max_ms);
/* WATCHDOG=1 when due. */
void notify_tick(struct notify *n);

#endif /* EDGECAP_NOTIFY_H */
