"""Backup failover with real FFmpeg: a primary and a backup ingest (the backup sends its feed to the
primary while the primary asks for it), publishers on both, and a recorder and a pusher (to
nginx-rtmp) attached to the primary, as the operator attaches them.

Measured here: the time from the primary's publisher stopping (or freezing) to the backup's media
in the primary's HLS playlist, in its /status and at the pusher's target; and the switch back
after failback.stableSeconds. Every process is stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_get
from devtools.media.peers import NginxRtmp, Publisher, TcpForwarder, ffprobe_duration
from devtools.media.reconnecting_publisher import Backoff, ReconnectingPublisher
from devtools.media.viewer_log import Figures, Request, read_log
from devtools.media.workers import WORKER_AUTH, Ingest, Worker
from devtools.ports import free_port
from devtools.versions import hlsload_bin
from devtools.waits import wait_for
from streamops.contract.ingest import HANDOVER_FOLLOW_PATH, HANDOVER_STATE_PATH, HandoverState

pytestmark = pytest.mark.timeout(240)

STABLE = 6  # failback.stableSeconds (the default is 10: shorter here, same rule)
POLL = 0.05
SETTLE = 1  # seconds the failover test records each source between the switches
PLAYLIST = "/hls/cmaf/index.m3u8"
SEGMENT_URI = re.compile(r"/seg-(\d+)\.m4s$")
SIZE = "640x360"  # small publishers: four FFmpeg encoders and relays share two cores with the suite


@dataclass
class Pair:
    """A push stream with a backup: two ingests and one publisher on each."""

    primary: Ingest
    backup: Ingest
    workdir: Path
    publishers: list[Publisher] = field(default_factory=list)

    def publish(self, ingest: Ingest, name: str) -> Publisher:
        publisher = Publisher(ingest.rtmp_url(), size=SIZE, log_path=self.workdir / f"{name}.log").start()
        self.publishers.append(publisher)
        return publisher

    def status(self) -> dict[str, Any]:
        return self.primary.status()

    def served_playlist(self) -> str | None:
        code, body = http_get(f"{self.primary.http}/hls/cmaf/index.m3u8", timeout=2)
        return body.decode() if code == 200 else None

    def serves_session(self, kind: str) -> bool:
        """The primary's playlist goes on with the newest `kind` session's segments (rtmp: its own;
        backup: the relay): its last segment is that session's last, by its program date time (the
        served playlist numbers segments across sessions: media/ingest/continuity.py)."""
        dirs = sorted((self.primary.workdir / "media" / "sessions").glob(f"*-{kind}"))
        served = self.served_playlist()
        if not dirs or served is None or "#EXTINF" not in served:
            return False
        try:
            own = (dirs[-1] / "cmaf" / "index.m3u8").read_text()
        except FileNotFoundError:
            return False
        dates = [re.findall(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)", text) for text in (served, own)]
        return bool(dates[1]) and dates[0][-1:] == dates[1][-1:]


@pytest.fixture
def pair(ingest_factory: Callable[..., Ingest], tmp_path: Path) -> Iterator[Pair]:
    primary = ingest_factory("primary", source={"push": {"protocols": ["rtmp"]}}, screenshots={"enabled": False})
    backup = ingest_factory(
        "backup",
        role="backup",
        primaryUrl=primary.internal,
        source={"push": {"protocols": ["rtmp"], "failback": {"stableSeconds": STABLE}}},
        screenshots={"enabled": False},
    )
    streams = Pair(primary, backup, tmp_path)
    try:
        yield streams
    finally:
        for p in streams.publishers:
            p.stop()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[str, dict[str, Any]], Worker]]:
    started: list[Worker] = []

    def start(kind: str, config: dict[str, Any]) -> Worker:
        workdir = tmp_path / kind
        workdir.mkdir()
        port = free_port()
        worker = Worker(kind, {**config, "httpHost": "127.0.0.1", "httpPort": port}, workdir, port)
        started.append(worker)
        return worker.start()

    yield start
    for worker in reversed(started):
        worker.stop()


def target(nginx: NginxRtmp, name: str) -> tuple[int, int] | None:
    """(milliseconds since the publish began, bytes received) of the stream being published, or None."""
    for stream in nginx.stat().iter("stream"):
        if stream.findtext("name") == name and stream.find("publishing") is not None:
            return int(stream.findtext("time") or 0), int(stream.findtext("bytes_in") or 0)
    return None


def republished_since(nginx: NginxRtmp, name: str, moment: float) -> bool:
    """The target gets media from a publish that began after `moment` (time.monotonic())."""
    try:
        seen = target(nginx, name)
    except (OSError, ET.ParseError):
        return False
    return seen is not None and seen[0] / 1000 < time.monotonic() - moment and seen[1] > 0


def first_times(probes: dict[str, Callable[[], bool]], since: float, timeout: float) -> dict[str, float]:
    """Seconds from `since` until each probe first holds (polled together, every POLL s)."""
    found: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(probes) and time.monotonic() < deadline:
        for name, probe in probes.items():
            if name not in found and probe():
                found[name] = round(time.monotonic() - since, 2)
        time.sleep(POLL)
    assert len(found) == len(probes), f"only {found} within {timeout} s"
    return found


def post(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(urllib.request.Request(url, method="POST", headers=WORKER_AUTH), timeout=60) as r:
        return dict(json.loads(r.read()))


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def test_backup_takes_over_hls_recorder_and_pusher_and_the_primary_takes_back_once_stable(pair, workers, tmp_path):
    pair.publish(pair.backup, "backup-publisher")
    main = pair.publish(pair.primary, "primary-publisher")
    pair.backup.wait_live()
    assert pair.primary.wait_live()["activeIngest"] == "primary"
    assert not pair.status()["backupWanted"], "a primary whose publisher sends wants nothing from its backup"

    recorder = workers(
        "record",
        {
            "feedUrl": pair.primary.feed_url,
            "recordingsRoot": str(tmp_path),
            "directory": "videos",
            "title": "Camera 1",
            "reconnectWindowSeconds": 10,
            "maxSegmentSeconds": 14400,
            "minDurationSeconds": 2,
        },
    )
    with NginxRtmp(workdir=tmp_path / "nginx") as nginx:
        push = {"name": "to-nginx", "feedUrl": pair.primary.feed_url, "uri": nginx.rtmp_url(), "noAudioMode": "drop"}
        pusher = workers("push", push)
        wait_for(lambda: recorder.status()["state"] == "recording", timeout=20)
        wait_for(lambda: pusher.status()["live"], timeout=20)
        wait_for(lambda: pair.serves_session("rtmp"), timeout=15)
        # A second of each source in the video (before: 3, 4 and 3 s). The claims are one video and
        # its loss around each switch (duration against wall time, whatever the time between switches).
        time.sleep(SETTLE)

        # The primary's publisher leaves: the backup's media goes on air.
        stopped = time.monotonic()
        main.stop()
        failover = first_times(
            {
                "status": lambda: pair.status()["activeIngest"] == "backup",
                "hls": lambda: pair.serves_session("backup"),
                "pusher target": lambda: republished_since(nginx, "stream", stopped),
            },
            stopped,
            timeout=20,
        )
        print(f"\nMEASURED failover, primary publisher stopped -> backup media: {failover} s ({load()})")
        assert all(seconds <= 5 for seconds in failover.values()), failover
        # Rates come from ≥1.5 s of the relay's progress reports after the switch (LiveMeter.MIN_SPAN),
        # which can be later than the last of the times above.
        on_backup = wait_for(
            lambda: (status := pair.status())["frameRate"] and status, timeout=5, what="rates of the relayed media"
        )
        assert not on_backup["live"] and on_backup["backupWanted"] and pair.backup.status()["live"]
        assert on_backup["videoWidth"] == 640 and on_backup["frameRate"], "the metrics are the relayed media's"
        wait_for(lambda: recorder.status()["state"] == "recording", timeout=10)
        time.sleep(SETTLE)

        # The primary's publisher is back: the backup stays on air until the primary is stable.
        restarted = time.monotonic()
        pair.publish(pair.primary, "primary-publisher-2")
        pair.primary.wait_live()
        assert pair.status()["activeIngest"] == "backup", "not before failback.stableSeconds"
        failback = first_times(
            {
                "status": lambda: pair.status()["activeIngest"] == "primary",
                "hls": lambda: pair.serves_session("rtmp"),
                "pusher target": lambda: republished_since(nginx, "stream", restarted + STABLE),
            },
            restarted,
            timeout=STABLE + 15,
        )
        print(f"MEASURED failback, primary publisher restarted -> primary media (stable {STABLE} s): {failback} s")
        assert STABLE <= failback["status"] <= STABLE + 3, failback
        # Its HLS was written all along: the playlist served from the switch on has its recent past.
        assert pair.served_playlist().count("#EXTINF") >= 2
        wait_for(lambda: not pair.status()["backupWanted"], timeout=5)
        wait_for(lambda: recorder.status()["state"] == "recording", timeout=10)
        time.sleep(SETTLE)

        wall = time.monotonic() - recording_began(recorder)
        final = post(recorder.http + "/stop")
        pushed = pusher.status()

    assert len(final["videos"]) == 1, f"one video across both switches (reconnect window 10 s): {final}"
    video = final["videos"][0]
    duration = ffprobe_duration(tmp_path / video["path"])
    print(f"MEASURED recording across failover and failback: {duration:.1f} s of {wall:.1f} s wall, one video")
    assert duration >= wall - 6, "at most a few seconds lost around each switch"
    assert pushed["reconnects"] >= 2 and pushed["failures"] == 0, pushed


def recording_began(recorder: Worker) -> float:
    """time.monotonic() when the recorder's first video began (from its /status startedAt)."""
    from datetime import datetime

    started = datetime.fromisoformat(recorder.status()["startedAt"].replace("Z", "+00:00"))
    return time.monotonic() - (datetime.now(started.tzinfo) - started).total_seconds()


def test_a_frozen_primary_publisher_hands_over_to_the_backup(pair):
    pair.publish(pair.backup, "backup-publisher")
    main = pair.publish(pair.primary, "primary-publisher")
    pair.backup.wait_live()
    pair.primary.wait_live()
    wait_for(lambda: pair.serves_session("rtmp"), timeout=15)
    with main.frozen() as frozen:
        failover = first_times(
            {
                "status": lambda: pair.status()["activeIngest"] == "backup",
                "hls": lambda: pair.serves_session("backup"),
            },
            frozen,
            timeout=15,
        )
    print(f"\nMEASURED failover, primary publisher frozen (SIGSTOP) -> backup media: {failover} s ({load()})")
    assert failover["status"] <= 3.5 and failover["hls"] <= 5, failover


def test_an_uplink_not_signed_with_the_stream_key_is_refused(pair):
    """Signed with the key, and from a holder of the stream's worker credential (401 before that)."""
    forged = {"X-Streamops-Backup-Auth": f"{int(time.time())}.00", "X-Streamops-Failback-Stable-Seconds": "10"}
    for headers, code in ((forged, 401), ({**forged, **WORKER_AUTH}, 403)):
        request = urllib.request.Request(
            f"{pair.primary.internal}/backup/uplink", data=b"\x47" * 188 * 10, method="POST", headers=headers
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == code
    # The relay feed: the worker credential first (loopback is the node with host networking), then
    # only the primary's own relay session.
    assert http_get(f"{pair.primary.internal}/backup/feed")[0] == 401
    assert http_get(f"{pair.primary.internal}/backup/feed", headers=WORKER_AUTH)[0] in (403, 503)
    assert pair.status()["activeIngest"] is None


def post_text(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, data=b"", method="POST", headers=WORKER_AUTH)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_a_planned_switchover_yields_to_the_backup_and_the_successor_holds_what_was_listed(
    pair, ingest_factory, tmp_path
):
    """Issue 56's planned switchover, the workers' side: both publishers live, a successor caught up
    with the primary, an HLS viewer (standard HLS, as the multinode switchover's) reading through a
    forwarder that stands in for the Service. The primary asked to yield puts the backup's media on
    air though its own still sends; its playlist then gains the relay's first segment with an init
    segment of its own while the successor serves the mirror of a poll before: the successor holds
    both (asked of it at once: a 404 each before), and the viewer, sent to the successor when the
    label moves, never gets an answer but 200 nor a playlist that goes back. Released, the primary
    stops asking for the backup, its relay ends, it refuses to yield again; the successor goes on
    with its own publisher."""
    successor = ingest_factory("successor", source={"push": {"protocols": ["rtmp"]}}, screenshots={"enabled": False})
    pair.publish(pair.backup, "backup-publisher")
    pair.publish(pair.primary, "primary-publisher")
    pair.backup.wait_live()
    pair.primary.wait_live()
    wait_for(lambda: pair.serves_session("rtmp"), timeout=15)
    web = TcpForwarder(pair.primary.ports["http"], tmp_path / "http").start()
    log = tmp_path / "viewer.jsonl"
    viewer = subprocess.Popen(
        [str(hlsload_bin()), "-url", f"http://127.0.0.1:{web.port}{PLAYLIST}", "-mode", "hls",
         "-viewers", "1", "-ramp", "0s", "-duration", "120s", "-log", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    encoder: ReconnectingPublisher | None = None
    try:
        wait_for(lambda: log.exists() and '"segment"' in log.read_text(), timeout=20, what="the viewer playing")
        follow = {"predecessorUrl": pair.primary.internal, "predecessorPod": "ingest-0"}
        assert post_json(successor.internal + HANDOVER_FOLLOW_PATH, follow) == 200
        wait_for(lambda: (successor.status().get("handover") or {}).get("phase") == "caught-up", timeout=20)
        yielded, asked = time.time(), time.monotonic()
        assert post_text(f"{pair.primary.internal}/handover/yield")[0] == 202
        wait_for(lambda: pair.status()["activeIngest"] == "backup", timeout=15, interval=POLL)
        switched = {"status": round(time.monotonic() - asked, 2)}
        # The relay's first segment gets the next number, and an init segment named after it: asked
        # of the successor now, as a player that read the primary's playlist may ask it.
        first = next_number(pair.primary)
        names = (f"init-{first}.mp4", f"seg-{first}.m4s")
        with ThreadPoolExecutor(max_workers=2) as pool:
            asking = pool.map(lambda name: timed_get(f"{successor.http}/hls/cmaf/{name}"), names)
            web.upstream = ("127.0.0.1", successor.ports["http"])  # the label moves: new connections go there
            wait_for(lambda: pair.serves_session("backup"), timeout=15, interval=POLL)
            switched["hls"] = round(time.monotonic() - asked, 2)
            held = list(asking)
        print(f"\nMEASURED planned switchover, yield -> backup media: {switched} s; the successor held "
              f"{names}: {[(code, took) for code, took, _ in held]} s ({load()})")  # fmt: skip
        assert [code for code, _, _ in held] == [200, 200], "held until mirrored, not a 404"
        for (_, _, body), name in zip(held, names, strict=True):
            assert body == http_get(f"{pair.primary.http}/hls/cmaf/{name}")[1], f"{name}: the primary's bytes"
        assert pair.status()["live"]  # the primary's own publisher still sends: not a failover
        released = time.monotonic()
        assert post_text(f"{pair.primary.internal}/handover/release")[0] == 202
        wait_for(lambda: (pair.status().get("handover") or {}).get("release") == "released", timeout=15)
        wait_for(lambda: not pair.status()["backupWanted"] and pair.status()["activeIngest"] is None, timeout=10)
        print(f"MEASURED release with the backup on air -> released, relay ended: {time.monotonic() - released:.2f} s")
        assert post_text(f"{pair.primary.internal}/handover/yield")[0] == 409
        # The encoder reconnects as OBS does: refused until the successor saw the release.
        encoder = ReconnectingPublisher(lambda: Publisher(successor.rtmp_url(), size=SIZE), Backoff(first=0.2))
        encoder.start()
        wait_for(lambda: (successor.status().get("handover") or {}).get("phase") == "on-air", timeout=30)
        own = next_number(successor)  # its own session's next segment
        wait_for(lambda: max(received(read_log(log.read_text())), default=0) > own, timeout=30,
                 what="the viewer reading the successor's own segments")  # fmt: skip
    finally:
        if encoder is not None:
            encoder.stop()
        viewer.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            viewer.communicate(timeout=30)
        if viewer.poll() is None:
            viewer.kill()
            viewer.communicate(timeout=30)
        web.stop()
    requests = read_log(log.read_text())
    figures = Figures.of(requests, yielded, requests[-1].t, segment_seconds=2)
    print(f"MEASURED the HLS viewer across the planned switchover: {figures.line()}")
    errors = [(round(r.t - yielded, 2), r.kind, r.status, r.url) for r in requests if r.status != 200]
    assert not errors and not figures.resets, (errors, figures.line())


def next_number(ingest: Ingest) -> int:
    """The number the next segment of the CMAF playlist gets (its handover state's)."""
    code, body = http_get(f"{ingest.internal}{HANDOVER_STATE_PATH}", headers=WORKER_AUTH)
    assert code == 200, body
    state = HandoverState.model_validate_json(body)
    return next(p.next_number for p in state.playlists if p.variant == "cmaf" and p.next_number is not None)


def received(requests: list[Request]) -> list[int]:
    """The numbers of the segments a viewer's log says it received."""
    return [int(m[1]) for r in requests if r.status == 200 and (m := SEGMENT_URI.search(r.url))]


def timed_get(url: str) -> tuple[int, float, bytes]:
    began = time.monotonic()
    code, body = http_get(url, timeout=20)
    return code, round(time.monotonic() - began, 2), body


def post_json(url: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json", **WORKER_AUTH}
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return int(r.status)
