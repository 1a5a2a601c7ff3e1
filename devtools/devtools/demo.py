"""`make demo`: the whole flow on this machine, the way users run it.

A 2-node pod-network cluster in DIR (.cluster/) with streamops installed by `helm install`;
examples/livestream-push.yaml, examples/recording-s3.yaml (to an S3 server, versitygw, on the
cluster's LAN) and a Restream shaped like examples/restream-youtube.yaml but aimed at an nginx-rtmp
on the LAN (nothing may leave the machine); a synthetic encoder on the LAN (testsrc2 + sine,
640x360 at 30 fps) pushes RTMP to the URL in status; 20 s recorded, stopped, uploaded; then
`kubectl get lst,rec,rst`, the HLS URL, the download command (`streamops video url`) and ffprobe's
summary of the video downloaded with it. Everything is stopped at the end unless --keep (`make
demo KEEP=1`: loopback portals let OBS or ffmpeg here push and play; `make demo-down` stops it).

Run again after anything: each run first removes what an earlier one left in DIR (its processes by
PID, the cluster, the S3 data, logs), Ctrl-C stops what was started (one line, exit status 130),
and `--down` removes it all however the last run ended; the encoder retries a refused or dropped
push, as OBS does. One driver at a time per DIR (devtools.demo_lock): a second one refuses, naming
the first; `--down` stops a running one (SIGTERM) before removing what is left.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol
from urllib.parse import urlsplit

import yaml

from devtools.address_plan import OUTSIDE_IP
from devtools.cluster.kubectl import condition
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import Release
from devtools.demo_lock import DemoBusy, DemoLock
from devtools.media.peers import NginxRtmp, Publisher
from devtools.media.reconnecting_publisher import ReconnectingPublisher
from devtools.media.s3_server import S3LanRelay, S3Server
from devtools.ports import LOOPBACK, free_port
from devtools.processes import Proc, alive, start_ticks, stop_procs
from devtools.versions import REPO

STREAM = "obs-studio"
RECORDING = "obs-studio-keynote-s3"
RESTREAM = "obs-studio-local"
RECORD_SECONDS = 20
DEMO_PIDS = "demo-pids.json"
# What a run makes in DIR besides the cluster: removed at the start of the next run and by --down.
DEMO_FILES = ("demo-s3", "demo-nginx", "demo-video.mp4", "logs/demo-publisher.log", "logs/demo-portal.log")
LIVE_TIMEOUT = 90  # s from the first push to status.live, retries included (measured: 2-4 s)
DOWN_WAIT_SECONDS = 180  # `--down` waits this long for a running demo to stop (its teardown: ≈10-30 s)


def step(msg: str) -> None:
    print(f"\n==> {msg}", flush=True)


def ffprobe_summary(path: Path) -> str:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "format=duration,size,format_name:stream=codec_type,codec_name,width,height,r_frame_rate,sample_rate",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    info = json.loads(out)
    fmt = info["format"]
    lines = [f"{path}", f"  format {fmt['format_name']}, {float(fmt['duration']):.2f} s, {int(fmt['size'])} bytes"]
    for s in info["streams"]:
        if s["codec_type"] == "video":
            lines.append(f"  video  {s['codec_name']} {s['width']}x{s['height']} @ {s['r_frame_rate']}")
        elif s["codec_type"] == "audio":
            lines.append(f"  audio  {s['codec_name']} {s['sample_rate']} Hz")
    return "\n".join(lines)


def restream_manifest(uri: str) -> str:
    return f"""apiVersion: v1
kind: Secret
metadata:
  name: local-rtmp-key
  labels:
    streaming.streamops.dev/allow-reference: "true"
type: Opaque
stringData:
  streamKey: demo-restream
---
# examples/restream-youtube.yaml, aimed at the local nginx-rtmp instead of YouTube.
apiVersion: streaming.streamops.dev/v1alpha1
kind: Restream
metadata:
  name: {RESTREAM}
spec:
  streamRef:
    name: {STREAM}
  uri: {uri}
  streamKeySecretRef:
    name: local-rtmp-key
"""


def recording_s3_manifests(s3: S3Server, relay: S3LanRelay) -> list[dict[str, Any]]:
    """examples/recording-s3.yaml with the demo server's credentials, CA and public endpoint."""
    secret, rec = yaml.safe_load_all((REPO / "examples/recording-s3.yaml").read_text())
    storage = rec["spec"]["storage"]["s3"]
    storage["endpoint"], storage["publicEndpoint"] = relay.endpoint, s3.endpoint
    storage["caSecret"] = "recordings-s3-ca"  # the example names none: a public CA's endpoint
    credentials = s3.credentials_secret(secret["metadata"]["name"], "default")
    return [credentials, s3.ca_secret(storage["caSecret"], "default"), rec]


class DemoState:
    """The demo's own processes (nginx, the encoder, the S3 server and its relay, the portals) in
    DIR/demo-pids.json, each with its start time (a recycled PID is never taken for one of them) and
    written as each starts, so whatever ends a run (an error, Ctrl-C, a kill) leaves a file that the
    next run and `--down` stop them by; plus the files DEMO_FILES names and the paths recorded."""

    def __init__(self, dir: Path) -> None:
        self.dir = dir
        self.pid_file = dir / DEMO_PIDS

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return {"procs": [], "paths": []}
        if isinstance(data, list):  # an older demo's list of bare PIDs: no start times to check them by
            return {"procs": [], "paths": [], "unchecked": [int(p) for p in data]}
        return dict(data)

    def record(self, name: str, pid: int | None, *paths: Path) -> None:
        """Remember process `name` (replacing an earlier one of that name: a reconnected encoder) and
        paths outside DIR it made (the S3 server's socket directory)."""
        data = self._read()
        procs = [p for p in data["procs"] if p["name"] != name]
        if pid is not None:
            procs.append({"name": name, "pid": pid, "start_ticks": start_ticks(pid) or 0})
        data["procs"], data["paths"] = procs, sorted({*data["paths"], *map(str, paths)})
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.pid_file)

    def processes(self) -> list[Proc]:
        return [Proc(p["name"], int(p["pid"]), int(p["start_ticks"])) for p in self._read()["procs"]]

    def clear(self, files: bool = True) -> list[str]:
        """Stop the recorded processes (each was started in a session of its own: its whole group,
        TERM then KILL) and remove the recorded paths and, with `files`, DEMO_FILES (a failed run
        keeps its logs and S3 data to look at: the next run removes them); what is still alive."""
        data = self._read()
        procs = self.processes()
        stop_procs(procs, grace=5)
        if unchecked := [pid for pid in data.get("unchecked", []) if alive(pid)]:
            # Without a start time a PID may be another process's by now: not ours to kill blindly.
            print(f"an older demo recorded PIDs {unchecked} without start times: not stopped; check them by hand")
        for path in [*data["paths"], *(str(self.dir / f) for f in DEMO_FILES if files)]:
            if Path(path).is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                Path(path).unlink(missing_ok=True)
        self.pid_file.unlink(missing_ok=True)
        return [f"process {p.name} {p.pid}" for p in procs if p.alive]


def tear_down(dir: Path) -> list[str]:
    """Everything a demo left in `dir`, however it ended: its processes, its files, the cluster and its
    network namespaces (with their interfaces, routes and firewall rules). Idempotent; returns what
    could not be removed."""
    left = DemoState(dir).clear()
    return left + LocalCluster(dir, nodes=2, ingress_controller=False).stop()


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP: everything started is stopped."""


class Signals:
    """The demo driver's own handling of Ctrl-C, SIGTERM and SIGHUP, installed whatever it inherited
    (a shell's background job starts with SIGINT ignored; the components, in sessions of their own,
    get none of them); `received` names the first one, for the errors it causes (below)."""

    def __init__(self) -> None:
        self.received: str | None = None
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._raise)

    def _raise(self, signum: int, frame: FrameType | None) -> None:
        self.received = self.received or signal.Signals(signum).name
        raise Interrupted(self.received)

    def caused(self, error: BaseException) -> bool:
        """`error` is how an interrupt surfaced: the exception itself, or a command (kubectl, helm)
        that the terminal's Ctrl-C reached too and that failed before our handler ran."""
        if isinstance(error, KeyboardInterrupt) or self.received:
            return True
        return isinstance(error, subprocess.CalledProcessError) and error.returncode in (-signal.SIGINT, 130)

    @staticmethod
    def ignore() -> None:
        """While cleaning up: a second Ctrl-C must not leave half of it undone."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)


@dataclass
class Demo:
    """A run's directory and what it started: the cluster, and the peers stopped (last started
    first) when it ends unless kept."""

    dir: Path
    keep: bool
    state: DemoState
    cluster: LocalCluster
    peers: list[Peer] = field(default_factory=list)
    publisher: ReconnectingPublisher | None = None


class Peer(Protocol):
    def stop(self) -> object: ...


Flow = Callable[[Demo], None]


def open_portals(dir: Path, lan: str, push_url: str, hls_url: str) -> tuple[subprocess.Popen[bytes], int, int]:
    """Loopback ports on this machine forwarded into the cluster's LAN (devtools.cluster.portal), for OBS and
    players here: (the portal process, the RTMP port, the HTTP port)."""
    rtmp, http = urlsplit(push_url), urlsplit(hls_url)
    local_rtmp, local_http = free_port(), free_port()
    log = open(dir / "logs" / "demo-portal.log", "ab")  # noqa: SIM115 - the process outlives this function
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.cluster.portal",
         f"{LOOPBACK}:{local_rtmp}={lan}/{rtmp.hostname}:{rtmp.port}",
         f"{LOOPBACK}:{local_http}={lan}/{http.hostname}:{http.port}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    return proc, local_rtmp, local_http


def start_s3(dir: Path, state: DemoState) -> S3Server:
    """versitygw on a fresh DIR/demo-s3 with the bucket `recordings` (created if missing: the data of a
    run that ended early made the next one fail with BucketAlreadyExists)."""
    shutil.rmtree(dir / "demo-s3", ignore_errors=True)
    s3 = S3Server(dir / "demo-s3")
    state.record("s3", None, s3.socket_path.parent)  # its socket's directory, outside DIR
    s3.start()
    state.record("s3", s3.pid, s3.socket_path.parent)
    if "recordings" not in {b["Name"] for b in s3.client().list_buckets().get("Buckets", [])}:
        s3.create_bucket("recordings")
    return s3


def demo_flow(demo: Demo) -> None:
    """The demo proper, after the clean slate: what `make demo` shows."""
    dir, cluster, state = demo.dir, demo.cluster, demo.state
    began = time.monotonic()
    step("a 2-node cluster with a pod network (the first run builds Kubernetes' images: a few minutes)")
    cluster.start()
    print(f"ready in {time.monotonic() - began:.0f}s: " + ", ".join(f"{k} {v}s" for k, v in cluster.timings.items()))
    print(cluster.kubectl("get", "nodes", "-o", "wide").stdout.rstrip())
    if not cluster.policy_engine:
        print("NetworkPolicies are installed but not enforced: no engine in a demo torn down at its end"
              " (KEEP=1 runs kube-network-policies on every node, as the tests do)")  # fmt: skip
    step(f"helm install streamops {cluster.chart_ref} --version {cluster.chart_version} (images pulled from it)")
    print(f"the LAN registry {cluster.registry.lan_address} ({cluster.registry.portal_address} here)")
    release = Release(cluster).install()
    print(f"operator Pod available {release.install_seconds:.0f}s after helm install")
    # The namespace's default claim (the stream's warm standby recorder and examples/recording.yaml
    # use it; the demo's Recording goes to S3).
    cluster.recordings_volume("default", "node-1")

    step("an RTMP server (nginx-rtmp) on the cluster's LAN as the restream target")
    nginx = NginxRtmp(workdir=dir / "demo-nginx", address=OUTSIDE_IP, netns=cluster.network.outside)
    demo.peers.append(nginx)
    nginx.start()
    state.record("nginx", nginx.pid)
    print(f"nginx-rtmp at {nginx.app_url()}")

    step("an S3 server (versitygw) on the cluster's LAN for the recordings")
    s3 = start_s3(dir, state)
    demo.peers.append(s3)
    relay = s3.lan_relay(cluster.network.outside)
    demo.peers.append(relay)
    relay.start()
    state.record("s3-relay", relay.pid)
    print(f"S3 at {relay.endpoint} (Pods) and {s3.endpoint} (this machine), bucket recordings")

    step("kubectl apply -f examples/livestream-push.yaml -f examples/recording-s3.yaml (+ a Restream to the LAN)")
    print(cluster.kubectl("apply", "-f", str(REPO / "examples/livestream-push.yaml")).stdout.strip())
    cluster.apply("default", *recording_s3_manifests(s3, relay))
    print(cluster.kubectl("apply", "-f", "-", input=restream_manifest(nginx.app_url())).stdout.strip())
    ready = lambda o: (condition(o, "Ready") or {}).get("status") == "True"  # noqa: E731
    stream = cluster.wait_status("lst", "default", STREAM, ready, "LiveStream Ready", 120)
    push_url = stream["status"]["ingest"]["pushUrl"]
    key = cluster.stream_key("default", STREAM)

    step(f"an encoder on the LAN pushes a test stream (testsrc2 640x360 30 fps + 440 Hz) to {push_url}/<key>")
    publisher = ReconnectingPublisher(
        lambda: Publisher(
            f"{push_url}/{key}", size="640x360", log_path=dir / "logs" / "demo-publisher.log",
            netns=cluster.network.outside,
        ),
        on_start=lambda p: state.record("publisher", p.pid),
    )  # fmt: skip
    demo.peers.append(publisher)
    demo.publisher = publisher.start()
    live = lambda: bool(((cluster.get("lst", "default", STREAM) or {}).get("status") or {}).get("live"))  # noqa: E731
    took = publisher.wait_live(live, LIVE_TIMEOUT, f"LiveStream {STREAM}")
    print(f"status.live is true ({took:.1f} s after the first push; {publisher.attempts} connection(s))")
    cluster.wait_status("rec", "default", RECORDING, lambda o: o["status"]["recording"], "recording", 90)
    print(f"recording for {RECORD_SECONDS} s ...", flush=True)
    time.sleep(RECORD_SECONDS)
    cluster.kubectl("patch", "rec", RECORDING, "--type=merge", "-p", '{"spec":{"stopped":true}}')
    succeeded = lambda o: (condition(o, "Succeeded") or {}).get("status") == "True"  # noqa: E731
    rec = cluster.wait_status("rec", "default", RECORDING, succeeded, "video", 120)
    cluster.wait_status("rst", "default", RESTREAM, lambda o: o["status"].get("live"), "restream live", 60)

    step("kubectl get lst,rec,rst")
    print(cluster.kubectl("get", "lst,rec,rst", "-o", "wide").stdout)
    print(cluster.kubectl("get", "pods", "-o", "wide").stdout)
    playback = stream["status"]["playback"]
    hls = playback["hlsCmafUrl"]
    print(f"HLS (CMAF): {hls}\nHLS (TS):   {playback.get('hlsMpegtsUrl')}")
    print(f"restream target: {nginx.rtmp_url(name='demo-restream')} (publishing: {sorted(nginx.publishing())})")
    step("the recorded video, downloaded from the bucket with the documented command")
    print(f"$ streamops video url {RECORDING}")
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    streamops = Path(sys.executable).with_name("streamops")
    link = subprocess.run(
        [str(streamops), "video", "url", RECORDING], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    print(link)
    for video in rec["status"]["videos"]:
        print(f"{video['title']}: {video['durationSeconds']} s at {video['url']} ({video['upload']})")
    downloaded = dir / "demo-video.mp4"
    subprocess.run(["curl", "-fsS", "--cacert", str(s3.ca_file), "-o", str(downloaded), link], check=True)
    print(ffprobe_summary(downloaded))

    step("push and play yourself")
    lan = cluster.network.outside
    print(f"  The URLs in status are on the cluster's LAN; a shell there: nsenter --net=/run/netns/{lan} bash")
    print(f"  ffmpeg there: nsenter --net=/run/netns/{lan} ffmpeg -re -i in.mp4 -c copy -f flv '{push_url}/{key}'")
    if demo.keep:
        portals, local_rtmp, local_http = open_portals(dir, lan, push_url, hls)
        state.record("portals", portals.pid)
        print(f"  OBS on this machine: Server rtmp://{LOOPBACK}:{local_rtmp}/live ; Stream Key: {key}")
        print(f"  (a loopback portal into the LAN: {LOOPBACK}:{local_rtmp} -> {urlsplit(push_url).netloc})")
        print(f"  watch on this machine: ffplay http://{LOOPBACK}:{local_http}{urlsplit(hls).path}")
    print(f"  record again: kubectl apply -f examples/recording.yaml (to the PVC) or delete rec {RECORDING} and")
    print("  apply examples/recording-s3.yaml with your own bucket; download: streamops video url <recording> [n]")


def run(dir: Path, keep: bool, flow: Flow = demo_flow) -> int:
    """A demo in `dir`, holding its lock from the clean slate to the end of its teardown: 0 when the
    flow ran through, 130 when interrupted (one line on stderr, no traceback), 1 when another demo
    holds the lock; an error of the flow is raised after the teardown."""
    signals = Signals()
    lock = DemoLock(dir)
    try:
        lock.acquire()
    except DemoBusy as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    began = time.monotonic()
    # The demo plays through NodePorts. A kept cluster has the overlay renderer for HTML overlays and
    # enforces NetworkPolicies; a run that is torn down at its end builds neither (a cold first run
    # is CPU-bound: docs/design/local-cluster.md, "A first run").
    cluster = LocalCluster(dir, nodes=2, ingress_controller=False, overlay=keep, policy_engine=keep)
    demo = Demo(dir, keep, DemoState(dir), cluster)
    ok = interrupted = False
    try:
        step(f"a clean slate: what an earlier demo left in {dir} (processes, S3 data, cluster) removed")
        if left := tear_down(dir):
            raise RuntimeError(f"could not remove what an earlier run left: {left}")
        print(f"done in {time.monotonic() - began:.1f}s")
        flow(demo)
        ok = True
    except BaseException as e:
        if not signals.caused(e):
            raise
        interrupted = True
    finally:
        signals.ignore()
        try:
            left = stop_or_keep(demo, ok, quiet=interrupted)
        finally:
            lock.release()
        if not ok and not interrupted:
            print(f"logs: {dir / 'logs'} (demo-publisher.log, the cluster's components); `make demo` starts afresh")
    if interrupted:
        print(f"demo: interrupted ({signals.received or 'SIGINT'}); stopped what it started"
              f"{f' except {left}' if left else ''} (make demo-down removes anything left)",
              file=sys.stderr, flush=True)  # fmt: skip
        return 130
    print(f"demo took {time.monotonic() - began:.0f}s")
    return 0


def stop_or_keep(demo: Demo, ok: bool, quiet: bool) -> list[str]:
    """The end of a run: a kept one (KEEP=1, ran through) detached and its commands printed; any other
    stopped, peers first. What could not be stopped."""
    if demo.keep and ok:
        demo.cluster.detach()
        if demo.publisher is not None:
            demo.publisher.detach()  # from here on it reconnects no more
        print("\nkept running, the synthetic publisher too: to push yourself, first stop it:")
        print(f"  kill {demo.publisher.pid if demo.publisher else ''}")
        print(f"  export KUBECONFIG={demo.cluster.plane.kubeconfig} PATH={demo.cluster.plane.bin_dir}:$PATH")
        print("  make demo-down    # stops everything the demo started")
        return []
    for peer in reversed(demo.peers):
        with contextlib.suppress(Exception):  # the rest must be stopped whatever this says
            peer.stop()
    left = demo.state.clear(files=False) + demo.cluster.stop()
    if not quiet:
        print(f"\nstopped everything the demo started{f' (LEFT BEHIND: {left})' if left else ''};"
              " `make demo KEEP=1` keeps it running")  # fmt: skip
    return left


def down(dir: Path) -> int:
    """`make demo-down`: a running demo driver is stopped first (SIGTERM, handled as Ctrl-C), then
    whatever any run left is removed, under the lock."""
    lock = DemoLock(dir)
    if not lock.try_acquire():
        pid = lock.holder()
        print(f"a make demo is running in {dir} (pid {pid or 'unknown'}): stopping it first", flush=True)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if not lock.wait(DOWN_WAIT_SECONDS):
            print(f"demo down: the demo in {dir} (pid {pid}) did not stop in {DOWN_WAIT_SECONDS} s", file=sys.stderr)
            return 1
    try:
        left = tear_down(dir)
    finally:
        lock.release()
    print(f"demo down{f'; LEFT BEHIND: {left}' if left else ': nothing of it is left'}")
    return 1 if left else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", type=Path, default=REPO / ".cluster")
    parser.add_argument("--keep", action="store_true", help="leave everything running (stop: make demo-down)")
    parser.add_argument("--down", action="store_true", help="stop what a kept demo left running")
    args = parser.parse_args()
    dir = args.dir.resolve()
    if not args.down:
        return run(dir, args.keep)
    try:
        return down(dir)
    except KeyboardInterrupt:
        print("demo down: interrupted; run make demo-down again to finish", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
