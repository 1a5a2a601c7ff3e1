"""Broadcast: streams grouped into one event that viewers follow (the hosted platform's broadcasts and
a stream's `broadcast_ids`): a main and a backup camera, or consecutive sessions, in order. Its
state is the user's, as the hosted broadcast's `status` is (pending, live, paused, finished), with
`Auto` for "live while one of its streams is". Its page is served by its streams' ingests
(docs/design/broadcasts.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from streamops.api.common import NAME_MAX, Condition, ConditionedStatus, KubeModel, conditions_field, named_twice

STREAMS_MAX = 16
BroadcastState = Literal["Auto", "Pending", "Live", "Paused", "Finished"]
BroadcastPhase = Literal["Pending", "Live", "Paused", "Finished"]


class BroadcastSpec(KubeModel):
    """Which streams make the broadcast, in order, and what its viewers are shown."""

    title: str = Field(default="", max_length=256, description="Shown on the broadcast's player page.")
    streams: list[str] = Field(
        min_length=1,
        max_length=STREAMS_MAX,
        description=f"1..{STREAMS_MAX} LiveStreams of the namespace, in order: the first of them that is live is "
        "on air (a main camera before its backup; consecutive sessions are live one at a time).",
        json_schema_extra={"x-kubernetes-list-type": "set", "items": {"type": "string", "maxLength": NAME_MAX}},
    )
    state: BroadcastState = Field(
        default="Auto",
        description="What viewers see: Auto (the stream on air while one is live, the pending message otherwise), "
        "Pending (the pending message), Live (the stream on air, or the pending message while none is live), "
        "Paused (a paused message), Finished (a finished message). A change reaches open player pages within "
        "seconds, without a reload.",
    )
    pending_message: str = Field(
        default="", max_length=1024, description="Shown while the broadcast is pending; empty: a default message."
    )

    @field_validator("streams")
    @classmethod
    def _unique(cls, streams: list[str]) -> list[str]:
        twice = named_twice(streams)
        if twice:
            raise ValueError(f"streams: {twice[0]} is named twice")
        return streams


def stream_names(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """spec.streams of a Broadcast as stored, before (or without) the model: the names written, in order
    (a spec the model refuses may name anything; only strings count)."""
    names = spec.get("streams")
    return tuple(n for n in names if isinstance(n, str)) if isinstance(names, list) else ()


class BroadcastMember(KubeModel):
    """One stream the broadcast names, as the operator last saw it."""

    name: str = Field(max_length=NAME_MAX, description="The LiveStream's name.")
    found: bool = Field(description="The LiveStream exists.")
    live: bool = Field(default=False, description="It receives media (its status.live or status.backupLive).")


class BroadcastStatus(ConditionedStatus):
    """Observed state of the broadcast, written by the operator."""

    conditions: list[Condition] = conditions_field(
        "Ready: True when every stream named exists; False with StreamsMissing, naming them."
    )
    phase: BroadcastPhase | None = Field(default=None, description="What viewers see now.")
    on_air: str | None = Field(
        default=None, max_length=NAME_MAX, description="The stream viewers are shown: the first live one in order."
    )
    streams: list[BroadcastMember] | None = Field(
        default=None, max_length=STREAMS_MAX, description="Each stream named in spec.streams, in its order."
    )
    live_since: datetime | None = Field(
        default=None, description="When the phase last turned Live (kept while the on-air stream changes)."
    )
    player_url: str | None = Field(
        default=None,
        max_length=2048,
        description="The broadcast's page: it plays the stream on air, shows the pending, paused or finished "
        "message otherwise, and follows a change within seconds without a reload. Served by each of its streams' "
        "ingests beside their player page (<stream's playback base>/broadcasts/<name>/player); this is the first "
        "stream's, in order, that has a playback URL. Signed streams: `kubectl streamops playback url "
        "--broadcast <name>` signs it (the other streams' tokens ride in its fragment).",
    )
