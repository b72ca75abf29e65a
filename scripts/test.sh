#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# Builds edgecap and runs every test tier (unit, BPF_PROG_TEST_RUN, namespaces) under ctest.
# Runs as root on a fresh Debian machine: it installs what it needs first.
#   scripts/test.sh                 everything
#   scripts/test.sh -L unit         one tier (labels: unit, bpf, integration)
#   scripts/test.sh -R capture      tests whose name matches
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "scripts/test.sh: the BPF and namespace tiers need root: sudo $0 $*" >&2
	exit 1
fi
bash scripts/setup-deps.sh
build=${EC_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGECAP_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
exec ctest --output-on-failure "$@"
