#!/usr/bin/env bash
# usage: hack/beside.sh 'CHECKS' -- TESTS...
#
# `make test`'s last stage: runs the shell command CHECKS (lint, generated-file checks, the Go fuzz
# targets: CPU only, nothing timed) at nice 19 (its session's autogroup too) beside TESTS (pytest), and prints the checks' output
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
# The checks in a session of their own (its leader's PID is the process group's, stopped as one), whose
# autogroup is at nice 19 too: with the kernel's autogroups a session's processes together weigh one
# busy process, so at nice 19 inside pytest's session the checks yielded to pytest's own processes
# only, and took a whole process's share from the workers, FFmpeg and the clusters beside it. Where
# the kernel has no autogroups the file is absent and the processes' nice 19 does the same.
# (setsid does not fork here: without job control the child is not a process group leader.)
setsid bash -c 'echo 19 >/proc/self/autogroup 2>/dev/null; exec nice -n 19 bash -c "$1"' checks "$checks" >"$log" 2>&1 &
checks_pid=$!
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
