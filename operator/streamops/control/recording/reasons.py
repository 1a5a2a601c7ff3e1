"""The reasons a Recording's conditions and Events give (the status function, the loop and the
tests use these names; the strings are what users and their tools read)."""

from streamops.control.shared.conditions import INVALID_SPEC as INVALID_SPEC
from streamops.control.shared.conditions import REFUSED_BY_POLICY as REFUSED_BY_POLICY  # a storage Secret unlabelled
from streamops.control.shared.conditions import STREAM_NOT_FOUND as STREAM_NOT_FOUND
from streamops.control.shared.conditions import STREAM_NOT_LIVE as STREAM_NOT_LIVE
from streamops.control.storage.storage_quota import NO_SPACE as NO_SPACE  # the quota is used up (the hosted 422)
from streamops.control.storage.storage_quota import NO_SPACE_MESSAGE as NO_SPACE_MESSAGE  # the hosted API's words
from streamops.control.storage.storage_quota import STORAGE_ALMOST_FULL as STORAGE_ALMOST_FULL  # 80 % of a quota
from streamops.control.storage.video_expiry import VIDEO_EXPIRED as VIDEO_EXPIRED  # deleted by deleteAfterDays
from streamops.control.storage.video_expiry import VIDEO_EXPIRY_FAILED as VIDEO_EXPIRY_FAILED  # tried again later
from streamops.control.storage.video_storage import CA_SECRET_MISSING as CA_SECRET_MISSING  # the CA Secret (or ca.crt)
from streamops.control.storage.video_storage import (
    STORAGE_CREDENTIALS_MISSING as STORAGE_CREDENTIALS_MISSING,  # the credentials Secret (or a key)
)
from streamops.control.workers.node_loss import NODE_LOST as NODE_LOST  # Event: its Pod force-deleted from a lost node
from streamops.control.workers.pod_observation import PodReasons

RECORDING = "Recording"
FINISHED = "Finished"  # Ready and Succeeded once stopped and finalised
STOPPED = "Stopped"  # the Recording condition once finalised
STOPPING = "Stopping"  # spec.stopped: finalising the videos
RECORDER_STARTING = "RecorderStarting"  # its Pod is created, or runs and has not started recording yet
RECORDER_UNSCHEDULABLE = "RecorderUnschedulable"  # no node fits it (e.g. its claim's node is full or gone)
STORAGE_UNAVAILABLE = "StorageUnavailable"  # scheduled, its claim not mounted (Multi-Attach, FailedMount)
RECORDER_NODE_LOST = "RecorderNodeLost"  # evicted from an unreachable node: replaced once it is gone
RECORDER_POD = PodReasons(
    starting=RECORDER_STARTING,
    pending="RecorderPending",
    failed="RecorderFailed",
    unschedulable=RECORDER_UNSCHEDULABLE,
    storage_unavailable=STORAGE_UNAVAILABLE,
    node_lost=RECORDER_NODE_LOST,
)

# Object storage (status.storage.s3) and space
UPLOADED = "Uploaded"  # the Uploaded condition (object storage only), and its reason while all is up
UPLOAD_PENDING = "UploadPending"  # videos wait to be uploaded (no problem reported)

DISK_FULL = "DiskFull"  # the NoSpace reason when the recorder's own volume ran out

# Events
RECORDING_STARTED = "RecordingStarted"
RECORDING_SPLIT = "RecordingSplit"
RECORDING_FINISHED = "RecordingFinished"
RECORDING_DISCARDED = "RecordingDiscarded"
VIDEO_UPLOADED = "VideoUploaded"  # a video is verified in the bucket
RECORDER_CANNOT_MOVE = "RecorderCannotMove"  # Warning: its node is cordoned and a handover cannot move it off
