"""`make bench-playback BENCH_ARGS="--rows flood"` (issue 52, finding 2): one client sends requests
to the ingest's public port as fast as it can (h2load --h1, keep-alive, reconnecting when the
ingest closes, --flood-connections connections from 127.0.0.1: one address), for --window seconds,
while the `ingest` row's recorder and pusher read the feed. Reported: the requests the ingest
answered a second, refused (streamops_ingest_overload_refusals_total) and served
(streamops_playback_requests_total), counted by the ingest (h2load's timed mode does not end by
itself when the server closes connections: it is stopped by PID, and its own summary is lost), the
recorder's recorded seconds per wall second and the pusher's bytes against the no-flood window of
the same run (target: the recorder ≥ 0.99×), the ingest's CPU and the machine's.
`--flood-budget N`: the ingest's per-address budget (IngestConfig.requestRates.perClient; the
default, 2,000/s, is more than one h2load gets served on 2 shared cores, so nothing would be
refused); `--ingest-code DIR` runs the ingest from another checkout's `operator/` (an older
commit's, for a before/after on the same machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from devtools.media.request_flood import RequestFlood

from bench.report_file import commit, loadavg, markdown_table

HEADING = "## One client flooding the public port (edge off)"


class Readings(Protocol):
    """What the row reads of a window (bench.playback.Window)."""

    recorded_per_second: float
    pushed_kbps: float
    ingest_own_cpu: float
    machine_busy: float


@dataclass
class FloodStep:
    label: str
    rate: float  # requests/s the ingest answered (refused + served), 0 for the baseline
    served: float  # playback requests served during the step
    refused: float  # by the ingest's caps, during the step
    recorded_per_second: float
    pushed_kbps: float
    ingest_cpu: float  # % of a core, the ingest's Python process
    machine_busy: float
    loadavg: str


def flood_row(
    ingest_http: str,
    args: argparse.Namespace,
    measure: Callable[[float], Readings],
    refused: Callable[[], float],
    served: Callable[[], float],
) -> list[FloodStep]:
    """The no-flood window, then the flood's at the ingest's public face `ingest_http`; `measure`: a
    window of the stand's readings that long, `refused` and `served`: the ingest's counts so far
    (bench/playback.py's)."""
    base = measure(args.baseline)
    steps = [FloodStep("none (baseline)", 0.0, 0.0, 0.0, base.recorded_per_second, base.pushed_kbps,
                       base.ingest_own_cpu, base.machine_busy, loadavg())]  # fmt: skip
    with RequestFlood(ingest_http + args.flood_path, connections=args.flood_connections, bound=args.window + 60):
        time.sleep(1)
        refused_before, served_before, started = refused(), served(), time.monotonic()
        measured = measure(args.window - 1)
        refused_now, served_now = refused() - refused_before, served() - served_before
        elapsed = time.monotonic() - started
    budget = f"budget {args.flood_budget:.0f}/s" if args.flood_budget else "default budget"
    steps.append(FloodStep(f"{args.flood_connections} connections, {args.flood_path}, {budget}",
                           (refused_now + served_now) / elapsed, served_now, refused_now,
                           measured.recorded_per_second, measured.pushed_kbps, measured.ingest_own_cpu,
                           measured.machine_busy, loadavg()))  # fmt: skip
    print(f"flood: {steps[-1].rate:.0f} answers/s, refused {refused_now:.0f}, served {served_now:.0f}, recorder "
          f"{measured.recorded_per_second:.2f} s/s (baseline {base.recorded_per_second:.2f})",
          file=sys.stderr, flush=True)  # fmt: skip
    return steps


HEADER = ["flood", "answers/s", "served", "refused", "recorder", "pusher", "recorder ≥ 0.99×", "ingest Python CPU",
          "machine busy", "loadavg"]  # fmt: skip


def flood_section(steps: list[FloodStep], args: argparse.Namespace, load_before: str, seconds: float) -> list[str]:
    base = steps[0]
    rows = []
    for r in steps:
        rec = r.recorded_per_second / max(base.recorded_per_second, 1e-9)
        push = r.pushed_kbps / max(base.pushed_kbps, 1e-9)
        rows.append([
            r.label,
            f"{r.rate:.0f}" if r.rate else "—",
            f"{r.served:.0f}",
            f"{r.refused:.0f}",
            f"{r.recorded_per_second:.2f} s/s ({rec:.2f}×)",
            f"{r.pushed_kbps:.0f} kbit/s ({push:.2f}×)",
            "✅" if rec >= 0.99 else "❌",
            f"{r.ingest_cpu:.0f} %",
            f"{r.machine_busy:.0f} %",
            r.loadavg,
        ])  # fmt: skip
    code = args.ingest_code or "this checkout"
    return [
        HEADING,
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, commit {commit()}, the ingest's code: {code}; "
        f"{seconds / 60:.1f} min; /proc/loadavg before: {load_before}, after: {loadavg()}; nice "
        f"{os.getpriority(os.PRIO_PROCESS, 0)}. The stand of the first section (720p30 2.5 Mbit/s, LL-HLS on, a "
        "recorder and a pusher on the internal face's feed); one client, h2load --h1 (keep-alive; it reconnects "
        "when the ingest closes a connection), from 127.0.0.1 at the public port as fast as it can, measured over "
        f"{args.window - 1:.0f} s. Answers/s, served, refused: the ingest's own counts during the flood "
        "(streamops_playback_requests_total, streamops_ingest_overload_refusals_total). Recorder: recorded seconds "
        "per wall second and its ratio against the no-flood window (target ≥ 0.99×).",
        "",
        *markdown_table(HEADER, rows),
        "",
    ]


def ingest_env(code: Path | None) -> dict[str, str]:
    """The ingest's environment for `--ingest-code`: that checkout's package first on its path."""
    return {"PYTHONPATH": str(code / "operator")} if code else {}


def ingest_overrides(budget: float | None, code: Path | None) -> dict[str, Any]:
    """The ingest's configuration for `--flood-budget` (nothing without: an older ingest knows no such
    field); for `--ingest-code`, the harness's `egress` left out (ec95e86's ingest knows none)."""
    return {**({"requestRates": {"perClient": budget}} if budget else {}), **({"egress": None} if code else {})}
