"""`streamops video url|page` and `kubectl streamops video url|page` without a cluster (cli/video.py):
the arguments both take, the <iframe> of `page --iframe`, the verb both run once parsed."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

import pytest
from devtools.fake_kube import FakeKubeApi
from streamops.cli.command_error import CommandError
from streamops.cli.kubectl_plugin import parser as kubectl_parser
from streamops.cli.streamops_command import main
from streamops.cli.video import printed, video_command
from streamops.storage.download_link import page_link

from devtools import catalog

ACCESS, SECRET = "AKIDEXPORTTEST", "export-secret-key-value-42"
SECRET_OBJ = catalog.secret_data(accessKeyId=ACCESS, secretAccessKey=SECRET)
recording = catalog.stored_recording_with_videos


def rendition(name: str, height: int, key: str) -> dict[str, Any]:
    return {
        "name": name,
        "width": height * 16 // 9,
        "height": height,
        "url": f"s3://videos/{key}",
        "sizeBytes": 10,
        "upload": "uploaded",
    }


def transcoded_video() -> dict[str, Any]:
    return catalog.stored_video(
        "a/rec.mp4", renditions=[rendition("720p", 720, "a/rec.mp4"), rendition("360p", 360, "a/rec.360p.mp4")]
    )


def test_the_command_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["video", "url", "--help"])
    assert e.value.code == 0
    assert "curl -fo video.mp4" in capsys.readouterr().out


def test_both_command_lines_take_quality_and_page(capsys: pytest.CaptureFixture[str]) -> None:
    args = kubectl_parser().parse_args(["video", "url", "rec", "2", "--quality", "360p", "-n", "ns"])
    assert (args.action, args.recording, args.number, args.quality) == ("url", "rec", 2, "360p")
    args = kubectl_parser().parse_args(["video", "page", "rec", "--expires", "60"])
    assert (args.action, args.expires, args.quality) == ("page", 60, None)
    with pytest.raises(SystemExit) as e:
        main(["video", "page", "--help"])
    assert e.value.code == 0 and "embeddable in an <iframe>" in " ".join(capsys.readouterr().out.split())


def test_video_page_iframe_prints_the_element_embedding_the_link() -> None:
    link = page_link(recording([transcoded_video()]), None, SECRET_OBJ, 60)
    args = kubectl_parser().parse_args(["video", "page", "rec", "--iframe"])
    element = printed(link, args)
    assert element.startswith('<iframe src="') and 'allow="autoplay; fullscreen' in element
    assert html.unescape(element.split('"')[1]) == link and "&amp;" in element
    assert printed(link, kubectl_parser().parse_args(["video", "page", "rec"])) == link
    assert printed(link, kubectl_parser().parse_args(["video", "url", "rec"])) == link
    with pytest.raises(SystemExit):
        kubectl_parser().parse_args(["video", "url", "rec", "--iframe"])  # a page's option only


def test_the_video_command_reads_the_object_and_its_secret_and_prints_the_link() -> None:
    """What both command lines run (streamops video, kubectl streamops video) once parsed."""
    api = FakeKubeApi()
    api.add(catalog.recording_with_videos([transcoded_video()]))
    api.add({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-creds", "namespace": "ns"}, **SECRET_OBJ})
    parse = kubectl_parser().parse_args
    url = video_command(api, "ns", parse(["video", "url", "show", "--quality", "360p"]))
    assert urlsplit(url).path == "/videos/a/rec.360p.mp4" and SECRET not in url
    element = video_command(api, "ns", parse(["video", "page", "show", "--iframe", "--expires", "60"]))
    assert element.startswith("<iframe") and "/videos/a/rec.html" in element
    with pytest.raises(CommandError, match="clip show not found in namespace ns"):
        video_command(api, "ns", parse(["video", "url", "show", "--clip"]))
