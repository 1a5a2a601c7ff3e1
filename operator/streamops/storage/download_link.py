"""`streamops video url <recording> [n] [--quality q]`: a time-limited download link to one of a
Recording's videos (or one of its renditions) in object storage, and `streamops video page`: the
link to its VOD page, signed for the storage's public endpoint with the credentials Secret the
Recording uploads with (the caller's kubeconfig must be allowed to read it). On a claim (PVC) the
same links point at the namespace's edge, signed with the namespace's playback key
(contract/video_link.py, docs/design/claim-videos.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from streamops.api import Clip, Recording
from streamops.api.recording import S3Storage, Video, VideoRendition
from streamops.contract import video_link
from streamops.storage.credentials import StorageSecretMissing, credentials
from streamops.storage.s3_client import S3Endpoint, parse_s3_url, presigned_get
from streamops.storage.vod_page import PageSource, page_key, page_url

DEFAULT_EXPIRES_SECONDS = 3600
MAX_EXPIRES_SECONDS = 7 * 24 * 3600  # SigV4's limit


# A Clip reports its one video with the Recording's Video model, in the same status fields.
Owner = Recording | Clip


def named(owner: Owner) -> str:
    """ "recording <name>" or "clip <name>", for the messages."""
    return f"{'clip' if isinstance(owner, Clip) else 'recording'} {owner.metadata.name}"


class NoLink(Exception):
    """Why there is no link to give, in words for the person who asked."""


def chosen_video(recording: Owner, number: int | None) -> Video:
    """Video `number` (1 = oldest, as `kubectl get recording -o yaml` lists them; negative counts
    from the newest; None = the newest)."""
    name = named(recording)
    videos = recording.status.videos if recording.status else []
    if not videos:
        raise NoLink(f"{name} has no finished video yet")
    if number is None:
        number = -1
    if number == 0 or abs(number) > len(videos):
        raise NoLink(f"{name} has {len(videos)} video(s): choose 1..{len(videos)}")
    return videos[number - 1 if number > 0 else number]


def s3_storage_of(recording: Owner, what: str = "download link") -> S3Storage:
    storage = recording.status.storage if recording.status else None
    if storage is None or storage.s3 is None:
        claim = storage.pvc.claim_name if storage and storage.pvc else "the recordings claim"
        raise NoLink(
            f"{named(recording)} writes to {claim} (a PersistentVolumeClaim), not to object "
            f"storage: its {what} is signed with the namespace's playback keys and served by its edge "
            "(claim_download_link; docs/design/claim-videos.md)"
        )
    return storage.s3


def object_of(video: Video | VideoRendition, number_text: str) -> tuple[str, str]:
    if isinstance(video, Video) and video.expired_at is not None:
        raise NoLink(f"video {number_text} was deleted at {video.expired_at:%Y-%m-%d %H:%M:%S} UTC (deleteAfterDays)")
    if video.url is None or video.upload != "uploaded":
        what = f"video {number_text}" + (f" in {video.name}" if isinstance(video, VideoRendition) else "")
        raise NoLink(f"{what} is not in the bucket yet (upload: {video.upload or 'pending'})")
    return parse_s3_url(video.url)


ORIGIN_QUALITY = "origin"  # `--quality origin`: the video's original (keepOrigin), for download links


def chosen_rendition(
    recording: Owner, video: Video, quality: str, number_text: str, origin: bool = False
) -> VideoRendition:
    """The rendition named `quality` of a transcoded recording's video; with `origin`, `origin`
    names its original (keepOrigin) unless a rendition has that name."""
    kept = video.origin
    if origin and quality == ORIGIN_QUALITY and kept is not None and all(r.name != quality for r in video.renditions):
        if kept.expired_at is not None:
            raise NoLink(
                f"the original of video {number_text} was deleted at {kept.expired_at:%Y-%m-%d %H:%M:%S} UTC "
                "(keepOrigin.deleteAfterDays); the video is kept"
            )
        return kept
    if not video.renditions:
        if isinstance(recording, Clip):
            raise NoLink(
                f"{named(recording)} holds one quality (its spec.rendition, else the origin): leave out --quality"
            )
        raise NoLink(
            f"{named(recording)} keeps one quality per video (an origin recording, or one made before renditions "
            "were kept): leave out --quality; a `type: transcoded` recording of a stream with transcoding renditions "
            "keeps every rendition"
        )
    found = next((r for r in video.renditions if r.name == quality), None)
    if found is None:
        names = ", ".join(r.name for r in video.renditions)
        raise NoLink(f"video {number_text} has no quality {quality!r}: it has {names}")
    return found


def signer(storage: S3Storage, secret: Mapping[str, object] | None) -> S3Endpoint:
    """Where links are signed for: the public endpoint (the host the viewer uses), not the
    in-cluster one, with the credentials Secret's keys."""
    try:
        access, secret_key = credentials(secret, storage.credentials_secret)
    except StorageSecretMissing as e:
        raise NoLink(str(e)) from None
    return S3Endpoint(
        storage.public_endpoint or storage.endpoint, access, secret_key, storage.region, storage.path_style
    )


def checked_expiry(expires_seconds: int) -> int:
    if not 1 <= expires_seconds <= MAX_EXPIRES_SECONDS:
        raise NoLink(f"--expires must be 1..{MAX_EXPIRES_SECONDS} seconds")
    return expires_seconds


@dataclass(frozen=True)
class LinkedVideo:
    """What a link points into, checked: the storage, the video, its object, the rendition asked for."""

    storage: S3Storage
    video: Video
    number_text: str
    bucket: str
    key: str
    rendition: VideoRendition | None


def linked_video(
    recording: Owner, number: int | None, expires_seconds: int, quality: str | None, what: str, origin: bool = False
) -> LinkedVideo:
    """The checks both links make, in the order their messages are given (`what`: the link's name;
    `origin`: `--quality origin` may name the original, as a download link's may, not a page's)."""
    checked_expiry(expires_seconds)
    storage = s3_storage_of(recording, what)
    video = chosen_video(recording, number)
    number_text = "newest" if number is None else str(number)
    bucket, key = object_of(video, number_text)
    rendition = None if quality is None else chosen_rendition(recording, video, quality, number_text, origin)
    return LinkedVideo(storage, video, number_text, bucket, key, rendition)


def download_link(
    recording: Owner,
    number: int | None,
    secret: Mapping[str, object] | None,
    expires_seconds: int,
    quality: str | None = None,
) -> str:
    """A presigned link to video `number`'s file, or to its rendition `quality` (`origin`: its original,
    while keepOrigin keeps it)."""
    asked = linked_video(recording, number, expires_seconds, quality, "download link", origin=True)
    bucket, key = (
        (asked.bucket, asked.key) if asked.rendition is None else object_of(asked.rendition, asked.number_text)
    )
    return presigned_get(signer(asked.storage, secret), bucket, key, expires_seconds)


def page_link(
    recording: Owner,
    number: int | None,
    secret: Mapping[str, object] | None,
    expires_seconds: int,
    quality: str | None = None,
) -> str:
    """The video's VOD page (the object the recorder uploaded next to it), presigned, with a
    fragment holding presigned links to the video and each uploaded rendition: all signed with the
    same expiry, so the page and what it plays stop working together."""
    asked = linked_video(recording, number, expires_seconds, quality, "VOD page")  # an unknown quality: refused here
    where = signer(asked.storage, secret)
    sources = [
        PageSource(r.name, r.width, r.height, presigned_get(where, *parse_s3_url(r.url), expires_seconds))
        for r in asked.video.renditions
        if r.url is not None and r.upload == "uploaded"
    ]
    if not sources:  # an origin recording: the video's one file
        sources = [PageSource("source", 0, 0, presigned_get(where, asked.bucket, asked.key, expires_seconds))]
    page = presigned_get(where, asked.bucket, page_key(asked.key), expires_seconds)
    return page_url(page, asked.video.title, sources, quality)


def claim_of(recording: Owner) -> str | None:
    """The claim (PVC) a Recording's (or Clip's) videos are on; None for object storage."""
    storage = recording.status.storage if recording.status else None
    if storage is None or storage.s3 is not None or storage.pvc is None:
        return None
    return storage.pvc.claim_name


def _edge_base(recording: Owner, claim: str, video: Video, number_text: str) -> str:
    """The edge's base URL, read off the video's downloadUrl (<base>/videos/<claim>/<path>)."""
    if video.expired_at is not None:
        raise NoLink(f"video {number_text} was deleted at {video.expired_at:%Y-%m-%d %H:%M:%S} UTC")
    if video.path is None or video.download_url is None:
        raise NoLink(
            f"video {number_text} of {named(recording)} has no downloadUrl: no edge serves claim {claim} (the "
            "operator's recordingsVideosUrl is unset; docs/design/claim-videos.md)"
        )
    suffix = f"{video_link.VIDEOS_PREFIX}/{claim}/{video.path}"
    if not video.download_url.endswith(suffix):
        raise NoLink(f"video {number_text}'s downloadUrl {video.download_url} does not name {suffix}")
    return video.download_url[: -len(suffix)]


@dataclass(frozen=True)
class ClaimSigner:
    """Signs the claim's files for the namespace's edge: the playback key, until `expires` (Unix s)."""

    base: str
    key: bytes
    namespace: str
    claim: str
    expires: int

    def url(self, path: str) -> str:
        try:
            return video_link.signed_url(self.base, self.key, self.namespace, self.claim, path, self.expires)
        except video_link.UnsafePath as e:
            raise NoLink(str(e)) from None


def claim_video(recording: Owner, number: int | None, expires_seconds: int) -> tuple[Video, str, str, str]:
    """(video, its number as said, claim, edge base) of a claim video that can have a link, or NoLink
    saying why not: asked before the signing key, so that the answer says what is missing first."""
    checked_expiry(expires_seconds)
    claim = claim_of(recording)
    if claim is None:
        raise NoLink(f"{named(recording)} writes to object storage: its links are presigned (download_link)")
    video = chosen_video(recording, number)
    number_text = "newest" if number is None else str(number)
    return video, number_text, claim, _edge_base(recording, claim, video, number_text)


def _claim_video(
    recording: Owner, number: int | None, key: bytes, expires_seconds: int, now: float
) -> tuple[Video, str, ClaimSigner]:
    video, number_text, claim, base = claim_video(recording, number, expires_seconds)
    namespace = recording.metadata.namespace or ""
    return video, number_text, ClaimSigner(base, key, namespace, claim, int(now) + expires_seconds)


def claim_download_link(
    recording: Owner, number: int | None, key: bytes, expires_seconds: int, now: float, quality: str | None = None
) -> str:
    """A link to video `number`'s file on its claim (or to its rendition `quality`; `origin`: its
    original), signed with the playback key `key` for the edge in its downloadUrl."""
    video, number_text, signer = _claim_video(recording, number, key, expires_seconds, now)
    path = video.path
    if quality is not None:
        chosen = chosen_rendition(recording, video, quality, number_text, origin=True)
        path = chosen.path
    if path is None:
        raise NoLink(f"video {number_text} has no {quality} file on the claim")
    return signer.url(path)


def claim_page_link(
    recording: Owner, number: int | None, key: bytes, expires_seconds: int, now: float, quality: str | None = None
) -> str:
    """The VOD page next to video `number` on its claim, signed, with a fragment of signed links to
    the video and each rendition: one key, one expiry, as page_link's presigned ones."""
    video, number_text, signer = _claim_video(recording, number, key, expires_seconds, now)
    if quality is not None:
        chosen_rendition(recording, video, quality, number_text)  # an unknown quality: refused here
    assert video.path is not None  # (_edge_base checked it)
    sources = [PageSource(r.name, r.width, r.height, signer.url(r.path)) for r in video.renditions if r.path]
    if not sources:
        sources = [PageSource("source", 0, 0, signer.url(video.path))]
    return page_url(signer.url(video_link.page_path(video.path)), video.title, sources, quality)
