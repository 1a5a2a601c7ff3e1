"""`make demo`: the whole flow on this machine, the way users run it.

A 2-node pod-network cluster in DIR (.cluster/) with streamops installed by `helm install`;
examples/livestream-push.yaml, examples/recording-s3.yaml (to an S3 server, versitygw, on the
cluster's LAN) and a Restream shaped like examples/restream-youtube.yaml but aimed at an nginx-rtmp
on the LAN (nothing may leave the machine); a synthetic encoder on the LAN (testsrc2 + sine,
640x360 at 30 fps) pushes RTMP to the URL in status; 20 s recorded, stopped, uploaded; then
`kubectl get lst,rec,rst`, the HLS URL, the download command (`streamops video url`) and ffprobe's
summary of the video downloaded with it. Everything is stopped at the end unless --keep (`make
demo KEEP=1`: loopback portals let OBS or ffmpeg here push and play; `make demo-down` stops it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from devtools.address_plan import OUTSIDE_IP
from devtools.cluster.kubectl import condition
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import Release
from devtools.media.peers import NginxRtmp, Publisher
from devtools.media.s3_server import S3LanRelay, S3Server
from devtools.ports import LOOPBACK, free_port
from devtools.versions import REPO

STREAM = "obs-studio"
RECORDING = "obs-studio-keynote-s3"
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
    credentials = s3.credentials_secret(secret["metadata"]["name"], "default")
    return [credentials, s3.ca_secret(storage["caSecret"], "default"), rec]


def stop_demo_processes(dir: Path) -> None:
    """The demo's own nginx, publisher, S3 server and relay, by the pids it recorded (demo-down)."""
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
    cluster = LocalCluster(dir, nodes=2, ingress_controller=False)  # the demo plays through NodePorts
    nginx: NginxRtmp | None = None
    publisher: Publisher | None = None
    portals: subprocess.Popen[bytes] | None = None
    s3: S3Server | None = None
    relay: S3LanRelay | None = None
    ok = False
    try:
        stop_demo_processes(dir)  # a previous kept demo's peers
        step("a 2-node cluster with a pod network (the first run builds Kubernetes' images: a few minutes)")
        cluster.start()
        print(
            f"ready in {time.monotonic() - began:.0f}s: " + ", ".join(f"{k} {v}s" for k, v in cluster.timings.items())
        )
        print(cluster.kubectl("get", "nodes", "-o", "wide").stdout.rstrip())
        step(f"helm install streamops {cluster.chart_ref} --version {cluster.chart_version} (images pulled from it)")
        print(f"the LAN registry {cluster.registry.lan_address} ({cluster.registry.portal_address} here)")
        release = Release(cluster).install()
        print(f"operator Pod available {release.install_seconds:.0f}s after helm install")
        # The namespace's default claim (the stream's warm standby recorder and examples/recording.yaml
        # use it; the demo's Recording goes to S3).
        cluster.recordings_volume("default", "node-1")

        step("an RTMP server (nginx-rtmp) on the cluster's LAN as the restream target")
        nginx = NginxRtmp(workdir=dir / "demo-nginx", address=OUTSIDE_IP, netns=cluster.network.outside).start()
        print(f"nginx-rtmp at {nginx.app_url()}")

        step("an S3 server (versitygw) on the cluster's LAN for the recordings")
        s3 = S3Server(dir / "demo-s3").start()
        s3.create_bucket("recordings")
        relay = s3.lan_relay(cluster.network.outside).start()
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
        publisher = Publisher(
            f"{push_url}/{key}", size="640x360", log_path=dir / "logs" / "demo-publisher.log",
            netns=cluster.network.outside,
        ).start()  # fmt: skip
        cluster.wait_status("lst", "default", STREAM, lambda o: o["status"]["live"], "status.live", 60)
        print("status.live is true")
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
        if args.keep:
            portals, local_rtmp, local_http = open_portals(dir, lan, push_url, hls)
            print(f"  OBS on this machine: Server rtmp://{LOOPBACK}:{local_rtmp}/live ; Stream Key: {key}")
            print(f"  (a loopback portal into the LAN: {LOOPBACK}:{local_rtmp} -> {urlsplit(push_url).netloc})")
            print(f"  watch on this machine: ffplay http://{LOOPBACK}:{local_http}{urlsplit(hls).path}")
        print(f"  record again: kubectl apply -f examples/recording.yaml (to the PVC) or delete rec {RECORDING} and")
        print("  apply examples/recording-s3.yaml with your own bucket; download: streamops video url <recording> [n]")
        ok = True
    finally:
        if args.keep and ok:
            pids = [p.pid for p in (nginx, publisher, portals, relay, s3) if p is not None and p.pid is not None]
            (dir / DEMO_PIDS).write_text(json.dumps(pids))
            cluster.detach()
            print("\nkept running, the synthetic publisher too: to push yourself, first stop it:")
            print(f"  kill {publisher.pid if publisher else ''}")
            print(f"  export KUBECONFIG={cluster.plane.kubeconfig} PATH={cluster.plane.bin_dir}:$PATH")
            print("  make demo-down    # stops everything the demo started")
        else:
            for peer in (publisher, nginx, relay, s3):
                if peer is not None:
                    peer.stop()
            left = cluster.stop()
            print(f"\nstopped everything the demo started{f' (LEFT BEHIND: {left})' if left else ''};"
                  " `make demo KEEP=1` keeps it running")  # fmt: skip
    print(f"demo took {time.monotonic() - began:.0f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
