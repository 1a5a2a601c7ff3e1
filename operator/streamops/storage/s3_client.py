"""One way to build a boto3 S3 client for an S3-compatible endpoint, whoever needs it: the
recorder (uploads), the operator (retention) and `streamops video url` (download links).

boto3 is imported here, on first use only: its import costs ≈0.4 s and ≈25 MB, which a recorder
must not pay before its first FFmpeg starts, nor an operator that no Recording asks to upload."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# botocore's and urllib3's debug logs carry request headers (the access key id is in Authorization):
# whoever builds a client turns them down, so a worker or operator run with -v never writes them.
QUIET_LOGGERS = ("boto3", "botocore", "s3transfer", "urllib3")
CONNECT_TIMEOUT_SECONDS = 5.0  # an unreachable endpoint is reported within seconds, not minutes
READ_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True, repr=False)
class S3Endpoint:
    """Where and as whom: `repr` leaves the keys out, so an endpoint in a log or an exception
    never carries them."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    path_style: bool = True
    ca_file: str | None = None

    def __repr__(self) -> str:
        return f"S3Endpoint({self.endpoint!r}, region={self.region!r})"


def s3_client(where: S3Endpoint, attempts: int = 1) -> S3Client:
    """A client that does not retry by itself (`attempts` 1): the callers own their backoff and
    report each failure as it happens."""
    import boto3
    from botocore.config import Config

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)

    https = urlsplit(where.endpoint).scheme == "https"
    config = Config(
        region_name=where.region,
        signature_version="s3v4",
        # Over TLS a body is not SHA256-signed (UNSIGNED-PAYLOAD, as botocore does by itself for a body
        # with Content-MD5): TLS protects it on the way and the uploader checks each part's ETag
        # against the MD5 it took while sending. Over plain HTTP it is signed (a second pass).
        s3={"addressing_style": "path" if where.path_style else "virtual", "payload_signing_enabled": not https},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"max_attempts": attempts, "mode": "standard"},
        # Checksums only when an operation requires them: several S3-compatible servers refuse
        # the CRC trailers newer botocore sends by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=where.endpoint,
        aws_access_key_id=where.access_key,
        aws_secret_access_key=where.secret_key,
        config=config,
        verify=(where.ca_file or True) if https else False,
    )
    return cast("S3Client", client)


def s3_url(bucket: str, key: str) -> str:
    """How a video's place in a bucket is written (status.videos[].url)."""
    return f"s3://{bucket}/{key}"


def parse_s3_url(url: str) -> tuple[str, str]:
    """s3://bucket/key → (bucket, key)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
        raise ValueError(f"not an s3://bucket/key URL: {url}")
    return parts.netloc, parts.path.lstrip("/")


def presigned_get(where: S3Endpoint, bucket: str, key: str, expires_seconds: int) -> str:
    """A time-limited HTTPS (or HTTP) GET link to one object, signed locally (no request made)."""
    return s3_client(where).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_seconds
    )
