"""`make bench-rtmp-flood` (issue 52, finding 1): a key-less client floods the ingest's RTMP port
from the encoder's own address (127.0.0.1, as every client behind a NodePort's SNAT) with
connections past `connect` and bare ones, as fast as it can (devtools.media.rtmp_raw.KeylessFlood,
one process each), while an FFmpeg encoder with the key, started again 1 s after each failure as OBS
does, goes live, then stops, `--trials` times. Reported per front (this checkout's streamops-rtmp;
`--before PATH`: another build, e.g. ec95e86's, on the same machine): the connections a second the
front absorbed and per CPU second of streamops-rtmp (a core's worth), the encoder's time from start
to live (median, worst) and attempts, how many trials stayed out (target: live within 5 s, each
trial), and the machine's load. Without the flood, the same trials give the baseline.
-> bench/results/rtmp-flood.md
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from devtools.media.peers import Publisher
from devtools.media.reconnecting_publisher import Backoff, NeverLive, ReconnectingPublisher
from devtools.media.rtmp_raw import KeylessFlood
from devtools.media.workers import Ingest
from devtools.processes import cpu_seconds, proc_tree
from devtools.versions import REPO as ROOT
from devtools.waits import eventually

from bench.report_file import commit, loadavg, markdown_table, write_report

RESULTS = ROOT / "bench" / "results" / "rtmp-flood.md"
TARGET_SECONDS = 5.0  # issue 52: live within 5 s whatever a key-less client does
GIVE_UP_SECONDS = 20.0  # a trial still out by then counts as out


@dataclass
class Row:
    front: str
    flood: bool
    to_live: list[float]  # seconds, the trials that went live
    attempts: list[int]
    out: int  # trials that never went live
    absorbed: float  # connections/s the flood made (all of them reached the front)
    per_core: float  # connections per CPU second of streamops-rtmp
    front_cpu: float  # % of a core
    load: str


@contextlib.contextmanager
def ingest_with(front: str | None, tmp: Path, name: str) -> Iterator[Ingest]:
    """An ingest worker whose RTMP front is `front` (None: this checkout's)."""
    saved = os.environ.get("STREAMOPS_RTMP")
    if front:
        os.environ["STREAMOPS_RTMP"] = front
    try:
        workdir = tmp / name
        workdir.mkdir()
        worker = Ingest(workdir, screenshots={"enabled": False})
        try:
            yield worker.start()
        finally:
            worker.stop()
    finally:
        if saved is None:
            os.environ.pop("STREAMOPS_RTMP", None)
        else:
            os.environ["STREAMOPS_RTMP"] = saved


def front_pid(ingest: Ingest, front: str | None) -> int:
    """The ingest's RTMP front process (named after its binary, which --before may rename)."""
    assert ingest.process is not None
    name = Path(front).name[:15] if front else "streamops-rtmp"  # /proc's comm: 15 characters
    return eventually(
        lambda: next((p for p in proc_tree(ingest.process.pid) if comm(p) == name), None),
        timeout=15,
        what="streamops-rtmp",
    )


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def trial(ingest: Ingest, tmp: Path, n: int) -> tuple[float | None, int]:
    """One encoder, retried 1 s after each failure, until live: (seconds to live or None, attempts)."""
    encoder = ReconnectingPublisher(
        lambda: Publisher(ingest.rtmp_url(), duration=60, size="640x360", log_path=tmp / f"encoder-{n}.log"),
        Backoff(first=1, factor=1, ceiling=1),
    )
    started = time.monotonic()
    encoder.start()
    try:
        encoder.wait_live(lambda: ingest.status()["live"], timeout=GIVE_UP_SECONDS)
        took: float | None = time.monotonic() - started
    except NeverLive:
        took = None
    finally:
        encoder.stop()
    eventually(lambda: not ingest.status()["live"], timeout=20, what="the stream off air between trials")
    return took, encoder.attempts


def run(front: str | None, label: str, flood: bool, trials: int, tmp: Path) -> Row:
    with ingest_with(front, tmp, f"{label}-{'flood' if flood else 'quiet'}") as ingest:
        pid = front_pid(ingest, front)
        port = ingest.ports["rtmp"]
        stack = contextlib.ExitStack()
        flooding = stack.enter_context(KeylessFlood("127.0.0.1", port)) if flood else None
        cpu0, t0 = cpu_seconds([pid]), time.monotonic()
        times, attempts, out = [], [], 0
        with stack:
            if flood:
                time.sleep(2)  # the caps full before the first trial
            for n in range(trials):
                took, tries = trial(ingest, tmp, n)
                attempts.append(tries)
                if took is None:
                    out += 1
                else:
                    times.append(took)
            cpu, elapsed, load = cpu_seconds([pid]) - cpu0, time.monotonic() - t0, loadavg()
        made = (flooding.past_connect + flooding.opened) if flooding else 0
    return Row(
        front=label,
        flood=flood,
        to_live=times,
        attempts=attempts,
        out=out,
        absorbed=made / elapsed,
        per_core=made / cpu if cpu else 0.0,
        front_cpu=100 * cpu / elapsed,
        load=load,
    )


def cells(row: Row) -> list[str]:
    median = f"{statistics.median(row.to_live):.2f}" if row.to_live else "—"
    worst = f"{max(row.to_live):.2f}" if row.to_live else "—"
    within = sum(1 for t in row.to_live if t <= TARGET_SECONDS)
    return [
        row.front,
        "flood" if row.flood else "none",
        f"{row.absorbed:,.0f}" if row.flood else "—",
        f"{row.per_core:,.0f}" if row.flood else "—",
        f"{row.front_cpu:.0f} %",
        median,
        worst,
        "/".join(str(a) for a in row.attempts),
        f"{within}/{len(row.attempts)}" + (f" ({row.out} never)" if row.out else ""),
        row.load,
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--before", help="another streamops-rtmp binary to run the same rows with (e.g. ec95e86's)")
    parser.add_argument("--before-label", default="before")
    args = parser.parse_args()
    fronts: list[tuple[str | None, str]] = [(None, "this checkout")]
    if args.before:
        fronts.append((args.before, args.before_label))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-rtmp-flood-") as tmp:
        for front, label in fronts:
            for flood in (False, True):
                rows.append(run(front, label, flood, args.trials, Path(tmp)))
                print(cells(rows[-1]), flush=True)
    header = [
        "front",
        "key-less flood",
        "connections/s absorbed",
        "per CPU second of the front",
        "front CPU",
        "start → live, median (s)",
        "worst (s)",
        "attempts per trial",
        f"live within {TARGET_SECONDS:g} s",
        "load (1/5/15 min, at the end)",
    ]
    text = "\n".join(
        [
            "# RTMP pre-auth under a key-less flood (`make bench-rtmp-flood`)",
            "",
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit('components/rtmp')}, {os.cpu_count()} cores. "
            "One client on 127.0.0.1 (the encoder's own address, as behind a NodePort's SNAT): one process "
            "opening connections that send the handshake and `connect` in one write (keeping its last 160), "
            "one opening bare TCP connections (keeping its last 64), each as fast as it can, for the whole row. "
            "The encoder: FFmpeg with the key (a 640x360 clip, `-re`), started again 1 s after each failure as OBS "
            f"does, until the stream is live (gave up after {GIVE_UP_SECONDS:g} s), then stopped; "
            f"{len(rows[0].attempts)} trials a row. The flood's processes, the worker and FFmpeg share the "
            "machine's cores with the front: the rate is what this machine's client made and the front absorbed, "
            "and per CPU second what one core of the front takes.",
            "",
            *markdown_table(header, [cells(r) for r in rows]),
            "",
        ]
    )
    write_report(RESULTS, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
