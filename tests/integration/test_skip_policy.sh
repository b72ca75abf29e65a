#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test_skip_policy.sh: the one skip policy of every tier holds. A program on tests/testing.h
# (skip_probe) and scripts on lib.sh where something skips exit 77 (ctest: skipped) outside CI,
# and fail (non-zero, not 77) under CI=true; a failure beats a skip; passing is 0 either way.
# Needs no root.
# Test functions run through run_test, which shellcheck cannot follow.
# shellcheck disable=SC2317
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

EC_SKIP_PROBE=${EC_SKIP_PROBE:-$EC_BUILD_DIR/tests/integration/skip_probe}
LIB=$(dirname "${BASH_SOURCE[0]}")/lib.sh

# exits_with WANT CI_VALUE CMD...: runs CMD with CI=CI_VALUE ("" unsets it), output in
# $EC_TMPDIR/run.out; fails unless it exits WANT ("fail": non-zero and not 77).
exits_with() {
	local want=$1 ci=$2 rc=0
	shift 2
	if [ -n "$ci" ]; then
		CI=$ci "$@" >"$EC_TMPDIR/run.out" 2>&1 || rc=$?
	else
		env -u CI "$@" >"$EC_TMPDIR/run.out" 2>&1 || rc=$?
	fi
	if [ "$want" = fail ]; then
		if [ "$rc" = 0 ] || [ "$rc" = 77 ]; then
			fail "$* (CI=$ci): exit $rc, want a failure: $(cat "$EC_TMPDIR/run.out")"
		fi
	else
		[ "$rc" = "$want" ] || fail "$* (CI=$ci): exit $rc, want $want: $(cat "$EC_TMPDIR/run.out")"
	fi
}

# child NAME BODY: a script on lib.sh with BODY after the source line, in $EC_TMPDIR/NAME.sh.
child() {
	printf '. "%s"\n%s\n' "$LIB" "$2" >"$EC_TMPDIR/$1.sh"
}

test_testing_h_skip_is_77_outside_ci_and_fails_under_ci() {
	require_bin "$EC_SKIP_PROBE"
	exits_with 0 "" "$EC_SKIP_PROBE" pass
	exits_with 0 true "$EC_SKIP_PROBE" pass
	exits_with 77 "" "$EC_SKIP_PROBE" skip
	grep -q '^skip test_may_skip: the probe was asked to skip$' "$EC_TMPDIR/run.out" ||
		fail "the skip is not reported as such: $(cat "$EC_TMPDIR/run.out")"
	grep -q '^ok   test_may_skip' "$EC_TMPDIR/run.out" && fail "a skipped test reported ok"
	grep -q '^2 passed, 0 failed (1 skipped)$' "$EC_TMPDIR/run.out" ||
		fail "summary: $(cat "$EC_TMPDIR/run.out")"
	exits_with 77 false "$EC_SKIP_PROBE" skip
	exits_with fail true "$EC_SKIP_PROBE" skip
	exits_with fail 1 "$EC_SKIP_PROBE" skip
	exits_with 77 "" "$EC_SKIP_PROBE" skip-all
	exits_with fail true "$EC_SKIP_PROBE" skip-all
	exits_with fail "" "$EC_SKIP_PROBE" fail
	exits_with fail true "$EC_SKIP_PROBE" fail
}

test_lib_sh_skip_is_77_outside_ci_and_fails_under_ci() {
	# One test passes, one skips: the script is not a pass.
	child mixed 't_ok() { :; }
t_skip() { skip "on purpose"; }
run_test t_ok
run_test t_skip
summary'
	exits_with 77 "" bash "$EC_TMPDIR/mixed.sh"
	grep -q '^skip t_skip$' "$EC_TMPDIR/run.out" || fail "no skip line: $(cat "$EC_TMPDIR/run.out")"
	exits_with fail true bash "$EC_TMPDIR/mixed.sh"
	# A missing tool, outside any test, ends the script the same way.
	child tool 'require_tools ec-no-such-tool
run_test true
summary'
	exits_with 77 "" bash "$EC_TMPDIR/tool.sh"
	exits_with fail true bash "$EC_TMPDIR/tool.sh"
	# A check skipped for a missing tool counts as a skip; under CI the test fails.
	child check 't_check() { if have_tool ec-no-such-tool; then fail "it is not there"; fi; }
run_test t_check
summary'
	exits_with 77 "" bash "$EC_TMPDIR/check.sh"
	exits_with fail true bash "$EC_TMPDIR/check.sh"
	# A failure beats a skip; everything passing is 0, under CI too.
	child failed 't_skip() { skip "on purpose"; }
t_fail() { fail "on purpose"; }
run_test t_skip
run_test t_fail
summary'
	exits_with fail "" bash "$EC_TMPDIR/failed.sh"
	child passed 't_ok() { :; }
run_test t_ok
summary'
	exits_with 0 "" bash "$EC_TMPDIR/passed.sh"
	exits_with 0 true bash "$EC_TMPDIR/passed.sh"
}

run_test test_testing_h_skip_is_77_outside_ci_and_fails_under_ci
run_test test_lib_sh_skip_is_77_outside_ci_and_fails_under_ci
summary
