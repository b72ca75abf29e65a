// SPDX-License-Identifier: BSD-2-Clause
/*
 * test_sp_close.c: sp_close, nng_close bounded (common/sp.h). nng_close is wrapped
 * (-Wl,--wrap=nng_close): it closes the real socket, or, when hang_close is set, never returns,
 * the way NNG 1.5.2's can (nng #1543). A close that returns leaves the process running; one that
 * hangs ends it with status 1 within the bound, saying what it was closing.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>

#include "sp.h"
#include "testing.h"

static volatile int hang_close;

int __real_nng_close(nng_socket s);
int __wrap_nng_close(nng_socket s);

int __wrap_nng_close(nng_socket s)
{
	while (hang_close)
		pause();
	return __real_nng_close(s);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_a_close_that_returns(void)
{
	nng_socket s = NNG_SOCKET_INITIALIZER;
	uint64_t t0 = now_ms();

	CHECK(nng_push0_open(&s) == 0, "nng_push0_open");
	sp_close_within(s, "a push socket", 5000, 1);
	/* Closed for real: a send on it fails. */
	CHECK(nng_send(s, "x", 1, NNG_FLAG_NONBLOCK) == NNG_ECLOSED, "the socket is still open");
	CHECK(now_ms() - t0 < 4000, "took %llu ms", (unsigned long long)(now_ms() - t0));
}

/*
 * This program again, as hang_in_close, with its stderr the write end of fds (closed here after
 * the fork, as the child's read end): in a process of its own, since NNG does not survive a fork
 * once it has started. Its pid, or -1.
 */
static pid_t spawn_hang_close(int fds[2])
{
	pid_t pid = fork();

	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		execl("/proc/self/exe", "test_sp_close", "--hang-close", (char *)NULL);
		_exit(4);
	}
	close(fds[1]);
	return pid;
}

/* In a child (hang_in_close): a close that hangs, bounded by 300 ms. How it ends, what it says. */
static void test_a_close_that_hangs_ends_the_process(void)
{
	char out[1024] = "";
	int fds[2], status = 0;
	size_t len = 0;
	ssize_t n;
	uint64_t t0;
	pid_t pid, reaped = 0;

	CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
	t0 = now_ms();
	pid = spawn_hang_close(fds);
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	/* Its stderr, until it closes (the child exits) or 10 s pass. */
	while (len < sizeof(out) - 1) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };

		if (poll(&p, 1, 10000) <= 0)
			break;
		n = read(fds[0], out + len, sizeof(out) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	close(fds[0]);
	/* Its end, given 5 s more (its stderr closes a moment before its exit status is there). */
	for (int i = 0; i < 500 && (reaped = waitpid(pid, &status, WNOHANG)) == 0; i++)
		usleep(10 * 1000);
	if (reaped != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		CHECK(0, "the child still ran 5 s after its stderr closed; it said: %s", out);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %#x, want exit 1; it said: %s",
	      status, out);
	CHECK(now_ms() - t0 < 2000, "it took %llu ms to end, the bound was 300",
	      (unsigned long long)(now_ms() - t0));
	CHECK(strstr(out, "closing the test's socket: NNG has not closed the socket in 300 ms"),
	      "it said: %s", out);
}

/*
 * The same with its stderr a pipe that is full and that nobody reads (a stalled journal): the
 * word of the hang must not hold the exit.
 */
static void test_a_full_stderr_does_not_hold_the_exit(void)
{
	static const char fill[4096] = { 'x' };
	int fds[2], status = 0, fl;
	pid_t pid, reaped = 0;
	uint64_t t0;

	CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
	fl = fcntl(fds[1], F_GETFL);
	CHECK(fl >= 0 && fcntl(fds[1], F_SETFL, fl | O_NONBLOCK) == 0, "O_NONBLOCK");
	while (write(fds[1], fill, sizeof(fill)) > 0)
		;
	CHECK(fcntl(fds[1], F_SETFL, fl) == 0, "blocking again");
	t0 = now_ms();
	pid = spawn_hang_close(fds);
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	for (int i = 0; i < 500 && (reaped = waitpid(pid, &status, WNOHANG)) == 0; i++)
		usleep(10 * 1000);
	close(fds[0]);
	if (reaped != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		CHECK(0, "the child still ran 5 s into a 300 ms bound, its stderr full");
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %#x, want exit 1", status);
	CHECK(now_ms() - t0 < 2000, "it took %llu ms to end, the bound was 300",
	      (unsigned long long)(now_ms() - t0));
}

/* The child of test_a_close_that_hangs_ends_the_process. */
static int hang_in_close(void)
{
	nng_socket s = NNG_SOCKET_INITIALIZER;

	if (nng_push0_open(&s))
		return 3;
	hang_close = 1;
	sp_close_within(s, "the test's socket", 300, 1);
	return 0; /* the close returned: wrong */
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--hang-close"))
		return hang_in_close();
	RUN(test_a_close_that_returns);
	RUN(test_a_close_that_hangs_ends_the_process);
	RUN(test_a_full_stderr_does_not_hold_the_exit);
	return TEST_SUMMARY();
}
