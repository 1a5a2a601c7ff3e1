#!/usr/bin/env bash
# usage: hack/beside.sh 'CHECKS' -- TESTS...
#
# `make test`'s last stage: runs the shell command CHECKS (lint, generated-file checks, the Go fuzz
# targets: CPU only, nothing timed) at nice 19 beside TESTS (pytest), each in a session of its own
# (below), and prints the checks' output once both ended. The tests mostly wait on real time, so the
# checks take the CPU their waits leave idle instead of holding the first test back
# (docs/design/test-harness.md, "The checks beside the tests"). The exit status is the tests' when
# they failed, else the checks'. Interrupted (Ctrl-C, CI's timeout), the tests get the signal, then the
# checks are stopped by their process group, nothing left running.
set -uo pipefail
checks=$1
shift
[ "${1:-}" = -- ] && shift

log=$(mktemp "${TMPDIR:-/tmp}/streamops-checks.XXXXXX")
# With the kernel's autogroups a session's processes together weigh one busy process against every
# other session, whatever their own nice. So the checks and the tests each get a session of their own
# (hack/own-session.py; its leader's PID is the process group's, stopped as one):
# - the checks' autogroup at nice 19 (weight 15 against 1,024): inside pytest's session, at nice 19,
#   they yielded to pytest's own processes only and took a whole process's share from the workers,
#   FFmpeg and the clusters beside it, each a session of its own;
# - the tests' autogroup weighs a machine of the host's cores, as each node of the local cluster and
#   each load client does (devtools.cpu_weight): pytest's workers and what they start without a
#   session of their own (ffprobe, kubectl, helm, test-side FFmpeg) stand for the users, encoders and
#   players of many machines, and shared one process's weight.
# docs/design/test-harness.md, "One weight for all of pytest".
here=$(dirname "$0")
python3 "$here/own-session.py" 19 nice -n 19 bash -c "$checks" >"$log" 2>&1 &
checks_pid=$!
python3 "$here/own-session.py" machine "$@" &
tests_pid=$!
# signal_session SIGNAL PID: to the session PID leads, once it exists (in its first moments, before
# own-session.py's setsid, there is no such process group yet), unless PID is gone.
signal_session() {
	while ! kill "-$1" -- "-$2" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 0.1; done
}
stop_checks() {
	signal_session TERM "$checks_pid"
	wait "$checks_pid" 2>/dev/null
	rm -f "$log"
}
# Ctrl-C reaches this script's process group only: the tests get it as from the terminal (pytest
# tears its fixtures down), then the checks are stopped.
stop_tests() {
	signal_session "$1" "$tests_pid"
	wait "$tests_pid" 2>/dev/null
}
trap 'stop_tests INT; stop_checks; exit 130' INT
trap 'stop_tests TERM; stop_checks; exit 143' TERM

wait "$tests_pid"
tests=$?
wait "$checks_pid"
checks_status=$?
trap - INT TERM
echo "--- beside the tests, at nice 19: $checks (exit $checks_status)"
cat "$log"
rm -f "$log"
[ "$tests" -ne 0 ] && exit "$tests"
exit "$checks_status"
