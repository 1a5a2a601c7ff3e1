"""The reasons a Clip's conditions and Events give (the status function, the loop and the tests
use these names; the strings are what users and their tools read)."""

from streamops.control.shared.conditions import INVALID_SPEC as INVALID_SPEC
from streamops.control.shared.conditions import REFUSED_BY_POLICY as REFUSED_BY_POLICY  # a storage Secret unlabelled
from streamops.control.shared.conditions import STREAM_NOT_FOUND as STREAM_NOT_FOUND
from streamops.control.storage.storage_quota import NO_SPACE as NO_SPACE  # the recordings quota is full
from streamops.control.storage.video_storage import CA_SECRET_MISSING as CA_SECRET_MISSING
from streamops.control.storage.video_storage import STORAGE_CREDENTIALS_MISSING as STORAGE_CREDENTIALS_MISSING
from streamops.control.workers.node_loss import NODE_LOST as NODE_LOST  # Event: its Pod force-deleted from a lost node
from streamops.control.workers.pod_observation import PodReasons

SUCCEEDED = "Succeeded"  # the condition: True once the video is stored
CLIPPED = "Clipped"  # Ready and Succeeded once stored
# Refusals (Succeeded False, Stalled True, one Warning Event each)
NO_DVR = "NoDvr"  # the stream keeps no DVR window (dvr.enabled false)
OUTSIDE_DVR_WINDOW = "OutsideDvrWindow"  # the start is older than what the DVR holds (or ever held)
END_TOO_FAR_IN_FUTURE = "EndTooFarInFuture"  # the end is more than 300 s after the Clip's creation
CLIP_FAILED = "ClipFailed"  # the cut failed (or its rendition is not the stream's)
REFUSALS = (NO_DVR, OUTSIDE_DVR_WINDOW, END_TOO_FAR_IN_FUTURE, CLIP_FAILED, NO_SPACE)
# On its way
WAITING = "Waiting"  # the DVR does not hold the end yet
CUTTING = "Cutting"
STORING = "Storing"  # written, or being uploaded
CLIPPER_POD = PodReasons(
    starting="ClipperStarting",
    pending="ClipperPending",
    failed="ClipperFailed",
    unschedulable="ClipperUnschedulable",
    storage_unavailable="StorageUnavailable",
    node_lost="ClipperNodeLost",
)

# Events
CLIP_SUCCEEDED = "ClipSucceeded"
