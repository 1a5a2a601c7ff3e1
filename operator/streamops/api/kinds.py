"""The custom resources: their wire models and what their CRDs say about them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from streamops.api.broadcast import BroadcastSpec, BroadcastStatus
from streamops.api.clip import ClipSpec, ClipStatus
from streamops.api.common import API_VERSION, GROUP, ConditionedStatus, KubeModel
from streamops.api.livestream import LiveStreamSpec, LiveStreamStatus
from streamops.api.playback_policy import PlaybackPolicySpec, PlaybackPolicyStatus
from streamops.api.quality_set import QualitySetSpec, QualitySetStatus
from streamops.api.recording import RecordingSpec, RecordingStatus
from streamops.api.restream import RestreamSpec, RestreamStatus
from streamops.api.webhook import StreamWebhookSpec, StreamWebhookStatus


class ObjectMeta(BaseModel):
    """The parts of metadata the operator reads; the rest is kept as is."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    name: str
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


SpecT = TypeVar("SpecT", bound=KubeModel)
StatusT = TypeVar("StatusT", bound=ConditionedStatus)


class Resource(KubeModel, Generic[SpecT, StatusT]):
    model_config = ConfigDict(extra="ignore")

    api_version: str = API_VERSION
    kind: str
    metadata: ObjectMeta
    spec: SpecT
    status: StatusT | None = None


class LiveStream(Resource[LiveStreamSpec, LiveStreamStatus]):
    kind: str = "LiveStream"


class Recording(Resource[RecordingSpec, RecordingStatus]):
    kind: str = "Recording"


class Restream(Resource[RestreamSpec, RestreamStatus]):
    kind: str = "Restream"


class StreamWebhook(Resource[StreamWebhookSpec, StreamWebhookStatus]):
    kind: str = "StreamWebhook"


class Clip(Resource[ClipSpec, ClipStatus]):
    kind: str = "Clip"


class Broadcast(Resource[BroadcastSpec, BroadcastStatus]):
    kind: str = "Broadcast"


class QualitySet(Resource[QualitySetSpec, QualitySetStatus]):
    kind: str = "QualitySet"


class ClusterQualitySet(Resource[QualitySetSpec, QualitySetStatus]):
    kind: str = "ClusterQualitySet"


class PlaybackPolicy(Resource[PlaybackPolicySpec, PlaybackPolicyStatus]):
    kind: str = "PlaybackPolicy"


def condition_column(type_: str) -> dict[str, Any]:
    return {
        "name": type_,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{type_}")].status',
    }


AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
Scope = Literal["Namespaced", "Cluster"]


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short_name: str
    model: type[Resource[Any, Any]]
    description: str
    printer_columns: list[dict[str, Any]] = field(default_factory=list)
    scope: Scope = "Namespaced"

    @property
    def namespaced(self) -> bool:
        return self.scope == "Namespaced"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


LIVESTREAM = Kind(
    kind="LiveStream",
    plural="livestreams",
    short_name="lst",
    model=LiveStream,
    description="A live stream: RTMP(S), SRT or WHIP push, or pull, ingest; HLS, LL-HLS, DASH and WebRTC playback with "
    "a DVR window; recording and restreaming.",
    printer_columns=[
        {"name": "Title", "type": "string", "jsonPath": ".spec.title", "priority": 1},
        {"name": "Live", "type": "boolean", "jsonPath": ".status.live"},
        # Whose media is on air: "backup" while the primary's publisher sends nothing (Live false).
        {"name": "OnAir", "type": "string", "jsonPath": ".status.activeIngest"},
        {"name": "Recording", "type": "boolean", "jsonPath": ".status.recording"},
        {"name": "Viewers", "type": "integer", "jsonPath": ".status.viewers.total"},
        condition_column("Ready"),
        {"name": "Resolution", "type": "integer", "jsonPath": ".status.videoHeight", "priority": 1},
        {"name": "FPS", "type": "number", "jsonPath": ".status.frameRate", "priority": 1},
        AGE_COLUMN,
    ],
)
RECORDING = Kind(
    kind="Recording",
    plural="recordings",
    short_name="rec",
    model=Recording,
    description="Records a live stream into video files; set spec.stopped to finish.",
    printer_columns=[
        {"name": "Stream", "type": "string", "jsonPath": ".spec.streamRef.name"},
        {"name": "Recording", "type": "boolean", "jsonPath": ".status.recording"},
        {"name": "Duration", "type": "number", "jsonPath": ".status.duration"},
        condition_column("Ready"),
        AGE_COLUMN,
    ],
)
RESTREAM = Kind(
    kind="Restream",
    plural="restreams",
    short_name="rst",
    model=Restream,
    description="Forwards a live stream as is to one RTMP, RTMPS or SRT target.",
    printer_columns=[
        {"name": "Stream", "type": "string", "jsonPath": ".spec.streamRef.name"},
        {"name": "Live", "type": "boolean", "jsonPath": ".status.live"},
        {"name": "Reconnects", "type": "integer", "jsonPath": ".status.reconnects", "priority": 1},
        condition_column("Ready"),
        AGE_COLUMN,
    ],
)
STREAM_WEBHOOK = Kind(
    kind="StreamWebhook",
    plural="streamwebhooks",
    short_name="swh",
    model=StreamWebhook,
    description="Sends the events of a namespace's streams to an HTTP receiver as signed CloudEvents.",
    printer_columns=[
        {"name": "URL", "type": "string", "jsonPath": ".spec.url", "priority": 1},
        {"name": "Backlog", "type": "integer", "jsonPath": ".status.backlog"},
        {"name": "Failures", "type": "integer", "jsonPath": ".status.consecutiveFailures"},
        condition_column("Ready"),
        AGE_COLUMN,
    ],
)
CLIP = Kind(
    kind="Clip",
    plural="clips",
    short_name="clip",
    model=Clip,
    description="A piece of a live stream's DVR window (a time range or the last N seconds) cut into one video.",
    printer_columns=[
        {"name": "Stream", "type": "string", "jsonPath": ".spec.streamRef.name"},
        {"name": "Duration", "type": "number", "jsonPath": ".status.videos[0].durationSeconds"},
        {"name": "Mode", "type": "string", "jsonPath": ".spec.mode", "priority": 1},
        condition_column("Succeeded"),
        condition_column("Ready"),
        AGE_COLUMN,
    ],
)
_QUALITY_SET_COLUMNS = [
    # kubectl shows the list as JSON: ["1080p","720p","480p","360p"].
    {"name": "Qualities", "type": "string", "jsonPath": ".status.qualities"},
    {"name": "Streams", "type": "integer", "jsonPath": ".status.streams"},
    condition_column("Ready"),
    AGE_COLUMN,
]
QUALITY_SET = Kind(
    kind="QualitySet",
    plural="qualitysets",
    short_name="qs",
    model=QualitySet,
    description="A named transcoding ladder that LiveStreams of its namespace reference "
    "(spec.transcoding.qualitySetRef).",
    printer_columns=_QUALITY_SET_COLUMNS,
)
CLUSTER_QUALITY_SET = Kind(
    kind="ClusterQualitySet",
    plural="clusterqualitysets",
    short_name="cqs",
    model=ClusterQualitySet,
    description="A named transcoding ladder that LiveStreams of any namespace reference "
    "(spec.transcoding.qualitySetRef with kind ClusterQualitySet); the operator keeps one named default.",
    printer_columns=_QUALITY_SET_COLUMNS,
    scope="Cluster",
)
QUALITY_SET_KINDS = {k.kind: k for k in (QUALITY_SET, CLUSTER_QUALITY_SET)}
BROADCAST = Kind(
    kind="Broadcast",
    plural="broadcasts",
    short_name="bc",
    model=Broadcast,
    description="Streams of a namespace grouped into one event that viewers follow: the first of them that is live "
    "is on air (a main and a backup camera, or consecutive sessions).",
    printer_columns=[
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "OnAir", "type": "string", "jsonPath": ".status.onAir"},
        condition_column("Ready"),
        AGE_COLUMN,
    ],
)
PLAYBACK_POLICY = Kind(
    kind="PlaybackPolicy",
    plural="playbackpolicies",
    short_name="pbp",
    model=PlaybackPolicy,
    description="Who may watch the LiveStreams of its namespace that name it (spec.playback.policyRef): referrers "
    "and origins, address ranges, countries, user agents; enforced at the edge and the ingest.",
    printer_columns=[
        {"name": "Streams", "type": "integer", "jsonPath": ".status.streams"},
        condition_column("Ready"),
        AGE_COLUMN,
    ],
)
KINDS = (
    LIVESTREAM,
    RECORDING,
    RESTREAM,
    STREAM_WEBHOOK,
    CLIP,
    QUALITY_SET,
    CLUSTER_QUALITY_SET,
    BROADCAST,
    PLAYBACK_POLICY,
)
