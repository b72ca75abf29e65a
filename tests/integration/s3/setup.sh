#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# setup.sh DIR: installs s3rver (the S3-compatible server of the bucket tests, from the npm
# registry, at a pinned version) into DIR, the build tree's tests/s3rver, once. Prints the
# module's directory. Needs node and npm (Debian's nodejs and npm: scripts/setup-deps.sh).
set -euo pipefail

S3RVER_VERSION=3.7.1
dir=${1:?usage: setup.sh DIR}
mod=$dir/node_modules/s3rver
if [ ! -f "$mod/package.json" ] ||
	[ "$(node -p "require('$mod/package.json').version" 2>/dev/null)" != "$S3RVER_VERSION" ]; then
	mkdir -p "$dir"
	npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error \
		"s3rver@$S3RVER_VERSION" >&2
fi
cd "$mod" && pwd
