"""The reasons a Recording's conditions and Events give (the status function, the loop and the
tests use these names; the strings are what users and their tools read)."""

from streamops.control.shared.conditions import INVALID_SPEC as INVALID_SPEC
from streamops.control.shared.conditions import STREAM_NOT_FOUND as STREAM_NOT_FOUND
from streamops.control.shared.conditions import STREAM_NOT_LIVE as STREAM_NOT_LIVE
from streamops.control.shared.pod_observation import PodReasons

RECORDING = "Recording"
FINISHED = "Finished"  # Ready and Succeeded once stopped and finalised
STOPPED = "Stopped"  # the Recording condition once finalised
STOPPING = "Stopping"  # spec.stopped: finalising the videos
RECORDER_STARTING = "RecorderStarting"  # its Pod is created, or runs and has not started recording yet
RECORDER_POD = PodReasons(starting=RECORDER_STARTING, pending="RecorderPending", failed="RecorderFailed")

# Events
RECORDING_STARTED = "RecordingStarted"
RECORDING_SPLIT = "RecordingSplit"
RECORDING_FINISHED = "RecordingFinished"
RECORDING_DISCARDED = "RecordingDiscarded"
