"""Retention (issue 13, item 4): storage.s3.deleteAfterDays. The operator deletes expired videos
itself, on every S3 server alike: versitygw (the tests' server) answers NotImplemented to bucket
lifecycle calls, and PutBucketLifecycleConfiguration replaces a bucket's whole configuration, which
would clobber rules its owner set. The status loop of a kind that stores videos (a Recording's, a
Clip's: issue 29), at most every retention_interval_seconds, deletes each uploaded video (and its
JSON sidecar) whose end is deleteAfterDays × retention_day_seconds ago; the status function then
marks it `expiredAt` (one writer of status) and a VideoExpired Event names it. Videos on a claim
are never deleted (as before: retention is an object storage setting).

keepOrigin's originals (issue 41) have their own deadline, `origin.deleteAt`, on a claim as in a
bucket: origin_expiry_due() picks them (video_expiry.py: what of retention is pure),
delete_origins() deletes those in a bucket here, and control/recording/origin_expiry.py hands
those on a claim to a one-shot Pod that mounts it (the operator cannot reach a claim's files). A
video deleted by deleteAfterDays takes its original with it."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streamops.api.recording import CA_KEY, RecordingStorage, S3Storage, Video
from streamops.contract.recorder import sidecar_key
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.storage_reads import read_storage_secrets
from streamops.control.storage.video_expiry import expiry_due, stored_objects
from streamops.control.storage.video_storage import storage_refusal
from streamops.kube.client import KubeApi
from streamops.redaction import Redactor
from streamops.storage.credentials import StorageSecretMissing, ca_bundle, credentials
from streamops.storage.s3_client import S3Endpoint, parse_s3_url, s3_client
from streamops.storage.vod_page import page_key

log = logging.getLogger("streamops.operator")


class ExpiryFailed(Exception):
    """Why expired videos could not be deleted (no credentials in the message), and the ones that
    were deleted before the failure."""

    def __init__(self, message: str, done: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.done = list(done)


@contextlib.contextmanager
def bucket_client(
    api: KubeApi, settings: OperatorSettings, namespace: str, s3: S3Storage
) -> Iterator[tuple[Any, Redactor]]:
    """An S3 client for the storage, with the credentials from its Secret and the CA bundle from its
    CA Secret, as the recorder gets them, and under the same rule (video_storage.storage_refusal: an
    unlabelled Secret is not used, nothing is sent); and a redactor of the keys. Raises ExpiryFailed."""
    secrets = read_storage_secrets(api, namespace, s3)
    refused = storage_refusal(s3, secrets, settings)
    if refused is not None:
        raise ExpiryFailed(refused.message)
    try:
        access, secret = credentials(secrets.credentials, s3.credentials_secret)
        ca = ca_bundle(secrets.ca, s3.ca_secret) if s3.ca_secret else None
    except StorageSecretMissing as e:  # (storage_refusal said it already)
        raise ExpiryFailed(str(e)) from None
    with tempfile.TemporaryDirectory(prefix="streamops-ca-") as tmp:
        ca_file = None
        if ca is not None:
            ca_file = str(Path(tmp) / CA_KEY)
            Path(ca_file).write_bytes(ca)
        yield (
            s3_client(S3Endpoint(s3.endpoint, access, secret, s3.region, s3.path_style, ca_file)),
            Redactor([access, secret]),
        )


def delete_keys(client: Any, redact: Redactor, url: str, keys: Iterable[str], done: Sequence[str]) -> None:
    """Delete the objects `keys` of the bucket of `url` (a key already gone counts as deleted).
    Raises ExpiryFailed (redacted) at the first failure, with `done`: what was deleted before."""
    bucket, _ = parse_s3_url(url)
    for k in keys:
        try:
            client.delete_object(Bucket=bucket, Key=k)
        except Exception as e:  # botocore's errors (ClientError, EndpointConnectionError...), redacted
            if "NoSuchKey" not in str(e):  # (S3 itself answers a missing key with success)
                message = redact(f"deleting {url}: {e}")[:1000]
                raise ExpiryFailed(message, done) from None


def delete_videos(
    api: KubeApi, settings: OperatorSettings, namespace: str, s3: S3Storage, videos: Sequence[Video]
) -> list[str]:
    """Delete each video, its original, its other renditions, their sidecars and its VOD page
    (blocking: run it in a thread), with bucket_client's credentials. Returns the URLs deleted: each
    video's, and its original's (so both are marked). Raises ExpiryFailed (redacted) at the first
    failure, with the URLs deleted before it."""
    done: list[str] = []
    with bucket_client(api, settings, namespace, s3) as (client, redact):
        for video in videos:
            for url in stored_objects(video):
                _, key = parse_s3_url(url)
                keys = (key, sidecar_key(key), page_key(key)) if url == video.url else (key, sidecar_key(key))
                delete_keys(client, redact, url, keys, done)
            if video.origin is not None and video.origin.url and video.origin.expired_at is None:
                done.append(video.origin.url)
            if video.url:
                done.append(video.url)
    return done


def delete_origins(
    api: KubeApi, settings: OperatorSettings, namespace: str, s3: S3Storage, videos: Sequence[Video]
) -> list[str]:
    """Delete the original of each video, and its sidecar (blocking: run it in a thread); the videos
    stay. Returns the originals' URLs deleted; raises ExpiryFailed as delete_videos does."""
    done: list[str] = []
    with bucket_client(api, settings, namespace, s3) as (client, redact):
        for video in videos:
            origin = video.origin
            if origin is None or not origin.url:
                continue
            _, key = parse_s3_url(origin.url)
            delete_keys(client, redact, origin.url, (key, sidecar_key(key)), done)
            done.append(origin.url)
    return done


@dataclass
class Expiry:
    """A status loop's retention: when it last looked, the videos it deleted (url -> when: the
    status function marks them), and whether deleting fails (one Warning per failure streak)."""

    expired: dict[str, datetime] = field(default_factory=dict)
    checked_at: float = float("-inf")
    failing: bool = False


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class ExpiryPass:
    """What one pass of expire_videos did: the URLs it deleted (the caller writes the status at once),
    and the message of the VideoExpiryFailed Warning to post (the first failure of a streak)."""

    deleted: tuple[str, ...] = ()
    warning: str | None = None


async def expire_videos(
    state: OperatorState, namespace: str, expiry: Expiry, storage: RecordingStorage | None, videos: Sequence[Video]
) -> ExpiryPass:
    """Retention of an object in `namespace`, at most every retention_interval_seconds, over the
    status last written (`storage` and `videos`: a finished object's too: its loop keeps ticking at
    the idle interval, and this is a scan of its videos until one is due). The deleted ones go into
    `expiry.expired`; the caller posts the pass's Warning."""
    settings = state.settings
    now = time.monotonic()
    if now - expiry.checked_at < settings.recordings.retention_interval_seconds:
        return ExpiryPass()
    expiry.checked_at = now
    s3 = storage.s3 if storage else None
    if s3 is None or not s3.delete_after_days:
        return ExpiryPass()
    due = [
        v
        for v in expiry_due(videos, s3.delete_after_days, settings.recordings.retention_day_seconds, utcnow())
        if v.url and v.url not in expiry.expired
    ]
    if not due:
        return ExpiryPass()
    warning = None
    try:
        done = await state.call(delete_videos, state.api, settings, namespace, s3, due)
        expiry.failing = False
    except ExpiryFailed as e:
        done = e.done
        log.warning("%s: deleting expired videos failed: %s", namespace, e)
        if not expiry.failing:  # one Warning per failure streak
            warning = str(e)[:1000]
        expiry.failing = True
    deleted_at = utcnow()
    for url in done:
        expiry.expired[url] = deleted_at
    return ExpiryPass(tuple(done), warning)
