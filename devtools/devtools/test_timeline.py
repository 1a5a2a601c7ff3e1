"""Where a parallel test run's time went: the timeline tests/conftest.py writes when
STREAMOPS_TEST_TIMELINE=FILE is set, summarised per worker (busy, idle tail) and per scope (the
host scope, the cluster scope, each other module: first start, last finish, summed duration).

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
    tests: int = 0
    workers: set[str] = field(default_factory=set)

    def add(self, start: float, finish: float, worker: str) -> None:
        self.first, self.last = min(self.first, start), max(self.last, finish)
        self.busy += finish - start
        self.tests += 1
        self.workers.add(worker)


def runs(lines: Sequence[str]) -> list[tuple[float, float, str, str]]:
    """(start, finish, worker, test id) of every test that finished."""
    started: dict[tuple[str, str], float] = {}
    out = []
    for line in lines:
        parts = line.split(" ", 3)
        if len(parts) != 4:
            continue
        at, event, worker, nodeid = float(parts[0]), parts[1], parts[2], parts[3].strip()
        if event == "start":
            started[(worker, nodeid)] = at
        elif event == "finish" and (worker, nodeid) in started:
            out.append((started.pop((worker, nodeid)), at, worker, nodeid))
    return out


def summary(lines: Sequence[str], scope_of: Callable[[str], str]) -> str:
    tests = runs(lines)
    if any(worker != "main" for _, _, worker, _ in tests):  # xdist's controller relays each test too
        tests = [t for t in tests if t[2] != "main"]
    if not tests:
        return "no test finished"
    origin = min(t[0] for t in tests)
    workers: dict[str, Span] = {}
    scopes: dict[str, Span] = {}
    for start, finish, worker, nodeid in tests:
        workers.setdefault(worker, Span()).add(start, finish, worker)
        scopes.setdefault(scope_of(nodeid), Span()).add(start, finish, worker)
    end = max(s.last for s in workers.values())
    busy = sum(s.busy for s in workers.values())
    out = [f"wall {(end - origin) / 60:.1f} min, {len(tests)} tests, {busy / 60:.1f} min of tests"]
    out.append("worker   busy   last finish   idle tail (min)")
    for name, s in sorted(workers.items()):
        out.append(f"{name:6} {s.busy / 60:6.1f} {(s.last - origin) / 60:13.1f} {(end - s.last) / 60:11.1f}")
    out.append("scope (longest first)                        start  finish   busy  tests  workers")
    for name, s in sorted(scopes.items(), key=lambda kv: -kv[1].busy)[:25]:
        out.append(
            f"{name[:44]:44} {(s.first - origin) / 60:5.1f} {(s.last - origin) / 60:7.1f} {s.busy / 60:6.1f}"
            f" {s.tests:6} {','.join(sorted(s.workers))}"
        )
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
