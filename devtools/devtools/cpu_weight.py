"""A process the tests start that stands for many machines (a load of viewers) weighs a machine.

With the kernel's autogroups a session's processes together weigh one busy process. A client started
in the test's own session shares that one weight with the pytest workers and everything else
they start there without a session of their own (ffprobe, kubectl, helm, some FFmpeg publishers and
readers). The edge autoscaling test's 130 LL-HLS viewers were such a client, and at the machine's
load their gaps are counted as the edge's. Started here, the client has a session of its own whose
autogroup weighs as many busy processes as the host has cores, as each node of the local cluster
does (devtools.cluster.node.node_cpu_weight; docs/design/local-cluster.md, "CPU weight").
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The kernel's weight of a nice level (kernel/sched/core.c, sched_prio_to_weight), nice 0 to -10.
NICE_WEIGHTS = {0: 1024, -1: 1277, -2: 1586, -3: 1991, -4: 2501, -5: 3121, -6: 3906, -7: 4904, -8: 6100, -9: 7620}


def machine_nice(cores: int | None = None) -> int:
    """The nice level whose weight is nearest `cores` busy processes at nice 0 (the host's cores)."""
    want = 1024 * (cores or os.cpu_count() or 1)
    return min(NICE_WEIGHTS, key=lambda nice: abs(NICE_WEIGHTS[nice] - want))


def popen_weighing_a_machine(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """`argv` in a session of its own, at the machine's nice level both as the session's autogroup
    (where the kernel groups by session) and as every thread's own (`nice` execs it, so the PID is
    the command's and a Go program's threads inherit the level; where autogroups are off)."""
    nice = machine_nice()
    proc = subprocess.Popen(["nice", "-n", str(nice), *argv], start_new_session=True, **kwargs)
    set_autogroup_nice(nice, proc.pid)
    return proc


def set_autogroup_nice(nice: int, pid: int | str = "self") -> None:
    """The nice level of the autogroup (the session) `pid` is in. Left as it is where the kernel has
    no autogroups, the process is gone, or raising its weight is not permitted: the process runs at
    the default weight, as `nice` runs its command when it may not change the level."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")
