"""The clipper Pod of a Clip (on the recordings claim, or uploading to a bucket from scratch space)."""

from __future__ import annotations

from collections.abc import Sequence

from streamops.api import Clip, LiveStream
from streamops.contract.clipper import CONFIG_ENV
from streamops.contract.worker import HTTP_PORT
from streamops.control.clip.specs.names import CLIP_LABEL, CLIPPER_COMPONENT, clipper_pod_name
from streamops.control.clip.specs.worker_config import clipper_config, resolved_storage
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.recorder_pod import video_worker_metadata, video_worker_pod
from streamops.control.workers.ingest_address import IngestPortMap
from streamops.control.workers.mounts import container_mounts, playback_keys_mount, pod_volumes
from streamops.kube.manifests import Manifest


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
        settings.recordings,
    )
    config = clipper_config(clip, stream, settings, ingest_ports, http_port)
    # A signed stream: the clipper signs its own token, as a viewer's link is. Mounted where its
    # configuration says, the one decision (clipper_config).
    keys = [playback_keys_mount(config.playback_keys_dir)] if config.playback_keys_dir else []
    return video_worker_pod(
        metadata, "clip", config, CONFIG_ENV, http_port, storage, claim, settings, host_ports, claim_access_modes,
        pod_volumes(keys), container_mounts(keys),
    )  # fmt: skip
