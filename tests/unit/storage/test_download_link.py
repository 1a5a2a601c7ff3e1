"""`streamops video url`: which video, which endpoint, what is refused (the link is signed by
boto3 locally: no server needed; tests/e2e downloads one from a real S3 server)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from streamops.storage.download_link import NoLink, download_link

from devtools import catalog

ACCESS, SECRET = "AKIDLINKTEST", "very-secret-key-value-42"
SECRET_OBJ = catalog.secret_data(accessKeyId=ACCESS, secretAccessKey=SECRET)
T = catalog.VIDEO_TIME
video = catalog.stored_video


recording = catalog.stored_recording_with_videos


def test_the_link_is_signed_for_the_public_endpoint_and_expires() -> None:
    rec = recording([video("a/first.mp4"), video("a/second.mp4")])
    link = download_link(rec, None, SECRET_OBJ, 600)
    parts = urlsplit(link)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "127.0.0.1:39000", "/videos/a/second.mp4")
    assert query["X-Amz-Expires"] == ["600"] and query["X-Amz-Credential"][0].startswith(ACCESS + "/")
    assert SECRET not in link
    assert urlsplit(download_link(rec, 1, SECRET_OBJ, 600)).path == "/videos/a/first.mp4"
    assert urlsplit(download_link(rec, -2, SECRET_OBJ, 600)).path == "/videos/a/first.mp4"


@pytest.mark.parametrize(
    ("videos", "number", "secret", "expires", "says"),
    [
        ([], None, SECRET_OBJ, 60, "no finished video yet"),
        ([video("k.mp4")], 2, SECRET_OBJ, 60, "choose 1..1"),
        ([video("k.mp4", upload="pending")], 1, SECRET_OBJ, 60, "not in the bucket yet (upload: pending)"),
        ([video("k.mp4", expiredAt=T)], 1, SECRET_OBJ, 60, "was deleted at 2026-11-23 10:00:00 UTC"),
        ([video("k.mp4")], 1, None, 60, "Secret s3-creds (storage.s3.credentialsSecret) does not exist"),
        ([video("k.mp4")], 1, {"data": {"accessKeyId": "QQ=="}}, 60, "has no key secretAccessKey"),
        ([video("k.mp4")], 1, SECRET_OBJ, 8 * 24 * 3600, "--expires must be"),
    ],
)
def test_no_link_says_why(
    videos: list[dict[str, Any]], number: int | None, secret: Any, expires: int, says: str
) -> None:
    with pytest.raises(NoLink, match=None) as e:
        download_link(recording(videos), number, secret, expires)
    assert says in str(e.value) and SECRET not in str(e.value)


def test_pvc_recordings_point_at_the_claim() -> None:
    rec = recording([video("k.mp4")], storage={"pvc": {"claimName": "streamops-recordings"}})
    with pytest.raises(NoLink, match="writes to streamops-recordings"):
        download_link(rec, None, SECRET_OBJ, 60)


def test_quality_origin_links_the_original_while_kept() -> None:
    origin = {"width": 1280, "height": 720, "sizeBytes": 9, "url": "s3://videos/a/v-origin.mp4", "upload": "uploaded"}
    link = download_link(recording([video("a/v.mp4", origin=origin)]), None, SECRET_OBJ, 60, quality="origin")
    assert urlsplit(link).path == "/videos/a/v-origin.mp4"
    expired = recording([video("a/v.mp4", origin={**origin, "expiredAt": T})])
    with pytest.raises(NoLink, match=r"the original of video newest was deleted at 2026-11-23 10:00:00 UTC"):
        download_link(expired, None, SECRET_OBJ, 60, quality="origin")
    with pytest.raises(NoLink, match="keeps one quality per video"):
        download_link(recording([video("a/v.mp4")]), None, SECRET_OBJ, 60, quality="origin")  # no keepOrigin
