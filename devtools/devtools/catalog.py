"""Manifests shared by the unit and cluster suites: the bad ones (each with what the API server
must say about it) and builders for good ones."""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from streamops.api import API_VERSION, Clip, LiveStream, Recording, Restream
from streamops.api.common import KubeModel
from streamops.api.recording import Video
from streamops.control.runtime.decisions import LoopFacts
from streamops.control.shared.settings import OperatorSettings

from devtools.versions import REPO

EXAMPLES = REPO / "examples"


def livestream(name: str = "cam", **spec: Any) -> dict[str, Any]:
    body = {"title": "Camera", "source": {"push": {"protocols": ["rtmp", "srt"]}}}
    body.update(spec)
    return {"apiVersion": API_VERSION, "kind": "LiveStream", "metadata": {"name": name}, "spec": body}


def recording(name: str = "rec", **spec: Any) -> dict[str, Any]:
    body = {"streamRef": {"name": "cam"}}
    body.update(spec)
    return {"apiVersion": API_VERSION, "kind": "Recording", "metadata": {"name": name}, "spec": body}


def restream(name: str = "out", **spec: Any) -> dict[str, Any]:
    body = {"streamRef": {"name": "cam"}, "uri": "rtmp://127.0.0.1/live"}
    body.update(spec)
    return {"apiVersion": API_VERSION, "kind": "Restream", "metadata": {"name": name}, "spec": body}


def clip(name: str = "clip", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"streamRef": {"name": "cam"}}
    body.update(spec or {"lastSeconds": 30})
    return {"apiVersion": API_VERSION, "kind": "Clip", "metadata": {"name": name}, "spec": body}


def quality_set(name: str = "hd", *renditions: dict[str, Any], cluster: bool = False) -> dict[str, Any]:
    """A QualitySet (a ClusterQualitySet with `cluster`); renditions as a LiveStream's, by default
    one 360p and one 180p (cheap to encode in the tests that run them)."""
    ladder = list(renditions) or [
        {"name": "360p", "height": 360, "videoBitrateKbps": 500, "audioBitrateKbps": 64},
        {"name": "180p", "height": 180, "videoBitrateKbps": 200, "audioBitrateKbps": 64},
    ]
    kind = "ClusterQualitySet" if cluster else "QualitySet"
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": {"renditions": ladder}}


def named_ladder(name: str = "hd", cluster: bool = False) -> dict[str, Any]:
    """A LiveStream's `transcoding` naming a quality set."""
    return {"qualitySetRef": {"name": name, "kind": "ClusterQualitySet" if cluster else "QualitySet"}}


def pull(*urls: str) -> dict[str, Any]:
    return {"pull": {"urls": list(urls)}}


# --- the same objects as the API server hands them to the operator (the status and builder functions' input)


def stored(
    body: dict[str, Any],
    status: dict[str, Any] | KubeModel | None = None,
    *,
    namespace: str = "media",
    uid: str | None = "u",
    generation: int | None = 3,
    created: str | None = None,
) -> dict[str, Any]:
    """`body` (one of the builders above) as the API server stores it: in `namespace`, with `uid`,
    `generation` and `created` (a creationTimestamp; None: without) and `status` (a model is written
    as its wire form; None or empty: no status)."""
    metadata = {"namespace": namespace, "uid": uid, "generation": generation, "creationTimestamp": created}
    body["metadata"].update({key: value for key, value in metadata.items() if value is not None})
    if isinstance(status, KubeModel):
        status = status.wire()
    if status:
        body["status"] = status
    return body


def stored_livestream(
    status: dict[str, Any] | KubeModel | None = None,
    uid: str | None = "u",
    generation: int | None = 3,
    *,
    name: str = "cam",
    namespace: str = "media",
    **spec: Any,
) -> LiveStream:
    """`livestream(name, **spec)` as the API server would hand it to the operator: in `namespace`,
    with a uid, a generation and `status` (see `stored`)."""
    body = stored(livestream(name, **spec), status, namespace=namespace, uid=uid, generation=generation)
    return LiveStream.model_validate(body)


def stored_recording(
    status: dict[str, Any] | KubeModel | None = None,
    uid: str | None = "0123456789abcdef",
    generation: int | None = 1,
    *,
    name: str = "rec",
    namespace: str = "media",
    **spec: Any,
) -> Recording:
    """`recording(name, **spec)` as the API server would hand it to the operator (see `stored`)."""
    body = stored(recording(name, **spec), status, namespace=namespace, uid=uid, generation=generation)
    return Recording.model_validate(body)


def stored_restream(
    status: dict[str, Any] | KubeModel | None = None,
    uid: str | None = "restream-uid",
    generation: int | None = 1,
    *,
    name: str = "out",
    namespace: str = "media",
    **spec: Any,
) -> Restream:
    """`restream(name, **spec)` as the API server would hand it to the operator (see `stored`)."""
    body = stored(restream(name, **spec), status, namespace=namespace, uid=uid, generation=generation)
    return Restream.model_validate(body)


def stored_clip(
    status: dict[str, Any] | KubeModel | None = None,
    uid: str | None = "0123456789abcdef",
    generation: int | None = 1,
    *,
    name: str = "clip",
    namespace: str = "media",
    created: str | None = None,
    **spec: Any,
) -> Clip:
    """`clip(name, **spec)` as the API server would hand it to the operator, created at `created`."""
    body = stored(clip(name, **spec), status, namespace=namespace, uid=uid, generation=generation, created=created)
    return Clip.model_validate(body)


# --- a Recording whose videos are in a bucket, as its status says (download links, VOD pages) -----------

VIDEO_TIME = "2026-11-23T10:00:00Z"
BUCKET_STORAGE = {
    "s3": {
        "endpoint": "https://10.241.0.1:9443",
        "publicEndpoint": "https://127.0.0.1:39000",
        "bucket": "videos",
        "credentialsSecret": "s3-creds",
    }
}


def stored_video(key: str, upload: str = "uploaded", **extra: Any) -> dict[str, Any]:
    """One of status.videos: s3://videos/<key>, 12 s, 1000 bytes."""
    return {
        "title": "Stream Record: cam, 2026-11-23 10:00:00 UTC",
        "url": f"s3://videos/{key}",
        "upload": upload,
        "durationSeconds": 12.0,
        "sizeBytes": 1000,
        "startedAt": VIDEO_TIME,
        "endedAt": VIDEO_TIME,
        **extra,
    }


def recording_with_videos(videos: list[dict[str, Any]], storage: dict[str, Any] | None = None) -> dict[str, Any]:
    """Recording ns/show with `videos` in its status, stored in `storage` (default: BUCKET_STORAGE)."""
    status = {"storage": storage or BUCKET_STORAGE, "videos": videos}
    return stored(recording("show"), status, namespace="ns", uid="u1", generation=None)


def stored_recording_with_videos(videos: list[dict[str, Any]], storage: dict[str, Any] | None = None) -> Recording:
    """`recording_with_videos` as the model the download link and the VOD page read."""
    return Recording.model_validate(recording_with_videos(videos, storage))


def recorded_video(seconds: float, size: int = 1, *, at: datetime, title: str) -> Video:
    """A finished video as a recorder reports it (status.videos[]): `seconds` long, `size` bytes."""
    return Video(title=title, path="rec/v.mp4", duration_seconds=seconds, size_bytes=size, started_at=at, ended_at=at)


def secret_data(**values: str) -> dict[str, Any]:
    """A Secret as the API server returns it: `values` base64-encoded under data."""
    return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}}


@dataclass(frozen=True)
class Bad:
    id: str
    manifest: dict[str, Any]
    says: str  # what the API server's rejection must contain, so a user knows what to fix


def _without(manifest: dict[str, Any], *path: str) -> dict[str, Any]:
    out = copy.deepcopy(manifest)
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


BAD = [
    Bad(
        "dvr-too-short",
        livestream(dvr={"enabled": True, "durationSeconds": 20}),
        "spec.dvr.durationSeconds: Invalid value: 20: "
        "spec.dvr.durationSeconds in body should be greater than or equal to 30",
    ),
    Bad("dvr-too-long", livestream(dvr={"durationSeconds": 20000}), "should be less than or equal to 14400"),
    Bad(
        "push-and-pull",
        livestream(source={"push": {}, "pull": {"urls": ["rtmp://127.0.0.1/a"]}}),
        "set exactly one of source.push",
    ),
    Bad("no-source-kind", livestream(source={}), "set exactly one of source.push"),
    Bad("no-source", _without(livestream(), "spec", "source"), "spec.source: Required value"),
    Bad(
        "pull-no-urls",
        livestream(source=pull()),
        "spec.source.pull.urls: Invalid value: 0: spec.source.pull.urls in body should have at least 1 items",
    ),
    Bad(
        "pull-file-url",
        livestream(source=pull("file:///etc/passwd")),
        "a pull URL must be a rtmp://, rtmps://, srt://, http://, https://, rtsp://, rtsps:// URL",
    ),
    Bad(
        "pull-concat-url",
        livestream(source=pull("rtmp://127.0.0.1/a", "concat:/etc/passwd|/etc/shadow")),
        "a pull URL must be a rtmp://",
    ),
    Bad("pull-srt-listener", livestream(source=pull("srt://127.0.0.1:9000?mode=listener")), "only mode=caller"),
    Bad(
        "push-protocol-unknown",
        livestream(source={"push": {"protocols": ["rtmpt"]}}),
        'Unsupported value: "rtmpt": supported values: "rtmp", "rtmps", "srt", "whip"',
    ),
    Bad(
        "rtmps-without-certificate",
        livestream(source={"push": {"protocols": ["rtmp", "rtmps"]}}),
        "rtmps needs a certificate: set source.push.tls.secretName to a kubernetes.io/tls Secret",
    ),
    Bad(
        "backup-with-whip-only",
        livestream(source={"push": {"protocols": ["whip"], "backup": True}}),
        "source.push.backup needs rtmp, rtmps or srt: WHIP has no backup ingest",
    ),
    Bad(
        "webrtc-tcp-node-port-without-ice-tcp",
        livestream(
            ingest={"service": {"type": "NodePort", "nodePorts": {"webrtcTcp": 31190}}, "webrtc": {"iceTcp": False}}
        ),
        "nodePorts.webrtcTcp needs ingest.webrtc.iceTcp: ICE-TCP is off",
    ),
    Bad(
        "webrtc-advertise-address-not-a-host",
        livestream(ingest={"webrtc": {"advertiseAddresses": ["http://203.0.113.7"]}}),
        "spec.ingest.webrtc.advertiseAddresses[0]",
    ),
    Bad(
        "webrtc-b-frames-unknown",
        livestream(playback={"webrtc": {"bFrames": "drop"}}),
        'Unsupported value: "drop": supported values: "transcode", "refuse"',
    ),
    Bad(
        "projection-unknown",
        livestream(playback={"projection": "360"}),
        'spec.playback.projection: Unsupported value: "360": supported values: "regular", "vr360", "vr180", "vr360tb"',
    ),
    Bad(
        "webrtc-ice-servers-key-not-a-secret-key",
        livestream(playback={"webrtc": {"iceServersSecretRef": {"name": "turn", "key": "ice servers"}}}),
        "spec.playback.webrtc.iceServersSecretRef.key",
    ),
    Bad(
        "webrtc-ice-servers-without-secret-name",
        livestream(playback={"webrtc": {"iceServersSecretRef": {"key": "iceServers"}}}),
        "spec.playback.webrtc.iceServersSecretRef.name: Required value",
    ),
    Bad(
        "rtmps-tls-without-secret-name",
        livestream(source={"push": {"protocols": ["rtmps"], "tls": {}}}),
        "spec.source.push.tls.secretName: Required value",
    ),
    Bad("hls-no-format", livestream(hls={"cmaf": False, "mpegts": False}), "at least one of cmaf or mpegts"),
    Bad("hls-segment-zero", livestream(hls={"segmentSeconds": 0}), "spec.hls.segmentSeconds"),
    Bad(
        "screenshot-interval-huge",
        livestream(screenshots={"intervalSeconds": 999999}),
        "spec.screenshots.intervalSeconds",
    ),
    Bad(
        "transcoded-without-renditions",
        livestream(recording={"type": "transcoded"}),
        "recording.type transcoded needs at least one transcoding rendition",
    ),
    Bad(
        "rendition-too-small",
        livestream(transcoding={"renditions": [{"name": "tiny", "height": 100, "videoBitrateKbps": 300}]}),
        "spec.transcoding.renditions[0].height",
    ),
    Bad("restream-http", restream(uri="http://127.0.0.1/live"), "uri must be a rtmp://, rtmps://, srt:// URL"),
    Bad("restream-file", restream(uri="file:///var/run/secrets/key"), "uri must be a rtmp://"),
    Bad(
        "restream-srt-listener",
        restream(uri="srt://127.0.0.1:9000?latency=200&mode=listener"),
        "srt:// URLs support only mode=caller",
    ),
    Bad(
        "restream-credentials",
        restream(uri="rtmp://user:secret@127.0.0.1/live"),
        "credentials in the URL are not allowed",
    ),
    Bad("restream-no-uri", _without(restream(), "spec", "uri"), "spec.uri: Required value"),
    Bad("restream-bad-source", restream(source="bogus"), 'Unsupported value: "bogus"'),
    Bad(
        "restream-av1-over-srt",
        restream(uri="srt://127.0.0.1:9000", targetVideoCodecs=["h264", "av1"]),
        "targetVideoCodecs cannot list av1 for an srt:// target",
    ),
    Bad("restream-codec-twice", restream(targetVideoCodecs=["h264", "h264"]), "spec.targetVideoCodecs[1]: Duplicate"),
    Bad("restream-no-codec", restream(targetVideoCodecs=[]), "spec.targetVideoCodecs: Invalid value"),
    Bad("restream-vp9", restream(targetVideoCodecs=["vp9"]), 'Unsupported value: "vp9"'),
    Bad("recording-no-stream", _without(recording(), "spec", "streamRef"), "spec.streamRef: Required value"),
    Bad("recording-negative-window", recording(reconnectWindowSeconds=-1), "spec.reconnectWindowSeconds"),
    Bad("recording-short-segment", recording(maxSegmentSeconds=1), "spec.maxSegmentSeconds"),
    # Paths joined to a root (a claim's directory, a URL prefix) never climb out of it.
    Bad(
        "recording-subpath-backstep",
        recording(storage={"pvc": {"claimName": "videos", "subPath": "team/../../other-namespace"}}),
        "spec.storage.pvc.subPath: Invalid value: \"string\": subPath must not contain '..' segments",
    ),
    Bad(
        "recording-subpath-parent",
        recording(storage={"pvc": {"claimName": "videos", "subPath": ".."}}),
        "subPath must not contain '..' segments",
    ),
    Bad(
        "playback-ingress-path-backstep",
        livestream(playback={"ingress": {"path": "/streams/../admin"}}),
        "spec.playback.ingress.path: Invalid value: \"string\": path must not contain '.' or '..' segments",
    ),
    Bad(
        "playback-route-path-dot",
        livestream(playback={"httpRoute": {"path": "/streams/./cam"}}),
        "spec.playback.httpRoute.path: Invalid value: \"string\": path must not contain '.' or '..' segments",
    ),
    # Exposure (spec.ingest.service, spec.playback): options that mean nothing for the type asked for.
    Bad(
        "ingest-nodeports-without-type",
        livestream(ingest={"service": {"nodePorts": {"rtmp": 31935}}}),
        'spec.ingest.service: Invalid value: "object": nodePorts needs type NodePort or LoadBalancer',
    ),
    Bad(
        "ingest-nodeports-clusterip",
        livestream(ingest={"service": {"type": "ClusterIP", "nodePorts": {"srt": 31936}}}),
        "nodePorts needs type NodePort or LoadBalancer",
    ),
    Bad(
        "ingest-lb-class-nodeport",
        livestream(ingest={"service": {"type": "NodePort", "loadBalancerClass": "example.com/lb"}}),
        'spec.ingest.service: Invalid value: "object": loadBalancerClass needs type LoadBalancer',
    ),
    Bad(
        "ingest-traffic-policy-clusterip",
        livestream(ingest={"service": {"type": "ClusterIP", "externalTrafficPolicy": "Local"}}),
        "externalTrafficPolicy needs type NodePort or LoadBalancer",
    ),
    Bad(
        "ingest-service-externalname",
        livestream(ingest={"service": {"type": "ExternalName"}}),
        'spec.ingest.service.type: Unsupported value: "ExternalName"',
    ),
    Bad(
        "ingest-nodeport-too-big",
        livestream(ingest={"service": {"type": "NodePort", "nodePorts": {"http": 70000}}}),
        "spec.ingest.service.nodePorts.http: Invalid value: 70000",
    ),
    Bad(
        "ingest-rtmps-port-node-port",
        livestream(ingest={"service": {"type": "NodePort", "rtmpsPort": 443}}),
        "rtmpsPort needs type LoadBalancer or ClusterIP",
    ),
    Bad("client-user-id-negative", livestream(clientUserId=-1), "spec.clientUserId in body should be greater than"),
    Bad(
        "client-entity-data-too-long",
        livestream(clientEntityData="x" * 4097),
        "spec.clientEntityData: Too long: may not be more than 4096",
    ),
    Bad("restream-client-user-id-text", restream(clientUserId="u1"), "spec.clientUserId: Invalid value"),
    Bad(
        "ingest-traffic-policy-bogus",
        livestream(ingest={"service": {"type": "NodePort", "externalTrafficPolicy": "Nearest"}}),
        'spec.ingest.service.externalTrafficPolicy: Unsupported value: "Nearest"',
    ),
    Bad(
        "playback-ingress-and-route",
        livestream(playback={"ingress": {"host": "tv.example.com"}, "httpRoute": {"parentRefs": [{"name": "gw"}]}}),
        'spec.playback: Invalid value: "object": set at most one of playback.ingress and playback.httpRoute',
    ),
    Bad(
        "playback-ingress-and-route-enabled",
        livestream(playback={"ingress": {"enabled": True}, "httpRoute": {"enabled": True}}),
        "set at most one of playback.ingress and playback.httpRoute",
    ),
    Bad(
        "playback-path-trailing-slash",
        livestream(playback={"ingress": {"path": "/live/"}}),
        "spec.playback.ingress.path: Invalid value",
    ),
    Bad(
        "playback-host-not-dns",
        livestream(playback={"ingress": {"host": "TV_example.com"}}),
        "spec.playback.ingress.host: Invalid value",
    ),
    Bad(
        "playback-route-hostname-not-dns",
        livestream(playback={"httpRoute": {"hostnames": ["tv.example.com/live"]}}),
        "spec.playback.httpRoute.hostnames[0]: Invalid value",
    ),
    Bad(
        "playback-route-parent-without-name",
        livestream(playback={"httpRoute": {"parentRefs": [{"namespace": "gateways"}]}}),
        "spec.playback.httpRoute.parentRefs[0].name: Required value",
    ),
    Bad(
        "part-not-below-segment",
        livestream(hls={"latencyMode": "low", "segmentSeconds": 1, "partMilliseconds": 1000}),
        "hls.partMilliseconds must be below hls.segmentSeconds",
    ),
    Bad(
        "low-latency-mpegts-only",
        livestream(hls={"latencyMode": "low", "cmaf": False, "mpegts": True}),
        "hls.latencyMode low needs hls.cmaf",
    ),
    Bad("latency-mode-unknown", livestream(hls={"latencyMode": "ultra"}), 'supported values: "standard", "low"'),
    Bad(
        "dvr-shorter-than-three-segments",
        livestream(dvr={"enabled": True, "durationSeconds": 30}, hls={"segmentSeconds": 12}),
        "dvr.durationSeconds must be at least 3 x hls.segmentSeconds",
    ),
    Bad(
        "overlays-without-renditions",
        livestream(overlays=[{"name": "score", "url": "https://widgets.example.com/", "width": 40, "height": 20}]),
        "overlays need at least one transcoding rendition",
    ),
    Bad(
        "overlay-box-outside-the-frame",
        livestream(
            transcoding={"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]},
            overlays=[{"name": "score", "url": "https://widgets.example.com/", "left": 70, "width": 40, "height": 20}],
        ),
        "left + width must be at most 100",
    ),
    Bad(
        "overlay-url-with-credentials",
        livestream(
            transcoding={"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]},
            overlays=[{"name": "score", "url": "https://u:p@widgets.example.com/", "width": 40, "height": 20}],
        ),
        "credentials in the URL are not allowed",
    ),
    Bad(
        "low-latency-dash-without-dash",
        livestream(dashLatencyMode="low"),
        "dashLatencyMode low needs dash: true",
    ),
    Bad(
        "ladder-and-quality-set",
        livestream(
            transcoding={
                "renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}],
                "qualitySetRef": {"name": "hd"},
            }
        ),
        "set at most one of transcoding.renditions and transcoding.qualitySetRef",
    ),
    Bad(
        "quality-set-kind-unknown",
        livestream(transcoding={"qualitySetRef": {"name": "hd", "kind": "Preset"}}),
        'supported values: "QualitySet", "ClusterQualitySet"',
    ),
    Bad(
        "quality-set-without-renditions",
        {**quality_set("empty"), "spec": {"renditions": []}},
        "spec.renditions in body should have at least 1 items",
    ),
    Bad(
        "clip-range-and-last-seconds",
        clip(start="2026-01-01T10:00:00Z", end="2026-01-01T10:01:00Z", lastSeconds=60),
        "set either start and end, or lastSeconds",
    ),
    Bad("clip-start-without-end", clip(start="2026-01-01T10:00:00Z"), "set either start and end, or lastSeconds"),
    Bad(
        "clip-end-before-start",
        clip(start="2026-01-01T10:01:00Z", end="2026-01-01T10:00:00Z"),
        "end must be after start",
    ),
    Bad(
        "clip-longer-than-4h",
        clip(start="2026-01-01T10:00:00Z", end="2026-01-01T15:00:00Z"),
        "a clip lasts at most 14400 s",
    ),
    Bad("clip-last-seconds-too-long", clip(lastSeconds=20000), "should be less than or equal to 14400"),
    Bad("clip-mode-unknown", clip(lastSeconds=10, mode="smart"), 'supported values: "keyframe", "exact"'),
]


def example_documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def quiet_loop(name: str, now: datetime, settings: OperatorSettings, **changes: Any) -> LoopFacts:
    """A status loop's facts (control/runtime/decisions.py's LoopFacts) on a quiet tick: one
    reconcile done, none due or failed, nothing deleted, pending or in flight — what each kind's
    decide tests start from, `changes` on top."""
    quiet = dict(
        namespace="media",
        name=name,
        generation=1,
        reconcile_due=False,
        reconciles=1,
        retry_in=None,
        write_pending=False,
        force_deleted=frozenset(),
        in_flight=frozenset(),
        now=now,
        monotonic=100.0,
        settings=settings,
    )
    return LoopFacts(**{**quiet, **changes})
