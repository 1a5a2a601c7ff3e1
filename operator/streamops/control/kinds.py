"""The registry of the kinds the operator runs a status loop for (eight of its nine custom resources:
a StreamWebhook has none, webhook/notifier.py delivers to it): for each, its API kind, its status
loop (which reconciles it and writes its status) and which other loops its watch events wake.
handlers.py wires kopf's event handlers from this table; the wake-ups no flag here says (a
Broadcast's streams, a stream's quality sets, the default ClusterQualitySet kept) are written out in
handlers._object_event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from streamops.api import BROADCAST, CLIP, CLUSTER_QUALITY_SET, LIVESTREAM, QUALITY_SET, RECORDING, RESTREAM
from streamops.api.kinds import PLAYBACK_POLICY, Kind
from streamops.control.broadcast.loop import BROADCAST_LOOP, broadcast_loop
from streamops.control.clip.loop import CLIP_LOOP, clip_loop
from streamops.control.livestream.loop import LIVESTREAM_LOOP, livestream_loop
from streamops.control.playbackpolicy.loop import PLAYBACK_POLICY_LOOP, playback_policy_loop
from streamops.control.qualityset.loop import (
    CLUSTER_QUALITY_SET_LOOP,
    QUALITY_SET_LOOP,
    cluster_quality_set_loop,
    quality_set_loop,
)
from streamops.control.recording.loop import RECORDING_LOOP, recording_loop
from streamops.control.restream.loop import RESTREAM_LOOP, restream_loop
from streamops.control.runtime.indexes import Indexes
from streamops.control.runtime.object_loop import KindLoop, Outcome
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState

StatusLoop = Callable[[OperatorState, LiveObject, Indexes], Awaitable[None]]


@dataclass(frozen=True)
class ControlledKind:
    api: Kind
    loop: StatusLoop  # one per object (a task, object_tasks.py): reconciles it and writes its status
    kind_loop: KindLoop[Outcome]  # its reconcile, status model and metric fields
    wakes_followers: bool = False  # its events wake the loops that follow it (a stream's Recordings, Restreams)
    wakes_stream: bool = False  # its events wake its stream's loop (a stream shows its Recordings)
    # A change of its spec (or its deletion) reconciles the other objects of its kind that follow its
    # stream: a Restream's siblings share the stream's pusher (docs/design/shared-pusher.md).
    wakes_siblings: bool = False
    # A change of its spec reconciles the streams that name it (a quality set: their ladder).
    wakes_users: bool = False


KINDS = (
    ControlledKind(LIVESTREAM, livestream_loop, LIVESTREAM_LOOP, wakes_followers=True),
    ControlledKind(RECORDING, recording_loop, RECORDING_LOOP, wakes_stream=True),
    ControlledKind(RESTREAM, restream_loop, RESTREAM_LOOP, wakes_siblings=True),
    ControlledKind(CLIP, clip_loop, CLIP_LOOP),
    ControlledKind(QUALITY_SET, quality_set_loop, QUALITY_SET_LOOP, wakes_users=True),
    ControlledKind(CLUSTER_QUALITY_SET, cluster_quality_set_loop, CLUSTER_QUALITY_SET_LOOP, wakes_users=True),
    ControlledKind(BROADCAST, broadcast_loop, BROADCAST_LOOP),
    # A policy's change reconciles the streams that name it: their rules files (none restarts).
    ControlledKind(PLAYBACK_POLICY, playback_policy_loop, PLAYBACK_POLICY_LOOP, wakes_users=True),
)
BY_NAME = {k.api.kind: k for k in KINDS}
