"""`streamops video url <recording> [n]`: a time-limited download link to one of a Recording's
videos in object storage, signed for the storage's public endpoint with the credentials Secret the
Recording uploads with (the caller's kubeconfig must be allowed to read it)."""

from __future__ import annotations

from collections.abc import Mapping

from streamops.api import Recording
from streamops.api.recording import S3Storage, Video
from streamops.storage.credentials import StorageSecretMissing, credentials
from streamops.storage.s3_client import S3Endpoint, parse_s3_url, presigned_get

DEFAULT_EXPIRES_SECONDS = 3600
MAX_EXPIRES_SECONDS = 7 * 24 * 3600  # SigV4's limit


class NoLink(Exception):
    """Why there is no link to give, in words for the person who asked."""


def chosen_video(recording: Recording, number: int | None) -> Video:
    """Video `number` (1 = oldest, as `kubectl get recording -o yaml` lists them; negative counts
    from the newest; None = the newest)."""
    name = recording.metadata.name
    videos = recording.status.videos if recording.status else []
    if not videos:
        raise NoLink(f"recording {name} has no finished video yet")
    if number is None:
        number = -1
    if number == 0 or abs(number) > len(videos):
        raise NoLink(f"recording {name} has {len(videos)} video(s): choose 1..{len(videos)}")
    return videos[number - 1 if number > 0 else number]


def s3_storage_of(recording: Recording) -> S3Storage:
    storage = recording.status.storage if recording.status else None
    if storage is None or storage.s3 is None:
        claim = storage.pvc.claim_name if storage and storage.pvc else "the recordings claim"
        raise NoLink(
            f"recording {recording.metadata.name} writes to {claim} (a PersistentVolumeClaim), not to object "
            "storage: its videos' paths are relative to the claim's root (status.videos[].path)"
        )
    return storage.s3


def object_of(video: Video, number_text: str) -> tuple[str, str]:
    if video.expired_at is not None:
        raise NoLink(f"video {number_text} was deleted at {video.expired_at:%Y-%m-%d %H:%M:%S} UTC (deleteAfterDays)")
    if video.url is None or video.upload != "uploaded":
        raise NoLink(f"video {number_text} is not in the bucket yet (upload: {video.upload or 'pending'})")
    return parse_s3_url(video.url)


def download_link(
    recording: Recording, number: int | None, secret: Mapping[str, object] | None, expires_seconds: int
) -> str:
    if not 1 <= expires_seconds <= MAX_EXPIRES_SECONDS:
        raise NoLink(f"--expires must be 1..{MAX_EXPIRES_SECONDS} seconds")
    storage = s3_storage_of(recording)
    video = chosen_video(recording, number)
    bucket, key = object_of(video, "newest" if number is None else str(number))
    try:
        access, secret_key = credentials(secret, storage.credentials_secret)
    except StorageSecretMissing as e:
        raise NoLink(str(e)) from None
    # The link is signed for the host the viewer uses: the public endpoint, not the in-cluster one.
    where = S3Endpoint(
        storage.public_endpoint or storage.endpoint, access, secret_key, storage.region, storage.path_style
    )
    return presigned_get(where, bucket, key, expires_seconds)
