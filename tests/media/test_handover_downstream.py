"""What reads an ingest's feed across a make-before-break handover (issue 56: "recordings stay one
video across it, restreams resume within 3 s"): two real ingest workers on 127.0.0.1, an encoder that
burns the wall clock into its frames and reconnects as OBS does through a forwarder that stands in
for the Service, a recorder and a shared pusher (its Go relay) reading the feed through the internal
Service's stand-in, nginx-rtmp as the restream target. The predecessor releases; the recording is
one video whose duration is the broadcast's by the burned-in clock (the reconnect's gap kept as a
freeze), and the target's bytes resume within 3 s on the same publishing session.
docs/design/handover.md, "Recorders and pushers across a handover"."""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from devtools.http_client import http_request
from devtools.media.clock_source import ClockEncoder, video_clock_ms
from devtools.media.peers import NginxRtmp, TcpForwarder
from devtools.media.reconnecting_publisher import Backoff, ReconnectingPublisher
from devtools.media.workers import WORKER_AUTH
from devtools.waits import wait_for
from streamops.contract.ingest import FEED_PATH, HANDOVER_FOLLOW_PATH, HANDOVER_RELEASE_PATH

from tests.media.test_handover import DVR, HLS, handover, post, recorder_through
from tests.media.test_shared_pusher import SharedPushWorker, shared_pusher  # noqa: F401 (the fixture)

SIZE = (640, 360)
KEY = "rk-HANDOVER-gap-41d2"
VIDEO_SLACK_SECONDS = 1.0  # issue 56: the video's duration is the broadcast's within 1 s
TARGET_SILENCE_SECONDS = 3.0  # issue 56: the restream resumes within 3 s ...
# ... of which the encoder's reconnect (OBS's, 0.6-1.0 s off in the multinode runs) takes one: what the
# ingest, the feed and the relay add after the encoder's new first frame is held to the other two. The
# test's encoder (a Python generator and its FFmpeg, started afresh) takes 1-2 s more on a loaded machine.
PIPELINE_SECONDS = 2.0


@dataclass
class TargetSampler:
    """Every 0.1 s from a thread: the target's bytes per publishing session (nginx-rtmp's rtmp_stat),
    and whether the encoder runs. Times are time.monotonic()."""

    target: NginxRtmp
    encoder: ReconnectingPublisher
    grew: list[float] = field(default_factory=list)  # samples that saw the target's bytes grow
    encoder_down: list[float] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)  # the publishing clients' ids seen
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="target-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        last = 0
        while not self._stop.wait(0.1):
            now = time.monotonic()
            if (current := self.encoder.current) is None or not current.running:
                self.encoder_down.append(now)
            try:
                total = 0
                for stream in self.target.stat().iter("stream"):
                    for client in stream.iter("client"):
                        if client.find("publishing") is not None:
                            self.sessions.add(client.findtext("id") or "")
                            total += int(stream.findtext("bytes_in") or 0)
            except (OSError, ValueError):
                continue
            if total > last:
                self.grew.append(now)
            last = total

    def received_after(self, moment: float) -> bool:
        return any(t > moment for t in self.grew)

    def silence(self, start: float) -> tuple[float, float]:
        """The longest stretch without the target's bytes growing after `start`, and where it began."""
        times = [t for t in self.grew if t >= start]
        return max(((b - a, a) for a, b in itertools.pairwise(times)), default=(0.0, start))

    def encoder_off(self, start: float) -> float:
        down = [t for t in self.encoder_down if t >= start]
        return (down[-1] - down[0] + 0.1) if down else 0.0


def clock_ms(video: Path, last: bool) -> int:
    return video_clock_ms(video, SIZE, last)


def parts_of(recorder_dir: Path) -> list[dict[str, Any]]:
    state = json.loads((recorder_dir / ".recorder-state.json").read_text())
    current = state.get("current") or {}
    return list(current.get("parts") or [])


def test_a_recording_stays_one_video_of_the_broadcast_and_a_restream_resumes_across_a_handover(
    ingest_factory,
    shared_pusher: SharedPushWorker,  # noqa: F811
    tmp_path: Path,
) -> None:
    before = ingest_factory("predecessor", hls=HLS, dvr=DVR, source={"push": {"protocols": ["rtmp"]}})
    after = ingest_factory("successor", hls=HLS, dvr=DVR, source={"push": {"protocols": ["rtmp"]}})
    service = TcpForwarder(before.ports["rtmp"], tmp_path / "service").start()
    internal = TcpForwarder(before.ports["internal"], tmp_path / "internal").start()
    nginx = NginxRtmp(workdir=tmp_path / "nginx").start()
    encoder = ReconnectingPublisher(
        lambda: ClockEncoder(f"rtmp://127.0.0.1:{service.port}/live/{before.KEY}", gop_seconds=2, preset="ultrafast",
                             log_path=tmp_path / f"clock-{time.monotonic_ns()}.log"),
        Backoff(),  # as the multinode test's encoder
    ).start()  # fmt: skip
    recorder = None
    try:
        before.wait_live(timeout=30)
        recorder = recorder_through(internal, tmp_path)
        feed_url = f"http://127.0.0.1:{internal.port}{FEED_PATH}"
        target = {"id": "uid-out", "name": "out", "version": "1", "feedUrl": feed_url, "uri": nginx.app_url(),
                  "streamKey": KEY, "noAudioMode": "drop"}  # fmt: skip
        assert shared_pusher.put([target])[0] == 200
        shared_pusher.wait_live("out")
        wait_for(lambda: nginx.publishing() == {KEY}, timeout=20, what="the target receives the restream")
        wait_for(lambda: recorder.status()["duration"] >= 4, timeout=30, what="4 s recorded")

        follow = {"predecessorUrl": before.internal, "predecessorPod": "ingest-0"}
        assert post(after.internal + HANDOVER_FOLLOW_PATH, follow) == 200
        wait_for(lambda: handover(after).get("phase") == "caught-up", timeout=30, what="caught up")
        with TargetSampler(nginx, encoder) as sampler:
            wait_for(lambda: len(sampler.grew) >= 3, timeout=10, what="the sampler running")
            service.upstream = ("127.0.0.1", after.ports["rtmp"])
            internal.upstream = ("127.0.0.1", after.ports["internal"])
            released_at, released_wall = time.monotonic(), time.time()
            assert post(before.internal + HANDOVER_RELEASE_PATH) == 202
            wait_for(lambda: handover(before).get("release") == "released", timeout=20, what="released")
            wait_for(lambda: handover(after).get("phase") == "on-air", timeout=30, what="the successor on air")
            on_air = time.monotonic()
            # Both readers back on the successor's feed, and going on: the target's bytes grow again,
            # the recorder's next part has recorded 3 s.
            wait_for(lambda: sampler.received_after(on_air + 1), timeout=20, what="the target receiving again")
            wait_for(
                lambda: len(parts := parts_of(tmp_path / "videos")) >= 2 and parts[-1]["seconds"] >= 3,
                timeout=30, what="3 s recorded from the successor",
            )  # fmt: skip
            silence, silent_from = sampler.silence(released_at - 1)
            encoder_off = sampler.encoder_off(released_at)
            sessions = set(sampler.sessions)
        # The encoder's new session began with this frame (its clock): the media's gap before it is
        # the encoder's reconnect, not the readers'.
        current = encoder.current
        assert isinstance(current, ClockEncoder)
        restarted = current.frames()[0].ms / 1000 - released_wall
        out = shared_pusher.target("out") or {}
        parts = parts_of(tmp_path / "videos")
        code, _, body = http_request("POST", recorder.http + "/stop", None, WORKER_AUTH, timeout=90)
        assert code == 200, body
        videos = json.loads(body)["videos"]
        assert len(videos) == 1, f"one video across the handover: {videos}"
        path = tmp_path / videos[0]["path"]
        broadcast = (clock_ms(path, last=True) - clock_ms(path, last=False)) / 1000 + 1 / 30
        duration = float(videos[0]["durationSeconds"])
        media = sum(p["seconds"] for p in parts)  # what the parts hold, the gap left out (before)
        # Where the seconds went (the recorder's parts on the wall clock, the target's bytes).
        first, then = parts[-2], parts[-1]
        ended = first["wallStart"] + first["seconds"] - released_wall
        resumed = then["wallStart"] - released_wall
        read_at = then["sourceReadAt"] - released_wall
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"\nMEASURED handover downstream (load {load}): from the release, the predecessor's media ended at "
            f"+{ended:.2f} s, encoder off {encoder_off:.1f} s, its new first frame at +{restarted:.2f} s, "
            f"the successor's first recorded frame live at "
            f"+{resumed:.2f} s (a {resumed - ended:.2f} s gap), its part's FFmpeg read it at +{read_at:.2f} s; "
            f"video {duration:.2f} s for a broadcast of {broadcast:.2f} s (its parts {media:.2f} s); target silent "
            f"{silence:.2f} s (bound {TARGET_SILENCE_SECONDS:g} s) from +{silent_from - released_at:.2f} s, "
            f"{len(sessions)} publishing session(s), pusher reconnects {out.get('reconnects')}"
        )
        assert abs(duration - broadcast) <= VIDEO_SLACK_SECONDS, (duration, broadcast)
        assert silence - restarted <= PIPELINE_SECONDS, (silence, restarted)
        assert len(sessions) == 1 and out.get("reconnects") == 0, "the target's connection kept: no new publish"
    finally:
        encoder.stop()
        if recorder is not None:
            recorder.stop()
        nginx.stop()
        service.stop()
        internal.stop()
