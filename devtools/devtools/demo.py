"""`make demo`: the whole flow on this machine, with worker Pods really running.

1. control plane + node (containerd, kubelet; images built and cached on the first run) + the
   operator (hostNetwork workers on 127.0.0.1, ports 32000-32199), all in DIR (.cluster/);
2. `kubectl apply` of examples/livestream-push.yaml and examples/recording.yaml, and a Restream
   shaped like examples/restream-youtube.yaml but aimed at a local nginx-rtmp (nothing here may
   leave the machine);
3. a synthetic publisher (ffmpeg testsrc2 + sine, 640x360 at 30 fps) pushes RTMP into the stream; the demo
   records 20 s, stops the Recording and waits for the video;
4. prints `kubectl get lst,rec,rst`, the HLS URL and ffprobe's summary of the recorded file.

Everything is stopped at the end, unless --keep (`make demo KEEP=1`): then the stack and the
local RTMP server stay up for you to push from OBS or ffmpeg, and `make demo-down` stops them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from devtools.http_client import http_get
from devtools.kubectl import condition
from devtools.peers import NginxRtmp, Publisher
from devtools.stack import Stack
from devtools.versions import REPO
from devtools.waits import eventually

PORT_RANGE = "32000-32199"
STREAM = "obs-studio"
RECORDING = "obs-studio-keynote"
RESTREAM = "obs-studio-local"
RECORD_SECONDS = 20
DEMO_PIDS = "demo-pids.json"


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


def stop_demo_processes(dir: Path) -> None:
    """The demo's own nginx and publisher, by the pids it recorded (demo-down)."""
    path = dir / DEMO_PIDS
    try:
        pids = [int(p) for p in json.loads(path.read_text())]
    except (FileNotFoundError, ValueError):
        return
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", type=Path, default=REPO / ".cluster")
    parser.add_argument("--keep", action="store_true", help="leave everything running (stop: make demo-down)")
    parser.add_argument("--down", action="store_true", help="stop what a kept demo left running")
    args = parser.parse_args()
    dir = args.dir.resolve()
    if args.down:
        stop_demo_processes(dir)
        return 0

    began = time.monotonic()
    stack = Stack(dir, PORT_RANGE)
    nginx: NginxRtmp | None = None
    publisher: Publisher | None = None
    ok = False
    try:
        stop_demo_processes(dir)  # a previous kept demo's peers
        old = dir / "operator.pid"
        if old.exists():  # a previous demo's operator: replaced by one with this demo's settings
            with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
                os.killpg(int(old.read_text()), signal.SIGTERM)
            old.unlink(missing_ok=True)
        step("control plane + node + operator (the first run builds the images: a few minutes)")
        stack.start()
        print(f"ready in {time.monotonic() - began:.0f}s; worker image {stack.node.worker_image}")
        recordings = stack.recordings_volume("default")

        step("a local RTMP server (nginx-rtmp) as the restream target")
        nginx = NginxRtmp(workdir=dir / "demo-nginx").start()
        print(f"nginx-rtmp at {nginx.app_url()}")

        step("kubectl apply -f examples/livestream-push.yaml -f examples/recording.yaml (+ a local Restream)")
        print(stack.kubectl("apply", "-f", str(REPO / "examples/livestream-push.yaml"),
                            "-f", str(REPO / "examples/recording.yaml")).stdout.strip())  # fmt: skip
        print(stack.kubectl("apply", "-f", "-", input=restream_manifest(nginx.app_url())).stdout.strip())
        eventually(lambda: stack.pod_running("default", f"{STREAM}-ingest"), timeout=90, what="ingest Pod Running")
        stream = stack.wait_status("lst", "default", STREAM, lambda o: o["status"]["playback"]["hlsCmafUrl"], "status")
        base = stream["status"]["playback"]["hlsCmafUrl"].split("/hls/")[0]
        eventually(lambda: http_get(f"{base}/healthz", timeout=1)[0] == 200, timeout=60, what="ingest worker up")
        push_url = stream["status"]["ingest"]["pushUrl"]
        key = stack.stream_key("default", STREAM)

        step(f"pushing a synthetic test stream (testsrc2 640x360 30 fps + 440 Hz) to {push_url}/<key>")
        publisher = Publisher(f"{push_url}/{key}", size="640x360", log_path=dir / "logs" / "demo-publisher.log").start()
        stack.wait_status("lst", "default", STREAM, lambda o: o["status"]["live"], "status.live", 60)
        print("status.live is true")
        stack.wait_status("rec", "default", RECORDING, lambda o: o["status"]["recording"], "recording", 60)
        print(f"recording for {RECORD_SECONDS} s ...", flush=True)
        time.sleep(RECORD_SECONDS)
        stack.kubectl("patch", "rec", RECORDING, "--type=merge", "-p", '{"spec":{"stopped":true}}')
        succeeded = lambda o: (condition(o, "Succeeded") or {}).get("status") == "True"  # noqa: E731
        rec = stack.wait_status("rec", "default", RECORDING, succeeded, "video", 120)
        stack.wait_status("rst", "default", RESTREAM, lambda o: o["status"].get("live"), "restream live", 30)

        step("kubectl get lst,rec,rst")
        print(stack.kubectl("get", "lst,rec,rst", "-o", "wide").stdout)
        print(stack.kubectl("get", "pods", "-o", "wide").stdout)
        hls = stream["status"]["playback"]["hlsCmafUrl"]
        print(f"HLS (CMAF): {hls}\nHLS (TS):   {stream['status']['playback']['hlsMpegtsUrl']}")
        print(f"restream target: {nginx.rtmp_url(name='demo-restream')} (publishing: {sorted(nginx.publishing())})")
        step("the recorded video (ffprobe)")
        for video in rec["status"]["videos"]:
            print(f"{video['title']}: {video['durationSeconds']} s")
            print(ffprobe_summary(recordings / video["path"]))

        step("push from OBS or ffmpeg yourself")
        print(f"  OBS: Settings > Stream > Service: Custom; Server: {push_url}; Stream Key: {key}")
        srt = stream["status"]["ingest"].get("pushUrlSrt")
        print(f"  ffmpeg: ffmpeg -re -i input.mp4 -c copy -f flv '{push_url}/{key}'")
        if srt:
            print(f"  SRT:    ffmpeg -re -i input.mp4 -c copy -f mpegts '{srt}?mode=caller&passphrase={key}'")
        print(f"  watch:  ffplay {hls}   (one publisher at a time: stop the demo's first)")
        print(f"  record again: kubectl apply -f examples/recording.yaml after deleting rec {RECORDING}")
        ok = True
    finally:
        if args.keep and ok:
            pids = [p.pid for p in (nginx, publisher) if p is not None and p.pid is not None]
            (dir / DEMO_PIDS).write_text(json.dumps(pids))
            stack.detach()
            print("\nkept running, the synthetic publisher too: to push yourself, first stop it:")
            print(f"  kill {publisher.pid if publisher else ''}")
            print(f"  export KUBECONFIG={stack.plane.kubeconfig} PATH={stack.plane.bin_dir}:$PATH")
            print("  make demo-down    # stops everything the demo started")
        else:
            for peer in (publisher, nginx):
                if peer is not None:
                    peer.stop()
            left = stack.stop()
            print(f"\nstopped everything the demo started{f' (LEFT BEHIND: {left})' if left else ''};"
                  " `make demo KEEP=1` keeps it running")  # fmt: skip
    print(f"demo took {time.monotonic() - began:.0f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
