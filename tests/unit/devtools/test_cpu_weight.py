"""A load client weighs a machine: its own session (autogroup) and every thread at the nice level
whose weight is the host's cores' (devtools.cpu_weight)."""

from __future__ import annotations

from pathlib import Path

import pytest
from devtools.cpu_weight import NICE_WEIGHTS, machine_nice, popen_weighing_a_machine
from devtools.waits import eventually


@pytest.mark.parametrize(("cores", "nice"), [(1, 0), (2, -3), (3, -5), (4, -6), (8, -9)])
def test_the_nice_level_weighs_as_many_processes_as_cores(cores: int, nice: int) -> None:
    assert machine_nice(cores) == nice
    assert abs(NICE_WEIGHTS[nice] - 1024 * cores) <= 0.25 * 1024 * cores


def test_the_client_runs_in_a_session_of_its_own_at_that_level() -> None:
    proc = popen_weighing_a_machine(["sleep", "30"])
    try:
        # `nice` sets the level, then execs the command: read it once the command runs.
        eventually(lambda: Path(f"/proc/{proc.pid}/comm").read_text().strip() == "sleep", timeout=10, what="the exec")
        stat = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(stat[3]) == proc.pid, "the session is the client's own"  # field 6: the session id
        assert int(stat[16]) == machine_nice(), "every thread's nice level"  # field 19: nice
        autogroup = Path(f"/proc/{proc.pid}/autogroup")
        if autogroup.exists():
            assert autogroup.read_text().split()[-1] == str(machine_nice()), autogroup.read_text()
    finally:
        proc.kill()
        proc.wait(timeout=10)
