#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# Checks (or with --fix, applies) clang-format on every C source and header in the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0
[ "${1:-}" = "--fix" ] && fix=1
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^build/' || true)
[ ${#files[@]} -gt 0 ] || exit 0
if [ $fix = 1 ]; then
	clang-format -i "${files[@]}"
	exit 0
fi
bad=0
for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "clang-format: $f needs formatting (run: make format, or scripts/check-format.sh --fix)"
		bad=1
	fi
done
exit $bad
