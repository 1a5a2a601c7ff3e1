#!/usr/bin/env bash
# usage: hack/collect-tests.sh PYTHON
#
# `make bytecode`'s second half: pytest's assert-rewritten test modules written once, for every
# pytest worker of the run to read (PYTHONDONTWRITEBYTECODE=1 is set on this machine and its CI;
# pytest writes them only with the variable unset). One collection of the whole tree is ≈ 28 s of
# one core, 20 of them the unit tier's ≈ 9,000 asserts: two collections side by side, split where
# the CPU halves, end in about half the wall, beside the Go components' tests, which mostly wait
# (docs/design/test-harness.md, "The steps before the first test"). At nice 10: those tests drive
# FFmpeg peers against deadlines and keep the CPU first. Either collection failing (a syntax error in
# a test module) fails the step, before any test runs.
set -uo pipefail
py=$1
collect() { env -u PYTHONDONTWRITEBYTECODE nice -n 10 "$py" -m pytest "$@" --collect-only -q -p no:cacheprovider >/dev/null; }
collect tests/unit/control tests/unit/media &
first=$!
collect tests --ignore=tests/unit/control --ignore=tests/unit/media
second=$?
wait "$first"
first=$?
[ "$first" -eq 0 ] && [ "$second" -eq 0 ]
