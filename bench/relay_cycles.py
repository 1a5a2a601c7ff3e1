"""`python -m bench.relay_cycles`: where the shared pusher's cycles go with N Restreams of one stream
(issue 53: 50 Restreams ≤ 2× nginx-rtmp's relay CPU). Printed, not written to bench/results.

The setup of bench/media.py's `restreams_streamops`: one ingest taking the publisher clip, one
`streamops worker pushers` with N rtmp targets (all riding its one `streamops-relay`) to N names on
one nginx-rtmp. Then --windows windows of --window seconds, each: CPU (utime + stime of every
thread) and wakes (voluntary context switches) and preemptions of the relay and of the Python
supervisor, and the ingest's CPU, each per second of media the window carried (the bytes written
to the targets in the window over their average rate since all were live): CPU-seconds per
media-second × 100 is the % of a core at real time, robust to the machine's load, whose publisher
at idle priority is starved and catches up in bursts. `--perf FILE` records `perf record -g` of
the relay over one more window; `--strace` counts the relay's system calls over one more window
(strace -c -f: slows it, so not in the CPU figures). `STREAMOPS_RELAY` picks the relay binary (a build to compare).

Every process it starts runs in an autogroup at --nice (default 19), as the machine's rules ask of
light measurements beside others' runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from devtools.cpu_weight import set_autogroup_nice
from devtools.media.peers import NginxRtmp, Publisher
from devtools.media.workers import WORKER_AUTH, Worker
from devtools.ports import free_port
from devtools.processes import proc_tree, proc_trees
from devtools.waits import wait_for

from bench.ingest_cycles import window
from bench.media import ingest_worker, process_name
from bench.report_file import loadavg


def idle_priority(nice: int) -> None:
    """Every session this process started (its children each have one) at `nice`."""
    for pid in proc_tree(os.getpid()):
        set_autogroup_nice(nice, pid)


def put_targets(pushers: Worker, feed_url: str, app_url: str, n: int) -> None:
    targets = [
        {"id": f"restream-{i}", "name": f"r{i}", "feedUrl": feed_url, "uri": app_url, "streamKey": f"r{i}",
         "noAudioMode": "drop"}
        for i in range(n)
    ]  # fmt: skip
    request = urllib.request.Request(
        pushers.http + "/targets",
        data=json.dumps({"targets": targets}).encode(),
        method="PUT",
        headers={"Content-Type": "application/json", **WORKER_AUTH},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


def sent_bytes(pushers: Worker) -> int:
    """Bytes written to all targets so far (the pusher's /status)."""
    return sum(int(t.get("bytesSent") or 0) for t in pushers.status()["targets"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--nice", type=int, default=19)
    parser.add_argument("--perf", type=Path, help="perf record -g of the relay over one more window, to this file")
    parser.add_argument("--strace", action="store_true", help="strace -c -f of the relay over one more window")
    args = parser.parse_args()
    set_autogroup_nice(args.nice)
    print(f"relay: {os.environ.get('STREAMOPS_RELAY', '(worker default)')}; load average before {loadavg()}")
    with tempfile.TemporaryDirectory(prefix="streamops-relay-cycles-") as d:
        tmp = Path(d)
        with (
            NginxRtmp(workdir=tmp / "target") as target,
            ingest_worker(tmp) as ingest,
            Publisher(ingest.rtmp_url(), duration=args.windows * args.window + 300),
        ):
            idle_priority(args.nice)
            ingest.wait_live()
            workdir = tmp / "pushers"
            workdir.mkdir()
            port = free_port()
            config = {"stream": "cam", "httpHost": "127.0.0.1", "httpPort": port,
                      "privateDir": str(workdir / "private")}  # fmt: skip
            pushers = Worker("pushers", config, workdir, port).start()
            try:
                idle_priority(args.nice)
                put_targets(pushers, ingest.feed_url, target.app_url("live"), args.targets)
                wait_for(lambda: all(t["live"] for t in pushers.status()["targets"]), timeout=120, interval=1)
                assert pushers.process is not None and ingest.process is not None
                pid = pushers.process.pid
                relays = [c for c in proc_trees([pid]) if c != pid and process_name(c) == "streamops-relay"]
                assert len(relays) == 1, relays
                idle_priority(args.nice)
                time.sleep(5)
                columns = ["window", "media s/s", "relay CPU", "relay wakes/s", "relay preempted/s", "Python CPU",
                           "Python wakes/s", "ingest CPU"]  # fmt: skip
                print(f"| {' | '.join(columns)} |\n|{'---|' * len(columns)}")
                live_at, sent_at_live = time.monotonic(), sent_bytes(pushers)
                for i in range(args.windows):
                    sent0 = sent_bytes(pushers)
                    cost = window({"relay": relays, "python": [pid], "ingest": [ingest.process.pid]}, args.window)
                    sent1 = sent_bytes(pushers)
                    r, p, g = cost["relay"], cost["python"], cost["ingest"]
                    # The media this window carried, in seconds of the stream a second: at idle
                    # priority beside others' runs the publisher is starved and catches up in bursts.
                    rate = (sent1 - sent_at_live) / (time.monotonic() - live_at)  # bytes a second, on average
                    media = (sent1 - sent0) / args.window / rate if rate else 0.0
                    scale = 1 / media if media else 0.0  # per media-second
                    print(f"| {i + 1} | {media:.2f} | {r.cpu * scale:.2f} % | {r.wakes * scale:.0f} | "
                          f"{r.preempted * scale:.0f} | {p.cpu * scale:.2f} % | {p.wakes * scale:.0f} | "
                          f"{g.cpu * scale:.2f} % |", flush=True)  # fmt: skip
                live = sum(1 for t in pushers.status()["targets"] if t["live"])
                print(f"live {live} of {args.targets}; at the target {len(target.publishing())}")
                if args.perf:
                    perf = ["perf", "record", "-q", "-g", "-o", str(args.perf), "-p", str(relays[0])]
                    subprocess.run([*perf, "--", "sleep", str(args.window)], check=False)
                if args.strace:
                    trace = subprocess.Popen(
                        ["strace", "-c", "-f", "-p", str(relays[0]), "-o", str(tmp / "strace.txt")]
                    )
                    time.sleep(args.window)
                    trace.send_signal(signal.SIGINT)
                    trace.wait(10)
                    with contextlib.suppress(OSError):
                        print((tmp / "strace.txt").read_text())
            finally:
                pushers.stop()
    print(f"load average after {loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
