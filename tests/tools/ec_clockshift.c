// SPDX-License-Identifier: BSD-2-Clause
/*
 * ec_clockshift.so: an LD_PRELOAD shim that steps a process's wall clock. It adds an offset in
 * seconds (a signed integer), read from the file named by EC_CLOCKSHIFT_FILE, to CLOCK_REALTIME
 * (and its _COARSE form) and CLOCK_TAI in clock_gettime, and to gettimeofday and time. The file is
 * read again at most every 20 ms of CLOCK_MONOTONIC, so a test steps the clock by rewriting it; a
 * missing or unreadable file is an offset of 0. CLOCK_MONOTONIC and CLOCK_BOOTTIME are left
 * alone, as a real step leaves them; so are the kernel's clocks (BPF, timerfd, timestamps).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

#define REREAD_NS 20000000LL

static _Atomic int64_t offset_s;
static _Atomic int64_t read_at_ns; /* CLOCK_MONOTONIC of the last read; 0: never */

static clock_gettime_fn real_clock_gettime(void)
{
	static _Atomic(clock_gettime_fn) fn;
	clock_gettime_fn f = atomic_load(&fn);

	if (!f) {
		f = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
		atomic_store(&fn, f);
	}
	return f;
}

static int64_t offset(void)
{
	const char *path = getenv("EC_CLOCKSHIFT_FILE");
	struct timespec ts;
	int64_t now, v = 0, sign = 1;
	char buf[32];
	ssize_t n, i = 0;
	int fd;

	if (!path || real_clock_gettime()(CLOCK_MONOTONIC, &ts))
		return 0;
	now = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	if (atomic_load(&read_at_ns) && now - atomic_load(&read_at_ns) < REREAD_NS)
		return atomic_load(&offset_s);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? 0 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n > 0 && buf[0] == '-') {
		sign = -1;
		i = 1;
	}
	for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (buf[i] - '0');
	atomic_store(&offset_s, sign * v);
	atomic_store(&read_at_ns, now);
	return sign * v;
}

static int shifted(clockid_t id)
{
	return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE || id == CLOCK_TAI;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	int ret = real_clock_gettime()(id, ts);

	if (!ret && shifted(id))
		ts->tv_sec += (time_t)offset();
	return ret;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;

	(void)tz;
	clock_gettime(CLOCK_REALTIME, &ts);
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = (suseconds_t)(ts.tv_nsec / 1000);
	return 0;
}

time_t time(time_t *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
