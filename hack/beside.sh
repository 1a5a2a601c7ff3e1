#!/usr/bin/env bash
# usage: hack/beside.sh 'CHECKS' -- TESTS...
#
# `make test`'s last stage: runs the shell command CHECKS (lint, generated-file checks, the Go fuzz
# targets: CPU only, nothing timed) at nice 19 beside TESTS (pytest), and prints the checks' output
# once both ended. The tests mostly wait on real time (14 % of the 2 cores idle over a run), so the
# checks take that idle CPU instead of holding the first test back (docs/design/test-harness.md,
# "The checks beside the tests"). The exit status is the tests' when they failed, else the checks'.
# Interrupted (Ctrl-C, CI's timeout), the checks are stopped by their process group, nothing left
# running.
set -uo pipefail
checks=$1
shift
[ "${1:-}" = -- ] && shift

log=$(mktemp "${TMPDIR:-/tmp}/streamops-checks.XXXXXX")
set -m # the checks in a process group of their own (not a session: nice holds within a session's group)
nice -n 19 bash -c "$checks" >"$log" 2>&1 &
checks_pid=$!
set +m
stop_checks() {
	kill -TERM -- "-$checks_pid" 2>/dev/null
	wait "$checks_pid" 2>/dev/null
	rm -f "$log"
}
trap 'stop_checks; exit 130' INT
trap 'stop_checks; exit 143' TERM

"$@"
tests=$?
wait "$checks_pid"
checks_status=$?
trap - INT TERM
echo "--- beside the tests, at nice 19: $checks (exit $checks_status)"
cat "$log"
rm -f "$log"
[ "$tests" -ne 0 ] && exit "$tests"
exit "$checks_status"
