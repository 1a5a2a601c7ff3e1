"""The clipper's configuration: the playlist of the rendition it cuts, its title, where the clip
goes (the recordings claim, or a bucket)."""

from __future__ import annotations

from streamops.api import Clip, LiveStream
from streamops.api.recording import RecordingStorage
from streamops.contract.clipper import PLAYBACK_KEYS_DIR, ClipperConfig
from streamops.contract.recorder import RECORDINGS_ROOT
from streamops.control.clip.specs.time_range import clip_range
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.video_storage import resolve_storage, upload_target, videos_directory
from streamops.control.workers.ingest_address import IngestPortMap, ingest_http_url, playback_signed


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


def resolved_storage(clip: Clip, stream: LiveStream, settings: OperatorSettings) -> RecordingStorage:
    return resolve_storage(clip.spec.storage, stream, settings.recordings)


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
        playlist_url=playlist_url(clip, stream, settings.worker.address, ingest_ports),
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
        playback_keys_dir=PLAYBACK_KEYS_DIR if playback_signed(stream, settings.playback) else None,
        playback_stream=f"{meta.namespace}/{stream_name}",
        http_host=settings.worker.bind_address,
        http_port=http_port,
    )
