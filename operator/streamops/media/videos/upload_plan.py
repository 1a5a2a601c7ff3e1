"""The upload's decisions (pure): parts, the ETag to expect, backoff, what a failure means and the
object's title metadata."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from streamops.contract.upload_target import StorageProblem

MIB = 1024 * 1024
PART_BYTES = 8 * MIB  # S3 wants ≥ 5 MiB for every part but the last; 8 MiB is what the AWS CLI uses
MIN_PART_BYTES = 5 * MIB
MAX_PARTS = 10_000  # S3's limit: larger videos get larger parts
# Parts sent at once, each on its own connection: one request is bound by one core of the server
# (TLS, its MD5 and checksum, the write) and a part's MD5 by one of ours, so one part at a time left
# the other core idle (docs/design/object-storage.md, "Upload speed"). botocore keeps 10 connections.
PARTS_IN_FLIGHT = 4
# A part goes out as it is read from the file, one block at a time (media/videos/part_body.py): what
# an upload holds in memory is PARTS_IN_FLIGHT blocks, not PARTS_IN_FLIGHT parts.
READ_BLOCK_BYTES = MIB
# The acknowledged parts are saved in the state file at most this often (and after a failure): each
# save is an fsync in the event loop. The server's list of parts is what a resumed upload trusts.
PROGRESS_SAVE_SECONDS = 0.5
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0

# Error codes S3 (and the S3-compatible servers we test) answer for credentials it does not take.
# XAdminUserNotFound is versitygw's answer to an unknown access key; "403" is a HEAD's bare status.
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "XAdminUserNotFound",
        "InvalidToken",
        "ExpiredToken",
        "AuthorizationHeaderMalformed",
        "403",
    }
)
BUCKET_MISSING_CODES = frozenset({"NoSuchBucket"})


@dataclass(frozen=True)
class PartRange:
    number: int  # 1-based, as S3 counts parts
    offset: int
    length: int


def part_size(file_bytes: int, preferred: int = PART_BYTES) -> int:
    """The part size for a file: `preferred`, larger (whole MiB) when it would take more than MAX_PARTS."""
    size = max(preferred, MIN_PART_BYTES)
    if file_bytes > size * MAX_PARTS:
        size = -(-file_bytes // MAX_PARTS)
        size = -(-size // MIB) * MIB
    return size


def is_multipart(file_bytes: int, size_of_parts: int, single_put_max_bytes: int = 0) -> bool:
    """A file of one part or less, or of at most `single_put_max_bytes`, goes up in one PUT (its ETag
    is then the plain MD5)."""
    return file_bytes > max(size_of_parts, single_put_max_bytes)


def part_ranges(file_bytes: int, size_of_parts: int) -> list[PartRange]:
    return [
        PartRange(i + 1, offset, min(size_of_parts, file_bytes - offset))
        for i, offset in enumerate(range(0, file_bytes, size_of_parts))
    ]


def expected_etag(part_md5s: Sequence[bytes], multipart: bool) -> str:
    """The ETag S3 gives an object: the MD5 of a single PUT; for a multipart upload the MD5 of the
    concatenated binary MD5s of its parts, then "-<number of parts>"."""
    if not multipart:
        if len(part_md5s) != 1:
            raise ValueError("a single PUT has exactly one MD5")
        return part_md5s[0].hex()
    return f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"


def same_etag(answered: str, expected: str) -> bool:
    """ETags come quoted from S3 (and some servers differ in case)."""
    return answered.strip().strip('"').lower() == expected.strip().strip('"').lower()


def content_md5(md5: bytes) -> str:
    """The Content-MD5 header: the server refuses a part that arrived different (BadDigest)."""
    return base64.b64encode(md5).decode()


def backoff_seconds(failures: int, max_seconds: float | None = None) -> float:
    """The pause after `failures` failures in a row: 1 s, doubling, at most `max_seconds` (None:
    BACKOFF_MAX_SECONDS, 30 s); 0 after none."""
    if failures <= 0:
        return 0.0
    cap = BACKOFF_MAX_SECONDS if max_seconds is None else max_seconds
    return min(cap, BACKOFF_FIRST_SECONDS * float(2 ** min(failures - 1, 16)))


def storage_problem(code: str | None, unreachable: bool) -> StorageProblem:
    """What a failed S3 call means for the user. `code` is the S3 error code (a HEAD answers only
    its HTTP status: "403", "404"); `unreachable`: no HTTP answer at all (connection refused or
    closed, timeout, TLS failure)."""
    if unreachable:
        return "StorageUnreachable"
    if code in ACCESS_DENIED_CODES:
        return "StorageAccessDenied"
    if code in BUCKET_MISSING_CODES:
        return "BucketNotFound"
    return "UploadFailing"


def metadata_title(title: str) -> str:
    """The title as an S3 metadata value (x-amz-meta-title), which must be ASCII: as is when it is
    printable ASCII, else one RFC 2047 encoded-word (=?UTF-8?B?…?=), as AWS itself returns
    non-ASCII metadata; email.header.decode_header() reads it back."""
    if title.isascii() and title.isprintable():
        return title
    return f"=?UTF-8?B?{base64.b64encode(title.encode()).decode()}?="
