"""Videos on a claim (PVC), watched and downloaded through the namespace's edge (issue 41, item 9;
docs/design/claim-videos.md), all real: a publisher pushing RTMP to an ingest, a recorder recording
its feed onto a directory standing for the claim (no bucket), and the edge (Debian's nginx + Lua)
with that claim under its recordings directory and the namespace's playback keys. The links are the
ones `streamops video url|page` prints, made from the status the operator maps (claim_links): the
video downloads (ffprobe proves it is the recording), a Range request gets those bytes, the VOD
page plays in headless Chromium; unsigned, expired, tampered, other-file, other-claim and stream
tokens are refused, and so are `..`, encoded slashes and dots, backslashes, hidden names and
symlinks (a valid token for a symlink too).

Every process is stopped by PID, also on failure."""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from devtools.media.browser import Browser
from devtools.media.edge import Edge, missing_packages
from devtools.media.peers import Publisher, ffprobe_duration, ffprobe_streams
from devtools.media.playback_keys import write_playback_keys
from devtools.media.player_page import assert_decodes
from devtools.media.workers import WORKER_AUTH, Ingest, Worker
from devtools.ports import free_port
from devtools.waits import wait_for
from streamops.api import Recording
from streamops.contract import video_link
from streamops.contract.playback_token import sign
from streamops.control.recording.status import claim_links
from streamops.media import edge as edge_files
from streamops.storage.download_link import claim_download_link, claim_page_link

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(bool(missing_packages()), reason=f"needs {' '.join(missing_packages())}"),
]

NAMESPACE, STREAM, CLAIM = "media", "cam", "streamops-recordings"
DIRECTORY = "media/rec-0123abcd"  # <namespace>/<recording>-<uid prefix>, as the operator names it


@dataclass
class Stand:
    edge: Edge
    claim: Path
    key: bytes
    recording: Recording
    work: Path

    @property
    def video(self) -> Any:
        assert self.recording.status is not None
        return self.recording.status.videos[0]

    def path_of(self, url: str) -> str:
        return urlsplit(url).path


def post_stop(worker: Worker) -> dict[str, Any]:
    request = urllib.request.Request(worker.http + "/stop", method="POST", headers=WORKER_AUTH)
    with urllib.request.urlopen(request, timeout=60) as r:
        answer: dict[str, Any] = json.loads(r.read())
        return answer


def raw_get(stand: Stand, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """`path` sent exactly as written (urllib would leave it, but a client that normalises would
    hide what is attacked here)."""
    connection = http.client.HTTPConnection("127.0.0.1", stand.edge.http_port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    """One video recorded onto the claim, the edge serving it; the Recording as the operator
    reports it (status.videos from the recorder, mapped with the edge as recordingsVideosUrl)."""
    work = tmp_path_factory.mktemp("claim-videos")
    mounts = work / "recordings"  # the edge's STREAMOPS_EDGE_RECORDINGS_DIR: one claim per directory
    claim = mounts / CLAIM
    claim.mkdir(parents=True)
    key = os.urandom(32)
    keys = write_playback_keys(work / "keys", key, os.urandom(32))
    (work / "ingest").mkdir()
    ingest = Ingest(work / "ingest", screenshots={"enabled": False}, hls={"segmentSeconds": 1, "mpegts": False})
    port = free_port()
    config = {
        "feedUrl": ingest.internal + "/feed",
        "recordingsRoot": str(claim),
        "directory": DIRECTORY,
        "stream": STREAM,
        "title": "cam",
        "reconnectWindowSeconds": 10,
        "maxSegmentSeconds": 14400,
        "minDurationSeconds": 2,
        "httpHost": "127.0.0.1",
        "httpPort": port,
    }
    recorder = Worker("record", config, work / "recorder", port)
    recorder.workdir.mkdir()
    edge = Edge(
        work / "edge",
        NAMESPACE,
        "http://127.0.0.1:9",  # no stream here: no origin is ever asked
        keys_dir=keys,
        workers=1,
        env={edge_files.ENV_RECORDINGS_DIR: str(mounts)},
    )
    publisher = Publisher(ingest.rtmp_url(), size="640x360", rate=25, gop_seconds=1, log_path=work / "pub.log")
    try:
        ingest.start()
        edge.start()
        publisher.start()
        ingest.wait_live(timeout=20)
        recorder.start()
        wait_for(lambda: (recorder.status()["duration"] or 0) >= 5, 30, 0.2, "recorded 5 s")
        final = post_stop(recorder)
    finally:
        publisher.stop()
        recorder.stop()
        ingest.stop()
    try:
        assert final["state"] == "stopped" and final["lastError"] is None, final
        raw = {
            "apiVersion": "streaming.streamops.dev/v1alpha1",
            "kind": "Recording",
            "metadata": {"name": "rec", "namespace": NAMESPACE, "uid": "0123abcd"},
            "spec": {"streamRef": {"name": STREAM}},
            "status": {"storage": {"pvc": {"claimName": CLAIM}}, "videos": final["videos"]},
        }
        recording = Recording.model_validate(raw)
        assert recording.status is not None
        storage = recording.status.storage
        recording.status.videos = claim_links(recording.status.videos, STREAM, storage, edge.http, NAMESPACE, CLAIM)
        yield Stand(edge, claim, key, recording, work)
    finally:
        edge.stop()


def test_the_video_carries_its_stream_and_downloads_through_a_signed_link(stand: Stand, tmp_path: Path) -> None:
    video = stand.video
    assert video.stream == STREAM, "the recorder's video names its stream (the hosted stream_id)"
    sidecar = json.loads((stand.claim / video.path).with_suffix(".json").read_text())
    assert sidecar["stream"] == STREAM and sidecar["path"] == video.path
    assert video.download_url == f"{stand.edge.http}/videos/{CLAIM}/{video.path}"
    assert video.page_url == f"{stand.edge.http}/videos/{CLAIM}/{video.path[: -len('.mp4')]}.html"
    assert (stand.claim / video.path).with_suffix(".html").is_file(), "the page beside the video, as in a bucket"

    link = claim_download_link(stand.recording, None, stand.key, 60, time.time())
    status, headers, body = raw_get(stand, stand.path_of(link))
    assert status == 200, body[:200]
    assert headers["content-type"] == "video/mp4" and headers["accept-ranges"] == "bytes"
    assert "private" in headers["cache-control"] and headers["x-content-type-options"] == "nosniff"
    assert body == (stand.claim / video.path).read_bytes()
    copy = tmp_path / "download.mp4"
    copy.write_bytes(body)
    assert ffprobe_duration(copy) == pytest.approx(video.duration_seconds, abs=0.3)
    kinds = {s["codec_type"]: s for s in ffprobe_streams(copy)}
    assert (kinds["video"]["width"], kinds["video"]["height"]) == (640, 360) and "audio" in kinds

    # A player seeks: a Range request gets exactly those bytes; a suffix range the last ones.
    status, headers, part = raw_get(stand, stand.path_of(link), {"Range": "bytes=1000-1999"})
    assert status == 206 and part == body[1000:2000]
    assert headers["content-range"] == f"bytes 1000-1999/{len(body)}"
    status, headers, tail = raw_get(stand, stand.path_of(link), {"Range": "bytes=-500"})
    assert status == 206 and tail == body[-500:]
    status, _, _ = raw_get(stand, stand.path_of(link), {"Range": f"bytes={len(body)}-"})
    assert status == 416
    print(f"\nMEASURED downloaded {len(body)} bytes, {video.duration_seconds:.2f} s of 640x360")


def test_unsigned_expired_tampered_and_foreign_tokens_are_refused(stand: Stand) -> None:
    video = stand.video
    now = int(time.time())

    def signed(path: str, key: bytes = stand.key, expires: int = now + 60, claim: str = CLAIM) -> str:
        return stand.path_of(video_link.signed_url(stand.edge.http, key, NAMESPACE, claim, path, expires))

    good = signed(video.path)
    assert raw_get(stand, good)[0] == 200
    unsigned = stand.path_of(video.download_url)
    status, _, body = raw_get(stand, unsigned)
    assert (status, body) == (401, b"a recorded video needs a signed URL (streamops video url)\n")
    assert raw_get(stand, signed(video.path, expires=now - 60))[2] == b"video token expired\n"
    assert raw_get(stand, signed(video.path, expires=now - 60))[0] == 403
    # Tampered: the signature, the expiry, the file, the claim; another namespace's key; a stream's token.
    head, _, rest = good.partition("/t/")
    token, _, path = rest.partition("/")
    forged_sig = token[:-1] + ("A" if token[-1] != "A" else "B")
    parts = token.split("~")
    later = "~".join([parts[0], parts[1], str(int(parts[2]) + 3600), *parts[3:]])
    sidecar = video.path[: -len(".mp4")] + ".json"
    attempts = {
        "signature": f"{head}/t/{forged_sig}/{path}",
        "expiry": f"{head}/t/{later}/{path}",
        "other file": f"{head}/t/{token}/{sidecar}",
        "other key": signed(video.path, key=os.urandom(32)),
        "stream token": f"{head}/t/{sign(stand.key, f'{NAMESPACE}/{STREAM}', now + 60)}/{path}",
        "other namespace": f"{head}/t/{sign(stand.key, f'other/video:{CLAIM}/{path}', now + 60)}/{path}",
    }
    for what, attempt in attempts.items():
        status, _, body = raw_get(stand, attempt)
        assert status == 403, (what, status, body)
        assert body in (
            b"video token is not valid for this video\n",
            b"video token was signed with a key this video no longer accepts\n",
        ), (what, body)
    assert raw_get(stand, signed(sidecar))[0] == 200, "the sidecar with its own token"


def test_traversal_encoded_separators_and_symlinks_are_refused(stand: Stand) -> None:
    video = stand.video
    now = int(time.time()) + 60
    outside = stand.claim.parent / "outside.mp4"  # next to the claim, in the edge's recordings dir
    outside.write_bytes(b"not for viewers")
    (stand.claim.parent / "other").mkdir(exist_ok=True)
    (stand.claim.parent / "other" / "x.mp4").write_bytes(b"another claim")
    leak = stand.claim / DIRECTORY / "leak.mp4"
    leak.symlink_to(outside)
    (stand.claim / "media" / "linked").symlink_to(stand.claim.parent / "other", target_is_directory=True)

    def token_for(path: str, claim: str = CLAIM) -> str:
        # Signed as an insider would (sign() takes any text): the edge must refuse the path anyway.
        return sign(stand.key, f"{NAMESPACE}/video:{claim}/{path}", now)

    def attack(claim: str, path: str, signed_path: str | None = None) -> int:
        return raw_get(stand, f"/videos/{claim}/t/{token_for(signed_path or path, claim)}/{path}")[0]

    dotdot = f"{DIRECTORY}/../../../outside.mp4"
    assert attack(CLAIM, dotdot) == 404
    assert attack(CLAIM, "../outside.mp4", "outside.mp4") == 404
    assert attack(CLAIM, "..%2Foutside.mp4") == 404
    assert attack(CLAIM, "%2e%2e/outside.mp4") == 404
    assert attack(CLAIM, "media%2Frec-0123abcd%2F" + video.path.rsplit("/", 1)[1], video.path) == 404
    assert attack(CLAIM, "..\\outside.mp4") == 404
    assert attack(CLAIM, f"{DIRECTORY}/.parts/x.mp4") == 404, "hidden names are never served"
    assert attack(CLAIM, video.path + "%00.mp4", video.path) == 400, "nginx refuses a NUL itself"
    assert attack("..", "outside.mp4") == 404
    assert attack(CLAIM, "other/x.mp4") == 404, "a path inside the claim: there is no such file"
    # nginx normalises `/a/../` before choosing a location: still the raw path that is checked.
    assert raw_get(stand, f"/streams/../videos/{CLAIM}/t/{token_for(video.path)}/{video.path}")[0] == 404
    # A valid token for a symlink (a file or a directory pointing out of the claim): not followed.
    # (nginx's openat(O_NOFOLLOW) walk: ELOOP on the file is 403, ENOTDIR on a directory 404.)
    symlinked = {f"{DIRECTORY}/leak.mp4": 403, "media/linked/x.mp4": 404}
    for path, refused in symlinked.items():
        status, _, body = raw_get(stand, f"/videos/{CLAIM}/t/{token_for(path)}/{path}")
        assert status == refused and b"not for viewers" not in body and b"another claim" not in body, (path, body)
    # The pure side refuses to sign any of these.
    for path in (dotdot, "..%2Foutside.mp4", "a\\b.mp4", f"{DIRECTORY}/.parts/x.mp4", "/etc/passwd.mp4"):
        with pytest.raises(video_link.UnsafePath):
            video_link.scope(NAMESPACE, CLAIM, path)


def test_the_vod_page_plays_the_video_from_the_claim(stand: Stand) -> None:
    link = claim_page_link(stand.recording, None, stand.key, 120, time.time())
    assert urlsplit(link).path == urlsplit(stand.video.page_url).path.replace(
        f"/videos/{CLAIM}/", f"/videos/{CLAIM}/t/{urlsplit(link).path.split('/')[4]}/"
    )
    status, headers, _ = raw_get(stand, urlsplit(link).path)
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    with Browser(log_path=stand.work / "chromium.log") as browser:
        page = browser.open()
        page.navigate(link + "&autoplay=1")
        page.wait_until(
            "(p => p && p.state === 'playing' && p.video.readyState >= 2 && p.video.currentTime > 0.2)"
            "(window.streamopsPlayer)",
            timeout=20,
        )
        assert_decodes(page, 640, seconds=1.5, min_fps=10)
        [played] = page.evaluate("window.streamopsPlayer.qualities")
        assert played["n"] == "source" and urlsplit(played["u"]).path == stand.path_of(
            claim_download_link(stand.recording, None, stand.key, 120, float(played["u"].split("~")[2]) - 120)
        ), "the page plays the claim's file through a signed link of the same expiry"
    print(f"\nMEASURED page played at {datetime.now(UTC):%H:%M:%S}")
