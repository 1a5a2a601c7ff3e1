"""hack/beside.sh (`make test`'s last stage): the checks at nice 19 beside the tests, their output after
the tests', the status the tests' when they failed, else the checks'."""

from __future__ import annotations

import subprocess

import pytest
from devtools.versions import REPO

BESIDE = REPO / "hack" / "beside.sh"


def beside(checks: str, tests: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(BESIDE), checks, "--", "bash", "-c", tests],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(("checks_status", "tests_status", "status"), [(0, 0, 0), (3, 0, 3), (0, 5, 5), (3, 5, 5)])
def test_the_status_is_the_tests_when_they_failed_else_the_checks(
    checks_status: int, tests_status: int, status: int
) -> None:
    assert beside(f"exit {checks_status}", f"exit {tests_status}").returncode == status


def test_the_checks_run_at_nice_19_and_print_after_the_tests() -> None:
    result = beside("echo checks at nice $(nice)", "echo the tests")
    assert result.stdout.index("the tests") < result.stdout.index("checks at nice 19"), result.stdout
    assert "(exit 0)" in result.stdout


def test_checks_still_running_when_the_tests_end_are_waited_for() -> None:
    result = beside("sleep 0.5; echo late", "true")
    assert result.returncode == 0 and "late" in result.stdout, result.stdout
