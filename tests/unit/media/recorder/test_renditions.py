"""Export of recordings (issue 29, item 3), the pure parts: a transcoded recording's renditions (the
recorder's config, the derive command sharing the ladder's encode options, stored bytes, retention's
objects), `streamops video url --quality`, and `streamops video page`'s URL (the page next to the
video, presigned, its fragment holding presigned links to each rendition, all with one expiry). The
commands that print them: tests/unit/cli/test_video.py."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from streamops.api import Clip, LiveStream, Recording
from streamops.api.livestream import Rendition
from streamops.api.recording import Video
from streamops.cli.kubectl_plugin import parser as kubectl_parser
from streamops.control.recording.specs.pod import recorder_pod
from streamops.control.recording.specs.worker_config import recorded_renditions
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.video_expiry import stored_objects
from streamops.media.ingest.commands import rendition_encode
from streamops.media.recorder.renditions import derive_command, derived, rendition_file
from streamops.storage.download_link import NoLink, download_link, page_link
from streamops.storage.vod_page import page_key, render_vod_page

from devtools import catalog

ACCESS, SECRET = "AKIDEXPORTTEST", "export-secret-key-value-42"
SECRET_OBJ = catalog.secret_data(accessKeyId=ACCESS, secretAccessKey=SECRET)
video = catalog.stored_video

LADDER = [
    {"name": "360p", "height": 360, "videoBitrateKbps": 800},
    {"name": "720p", "height": 720, "videoBitrateKbps": 2500},
    {"name": "540p", "height": 540, "videoBitrateKbps": 1500},
]


recording = catalog.stored_recording_with_videos


def rendition(name: str, height: int, key: str, upload: str = "uploaded") -> dict[str, Any]:
    width = height * 16 // 9
    return {
        "name": name,
        "width": width,
        "height": height,
        "url": f"s3://videos/{key}",
        "sizeBytes": 10,
        "upload": upload,
    }


def transcoded_video(upload_360: str = "uploaded") -> dict[str, Any]:
    return video(
        "a/rec.mp4",
        renditions=[
            rendition("720p", 720, "a/rec.mp4"),
            rendition("360p", 360, "a/rec.360p.mp4", upload_360),
        ],
    )


def stream(type_: str, ladder: list[dict[str, Any]]) -> LiveStream:
    spec: dict[str, Any] = {"source": {"push": {}}, "recording": {"type": type_}}
    if ladder:
        spec["transcoding"] = {"renditions": ladder}
    return catalog.stored_livestream(None, "u", None, namespace="ns", **spec)


# --- the recorder's renditions ---------------------------------------------------------------------------------


def test_a_transcoded_recording_keeps_the_whole_ladder_tallest_first_and_an_origin_one_none() -> None:
    assert [r.name for r in recorded_renditions(stream("transcoded", LADDER), "transcoded")] == ["720p", "540p", "360p"]
    assert recorded_renditions(stream("transcoded", LADDER), "origin") == []
    assert recorded_renditions(stream("origin", []), "transcoded") == []


def test_the_lower_renditions_are_encoded_with_the_ladders_own_options() -> None:
    ladder = [Rendition.model_validate(r) for r in LADDER]
    ladder.sort(key=lambda r: -r.height)
    lower = derived(ladder)
    assert [r.name for r in lower] == ["540p", "360p"], "the tallest is the recorded feed itself"
    argv = derive_command("/v/rec.mp4", [(r, f"/v/{rendition_file('rec.mp4', r.name)}") for r in lower], 2)
    graph = argv[argv.index("-filter_complex") + 1]
    assert "split=2" in graph and "scale=-2:540" in graph and "scale=-2:360" in graph
    for r in lower:  # every option the live ladder uses, with the same values, before the rendition's file
        out = argv.index(f"/v/rec.{r.name}.mp4")
        section = argv[:out]
        for name, value in rendition_encode(r, 2).items():
            flag = len(section) - 1 - section[::-1].index(f"-{name}")
            assert argv[flag + 1] == str(value), (name, r.name)
    assert argv.count("+faststart") == 2 and argv[argv.index("-i") + 1] == "/v/rec.mp4"


def test_stored_bytes_count_every_rendition_once_and_retention_deletes_them_all() -> None:
    v = Video.model_validate(transcoded_video())
    assert v.stored_size() == 1000 + 10, "the tallest rendition is the video's own file"
    assert stored_objects(v) == ["s3://videos/a/rec.360p.mp4", "s3://videos/a/rec.mp4"], "the video's own last"
    assert Video.model_validate(video("k.mp4")).stored_size() == 1000


# --- video url --quality -------------------------------------------------------------------------------------


def test_quality_picks_the_renditions_file() -> None:
    rec = recording([transcoded_video()])
    assert urlsplit(download_link(rec, None, SECRET_OBJ, 60, "360p")).path == "/videos/a/rec.360p.mp4"
    assert urlsplit(download_link(rec, None, SECRET_OBJ, 60, "720p")).path == "/videos/a/rec.mp4"
    assert urlsplit(download_link(rec, None, SECRET_OBJ, 60)).path == "/videos/a/rec.mp4", "default: the tallest"


@pytest.mark.parametrize(
    ("videos", "quality", "says"),
    [
        ([transcoded_video()], "1080p", "video newest has no quality '1080p': it has 720p, 360p"),
        ([video("k.mp4")], "720p", "keeps one quality per video (an origin recording"),
        ([transcoded_video("pending")], "360p", "in 360p is not in the bucket yet (upload: pending)"),
    ],
)
def test_quality_refusals_say_why(videos: list[dict[str, Any]], quality: str, says: str) -> None:
    with pytest.raises(NoLink) as e:
        download_link(recording(videos), None, SECRET_OBJ, 60, quality)
    assert says in str(e.value)


# --- video page ----------------------------------------------------------------------------------------------


def fragment_of(link: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    fields = parse_qs(urlsplit(link).fragment)
    data = fields["v"][0]
    return json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))), fields


def test_the_page_url_is_the_presigned_page_with_presigned_renditions_in_its_fragment() -> None:
    link = page_link(recording([transcoded_video()]), None, SECRET_OBJ, 900, "360p")
    parts = urlsplit(link)
    assert (parts.netloc, parts.path) == ("127.0.0.1:39000", "/videos/a/rec.html")
    assert parse_qs(parts.query)["X-Amz-Expires"] == ["900"]
    doc, fields = fragment_of(link)
    assert fields["q"] == ["360p"]
    assert doc["t"].startswith("Stream Record: cam")
    assert [(r["n"], r["w"], r["h"]) for r in doc["r"]] == [("720p", 1280, 720), ("360p", 640, 360)]
    for r, path in zip(doc["r"], ["/videos/a/rec.mp4", "/videos/a/rec.360p.mp4"], strict=True):
        u = urlsplit(r["u"])
        assert (u.netloc, u.path) == ("127.0.0.1:39000", path)
        assert parse_qs(u.query)["X-Amz-Expires"] == ["900"], "the page and what it plays expire together"
    assert SECRET not in link


def test_the_page_of_an_origin_video_plays_its_one_file_and_pvc_recordings_are_not_presigned() -> None:
    doc, fields = fragment_of(page_link(recording([video("b/one.mp4")]), None, SECRET_OBJ, 60))
    assert [(r["n"], urlsplit(r["u"]).path) for r in doc["r"]] == [("source", "/videos/b/one.mp4")]
    assert "q" not in fields
    pvc = recording([video("k.mp4")], storage={"pvc": {"claimName": "streamops-recordings"}})
    with pytest.raises(
        NoLink, match=r"its VOD page is signed with the namespace's playback keys and served by its edge"
    ):
        page_link(pvc, None, SECRET_OBJ, 60)
    with pytest.raises(NoLink, match="has no quality 'x'"):
        page_link(recording([transcoded_video()]), None, SECRET_OBJ, 60, "x")


def test_the_page_is_one_object_with_its_script_inlined() -> None:
    assert page_key("p/rec.mp4") == "p/rec.html"
    page = render_vod_page("A <b> title")
    assert "{{" not in page and "<title>A &lt;b&gt; title</title>" in page
    assert "window.streamopsPlayer" in page and "<script src" not in page, "no other request than the videos"


def test_the_recorder_pod_of_a_transcoded_recording_carries_the_ladder_and_an_origin_one_none() -> None:
    body = catalog.livestream("cam", transcoding={"renditions": LADDER}, hls={"segmentSeconds": 4})
    body["metadata"].update(namespace="ns", uid="stream-uid", generation=1)
    live = LiveStream.model_validate(body)
    for type_, names in (("transcoded", ["720p", "540p", "360p"]), ("origin", [])):
        rec_body = catalog.recording("rec", type=type_)
        rec_body["metadata"].update(namespace="ns", uid="0123456789abcdef", generation=1)
        pod = recorder_pod(Recording.model_validate(rec_body), live, OperatorSettings())
        config = json.loads(pod["spec"]["containers"][0]["env"][0]["value"])
        assert [r["name"] for r in config["renditions"]] == names
        assert config["feedUrl"].endswith("/feed/transcoded" if names else "/feed") and config["segmentSeconds"] == 4


def test_a_clips_video_has_links_too_and_one_quality() -> None:
    body = catalog.clip("goal", lastSeconds=30)
    body["metadata"].update(namespace="ns", uid="c1")
    body["status"] = recording([video("c/goal.mp4")]).model_dump(by_alias=True, mode="json")["status"]
    goal = Clip.model_validate(body)
    assert urlsplit(download_link(goal, None, SECRET_OBJ, 60)).path == "/videos/c/goal.mp4"
    assert urlsplit(page_link(goal, None, SECRET_OBJ, 60)).path == "/videos/c/goal.html"
    with pytest.raises(NoLink, match="clip goal holds one quality"):
        download_link(goal, None, SECRET_OBJ, 60, "720p")
    args = kubectl_parser().parse_args(["video", "page", "goal", "--clip"])
    assert args.clip and args.recording == "goal"
