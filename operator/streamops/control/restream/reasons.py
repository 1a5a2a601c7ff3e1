"""The reasons a Restream's conditions and Events give (the status function, the loop and the
tests use these names; the strings are what users and their tools read)."""

from streamops.control.shared.conditions import INACTIVE as INACTIVE
from streamops.control.shared.conditions import INVALID_SPEC as INVALID_SPEC
from streamops.control.shared.conditions import REFUSED_BY_POLICY as REFUSED_BY_POLICY
from streamops.control.shared.conditions import STREAM_KEY_SECRET_NOT_FOUND as STREAM_KEY_SECRET_NOT_FOUND
from streamops.control.shared.conditions import STREAM_NOT_FOUND as STREAM_NOT_FOUND
from streamops.control.shared.conditions import STREAM_NOT_LIVE as STREAM_NOT_LIVE
from streamops.control.workers.node_loss import NODE_LOST as NODE_LOST  # Event: its Pod force-deleted from a lost node
from streamops.control.workers.pod_observation import PodReasons

PUSHING = "Pushing"
BACKOFF = "Backoff"  # the target failed: retrying with backoff
# The source's video is a codec spec.targetVideoCodecs does not list: the pusher sends nothing.
CODEC_NOT_ACCEPTED = "CodecNotAccepted"
PUSHER_POD = PodReasons(
    starting="PusherStarting",
    pending="PusherPending",
    failed="PusherFailed",
    unschedulable="PusherUnschedulable",
    storage_unavailable="PusherStorageUnavailable",
    node_lost="PusherNodeLost",  # evicted from an unreachable node: replaced once it is gone
)
CONNECTING = "Connecting"  # its Pod runs, the target does not receive the stream yet

# Events
RESTREAM_LIVE = "RestreamLive"
RESTREAM_OFFLINE = "RestreamOffline"
RESTREAM_BACKOFF = "RestreamBackoff"
