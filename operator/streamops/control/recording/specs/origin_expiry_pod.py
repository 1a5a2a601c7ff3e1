"""The origin expiry Pod of a Recording on a claim (keepOrigin): `streamops worker expire` once,
on the claim, next to its recorders where the claim ties them to a node, deleting the originals
listed in its configuration; restartPolicy Never, no port, no probe (it serves nothing). The
Recording's status loop makes it when originals are due and deletes it once it has ended
(control/recording/origin_expiry.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from streamops.api.common import GROUP
from streamops.api.recording import RecordingStorage, Video
from streamops.contract.expiry import CONFIG_ENV, ORIGINS_MAX, ExpiredOrigin, ExpiryConfig
from streamops.contract.recorder import RECORDINGS_ROOT
from streamops.contract.worker import HTTP_PORT
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.recorder_pod import video_worker_metadata, video_worker_pod
from streamops.control.workers.worker_pod import spec_hash
from streamops.kube.manifests import Manifest
from streamops.kube.naming import RECORDING_LABEL, SPEC_HASH_ANNOTATION, child_name

ORIGIN_EXPIRY_COMPONENT = "origin-expiry"
# The originals a Pod deletes, as a JSON list of paths: the operator's pod index keeps its own
# annotations but no Pod spec, and reads this once the Pod has Succeeded.
ORIGINS_ANNOTATION = f"{GROUP}/origins"
EXPIRY_GRACE_SECONDS = 5  # it deletes a few files: nothing to finish after SIGTERM


def origin_expiry_pod_name(recording_name: str) -> str:
    return child_name(recording_name, ORIGIN_EXPIRY_COMPONENT)


def sidecar_path(video: Video) -> str | None:
    """The video's JSON sidecar on the claim (none once the video is no longer there)."""
    if not video.path or not video.path.endswith(".mp4") or video.expired_at is not None:
        return None
    return video.path[: -len(".mp4")] + ".json"


def expiry_config(videos: Sequence[Video], deleted_at: str) -> ExpiryConfig:
    """The originals (on the claim: a path, no object) of `videos`, at most ORIGINS_MAX."""
    origins = [
        ExpiredOrigin(path=v.origin.path, sidecar=sidecar_path(v), expired_at=deleted_at)
        for v in videos
        if v.origin is not None and v.origin.path and not v.origin.url
    ]
    return ExpiryConfig(recordings_root=RECORDINGS_ROOT, origins=origins[:ORIGINS_MAX])


def origin_expiry_pod(
    name: str,
    namespace: str,
    uid: str,
    stream: str,
    storage: RecordingStorage,
    config: ExpiryConfig,
    settings: OperatorSettings,
    claim_access_modes: Sequence[str] | None = None,
) -> Manifest:
    """The Pod, owned by the Recording `name` (uid), on its claim (`storage` has pvc, or is the
    default claim's); `claim_access_modes` as for its recorder (default: the default claim's)."""
    assert storage.s3 is None, "originals in a bucket are deleted by the operator itself"
    pod_name = origin_expiry_pod_name(name)
    metadata, claim = video_worker_metadata(
        "Recording",
        name,
        namespace,
        uid,
        stream,
        ORIGIN_EXPIRY_COMPONENT,
        RECORDING_LABEL,
        pod_name,
        storage,
        settings.recordings,
    )
    pod = video_worker_pod(
        metadata, "expire", config, CONFIG_ENV, HTTP_PORT, storage, claim, settings, None, claim_access_modes
    )  # fmt: skip
    spec = pod["spec"]
    spec["restartPolicy"] = "Never"  # once: the operator reads how it went from the Pod's phase
    spec["terminationGracePeriodSeconds"] = EXPIRY_GRACE_SECONDS
    container = spec["containers"][0]
    container["ports"] = []
    for probe in ("readinessProbe", "livenessProbe"):
        container.pop(probe, None)
    annotations = pod["metadata"]["annotations"]
    annotations[SPEC_HASH_ANNOTATION] = spec_hash(spec)
    annotations[ORIGINS_ANNOTATION] = json.dumps([o.path for o in config.origins], separators=(",", ":"))
    return pod


def pod_origins(annotations: Mapping[str, str]) -> list[str]:
    """The originals an origin expiry Pod was made to delete (its annotation; [] when unreadable)."""
    try:
        paths = json.loads(annotations.get(ORIGINS_ANNOTATION) or "[]")
    except ValueError:
        return []
    return [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []
