"""`make bench-workers`: each `streamops worker <role>` Python supervisor's memory at rest and its
imports, this tree against another (`--before`, a checkout of the commit to compare with) in the
same run -> bench/results/workers-rss.md (docs/design/lean-workers.md, issue 53).

Each role is started as the worker image starts it (`python -m streamops worker <role> --config
FILE`, the media tests' workers and configs: devtools.media), on 127.0.0.1, with no cluster and no
live feed: the ingest with no publisher, the standby recorder waiting for `POST /start`, a recorder
and a pusher whose feed is not live yet (a closed port), the shared pusher with no target yet, the
overlay renderer with no overlay on, a
clipper whose DVR playlist cannot be read (it fails and keeps answering /status), and the one-shot
origin expiry (its peak RSS, ru_maxrss). RSS and PSS are the supervisor's alone (smaps_rollup, not
its FFmpeg or front), read once two readings 0.25 s apart agree within 64 KiB.

The import chain of each role is measured in a fresh interpreter that runs the same command line
with the same configuration, `asyncio.run` replaced so the worker is configured but not run:
`-X importtime` summed by package, and whether pydantic, aiohttp, prometheus-client, OpenSSL's
`ssl` or `_hashlib`, or a custom resource's model module (streamops.api.*) is imported. And what
a start costs in CPU: the user + system time of a fresh interpreter that runs the role's command
line until its worker is made (its `start`, not run; the probe of
tests/unit/cli/test_worker_imports.py), the median of START_RUNS, this tree's and the other's taken
in turn so both see the same load."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from devtools.media.clipper import ClipperWorker
from devtools.media.workers import Ingest, Worker
from devtools.ports import free_port
from devtools.processes import child_env, stop_tree
from devtools.waits import wait_for
from devtools.worker_start_probe import AS_THE_WORKER, MADE_ONLY

from bench.report_file import ROOT, commit, loadavg, write_report

RESULTS = ROOT / "bench" / "results" / "workers-rss.md"
MIB = 1024 * 1024
# What a role's import chain is summed by (the first match, in this order); the rest is "other".
GROUPS = (
    "streamops.api",
    "streamops.contract",
    "streamops.media",
    "streamops.cli",
    "pydantic",
    "pydantic_core",
    "aiohttp",
    "prometheus_client",
    "asyncio",
    "ssl",
)
# The import chain's probe: the role's command line and configuration; the worker configured, not run.
PROBE = (
    AS_THE_WORKER
    + """
import asyncio, json, sys
def configured_only(coroutine):
    coroutine.close()
    return 0
asyncio.run = configured_only
from streamops.cli.streamops_command import main
main(["worker", sys.argv[1], "--config", sys.argv[2]])
rss = next(int(line.split()[1]) for line in open("/proc/self/smaps_rollup") if line.startswith("Rss:"))
print(json.dumps({"rss_kib": rss, "modules": sorted(sys.modules)}))
"""
)

# The start-up CPU probe: the role made, not run (devtools.worker_start_probe), then its exit.
MADE = MADE_ONLY + "sys.exit(code)\n"
START_RUNS = 7

# Runs argv, prints its exit status and peak RSS (KiB), exits non-zero when it failed.
PEAK = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass
class Measured:
    rss: int  # bytes, the supervisor at rest (the one-shot expiry: its peak)
    pss: int
    imports_rss: int  # bytes, after the import chain (configured, not run)
    import_ms: dict[str, float]  # -X importtime self time by GROUPS
    loaded: list[str]  # which of pydantic, aiohttp, CRD model modules
    kind: str  # the worker kind the role runs
    config_path: Path  # its configuration (the start-up CPU probe's)
    start_cpu: list[float] = dataclasses.field(default_factory=list)  # s, user + system, one per probe run


def smaps(pid: int) -> dict[str, int]:
    """smaps_rollup's kB fields, in bytes."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        out[name] = int(value.split()[0]) * 1024
    return out


def settled(pid: int) -> dict[str, int]:
    """smaps_rollup once two readings 0.25 s apart agree within 64 KiB (at rest), at most 10 s."""
    last = smaps(pid)

    def agrees() -> dict[str, int] | None:
        nonlocal last
        time.sleep(0.25)
        now = smaps(pid)
        same = abs(now["Rss"] - last["Rss"]) <= 64 * 1024
        last = now
        return now if same else None

    return wait_for(agrees, timeout=10, interval=0)


def tree_env(tree: Path) -> dict[str, str]:
    """The environment that runs `tree`'s package (PYTHONPATH ahead of the installed, editable one)."""
    return {"PYTHONPATH": str(tree / "operator")}


def closed_port() -> int:
    return free_port("tcp")  # nothing listens there: a feed or target not reachable yet


@contextmanager
def started(role: str, tree: Path, workdir: Path) -> Iterator[tuple[int, Path, str]]:
    """The role's supervisor running at rest: (its PID, its config file, the worker kind)."""
    env = tree_env(tree)
    workdir.mkdir(parents=True)
    worker: Worker
    if role == "ingest":
        worker = Ingest(workdir)
        worker.env.update(env)
    elif role == "record-standby":
        port = free_port()
        config = {"standby": True, "recordingsRoot": str(workdir), "httpHost": "127.0.0.1", "httpPort": port}
        worker = Worker("record", config, workdir, port, env=env)
    elif role == "record-active":
        port = free_port()
        config = {"feedUrl": f"http://127.0.0.1:{closed_port()}/feed", "recordingsRoot": str(workdir),
                  "directory": "rec", "title": "bench", "reconnectWindowSeconds": 600, "maxSegmentSeconds": 14400,
                  "minDurationSeconds": 1, "httpHost": "127.0.0.1", "httpPort": port}  # fmt: skip
        worker = Worker("record", config, workdir, port, env=env)
    elif role == "push":
        port = free_port()
        config = {"feedUrl": f"http://127.0.0.1:{closed_port()}/feed", "uri": f"rtmp://127.0.0.1:{closed_port()}/live/x",
                  "noAudioMode": "drop", "httpHost": "127.0.0.1", "httpPort": port}  # fmt: skip
        worker = Worker("push", config, workdir, port, env=env)
    elif role == "pushers":
        port = free_port()
        config = {"stream": "cam", "privateDir": str(workdir / "private"), "httpHost": "127.0.0.1", "httpPort": port}
        worker = Worker("pushers", config, workdir, port, env=env)
    elif role == "clip":
        now = datetime.now(UTC)
        playlist = f"http://127.0.0.1:{closed_port()}/dvr.m3u8"
        worker = ClipperWorker(workdir, "c", playlist, now - timedelta(seconds=30), now, env=env)
    else:
        raise ValueError(role)
    worker.start()
    try:
        if role == "clip":
            assert isinstance(worker, ClipperWorker)
            worker.finished()
        worker.status()
        if role == "record-standby":  # as bench-media's standby row: /status and /metrics asked
            worker.status()
        assert worker.process is not None
        yield worker.process.pid, worker.config_path, worker.kind
    finally:
        worker.stop()


@contextmanager
def overlay_started(tree: Path, workdir: Path) -> Iterator[tuple[int, Path, str]]:
    """The overlay renderer with no overlay on (no Chromium yet): at rest once status.json is written."""
    workdir.mkdir(parents=True)
    config_path = workdir / "overlay.json"
    config_path.write_text(json.dumps({"stream": "cam", "overlays": [], "directory": str(workdir)}))
    command = [sys.executable, "-m", "streamops", "worker", "overlay", "--config", str(config_path)]
    with (workdir / "overlay.log").open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**child_env(), **tree_env(tree)}
        )
    try:
        wait_for(lambda: (workdir / "status.json").is_file(), timeout=20)
        yield process.pid, config_path, "overlay"
    finally:
        stop_tree(process)


def expiry_peak(tree: Path, workdir: Path) -> tuple[int, Path]:
    """The one-shot origin expiry over one original: its peak RSS (ru_maxrss) and its config file."""
    original = workdir / "rec" / "v1-origin.mp4"
    original.parent.mkdir(parents=True)
    original.write_bytes(b"\0" * 1024)
    config_path = workdir / "expire.json"
    origin = {"path": "rec/v1-origin.mp4", "expiredAt": "2026-01-01T00:00:00Z"}
    config_path.write_text(json.dumps({"recordingsRoot": str(workdir), "origins": [origin]}))
    command = [sys.executable, "-m", "streamops", "worker", "expire", "--config", str(config_path)]
    # Started by a small interpreter, not by this one: a process forked from the bench (≈40 MiB)
    # has the bench's RSS as its peak until its exec.
    out = subprocess.run(
        [sys.executable, "-S", "-c", PEAK, *command],
        capture_output=True,
        text=True,
        env={**child_env(), **tree_env(tree)},
        timeout=60,
        check=True,
    )
    return int(out.stdout.split()[-1]) * 1024, config_path


def import_chain(tree: Path, kind: str, config_path: Path) -> tuple[int, dict[str, float], list[str]]:
    """The role's imports, configured and not run: RSS after them, -X importtime by group, and
    which heavy modules are in."""
    command = [sys.executable, "-X", "importtime", "-c", PROBE, kind, str(config_path)]
    env = {**child_env(), **tree_env(tree)}
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=True)
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    by_group: dict[str, float] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        _, self_us, _, name = _fields(line)
        group = next((g for g in GROUPS if name == g or name.startswith(g + ".")), "other")
        by_group[group] = by_group.get(group, 0.0) + float(self_us) / 1000
    modules: list[str] = probe["modules"]
    crd = sorted(m for m in modules if m.startswith("streamops.api."))
    loaded = [m for m in ("pydantic", "aiohttp", "prometheus_client", "ssl", "_hashlib") if m in modules] + crd
    return probe["rss_kib"] * 1024, by_group, loaded


def cpu_of(argv: list[str], env: dict[str, str]) -> float:
    """User + system CPU seconds of one run of argv (its own and its reaped children's), output discarded."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    finally:
        os.close(devnull)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} exited with {os.waitstatus_to_exitcode(status)}")
    return usage.ru_utime + usage.ru_stime


def start_cpu(trees: dict[str, Path], kind: str, config_path: Path, runs: int = START_RUNS) -> dict[str, list[float]]:
    """CPU of the role's start (MADE) from each tree, `runs` times, the trees taken in turn (after one
    unmeasured run each: the page cache warm for both)."""
    argv = {name: [sys.executable, "-c", MADE, kind, str(config_path)] for name in trees}
    env = {name: {**child_env(), **tree_env(tree)} for name, tree in trees.items()}
    for name in trees:
        cpu_of(argv[name], env[name])
    found: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(runs):
        for name in trees:
            found[name].append(cpu_of(argv[name], env[name]))
    return found


def _fields(line: str) -> tuple[str, str, str, str]:
    """`import time: SELF | CUMULATIVE | NAME` -> ("", SELF, CUMULATIVE, NAME)."""
    self_us, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
    return "", self_us, cumulative, name


ROLES = ("ingest", "record-standby", "record-active", "push", "pushers", "clip", "overlay", "expire")


def measure(role: str, tree: Path, workdir: Path) -> Measured:
    if role == "expire":
        peak, config_path = expiry_peak(tree, workdir)
        imports_rss, import_ms, loaded = import_chain(tree, "expire", config_path)
        return Measured(peak, 0, imports_rss, import_ms, loaded, "expire", config_path)
    starter: Callable[[], Any] = (
        (lambda: overlay_started(tree, workdir)) if role == "overlay" else (lambda: started(role, tree, workdir))
    )
    with starter() as (pid, config_path, kind):
        rest = settled(pid)
        imports_rss, import_ms, loaded = import_chain(tree, kind, config_path)
    return Measured(rest["Rss"], rest["Pss"], imports_rss, import_ms, loaded, kind, config_path)


def mib(value: int) -> str:
    return f"{value / MIB:.1f}"


def report(before: dict[str, Measured], after: dict[str, Measured], before_name: str, load: tuple[str, str]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Workers' Python supervisors: RSS at rest and imports, before/after",
        "",
        f"`make bench-workers` (bench/worker_rss.py), {now}; after: {commit('operator')}, before: {before_name}, "
        f"both in this run. Load average (1, 5, 15 min) before {load[0]}, after {load[1]}.",
        "",
        "RSS/PSS: the Python supervisor alone (smaps_rollup), at rest (see the module's docstring for each role's "
        "state); expire: its peak RSS (ru_maxrss, a one-shot). Imports: RSS of a fresh interpreter after the role's "
        "command line and configuration (configured, not run).",
        "",
        "| role | RSS before | RSS after | PSS before | PSS after | imports RSS before | imports RSS after |",
        "|---|---|---|---|---|---|---|",
    ]
    for role in before:
        b, a = before[role], after[role]
        pss = (mib(b.pss), mib(a.pss)) if b.pss else ("—", "—")
        lines.append(
            f"| {role} | {mib(b.rss)} MiB | **{mib(a.rss)} MiB** | {pss[0]} | {pss[1]} | {mib(b.imports_rss)} | "
            f"{mib(a.imports_rss)} |"
        )
    lines += [
        "",
        f"Start-up CPU (user + system) of a fresh interpreter running the role's command line until its worker is "
        f"made, not run: median (min–max) of {START_RUNS} runs each, before and after in turn, with the bytecode of "
        f"both trees compiled.",
        "",
        "| role | CPU before | CPU after | after − before |",
        "|---|---|---|---|",
    ]
    for role in before:
        b, a = before[role].start_cpu, after[role].start_cpu
        lines.append(
            f"| {role} | {statistics.median(b):.3f} s ({min(b):.3f}–{max(b):.3f}) | **{statistics.median(a):.3f} s** "
            f"({min(a):.3f}–{max(a):.3f}) | {statistics.median(a) - statistics.median(b):+.3f} s |"
        )
    lines += ["", "Heavy modules imported (before → after):", ""]
    for role in before:
        lines.append(f"- {role}: {', '.join(before[role].loaded) or '—'} → {', '.join(after[role].loaded) or '—'}")
    lines += [
        "",
        "`-X importtime` self time by package, ms, after (before); times vary with the load: compare within a row.",
        "",
        "| role | " + " | ".join(GROUPS) + " | other |",
        "|---|" + "---|" * (len(GROUPS) + 1),
    ]
    for role in before:
        cells = [
            f"{after[role].import_ms.get(g, 0):.0f} ({before[role].import_ms.get(g, 0):.0f})"
            for g in (*GROUPS, "other")
        ]
        lines.append(f"| {role} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the commit to compare with")
    parser.add_argument("--roles", nargs="*", default=list(ROLES), choices=ROLES)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    before_name = subprocess.run(
        ["git", "-C", str(args.before), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    # As `make bytecode` leaves a run's tree (PYTHONDONTWRITEBYTECODE=1 here: a process would compile
    # every module it imports again, ≈0.1 s of each start), both trees.
    for tree in (args.before, ROOT):
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "-j0", str(tree / "operator" / "streamops")], check=True
        )
    load_before = loadavg()
    before: dict[str, Measured] = {}
    after: dict[str, Measured] = {}
    with TemporaryDirectory(prefix="bench-workers-") as tmp:
        for role in args.roles:  # before and after side by side, role by role: the same load for both
            before[role] = measure(role, args.before, Path(tmp) / "before" / role)
            after[role] = measure(role, ROOT, Path(tmp) / "after" / role)
            # One configuration (after's) for both trees: the same work; in turn, the same load.
            cpu = start_cpu({"before": args.before, "after": ROOT}, after[role].kind, after[role].config_path)
            before[role].start_cpu, after[role].start_cpu = cpu["before"], cpu["after"]
            print(f"{role}: {mib(before[role].rss)} -> {mib(after[role].rss)} MiB", flush=True)
    text = report(before, after, before_name or str(args.before), (load_before, loadavg()))
    write_report(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
