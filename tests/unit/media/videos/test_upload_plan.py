"""An upload's pure decisions: parts, ETags, backoff, what a failure means, the title metadata."""

from __future__ import annotations

import base64
import email.header
import hashlib

import pytest
from streamops.media.videos.upload_plan import (
    MIB,
    PART_BYTES,
    backoff_seconds,
    content_md5,
    expected_etag,
    is_multipart,
    metadata_title,
    part_ranges,
    part_size,
    same_etag,
    storage_problem,
)

# --- parts and ETags ---


def test_parts_are_8_mib_and_larger_only_past_10000_parts() -> None:
    assert part_size(20 * MIB) == PART_BYTES == 8 * MIB
    assert part_size(1, preferred=1 * MIB) == 5 * MIB, "S3's minimum for all parts but the last"
    huge = 200 * 1024 * MIB  # 200 GiB: 8 MiB parts would be 25600 of them
    size = part_size(huge)
    assert size % MIB == 0 and size * 10_000 >= huge and (size - MIB) * 10_000 < huge


def test_part_ranges_cover_the_file_once() -> None:
    ranges = part_ranges(20 * MIB + 5, 8 * MIB)
    assert [(r.number, r.offset, r.length) for r in ranges] == [
        (1, 0, 8 * MIB),
        (2, 8 * MIB, 8 * MIB),
        (3, 16 * MIB, 4 * MIB + 5),
    ]
    assert part_ranges(0, 8 * MIB) == []
    assert is_multipart(8 * MIB + 1, 8 * MIB) and not is_multipart(8 * MIB, 8 * MIB)
    # Up to the single-PUT size one PUT, whatever the part size; over it, parts.
    assert not is_multipart(32 * MIB, 8 * MIB, 32 * MIB) and is_multipart(32 * MIB + 1, 8 * MIB, 32 * MIB)


def test_expected_etag_is_s3s_md5_of_md5s() -> None:
    parts = [b"a" * 10, b"b" * 10, b"c"]
    md5s = [hashlib.md5(p).digest() for p in parts]
    assert expected_etag(md5s, multipart=True) == hashlib.md5(b"".join(md5s)).hexdigest() + "-3"
    assert expected_etag([hashlib.md5(b"x").digest()], multipart=False) == hashlib.md5(b"x").hexdigest()
    with pytest.raises(ValueError):
        expected_etag(md5s, multipart=False)
    assert same_etag('"ABC-3"', "abc-3") and not same_etag('"abc-2"', "abc-3")


def test_backoff_doubles_from_1_to_30_seconds() -> None:
    assert [backoff_seconds(n) for n in range(8)] == [0, 1, 2, 4, 8, 16, 30, 30]
    assert backoff_seconds(10_000) == 30
    assert [backoff_seconds(n, None) for n in range(8)] == [0, 1, 2, 4, 8, 16, 30, 30], "None: the built-in cap"


def test_backoff_cap_can_be_set_lower_or_higher() -> None:
    assert [backoff_seconds(n, 3) for n in range(6)] == [0, 1, 2, 3, 3, 3]
    assert backoff_seconds(10_000, 3) == 3
    assert [backoff_seconds(n, 120) for n in range(10)] == [0, 1, 2, 4, 8, 16, 32, 64, 120, 120]


# --- what a failure means ---


@pytest.mark.parametrize(
    ("code", "unreachable", "problem"),
    [
        (None, True, "StorageUnreachable"),
        ("InvalidAccessKeyId", False, "StorageAccessDenied"),
        ("SignatureDoesNotMatch", False, "StorageAccessDenied"),
        ("AccessDenied", False, "StorageAccessDenied"),
        ("XAdminUserNotFound", False, "StorageAccessDenied"),  # versitygw: unknown access key
        ("403", False, "StorageAccessDenied"),
        ("NoSuchBucket", False, "BucketNotFound"),
        ("InternalError", False, "UploadFailing"),
        ("SlowDown", False, "UploadFailing"),
        ("404", False, "UploadFailing"),  # a HEAD's 404 says nothing about why
    ],
)
def test_failures_are_classified(code: str | None, unreachable: bool, problem: str) -> None:
    assert storage_problem(code, unreachable) == problem


def test_title_metadata_is_ascii_rfc_2047_when_needed() -> None:
    assert metadata_title("Stream Record: Camera 1, 2026-11-22 08:15:03 UTC") == (
        "Stream Record: Camera 1, 2026-11-22 08:15:03 UTC"
    )
    title = "Stream Record: Caméra ☀, 2026-11-22 08:15:03 UTC"
    encoded = metadata_title(title)
    assert encoded.isascii() and encoded.startswith("=?UTF-8?B?")
    [(raw, charset)] = email.header.decode_header(encoded)
    assert isinstance(raw, bytes) and raw.decode(charset or "") == title
    assert metadata_title("line\nbreak").isascii() and "\n" not in metadata_title("line\nbreak")


def test_content_md5_is_base64_of_the_binary_digest() -> None:
    md5 = hashlib.md5(b"abc").digest()
    assert base64.b64decode(content_md5(md5)) == md5
