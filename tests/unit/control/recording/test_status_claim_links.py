"""Claim videos in a Recording's status and the links made from it (issue 41, item 9): every video
names its stream; a claim's video gets unsigned downloadUrl and pageUrl at the edge the operator's
recordingsVideosUrl names (control/recording/status.py: claim_links); `streamops video url|page`
sign them with the namespace's playback key (storage/download_link.py: claim_download_link,
claim_page_link). Pure; tests/media/test_claim_videos.py fetches such links from a real edge."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from devtools.catalog import stored_recording, stored_recording_with_videos
from streamops.api.recording import RecordingStorage, Video
from streamops.contract import video_link
from streamops.contract.playback_token import verify
from streamops.contract.recorder import RecorderStatus
from streamops.control.recording.status import RecorderObservation, claim_links, recording_status
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.pod_observation import PodObservation
from streamops.storage.download_link import NoLink, claim_download_link, claim_page_link

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
NOW = T0.timestamp()
KEY = b"k" * 32
EDGE = "https://play.example.com"
CLAIM = "streamops-recordings"
CLAIM_STORAGE = {"pvc": {"claimName": CLAIM}}
PATH = "ns/show-u1/record-20261128T080000Z.mp4"
RUNNING = PodObservation(name="p", exists=True, uid="u1", phase="Running", ready=True, ip="127.0.0.1", http_port=1)


def video(path: str | None = PATH, **extra: Any) -> Video:
    fields: dict[str, Any] = {"title": "Stream Record: cam, 2026-11-28 08:00:10 UTC", "path": path}
    return Video.model_validate(
        {**fields, "durationSeconds": 10.0, "sizeBytes": 1000, "startedAt": T0, "endedAt": T0, **extra}
    )


def claim() -> RecordingStorage:
    return RecordingStorage.model_validate(CLAIM_STORAGE)


def test_every_video_names_its_stream_and_a_claims_video_its_edge_urls() -> None:
    [linked] = claim_links([video()], "cam", claim(), EDGE + "/{namespace}", "ns", CLAIM)
    assert linked.stream == "cam", "a video recorded before the recorder wrote it gets the Recording's stream"
    assert linked.download_url == f"{EDGE}/ns/videos/streamops-recordings/{PATH}"
    assert linked.page_url == f"{EDGE}/ns/videos/streamops-recordings/{PATH[: -len('.mp4')]}.html"
    [own] = claim_links([video(stream="other-cam")], "cam", claim(), EDGE, "ns", CLAIM)
    assert own.stream == "other-cam", "the recorder's word stands"


def test_no_urls_without_an_edge_for_a_bucket_an_expired_or_an_unlinkable_video() -> None:
    bucket = RecordingStorage.model_validate(
        {"s3": {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "c"}}
    )
    s3_video = video(None, url="s3://videos/k.mp4", upload="uploaded")
    cases = [
        ([video()], claim(), ""),  # recordingsVideosUrl unset: nothing serves the claim
        ([s3_video], bucket, EDGE),  # presigned by the CLI instead
        ([video(expiredAt=T0)], claim(), EDGE),
        ([video("ns/../x.mp4")], claim(), EDGE),
        ([video()], None, EDGE),  # storage not resolved yet
    ]
    for videos, storage, base in cases:
        [linked] = claim_links(videos, "cam", storage, base, "ns", CLAIM)
        assert (linked.download_url, linked.page_url, linked.stream) == (None, None, "cam"), (videos, base)
    own_claim = RecordingStorage.model_validate({"pvc": {"claimName": "my-claim"}})
    [linked] = claim_links([video()], "cam", own_claim, EDGE, "ns", CLAIM)
    assert linked.download_url is None, "the edge serves the default claim only"
    [linked] = claim_links([video()], "cam", claim(), EDGE, "ns", "")
    assert linked.download_url is None, "no claim served (a ReadWriteOnce default claim)"


def test_the_status_maps_the_recorders_videos_with_the_settings_edge() -> None:
    telemetry = RecorderStatus.model_validate(
        {"state": "recording", "recording": True, "startedAt": T0, "duration": 12.0, "storedBytes": 1000}
    )
    telemetry.videos = [video()]
    observed = RecorderObservation(
        pod=RUNNING, telemetry=telemetry, storage=claim(), videos_url=EDGE, videos_claim=CLAIM
    )
    status = recording_status(stored_recording(namespace="ns"), observed, T0)
    [shown] = status.videos
    assert shown.stream == "cam" and shown.download_url == f"{EDGE}/videos/streamops-recordings/{PATH}"
    wire = status.wire()["videos"][0]
    assert (wire["stream"], wire["downloadUrl"], wire["pageUrl"]) == ("cam", shown.download_url, shown.page_url)
    assert OperatorSettings.from_env({"STREAMOPS_RECORDINGS_VIDEOS_URL": EDGE}).recordings.videos_url == EDGE
    with pytest.raises(ValueError):
        OperatorSettings.from_env({"STREAMOPS_RECORDINGS_VIDEOS_URL": "play.example.com"})


def recording(*videos: Video) -> Any:
    linked = claim_links(list(videos), "cam", claim(), EDGE, "ns", CLAIM)
    return stored_recording_with_videos([v.model_dump(mode="json", by_alias=True) for v in linked], CLAIM_STORAGE)


def test_a_download_link_is_the_status_url_signed_for_the_file_until_its_expiry() -> None:
    rec = recording(video())
    link = claim_download_link(rec, None, KEY, 900, NOW)
    path = urlsplit(link).path
    token = path.split("/")[4]
    assert link == video_link.signed_url(EDGE, KEY, "ns", "streamops-recordings", PATH, int(NOW) + 900)
    assert verify(token, [KEY], video_link.scope("ns", "streamops-recordings", PATH), NOW + 899, "") is None
    assert verify(token, [KEY], video_link.scope("ns", "streamops-recordings", PATH), NOW + 906, "") is not None
    with pytest.raises(NoLink, match="must be 1"):
        claim_download_link(rec, None, KEY, 8 * 86400, NOW)


def test_a_rendition_and_the_original_have_links_of_their_own() -> None:
    low = PATH.replace(".mp4", ".360p.mp4")
    origin = PATH.replace(".mp4", "-origin.mp4")
    renditions = [
        {"name": "720p", "width": 1280, "height": 720, "path": PATH, "sizeBytes": 1000},
        {"name": "360p", "width": 640, "height": 360, "path": low, "sizeBytes": 300},
    ]
    kept = {"path": origin, "width": 1920, "height": 1080, "sizeBytes": 3000}
    rec = recording(video(renditions=renditions, origin=kept))
    assert urlsplit(claim_download_link(rec, 1, KEY, 60, NOW, "360p")).path.endswith("/" + low)
    assert urlsplit(claim_download_link(rec, 1, KEY, 60, NOW, "origin")).path.endswith("/" + origin)
    with pytest.raises(NoLink, match="has no quality '1080p'"):
        claim_download_link(rec, 1, KEY, 60, NOW, "1080p")

    page = claim_page_link(rec, None, KEY, 300, NOW, "360p")
    page_path = urlsplit(page).path
    assert page_path.endswith("/" + PATH.replace(".mp4", ".html")) and "/t/v1~" in page_path
    fragment = parse_qs(urlsplit(page).fragment)
    data = fragment["v"][0]
    doc = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    assert fragment["q"] == ["360p"] and doc["t"].startswith("Stream Record: cam")
    assert [(r["n"], urlsplit(r["u"]).path.rsplit("/", 1)[1]) for r in doc["r"]] == [
        ("720p", PATH.rsplit("/", 1)[1]),
        ("360p", low.rsplit("/", 1)[1]),
    ]
    expiries = {r["u"].split("~")[2] for r in doc["r"]} | {page_path.split("~")[2]}
    assert expiries == {str(int(NOW) + 300)}, "the page and what it plays expire together"


def test_claim_links_say_why_there_is_none() -> None:
    with pytest.raises(NoLink, match="no downloadUrl: no edge serves claim streamops-recordings"):
        claim_download_link(
            stored_recording_with_videos([video().model_dump(mode="json", by_alias=True)], CLAIM_STORAGE),
            None,
            KEY,
            60,
            NOW,
        )
    with pytest.raises(NoLink, match="was deleted"):
        claim_page_link(recording(video(expiredAt=T0)), None, KEY, 60, NOW)
    with pytest.raises(NoLink, match="writes to object storage"):
        claim_download_link(stored_recording_with_videos([]), None, KEY, 60, NOW)
