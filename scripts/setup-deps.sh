#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# Installs every Debian package that edgecap's build, demo and tests need, and prepares the
# kernel interfaces they use (bpffs). Idempotent: safe to run again on a machine already set up.
set -euo pipefail

packages=(
	build-essential cmake pkg-config clang llvm clang-format bpftool
	libbpf-dev libelf-dev zlib1g-dev libdeflate-dev libzstd-dev liblz4-dev libnng-dev libpcap-dev libjansson-dev
	libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev libsystemd-dev libssl-dev nanomsg-utils
	iproute2 tcpdump tshark tcpreplay jq curl procps gnuplot-nox socat
	# the demo test, and the abuse test's slow-loris (tests/integration/slowloris.py)
	python3
	# systemd-analyze (verify, security) for the units test; setpriv is util-linux, always there.
	systemd util-linux
	# the man pages (docs/man/*.scd); the package test: dpkg-shlibdeps, man
	scdoc dpkg-dev man-db
	# promtool (check metrics) for the metrics test; Debian ships it in the prometheus package.
	prometheus
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "setup-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# tshark asks whether non-root users may capture; answer once, non-interactively.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The bucket tests' S3-compatible server (s3rver, from npm into the build tree) needs node and
# npm. Checked as commands, not packages: a machine with another build of Node.js (NodeSource's
# nodejs ships npm inside it and conflicts with Debian's npm package) already has both.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "setup-deps: installing nodejs npm"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# bpffs is where pinned objects live; some images do not mount it.
if ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf
fi
echo "setup-deps: all packages present"
