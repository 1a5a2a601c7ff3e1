"""Pure builders of a Clip's child: its range and title resolved, its clipper's configuration
and its Pod (on the recordings claim, or uploading to a bucket from scratch space)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from streamops.api import Clip, LiveStream
from streamops.api.recording import RecordingStorage
from streamops.contract.clipper import CONFIG_ENV, PLAYBACK_KEYS_DIR, ClipperConfig
from streamops.contract.playback_token import KEYS_SECRET
from streamops.contract.recorder import RECORDINGS_ROOT
from streamops.contract.worker import HTTP_PORT
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.storage.video_storage import resolve_storage, upload_target, videos_directory
from streamops.control.workers.ingest_address import IngestPortMap, ingest_http_url, playback_signed
from streamops.control.workers.recorder_pod import video_worker_metadata, video_worker_pod
from streamops.kube.manifests import Manifest
from streamops.kube.naming import child_name

CLIPPER_COMPONENT = "clipper"
CLIP_LABEL = "streaming.streamops.dev/clip"


@dataclass(frozen=True)
class ClipRange:
    start: datetime
    end: datetime


def created_at(clip: Clip) -> datetime:
    """The Clip's creationTimestamp (what lastSeconds and the future-end limit count from)."""
    stamp = getattr(clip.metadata, "creationTimestamp", None) or (clip.metadata.model_extra or {}).get(
        "creationTimestamp"
    )
    if isinstance(stamp, datetime):
        return stamp.astimezone(UTC)
    if isinstance(stamp, str):
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
    raise ValueError("the Clip has no creationTimestamp")


def clip_range(clip: Clip) -> ClipRange:
    """The absolute range: start and end as given, or the lastSeconds before the Clip's creation."""
    spec = clip.spec
    if spec.start is not None and spec.end is not None:
        start = spec.start if spec.start.tzinfo else spec.start.replace(tzinfo=UTC)
        end = spec.end if spec.end.tzinfo else spec.end.replace(tzinfo=UTC)
        return ClipRange(start.astimezone(UTC), end.astimezone(UTC))
    end = created_at(clip)
    return ClipRange(end - timedelta(seconds=spec.last_seconds or 0), end)


def clip_title(clip: Clip, stream: LiveStream) -> str:
    """The spec's, else "Clip: {stream title}, {start UTC}" (the recordings' pattern)."""
    if clip.spec.title:
        return clip.spec.title
    start = clip_range(clip).start
    return f"Clip: {stream.spec.title or stream.metadata.name}, {start:%Y-%m-%d %H:%M:%S} UTC"[:512]


def clipped_rendition(clip: Clip, stream: LiveStream) -> str | None:
    """The rendition the clip is cut from: the spec's, else a transcoded stream's tallest (its HLS
    has no origin), else None: the origin of a passthrough stream."""
    ladder = stream.spec.transcoding.tallest_first() if stream.spec.transcoding else []
    return clip.spec.rendition or (ladder[0].name if ladder else None)


def rendition_problem(clip: Clip, stream: LiveStream) -> str | None:
    names = [r.name for r in (stream.spec.transcoding.renditions if stream.spec.transcoding else [])]
    wanted = clip.spec.rendition
    if wanted is None or wanted in names:
        return None
    if not names:
        return f"rendition {wanted}: LiveStream {stream.metadata.name} is not transcoded (it has only its origin)"
    return f"rendition {wanted} is not one of LiveStream {stream.metadata.name}'s: {', '.join(names)}"


def playlist_url(
    clip: Clip, stream: LiveStream, worker_address: str = "", ingest_ports: IngestPortMap | None = None
) -> str:
    """The primary ingest's media playlist of the clipped rendition: MPEG-TS where the stream serves
    it (its segments concatenate into one file), else CMAF (an init segment and fragments)."""
    variant = "ts" if stream.spec.hls.mpegts else "cmaf"
    rendition = clipped_rendition(clip, stream)
    path = f"/hls/{variant}/{rendition}/index.m3u8" if rendition else f"/hls/{variant}/index.m3u8"
    return ingest_http_url(stream, worker_address, ingest_ports) + path


def clipper_pod_name(clip_name: str) -> str:
    return child_name(clip_name, "clipper")


def resolved_storage(clip: Clip, stream: LiveStream, settings: OperatorSettings) -> RecordingStorage:
    return resolve_storage(clip.spec.storage, stream, settings)


def clip_directory(clip: Clip, storage: RecordingStorage) -> str:
    assert clip.metadata.uid, "an object read from the API server has a uid"
    return videos_directory(clip.metadata.namespace or "", clip.metadata.name, clip.metadata.uid, storage)


def clipper_config(
    clip: Clip, stream: LiveStream, settings: OperatorSettings, ingest_ports: IngestPortMap | None, http_port: int
) -> ClipperConfig:
    meta = clip.metadata
    assert meta.uid, "an object read from the API server has a uid"
    storage = resolved_storage(clip, stream, settings)
    span = clip_range(clip)
    stream_name = clip.spec.stream_ref.name
    return ClipperConfig(
        stream=stream_name,
        clip=meta.name,
        playlist_url=playlist_url(clip, stream, settings.worker_address, ingest_ports),
        start=span.start,
        end=span.end,
        mode=clip.spec.mode,
        title=clip_title(clip, stream),
        recordings_root=RECORDINGS_ROOT,
        directory=clip_directory(clip, storage),
        file_name=f"clip-{span.start:%Y%m%d-%H%M%S}.mp4",
        upload=(
            upload_target(storage.s3, meta.namespace or "", stream_name, meta.name, meta.uid, stream.spec.client())
            if storage.s3
            else None
        ),
        client=stream.spec.client(),
        playback_keys_dir=PLAYBACK_KEYS_DIR if playback_signed(stream, settings) else None,
        playback_stream=f"{meta.namespace}/{stream_name}",
        http_host=settings.worker_bind_address,
        http_port=http_port,
    )


def clipper_pod(
    clip: Clip,
    stream: LiveStream,
    settings: OperatorSettings,
    ingest_ports: IngestPortMap | None = None,
    host_ports: dict[str, int] | None = None,
    claim_access_modes: Sequence[str] | None = None,
) -> Manifest:
    """The clipper Pod, owned by the Clip (deleting the stream does not cut a clip short), with the
    recorder's resources: it copies (keyframe) or encodes one clip (exact) at a time."""
    name, uid = clip.metadata.name, clip.metadata.uid
    assert uid, "an object read from the API server has a uid"
    http_port = host_ports["http"] if host_ports else HTTP_PORT
    storage = resolved_storage(clip, stream, settings)
    stream_name = clip.spec.stream_ref.name
    pod_name = clipper_pod_name(name)
    metadata, claim = video_worker_metadata(
        "Clip",
        name,
        clip.metadata.namespace,
        uid,
        stream_name,
        CLIPPER_COMPONENT,
        CLIP_LABEL,
        pod_name,
        storage,
        settings,
    )
    config = clipper_config(clip, stream, settings, ingest_ports, http_port)
    volumes: list[Manifest] = []
    mounts: list[Manifest] = []
    if config.playback_keys_dir:  # a signed stream: the clipper signs its own token, as a viewer's link is
        volumes.append({"name": "playback-keys", "secret": {"secretName": KEYS_SECRET, "defaultMode": 0o440}})
        mounts.append({"name": "playback-keys", "mountPath": PLAYBACK_KEYS_DIR, "readOnly": True})
    return video_worker_pod(
        metadata, "clip", config, CONFIG_ENV, http_port, storage, claim, settings, host_ports, claim_access_modes,
        volumes, mounts,
    )  # fmt: skip
