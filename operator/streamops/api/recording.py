"""Recording: records a live stream into video files (start_recording / stop_recording)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel

from streamops.api.common import (
    NAME_MAX,
    URL_MAX,
    Condition,
    ConditionedStatus,
    KubeModel,
    LocalObjectRef,
    cel,
    check_dot_segments,
    conditions_field,
    dot_segments_rule,
    matches,
    re2,
    validations,
)


class PersistentVolumeClaimStorage(KubeModel):
    """A PersistentVolumeClaim of the same namespace to write the videos to."""

    claim_name: str = Field(
        min_length=1,
        max_length=NAME_MAX,
        description="Name of an existing PersistentVolumeClaim in the Recording's namespace; the operator "
        "neither creates nor deletes it.",
    )
    sub_path: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^[^/](.*[^/])?$",
        description="Directory inside the claim, relative (no leading or trailing slash, no '..' segments); the "
        "videos go to <subPath>/<recording>-<uid prefix>/. Default: the namespace's name.",
        json_schema_extra=validations(dot_segments_rule("subPath")),
    )

    @field_validator("sub_path")
    @classmethod
    def _inside_the_claim(cls, sub_path: str | None) -> str | None:
        return check_dot_segments(sub_path, "subPath") if sub_path is not None else None


# Placeholders of an object key template (docs/design/object-storage.md). The time ones are the
# video's start (UTC), filled in by the recorder; the others by the operator.
KEY_NAME_PLACEHOLDERS = ("namespace", "stream", "recording", "uid")
KEY_TIME_PLACEHOLDERS = ("year", "month", "day", "hour", "minute")
DEFAULT_KEY_TEMPLATE = "streamops/{namespace}/{stream}/{year}/{month}/{day}/{hour}/{minute}/{recording}-{uid}"
KEY_TEMPLATE_RE = r"^([A-Za-z0-9!_.*'()/-]|\{(namespace|stream|recording|uid|year|month|day|hour|minute)\})+$"
BUCKET_RE = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
CREDENTIAL_KEYS = ("accessKeyId", "secretAccessKey")  # keys of the credentials Secret
CA_KEY = "ca.crt"  # key of the CA Secret
KEY_TEMPLATE_SLASHES = "keyTemplate must not start or end with '/'"
# An S3 endpoint: scheme and host (with a port), at most one trailing slash, nothing else.
S3_ENDPOINT_PATTERN = "^https?://[^/@\\s?#]+/?$"


def s3_endpoint_message(what: str) -> str:
    return f"{what} must be an http:// or https:// URL with a host and no path, query or credentials"


def s3_endpoint_rule(what: str) -> dict[str, Any]:
    return validations(cel(matches(S3_ENDPOINT_PATTERN), s3_endpoint_message(what)))


class S3Storage(KubeModel):
    """An S3-compatible bucket: the recorder keeps its parts on local scratch space (emptyDir), uploads each
    finished video by multipart upload, verifies it, writes a JSON sidecar next to it and only then deletes
    the local copy."""

    endpoint: str = Field(
        min_length=8,
        max_length=URL_MAX,
        description="S3 API endpoint as the recorders reach it, e.g. https://s3.eu-west-1.amazonaws.com or "
        "http://minio.storage:9000 (no path, no credentials).",
        json_schema_extra=s3_endpoint_rule("endpoint"),
    )
    public_endpoint: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="Endpoint as people outside the cluster reach it: download links (`streamops video url`) are "
        "signed for it. Default: endpoint.",
        json_schema_extra=s3_endpoint_rule("publicEndpoint"),
    )
    bucket: str = Field(
        min_length=3,
        max_length=63,
        pattern=BUCKET_RE,
        description="Bucket name (must exist: the operator does not create buckets).",
    )
    key_template: str = Field(
        default=DEFAULT_KEY_TEMPLATE,
        min_length=1,
        max_length=512,
        pattern=KEY_TEMPLATE_RE,
        description="Object key prefix of each video; the video's file name is appended. Placeholders: "
        "{namespace}, {stream}, {recording}, {uid} (the Recording's first 8 uid characters) and the video's "
        "start in UTC: {year}, {month}, {day}, {hour}, {minute} (a dated path, as IVS's). Default "
        f"{DEFAULT_KEY_TEMPLATE}.",
        json_schema_extra=validations(
            cel("!self.startsWith('/') && !self.endsWith('/')", KEY_TEMPLATE_SLASHES),
            dot_segments_rule("keyTemplate", ("..", ".", "")),
        ),
    )
    region: str = Field(default="us-east-1", min_length=1, max_length=64, description="Region. Default us-east-1.")
    path_style: bool = Field(
        default=True,
        description="Path-style requests (https://endpoint/bucket/key), what self-hosted servers need; false for "
        "virtual-hosted style (https://bucket.endpoint/key). Default true.",
    )
    credentials_secret: str = Field(
        min_length=1,
        max_length=NAME_MAX,
        description="Secret of the Recording's namespace with the keys accessKeyId and secretAccessKey, labelled "
        "streaming.streamops.dev/allow-reference=true (else no worker uses it). Never copied into status, Events or "
        "logs.",
    )
    ca_secret: str | None = Field(
        default=None,
        max_length=NAME_MAX,
        description="Secret (same namespace) whose key ca.crt is the CA bundle the endpoint's certificate is "
        "checked against (a private CA), labelled streaming.streamops.dev/allow-reference=true. Default: the "
        "system's CAs.",
    )
    delete_after_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description="Delete each video (and its sidecar) this many days after it ended: a bucket lifecycle rule "
        "where the server supports one, else the operator deletes them. Expiry is announced by Events. Default: "
        "kept forever.",
    )

    @field_validator("endpoint", "public_endpoint")
    @classmethod
    def _endpoint(cls, endpoint: str | None, info: ValidationInfo) -> str | None:
        if endpoint is None:
            return None
        if not re2(S3_ENDPOINT_PATTERN).match(endpoint):
            raise ValueError(s3_endpoint_message(to_camel(info.field_name or "endpoint")))
        return endpoint.rstrip("/")

    @field_validator("key_template")
    @classmethod
    def _key_template(cls, template: str) -> str:
        if template.startswith("/") or template.endswith("/"):
            raise ValueError(KEY_TEMPLATE_SLASHES)
        return check_dot_segments(template, "keyTemplate", ("..", ".", ""))


ONE_STORAGE = "set at most one of storage.pvc or storage.s3"


class RecordingStorage(KubeModel):
    """Where the videos are written: one of pvc or s3 (neither: the defaults, see storage)."""

    pvc: PersistentVolumeClaimStorage | None = Field(
        default=None,
        description="Write videos to this PersistentVolumeClaim. Default: the namespace's shared "
        "streamops-recordings claim, created on first use and never deleted by the operator.",
    )
    s3: S3Storage | None = Field(default=None, description="Upload videos to this S3-compatible bucket.")

    model_config = ConfigDict(json_schema_extra=validations(cel("!(has(self.pvc) && has(self.s3))", ONE_STORAGE)))

    @model_validator(mode="after")
    def _one_kind(self) -> RecordingStorage:
        if self.pvc is not None and self.s3 is not None:
            raise ValueError(ONE_STORAGE)
        return self


STOPPED_IS_FINAL = "a stopped Recording cannot be restarted: create a new Recording to record the stream again"
KEEP_ORIGIN_NEEDS_TRANSCODED = "keepOrigin needs type transcoded: an origin recording's video is the original already"
ORIGIN_DAYS_DEFAULT = 7  # the hosted platform keeps the original "for up to 7 days"


class KeepOrigin(KubeModel):
    """The untouched original kept beside a transcoded recording's video for a while (the hosted
    platform's origin_url, "stored for up to 7 days and then deleted automatically")."""

    enabled: bool = Field(
        default=False,
        description="Also record the source as received (the ingest's origin feed) beside each transcoded video, "
        "into <video>-origin.mp4 (status.videos[].origin). Only for type transcoded. Default false.",
    )
    delete_after_days: int = Field(
        default=ORIGIN_DAYS_DEFAULT,
        ge=1,
        le=365,
        description="Delete each original this many days after its video ended (the transcoded video stays), on a "
        "claim and in a bucket alike; fixed for each video when it is recorded (status.videos[].origin.deleteAt). "
        f"1..365, default {ORIGIN_DAYS_DEFAULT}.",
    )


def keeps_origin(keep_origin: KeepOrigin | None) -> bool:
    return keep_origin is not None and keep_origin.enabled


# CEL: `keepOrigin` (under the node the rule is on) is enabled; the API server has applied its defaults.
KEEPS_ORIGIN_CEL = "has(self.keepOrigin) && has(self.keepOrigin.enabled) && self.keepOrigin.enabled"


class RecordingSpec(KubeModel):
    """Desired state of the recording (start_recording / stop_recording); unset settings come from the
    stream's spec.recording."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(f"!({KEEPS_ORIGIN_CEL}) || !has(self.type) || self.type != 'origin'", KEEP_ORIGIN_NEEDS_TRANSCODED)
        )
    )

    stream_ref: LocalObjectRef = Field(
        description="The LiveStream to record (same namespace). Recording starts when it is live and waits "
        "(condition reason StreamNotLive) while it is not."
    )
    type: Literal["origin", "transcoded"] | None = Field(
        default=None,
        description="origin (the source as received) or transcoded (the stream's tallest rendition); default "
        "from the stream's recording.type.",
    )
    stopped: bool = Field(
        default=False,
        description="Set true to stop and finalise every video (stop_recording); the Recording then reports "
        "Succeeded. Default false. Final: it cannot be set back to false (create a new Recording instead).",
        # A stopped Recording's recorder is gone and its videos are final: false again would silently
        # do nothing forever, so the API server refuses it (a transition rule: updates only).
        json_schema_extra=validations(
            cel(
                "self || !oldSelf",
                STOPPED_IS_FINAL,
                reason="FieldValueForbidden",
            )
        ),
    )
    reconnect_window_seconds: int | None = Field(
        default=None,
        ge=0,
        le=3600,
        description="A source gap shorter than this (seconds) continues the same video; longer closes it and a "
        "resumed source starts a new one. 0..3600; default from the stream (10 s).",
    )
    max_segment_seconds: int | None = Field(
        default=None,
        ge=10,
        le=86400,
        description="Broadcasts longer than this (seconds) are cut into several videos. 10..86400; default from "
        "the stream (14400 s = 4 h).",
    )
    min_duration_seconds: int | None = Field(
        default=None,
        ge=0,
        le=3600,
        description="A video shorter than this (seconds) is discarded with a Warning event (see "
        "status.discarded). 0..3600; default from the stream (10 s).",
    )
    storage: RecordingStorage | None = Field(
        default=None,
        description="Where the videos are written. Default: the namespace's shared streamops-recordings claim. "
        "Videos outlive the Recording, the stream and the operator.",
    )
    keep_origin: KeepOrigin | None = Field(
        default=None,
        description="Keep the untouched original beside each transcoded video for deleteAfterDays (the hosted "
        "origin_url). Needs type transcoded (refused with type origin; ignored when the type inherited from the "
        "stream is origin). Default from the stream's recording.keepOrigin, else not kept.",
    )

    @model_validator(mode="after")
    def _keep_origin_transcoded(self) -> RecordingSpec:
        if keeps_origin(self.keep_origin) and self.type == "origin":
            raise ValueError(KEEP_ORIGIN_NEEDS_TRANSCODED)
        return self


class VideoRendition(KubeModel):
    """One quality of a transcoded recording's video: an MP4 of its own (a download is one playable
    file), the tallest being the video's own file."""

    name: str = Field(max_length=32, description="The stream's rendition name, e.g. 720p.")
    width: int = Field(ge=0, description="Frame width in pixels.")
    height: int = Field(ge=0, description="Frame height in pixels.")
    path: str | None = Field(
        default=None, max_length=4096, description="Path of the MP4 file relative to the claim's root (PVC storage)."
    )
    url: str | None = Field(
        default=None, max_length=URL_MAX, description="s3://<bucket>/<key> of the MP4 in object storage."
    )
    size_bytes: int = Field(ge=0, description="Size of the file in bytes.")
    upload: Literal["pending", "uploading", "uploaded"] | None = Field(
        default=None, description="Object storage only: as the video's upload."
    )


class VideoOrigin(VideoRendition):
    """The untouched original of a transcoded video (keepOrigin): the source as received, copied
    from the ingest's origin feed over the same span, in an MP4 of its own beside the video
    (`<video>-origin.mp4`), deleted at `deleteAt` while the video stays."""

    name: str = Field(default="origin", max_length=32, description="Always origin: the source as received.")
    delete_at: datetime | None = Field(
        default=None,
        description="When the original is deleted: the video's end + keepOrigin.deleteAfterDays (fixed when the "
        "video is recorded).",
    )
    expired_at: datetime | None = Field(
        default=None,
        description="When the original was deleted (deleteAt passed); path or url stay as a record, the file is gone.",
    )

    def key(self) -> str | None:
        """What names the original's file in retention's bookkeeping: its object, else its path on the claim."""
        return self.url or self.path


class Video(KubeModel):
    """One finished video file (MP4, faststart)."""

    title: str = Field(
        max_length=512,
        description='"Stream Record: {stream title}, {end time UTC}", the hosted platform\'s pattern.',
    )
    stream: str | None = Field(
        default=None,
        max_length=253,
        description="The LiveStream recorded (its name: the hosted stream_id), also in the video's JSON sidecar, "
        "on a claim and in a bucket alike: find a stream's videos by it.",
    )
    path: str | None = Field(
        default=None,
        max_length=4096,
        description="Path of the MP4 file relative to the claim's root: "
        "<subPath or namespace>/<recording>-<uid prefix>/<file>.",
    )
    url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="s3://<bucket>/<key> of the video in object storage (its JSON sidecar is <key without .mp4>"
        ".json); unset for PVC storage. `streamops video url <recording> [n]` prints a download link.",
    )
    download_url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="Claim (PVC) storage, when the operator's recordingsVideosUrl names the edge that serves the "
        "namespace's claims: <edge>/videos/<claim>/<path>. Unsigned: the edge answers it only with a token, "
        "`streamops video url <recording> [n]` prints it signed, with an expiry (the playback keys' scheme).",
    )
    page_url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="Claim (PVC) storage: the video's VOD page next to it (<path without .mp4>.html) at the same "
        "edge, unsigned like downloadUrl; `streamops video page <recording> [n]` prints it signed.",
    )
    upload: Literal["pending", "uploading", "uploaded"] | None = Field(
        default=None,
        description="Object storage only: pending (finalised, waiting to be uploaded, e.g. while the storage is "
        "unreachable), uploading, uploaded (verified in the bucket; the local copy is gone).",
    )
    expired_at: datetime | None = Field(
        default=None,
        description="When the video was deleted by the retention rule (deleteAfterDays); it is no longer stored.",
    )
    duration_seconds: float = Field(ge=0, description="Length of the video in seconds.")
    size_bytes: int = Field(ge=0, description="Size of the file in bytes.")
    started_at: datetime = Field(description="When the video's first media was recorded.")
    ended_at: datetime = Field(description="When the video's last media was recorded (the time in its title).")
    renditions: list[VideoRendition] = Field(
        default_factory=list,
        max_length=6,
        description="A transcoded recording of a stream with renditions: every rendition as an MP4 of its own, "
        "tallest first (its entry is the video's own file; the others are derived from it with the ladder's "
        "settings once the video is finalised). `streamops video url <recording> [n] --quality <name>` prints "
        "a link to one. Empty for origin recordings.",
    )
    origin: VideoOrigin | None = Field(
        default=None,
        description="keepOrigin: the untouched original over the same span (the hosted origin_url: origin.url in "
        "a bucket, origin.path on a claim), kept until origin.deleteAt, then deleted (origin.expiredAt). Unset "
        "without keepOrigin, and when the original could not be made (the recorder's lastError says why).",
    )

    def stored_size(self) -> int:
        """Bytes the video holds in its storage: its file, the other renditions' files (the first
        rendition is the video's own file) and its original until it expires."""
        origin = self.origin.size_bytes if self.origin is not None and self.origin.expired_at is None else 0
        return self.size_bytes + sum(r.size_bytes for r in self.renditions[1:]) + origin

    def files(self) -> list[Video | VideoRendition]:
        """Every entry that names one of the video's files, with its path, url and upload: the video,
        its renditions (the first is the video's own file again) and its original."""
        return [self, *self.renditions, *([self.origin] if self.origin is not None else [])]


class DiscardedFragment(KubeModel):
    """A recorded piece shorter than minDurationSeconds, deleted instead of kept."""

    reason: str = Field(
        max_length=1024, description="Why it was discarded, e.g. its length against minDurationSeconds."
    )
    duration_seconds: float = Field(ge=0, description="Length of the discarded fragment in seconds.")
    at: datetime = Field(description="When it was discarded.")


class RecordingStatus(ConditionedStatus):
    """Observed state of the recording, written by the operator from the recorder's telemetry."""

    conditions: list[Condition] = conditions_field(
        "Current state as Kubernetes conditions: Ready, Recording (reason StreamNotLive or StreamNotFound while "
        "waiting), Succeeded (once stopped and every video is finalised and uploaded) and, for object storage, "
        "Uploaded (False with StorageUnreachable, StorageAccessDenied, BucketNotFound or UploadFailing while "
        "videos wait); StorageAlmostFull (quota 80 %), NoSpace (quota or disk full), Reconciling, Stalled and "
        "RestartPending (present while a running worker waits until it is idle to be restarted for a change "
        "that can wait, naming the first difference; the annotation streaming.streamops.dev/restarts: immediate "
        "applies it now) appear only while true."
    )
    recording: bool = Field(
        default=False,
        description="True while the recorder records, including a source gap still within the reconnect window.",
    )
    started_at: datetime | None = Field(
        default=None, description="When recording started (the first video's start; recording_started_at)."
    )
    ended_at: datetime | None = Field(
        default=None, description="When recording ended, after spec.stopped; unset while it runs."
    )
    duration: float | None = Field(
        default=None, ge=0, description="Seconds recorded so far, over all videos including the one in progress."
    )
    videos: list[Video] = Field(
        default_factory=list,
        max_length=10000,
        description="The finished videos, oldest first: a new one after each source gap longer than the reconnect "
        "window and each maxSegmentSeconds cut.",
    )
    discarded: list[DiscardedFragment] = Field(
        default_factory=list, max_length=1000, description="Fragments shorter than minDurationSeconds, not kept."
    )
    storage: RecordingStorage | None = Field(
        default=None,
        description="The storage the videos go to, resolved (the Recording's, else the stream's default, else the "
        "chart's): what `streamops video url` signs download links for. Names only, never credentials.",
    )
    stored_bytes: int | None = Field(
        default=None,
        ge=0,
        description="Bytes this Recording holds in its storage: its videos not expired, and the one in progress. "
        "What the quotas (LiveStream recording.quotaBytes, the chart's per-namespace quotaBytes) count.",
    )
