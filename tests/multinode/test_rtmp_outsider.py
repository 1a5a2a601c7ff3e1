"""An outsider on the cluster's LAN against a stream's RTMP NodePort, while the real encoder publishes
with the key (issue 36): trickling handshakes, `play` followed by media, a wrong-key `publish` split
over 8-byte chunks followed by media, a 5 MB partial `publish`, each in a loop; and (issue 52) a
key-less flood of connections past `connect` and bare ones, as fast as one client opens them. The
encoder, started again 1 s after each failure as OBS does, goes live whatever they do, and none of
the attacker's media (solid red) reaches the HLS viewers get, the recording or the restream target:
each is decoded and looked at. While the Recording records, the key-less flood goes on and a request
flood (h2load, as fast as one client asks) hits the stream's public HTTP NodePort from the LAN too:
the encoder's session stays the one on air throughout, and the Recording's one video has every
second from its start to its stop (within a GOP).

On main at 3627d2a the tricklers kept the encoder out (the relay handed FFmpeg's one-client listener
to the first connection) and `play` + media or the chunked publish went on air. On ec95e86 the flood
kept it out (behind the NodePort every LAN client has the node's address: the caps closed the
encoder, the oldest least advanced connection, for each bare one)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from devtools.catalog import recording, restream
from devtools.cluster import in_pod
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.network import OUTSIDE_IP
from devtools.cluster.release import Release
from devtools.http_client import http_get
from devtools.media.hls import media_playlist
from devtools.media.peers import NginxRtmp, Publisher, ffprobe_duration
from devtools.media.reconnecting_publisher import Backoff, ReconnectingPublisher
from devtools.media.request_flood import RequestFlood
from devtools.media.rtmp_raw import TYPE_COMMAND, KeylessFlood, RawRtmp, attacker_flv, attacker_frames, chunks
from devtools.waits import eventually

from devtools import netns
from tests.multinode.test_streaming import start_stream

pytestmark = pytest.mark.timeout(600)

# How long both floods run while the Recording records: a load window, nothing is timed by it.
FLOOD_SECONDS = 10
REFUSALS = "streamops_ingest_overload_refusals_total"
SERVED = "streamops_playback_requests_total"


class Outsider:
    """The attacks, each in a loop on its own thread, from the LAN namespace, until stop()."""

    def __init__(self, cluster: LocalCluster, host: str, port: int, flv: Path) -> None:
        self.cluster, self.host, self.port, self.flv = cluster, host, port, flv
        self.stopping = threading.Event()
        self.attempts: dict[str, int] = {}
        self.threads = [
            threading.Thread(target=self._loop, args=(name, attack), daemon=True)
            for name, attack in (
                *((f"trickle-{i}", self._trickle) for i in range(4)),
                ("play", self._play),
                ("chunked-wrong-key", self._chunked_wrong_key),
                ("partial-publish", self._partial_publish),
            )
        ]

    def __enter__(self) -> Outsider:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=15)

    def _client(self) -> RawRtmp:
        with netns.entered(self.cluster.network.outside):  # the socket stays on the LAN
            return RawRtmp(self.host, self.port)

    def _loop(self, name: str, attack: Callable[[RawRtmp], None]) -> None:
        while not self.stopping.is_set():
            self.attempts[name] = self.attempts.get(name, 0) + 1
            with contextlib.suppress(OSError), self._client() as client:
                attack(client)
            self.stopping.wait(0.2)

    def _trickle(self, client: RawRtmp) -> None:
        while not self.stopping.is_set():
            client.send(b"\x03")
            if client.closed(wait=2):
                return

    def _play(self, client: RawRtmp) -> None:
        client.handshake()
        client.connect()
        client.create_stream()
        client.play("anything")
        client.send_flv(self.flv, seconds=3)

    def _chunked_wrong_key(self, client: RawRtmp) -> None:
        client.handshake()
        client.set_chunk_size(8)
        client.connect()
        client.publish("not-the-key")
        client.send_flv(self.flv, seconds=3)

    def _partial_publish(self, client: RawRtmp) -> None:
        client.handshake()
        client.connect()
        client.set_chunk_size(4096)
        body = b"\x02\x00\x07publish" + b"\x00" * (5 * 1024 * 1024)
        data = chunks(3, TYPE_COMMAND, 0, 0, body, 4096)[: 5 * 1024 * 1024]
        for start in range(0, len(data), 65536):
            client.send(data[start : start + 65536])


def ingest_status(cluster: LocalCluster, stream: dict) -> dict:
    """The ingest's own /status (no operator poll in between), read in its Pod: its internal face is
    on no Service a LAN client reaches (issue 37)."""
    return in_pod.ingest_status(cluster, stream["metadata"]["namespace"], stream["metadata"]["name"])


def ingest_counts(cluster: LocalCluster, stream: dict) -> dict[str, float]:
    """The ingest's refusals and served playback requests so far (its /metrics, read in its Pod)."""
    text = in_pod.ingest_internal(cluster, stream["metadata"]["namespace"], stream["metadata"]["name"], "/metrics")
    counts = dict.fromkeys((REFUSALS, SERVED), 0.0)
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in counts:
            counts[name] += float(line.rsplit(" ", 1)[1])
    return counts


def on_air(status: dict) -> tuple[bool, str | None, str | None]:
    """Whether the ingest is live, and since when its session on air (the last one, not ended) began."""
    last = (status.get("sessions") or [{}])[-1]
    return status["live"], status.get("startedAt"), None if last.get("endedAt") else last.get("startedAt")


def lan_answers(cluster: LocalCluster, stream: dict) -> bool:
    """The ingest's public HTTP face answers on its NodePort from the LAN."""
    origin = urlsplit(stream["status"]["playback"]["hlsCmafUrl"])
    with netns.entered(cluster.network.outside):
        try:
            return http_get(f"{origin.scheme}://{origin.netloc}/healthz", timeout=3)[0] == 200
        except OSError:
            return False


@pytest.fixture
def target(cluster: LocalCluster, tmp_path: Path) -> Iterator[NginxRtmp]:
    with NginxRtmp(hls=True, workdir=tmp_path / "target", address=OUTSIDE_IP, netns=cluster.network.outside) as nginx:
        yield nginx


def test_an_outsider_on_the_lan_gets_nothing_on_air_and_never_keeps_the_encoder_out(
    cluster: LocalCluster,
    release: Release,
    namespace: str,
    publishers: list[Publisher],
    target: NginxRtmp,
    tmp_path: Path,
) -> None:
    ns = namespace
    volume = cluster.recordings_volume(ns, "node-1")
    stream = start_stream(cluster, ns)
    push = urlsplit(stream["status"]["ingest"]["pushUrl"])
    assert push.hostname and push.port
    key = cluster.stream_key(ns, "cam")
    flv = attacker_flv(tmp_path, size="640x360")
    # kube-proxy programs the NodePort a moment after Ready: the first attack connects once it does.
    eventually(lambda: lan_answers(cluster, stream), timeout=30, what="the ingest on the LAN")

    lan = cluster.network.outside
    flood = KeylessFlood(push.hostname, push.port, where=lambda: netns.entered(lan))
    with Outsider(cluster, push.hostname, push.port, flv) as outsider, contextlib.ExitStack() as flooding:
        flooding.enter_context(flood)
        time.sleep(6)  # every attack under way, the tricklers past a first pre-auth deadline
        assert not ingest_status(cluster, stream)["live"], "nothing of the attacker's is on air"
        encoder = ReconnectingPublisher(
            lambda: cluster.lan_encoder(f"{push.geturl()}/{key}"),
            Backoff(first=1, factor=1, ceiling=1),
            publishers.append,
        ).start()
        started = time.monotonic()
        try:
            encoder.wait_live(
                lambda: ingest_status(cluster, stream)["live"], timeout=30, what="the encoder under attack"
            )
        finally:
            encoder.detach()  # no more restarts; the one that went live publishes on (publishers stops it)
        to_live = time.monotonic() - started
        cluster.apply(ns, recording("rec", minDurationSeconds=1))
        cluster.apply(ns, restream("out", uri=target.app_url()))
        cluster.wait_status("rec", ns, "rec", lambda o: o["status"].get("recording"), "recording", 90)
        # The video began at or before this: the recorder says so once FFmpeg wrote media, and the feed
        # starts on the GOP cache's keyframe.
        recording_from = time.monotonic()
        before, counts_before = ingest_status(cluster, stream), ingest_counts(cluster, stream)
        assert on_air(before)[0] and on_air(before)[2], before
        # Both floods from the LAN while the Recording records: the RTMP one goes on, the requests join.
        playlist = stream["status"]["playback"]["hlsCmafUrl"]
        requests = RequestFlood(playlist, connections=32, streams=8, bound=120, where=lambda: netns.entered(lan))
        with requests:
            flood_from = time.monotonic()
            seen = []
            while time.monotonic() - flood_from < FLOOD_SECONDS:
                with contextlib.suppress(OSError):  # a reading `kubectl exec` could not make: the next one
                    seen.append(on_air(ingest_status(cluster, stream)))
                outsider.stopping.wait(1)
            assert requests.running, "h2load flooded the whole window"
        flooding.close()  # the machine's 2 cores for the rest
        flooded = time.monotonic() - flood_from
        after, counts_after = ingest_status(cluster, stream), ingest_counts(cluster, stream)
        eventually(lambda: list(target.hls_dir.glob("*.ts")), timeout=60, what="the restream's HLS at the target")
        attempts = dict(outsider.attempts)  # they went on while the stream was recorded and restreamed
    refused, served = (counts_after[k] - counts_before[k] for k in (REFUSALS, SERVED))
    print(
        f"encoder start -> live under attack: {to_live:.2f} s, {encoder.attempts} attempt(s); attack attempts: "
        f"{attempts}; RTMP flood: {flood.past_connect} past connect, {flood.opened} bare; request flood "
        f"(h2load -c 32 -m 8, {playlist}): {(refused + served) / flooded:.0f} requests/s answered over "
        f"{flooded:.1f} s, {refused:.0f} refused ({REFUSALS}), {served:.0f} served; ingest statuses read "
        f"meanwhile: {len(seen)}; refusedPublishers {before['refusedPublishers']} -> {after['refusedPublishers']}"
    )
    # The encoder kept its session through both floods: live at every reading, the same session on
    # air (a reconnect would have ended it and begun another), while the ingest went on refusing.
    assert set(seen) | {on_air(after)} == {on_air(before)}, (on_air(before), seen, on_air(after))
    assert after["refusedPublishers"] > before["refusedPublishers"], (before, after)
    assert publishers[-1].running, "the encoder that went live still publishes"
    assert all(attempts.get(name, 0) >= 2 for name in ("play", "chunked-wrong-key", "partial-publish")), attempts
    status = ingest_status(cluster, stream)
    assert status["live"] and status["refusedPublishers"] >= sum(attempts.values()) // 2, status

    # What viewers get: the HLS from the LAN.
    url = stream["status"]["playback"]["hlsMpegtsUrl"]
    playlist_url, segments = media_playlist(url, cluster.lan_get)
    for name in segments[-4:]:
        code, body = cluster.lan_get(playlist_url.rsplit("/", 1)[0] + "/" + name)
        assert code == 200
        (tmp_path / "viewer.ts").write_bytes(body)
        assert attacker_frames(tmp_path / "viewer.ts") == 0, f"attacker frames in HLS segment {name}"
    # The restream target's copy.
    restreamed = sorted(target.hls_dir.glob("*.ts"))
    assert restreamed
    for path in restreamed[-3:]:
        assert attacker_frames(path) == 0, f"attacker frames in the restream's {path.name}"
    # The recording.
    stopped_at = time.monotonic()
    rec = cluster.stop_recording(ns, "rec")
    [video] = rec["status"]["videos"]
    assert attacker_frames(volume / video["path"]) == 0, "attacker frames in the recording"
    # No second lost under the floods. A recorder they slow down catches up once they end: the ingest
    # keeps what a feed reader has not taken yet up to 8 MiB (feed.SINK_BACKLOG_BYTES, ≈ 27 s of this
    # 2.5 Mbit/s feed, more than twice the window); past it the reader is cut and reconnects, and the
    # recorder joins the stretch after into the same video, shorter by what it missed. The only slack:
    # the feed begins a reader on a keyframe and the stop cuts the pipeline's last moments: a GOP.
    encoder_gop = publishers[-1].gop / publishers[-1].rate
    recorded = ffprobe_duration(volume / video["path"])
    span = datetime.fromisoformat(video["endedAt"]) - datetime.fromisoformat(video["startedAt"])
    print(
        f"recorded {recorded:.1f} s of the {stopped_at - recording_from:.1f} s between the recording and its stop "
        f"(the video's own startedAt..endedAt: {span.total_seconds():.1f} s)"
    )
    assert recorded >= stopped_at - recording_from - encoder_gop, (recorded, stopped_at - recording_from)
