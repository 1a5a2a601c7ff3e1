"""Where a parallel test run's time went: the timeline tests/conftest.py writes when
STREAMOPS_TEST_TIMELINE=FILE is set, summarised per worker (busy, idle tail) and per scope (the
host scope, the cluster scope, each other module: first start, last finish, summed duration, and
the CPU the worker and its reaped children spent in them), and the tests that spent the most CPU.

    python -m devtools.test_timeline FILE

The run's wall time is the last finish; a worker that finishes early while another still runs a
long scope is the imbalance loadscope scheduling leaves, and the longest scope is the floor no
number of workers goes under.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from devtools.test_scopes import scope_name


@dataclass
class Span:
    first: float = float("inf")
    last: float = 0.0
    busy: float = 0.0
    cpu: float = 0.0
    tests: int = 0
    workers: set[str] = field(default_factory=set)

    def add(self, start: float, finish: float, worker: str, cpu: float = 0.0) -> None:
        self.first, self.last = min(self.first, start), max(self.last, finish)
        self.busy += finish - start
        self.cpu += cpu
        self.tests += 1
        self.workers.add(worker)


@dataclass(frozen=True)
class Run:
    start: float
    finish: float
    worker: str
    nodeid: str
    cpu: float  # s: the worker's and its reaped children's, 0 in a timeline written without it


def runs(lines: Sequence[str]) -> list[Run]:
    """Every test that finished. A line is `<time> <start|finish> <worker> [cpu=<s>] <test id>`."""
    started: dict[tuple[str, str], tuple[float, float]] = {}
    out = []
    for line in lines:
        parts = line.split(" ", 3)
        if len(parts) != 4:
            continue
        at, event, worker, rest = float(parts[0]), parts[1], parts[2], parts[3].strip()
        cpu = 0.0
        if rest.startswith("cpu=") and " " in rest:
            field_, rest = rest.split(" ", 1)
            cpu = float(field_.removeprefix("cpu="))
        if event == "start":
            started[(worker, rest)] = (at, cpu)
        elif event == "finish" and (worker, rest) in started:
            began, cpu_began = started.pop((worker, rest))
            out.append(Run(began, at, worker, rest, max(0.0, cpu - cpu_began)))
    return out


def summary(lines: Sequence[str], scope_of: Callable[[str], str]) -> str:
    tests = runs(lines)
    if any(t.worker != "main" for t in tests):  # xdist's controller relays each test too
        tests = [t for t in tests if t.worker != "main"]
    if not tests:
        return "no test finished"
    origin = min(t.start for t in tests)
    workers: dict[str, Span] = {}
    scopes: dict[str, Span] = {}
    for t in tests:
        workers.setdefault(t.worker, Span()).add(t.start, t.finish, t.worker, t.cpu)
        scopes.setdefault(scope_of(t.nodeid), Span()).add(t.start, t.finish, t.worker, t.cpu)
    end = max(s.last for s in workers.values())
    busy = sum(s.busy for s in workers.values())
    cpu = sum(s.cpu for s in workers.values())
    out = [f"wall {(end - origin) / 60:.1f} min, {len(tests)} tests, {busy / 60:.1f} min of tests"]
    if cpu:
        out[0] += f", {cpu / 60:.1f} core-min in the workers and their reaped children"
    out.append("worker   busy   last finish   idle tail (min)")
    for name, s in sorted(workers.items()):
        out.append(f"{name:6} {s.busy / 60:6.1f} {(s.last - origin) / 60:13.1f} {(end - s.last) / 60:11.1f}")
    out.append("scope (longest first)                        start  finish   busy  tests  workers  cpu (s)")
    for name, s in sorted(scopes.items(), key=lambda kv: -kv[1].busy)[:25]:
        out.append(
            f"{name[:44]:44} {(s.first - origin) / 60:5.1f} {(s.last - origin) / 60:7.1f} {s.busy / 60:6.1f}"
            f" {s.tests:6} {','.join(sorted(s.workers)):8} {s.cpu:7.0f}"
        )
    if cpu:
        out.append("tests by CPU (s: the worker's and its reaped children's; wall s)")
        for t in sorted(tests, key=lambda t: -t.cpu)[:20]:
            out.append(f"{t.cpu:7.1f} {t.finish - t.start:7.1f}  {t.nodeid[:110]}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("timeline")
    args = parser.parse_args(argv)
    with open(args.timeline) as f:
        print(summary(f.readlines(), scope_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
