// SPDX-License-Identifier: BSD-2-Clause
/*
 * bench_gro: turns generic receive offload on or off on one interface, as `ethtool -K IF gro
 * on|off` does, for machines without ethtool.
 *
 * benchmark B2 (tests/bench/bench_load.sh) needs it: a veth takes the frames ec_livegen
 * redirects into it only while its NAPI is on, and with no native XDP program attached (tcpdump,
 * tc, generic XDP) GRO is what turns NAPI on.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 bad usage.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>

static int gro_set(const char *dev, __u32 on)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_SGRO, .data = on };
	struct ifreq ifr = { 0 };
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	ifr.ifr_data = (char *)&ev;
	if (ioctl(fd, SIOCETHTOOL, &ifr))
		err = -errno;
	close(fd);
	return err;
}

int main(int argc, char **argv)
{
	int err;

	if (argc != 3 || (strcmp(argv[2], "on") && strcmp(argv[2], "off")) ||
	    strlen(argv[1]) >= IFNAMSIZ) {
		fprintf(stderr, "usage: bench_gro IFACE on|off\n"
				"  e.g. ip netns exec NS bench_gro veth1 on\n");
		return 2;
	}
	err = gro_set(argv[1], !strcmp(argv[2], "on"));
	if (err) {
		fprintf(stderr, "bench_gro: failed to turn GRO %s on %s: %s\n", argv[2], argv[1],
			strerror(-err));
		return 1;
	}
	return 0;
}
