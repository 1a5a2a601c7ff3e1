"""A recording's VOD page embedded on another origin (issue 29's Done-when): headless Chromium loads a
page from origin A (a static site on 127.0.0.1:<a>) whose <iframe> is the URL `streamops video page`
prints (storage/download_link.py: page_link): the page object in the real S3 server (versitygw, on
127.0.0.1:<b>, another origin), presigned, its fragment holding presigned links to the two
renditions. The video in the iframe plays (readyState ≥ 2, currentTime advancing) and switching its
quality works; origin A learns both through the page's postMessage reports, since a cross-origin
frame's DOM is out of its reach. The renditions are made as the recorder makes them (the tallest
encoded here, the lower one by the recorder's derive command) and stored with the recorder's
content types; tests/media/test_recording_export.py covers the recorder producing them."""

from __future__ import annotations

import base64
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from devtools.media.browser import Page
from devtools.media.s3_server import S3Server
from streamops.api import Recording
from streamops.api.livestream import Rendition
from streamops.media.recorder.renditions import derive_command
from streamops.media.videos.bucket import VIDEO_TYPE
from streamops.storage.download_link import page_link
from streamops.storage.vod_page import PAGE_TYPE, page_key, render_vod_page

pytestmark = pytest.mark.timeout(120)

BUCKET = "videos"
KEY = "streamops/ns/cam/2026/11/26/08/00/rec-0123abcd/record-20261126T080000Z.mp4"
LOW_KEY = KEY[: -len(".mp4")] + ".180p.mp4"
SECONDS = 12  # long enough to still be playing after the switch on a loaded machine
EMBED = """<!doctype html>
<html><body>
<iframe id="vod" width="640" height="360" allow="autoplay" src="{src}"></iframe>
<script>
  window.reports = [];
  window.addEventListener('message', (e) => {{
    if (e.data && e.data.streamopsVod === 'state') window.reports.push({{origin: e.origin, ...e.data}});
  }});
  window.last = () => window.reports[window.reports.length - 1] || null;
  window.ask = (quality) => document.getElementById('vod').contentWindow.postMessage(
    {{streamopsVod: 'quality', quality}}, '*');
</script>
</body></html>
"""


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    with S3Server(tmp_path / "s3", tls=False) as server:  # the origins are what matters here, not TLS
        server.create_bucket(BUCKET)
        yield server


def make_renditions(tmp_path: Path) -> tuple[Path, Path]:
    tall, low = tmp_path / "360p.mp4", tmp_path / "180p.mp4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={SECONDS}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}",
         "-c:v", "libx264", "-preset", "veryfast", "-b:v", "500k", "-g", "50", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", str(tall)],
        check=True, timeout=60,
    )  # fmt: skip
    rendition = Rendition(name="180p", height=180, video_bitrate_kbps=200, audio_bitrate_kbps=64)
    subprocess.run(derive_command(str(tall), [(rendition, str(low))], 2), check=True, timeout=60)
    return tall, low


def recording(s3: S3Server, sizes: tuple[int, int]) -> Recording:
    t = "2026-11-26T08:00:00Z"

    def entry(name: str, width: int, height: int, key: str, size: int) -> dict[str, Any]:
        url = f"s3://{BUCKET}/{key}"
        return {"name": name, "width": width, "height": height, "url": url, "sizeBytes": size, "upload": "uploaded"}

    video = {
        "title": "Stream Record: cam, 2026-11-26 08:00:08 UTC",
        "url": f"s3://{BUCKET}/{KEY}",
        "upload": "uploaded",
        "durationSeconds": SECONDS,
        "sizeBytes": sizes[0],
        "startedAt": t,
        "endedAt": t,
        "renditions": [entry("360p", 640, 360, KEY, sizes[0]), entry("180p", 320, 180, LOW_KEY, sizes[1])],
    }
    storage = {"s3": {"endpoint": s3.endpoint, "bucket": BUCKET, "credentialsSecret": "s3-keys"}}
    return Recording.model_validate(
        {
            "apiVersion": "streaming.streamops.dev/v1alpha1",
            "kind": "Recording",
            "metadata": {"name": "rec", "namespace": "ns", "uid": "0123abcd"},
            "spec": {"streamRef": {"name": "cam"}},
            "status": {"storage": storage, "videos": [video]},
        }
    )


def plays(page: Page, quality: str, height: int) -> float:
    """The iframe's video plays `quality`: decoded frames, at its height, and time going on."""
    expression = (
        f"(r => r && r.quality === '{quality}' && r.readyState >= 2 && r.videoHeight === {height}"
        " && r.currentTime > 0.3 && r.currentTime)(window.last())"
    )
    first = float(page.wait_until(expression, timeout=30))
    later = float(page.wait_until(f"(t => t > {first} + 0.5 && t)(({expression}))", timeout=15))
    assert later > first
    return later


def test_the_vod_page_plays_in_an_iframe_on_another_origin_and_switches_quality(
    s3: S3Server, static_site: Any, page: Page, tmp_path: Path
) -> None:
    tall, low = make_renditions(tmp_path)
    client = s3.client()
    for key, path in ((KEY, tall), (LOW_KEY, low)):
        client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes(), ContentType=VIDEO_TYPE)
    rec = recording(s3, (tall.stat().st_size, low.stat().st_size))
    title = rec.status.videos[0].title if rec.status else ""
    client.put_object(Bucket=BUCKET, Key=page_key(KEY), Body=render_vod_page(title).encode(), ContentType=PAGE_TYPE)

    pairs = (("accessKeyId", s3.access_key), ("secretAccessKey", s3.secret_key))
    keys = {"data": {name: base64.b64encode(value.encode()).decode() for name, value in pairs}}
    link = page_link(rec, None, keys, 300)
    page_origin = "{0.scheme}://{0.netloc}".format(urlsplit(link))
    assert page_origin == s3.endpoint and urlsplit(link).path == f"/{BUCKET}/{page_key(KEY)}"
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(link.split("#")[0], timeout=10) as r:
        headers = {k.lower(): v for k, v in r.headers.items()}
    assert headers["content-type"].startswith("text/html"), headers
    assert "x-frame-options" not in headers and "frame-ancestors" not in headers.get("content-security-policy", "")

    (static_site.root / "embed.html").write_text(EMBED.format(src=link + "&autoplay=1"))
    embed = static_site.url("embed.html")
    assert urlsplit(embed).netloc != urlsplit(link).netloc, "two origins: another port"
    page.navigate(embed)

    plays(page, "360p", 360)
    assert page.evaluate("window.last().qualities") == ["360p", "180p"]
    assert page.evaluate("window.last().origin") == page_origin, "the reports come from the other origin"
    at = float(page.evaluate("window.last().currentTime"))
    page.evaluate("window.ask('180p')")
    after = plays(page, "180p", 180)
    assert after >= at - 0.5, "the position is kept across the switch"


def test_a_page_link_without_its_fragment_says_what_is_missing(s3: S3Server, page: Page) -> None:
    client = s3.client()
    client.put_object(Bucket=BUCKET, Key=page_key(KEY), Body=render_vod_page("t").encode(), ContentType=PAGE_TYPE)
    url = client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": page_key(KEY)}, ExpiresIn=60)
    page.navigate(url)
    message = page.wait_until("window.streamopsPlayer && window.streamopsPlayer.error", timeout=10)
    assert "streamops video page" in message
    assert page.evaluate("document.getElementById('overlay').hidden") is False
