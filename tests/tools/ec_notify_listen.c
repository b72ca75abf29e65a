// SPDX-License-Identifier: BSD-2-Clause
/*
 * ec_notify_listen: a stand-in for systemd's notification socket, for the tests that check what
 * the daemons tell their service manager without systemd as PID 1.
 *
 *   ec_notify_listen SOCKET READY_FILE
 *
 * Binds an AF_UNIX datagram socket at SOCKET (a path, or "@name" for an abstract socket, as
 * NOTIFY_SOCKET spells it), creates READY_FILE once bound, then writes every datagram it
 * receives to stdout, each followed by a newline and flushed at once, so that a test greps
 * "READY=1" as a whole line. Runs until killed; removes a path socket on SIGTERM/SIGINT.
 *
 * Exit codes: 0 after SIGTERM/SIGINT, 1 runtime failure, 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sigaction act = { .sa_handler = on_signal };
	const char *path, *ready;
	char buf[4096];
	socklen_t len;
	ssize_t n;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: ec_notify_listen SOCKET READY_FILE\n");
		return 2;
	}
	path = argv[1];
	ready = argv[2];
	if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "ec_notify_listen: socket '%s': must be 1 to %zu characters\n",
			path, sizeof(sa.sun_path) - 1);
		return 2;
	}
	memcpy(sa.sun_path, path, strlen(path));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	/* "@name": the abstract namespace, a NUL in place of the '@' (as sd_notify reads it). */
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len)) {
		fprintf(stderr, "ec_notify_listen: cannot bind %s: %s\n", path, strerror(errno));
		return 1;
	}
	/* No SA_RESTART: the signal ends the blocking recv. */
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	if (close(open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0600))) {
		fprintf(stderr, "ec_notify_listen: cannot create %s: %s\n", ready, strerror(errno));
		return 1;
	}
	while (!stop) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "ec_notify_listen: recv: %s\n", strerror(errno));
			return 1;
		}
		fwrite(buf, 1, (size_t)n, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	if (path[0] != '@')
		unlink(path);
	return 0;
}
