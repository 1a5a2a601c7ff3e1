"""Retention (issue 13, item 4): storage.s3.deleteAfterDays. The operator deletes expired videos
itself, on every S3 server alike: versitygw (the tests' server) answers NotImplemented to bucket
lifecycle calls, and PutBucketLifecycleConfiguration replaces a bucket's whole configuration, which
would clobber rules its owner set. The status loop of a kind that stores videos (a Recording's, a
Clip's: issue 29), at most every retention_interval_seconds, deletes each uploaded video (and its
JSON sidecar) whose end is deleteAfterDays × retention_day_seconds ago; the status function then
marks it `expiredAt` (one writer of status) and a VideoExpired Event names it. Videos on a claim
are never deleted (as before: retention is an object storage setting).

keepOrigin's originals (issue 41) have their own deadline, `origin.deleteAt`, on a claim as in a
bucket: origin_expiry_due() picks them, delete_origins() deletes those in a bucket here, and
control/recording/origin_expiry.py hands those on a claim to a one-shot Pod that mounts it (the
operator cannot reach a claim's files). A video deleted by deleteAfterDays takes its original with it."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from streamops.api.recording import CA_KEY, RecordingStorage, S3Storage, Video, VideoOrigin
from streamops.contract.recorder import sidecar_key
from streamops.control.runtime.conditions import Transition
from streamops.control.runtime.object_loop import ObjectLoop, utcnow
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.storage.video_storage import read_storage_secrets, storage_refusal
from streamops.kube.client import KubeApi
from streamops.redaction import Redactor
from streamops.storage.credentials import StorageSecretMissing, ca_bundle, credentials
from streamops.storage.s3_client import S3Endpoint, parse_s3_url, s3_client
from streamops.storage.vod_page import page_key

VIDEO_EXPIRED = "VideoExpired"  # Event: a video (and its sidecar) deleted by deleteAfterDays
VIDEO_EXPIRY_FAILED = "VideoExpiryFailed"  # Event: deleting expired videos failed (tried again later)
ORIGIN_EXPIRED = "OriginExpired"  # Event: a video's original (keepOrigin) deleted at its deleteAt
ORIGIN_EXPIRY_FAILED = "OriginExpiryFailed"  # Event: deleting expired originals failed (tried again later)
log = logging.getLogger("streamops.operator")


class ExpiryFailed(Exception):
    """Why expired videos could not be deleted (no credentials in the message), and the ones that
    were deleted before the failure."""

    def __init__(self, message: str, done: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.done = list(done)


def expiry_due(
    videos: Iterable[Video], delete_after_days: int | None, day_seconds: float, now: datetime
) -> list[Video]:
    """The uploaded videos, not expired yet, that ended deleteAfterDays (of day_seconds) ago or more."""
    if not delete_after_days:
        return []
    age = timedelta(seconds=delete_after_days * day_seconds)
    return [v for v in videos if v.url and v.upload == "uploaded" and v.expired_at is None and v.ended_at + age <= now]


def stored_objects(video: Video) -> list[str]:
    """The keys' URLs of a video's files: its original (still kept) and other renditions first, its
    own file last (so a video marked expired has nothing left behind)."""
    own = [video.url] if video.url else []
    origin = video.origin
    kept = [origin.url] if origin is not None and origin.url and origin.expired_at is None else []
    return kept + [r.url for r in video.renditions if r.url and r.url != video.url] + own


def origin_stored(origin: VideoOrigin) -> bool:
    """The original is there to delete: in the bucket (uploaded), or on the claim (no object: a path)."""
    if origin.url:
        return origin.upload == "uploaded"
    return bool(origin.path)


def origin_expiry_due(videos: Iterable[Video], now: datetime) -> list[Video]:
    """The videos whose original (keepOrigin) is stored, not expired yet, and past its deleteAt.
    A video that expired itself took its original with it."""
    return [
        v
        for v in videos
        if (o := v.origin) is not None
        and v.expired_at is None
        and o.expired_at is None
        and o.delete_at is not None
        and o.delete_at <= now
        and origin_stored(o)
    ]


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


def marked_expired(
    video: Video, at: datetime | None, expired: Mapping[str, datetime], origin_at: datetime | None = None
) -> Video:
    """The video with `expiredAt`: `at` (already set) or when it was just deleted (url -> when); its
    original's likewise: `origin_at` (already set), or when it was just deleted (its url, or its path
    on a claim -> when)."""
    at = at or (expired.get(video.url) if video.url else None)
    update: dict[str, Any] = {"expired_at": at} if at != video.expired_at else {}
    origin = video.origin
    if origin is not None:
        key = origin.key()
        origin_at = origin_at or origin.expired_at or (expired.get(key) if key else None)
        if origin_at != origin.expired_at:
            update["origin"] = origin.model_copy(update={"expired_at": origin_at})
    return video.model_copy(update=update) if update else video


def expiry_events(
    before: Sequence[Video], current: Sequence[Video], storage: RecordingStorage | None
) -> list[Transition]:
    """A VideoExpired Event per video expired since `before`."""
    expired_before = {v.url for v in before if v.expired_at is not None}
    days = storage.s3.delete_after_days if storage and storage.s3 else None
    after = f" after {days} day(s)" if days else ""
    return [
        Transition("Normal", VIDEO_EXPIRED, f"video {v.url} expired{after}: deleted")
        for v in current
        if v.url and v.expired_at is not None and v.url not in expired_before
    ]


def origin_expiry_events(before: Sequence[Video], current: Sequence[Video]) -> list[Transition]:
    """An OriginExpired Event per original expired since `before` (the video stays)."""
    expired_before = {v.origin.key() for v in before if v.origin is not None and v.origin.expired_at is not None}
    events = []
    for v in current:
        origin = v.origin
        if origin is None or origin.expired_at is None or origin.key() in expired_before:
            continue
        what = f"original {origin.key()} of video {v.url or v.path} deleted (keepOrigin, deleteAt {origin.delete_at})"
        if v.expired_at is not None:
            what = f"original {origin.key()} deleted with its video {v.url or v.path}"
        events.append(Transition("Normal", ORIGIN_EXPIRED, what))
    return events


@dataclass
class Expiry:
    """A status loop's retention: when it last looked, the videos it deleted (url -> when: the
    status function marks them), and whether deleting fails (one Warning per failure streak)."""

    expired: dict[str, datetime] = field(default_factory=dict)
    checked_at: float = float("-inf")
    failing: bool = False


async def expire_videos(
    loop: ObjectLoop[Any], expiry: Expiry, storage: RecordingStorage | None, videos: Sequence[Video]
) -> None:
    """Retention, at most every retention_interval_seconds, over the status last written (`storage`
    and `videos`: a finished object's too: its loop keeps ticking at the idle interval, and this is
    a scan of its videos until one is due). The deleted ones go into `expiry.expired`."""
    settings = loop.state.settings
    now = time.monotonic()
    if now - expiry.checked_at < settings.recordings.retention_interval_seconds:
        return
    expiry.checked_at = now
    s3 = storage.s3 if storage else None
    if s3 is None or not s3.delete_after_days:
        return
    due = [
        v
        for v in expiry_due(videos, s3.delete_after_days, settings.recordings.retention_day_seconds, utcnow())
        if v.url and v.url not in expiry.expired
    ]
    if not due:
        return
    try:
        done = await loop.state.call(delete_videos, loop.state.api, settings, loop.namespace, s3, due)
        expiry.failing = False
    except ExpiryFailed as e:
        done = e.done
        log.warning("%s %s/%s: deleting expired videos failed: %s", loop.kind.api.kind, loop.namespace, loop.name, e)
        if not expiry.failing:  # one Warning per failure streak
            await loop.post_event("Warning", VIDEO_EXPIRY_FAILED, str(e)[:1000])
        expiry.failing = True
    deleted_at = utcnow()
    for url in done:
        expiry.expired[url] = deleted_at
    if done:
        loop.woken.set()  # (the status is written on this tick's way round)
