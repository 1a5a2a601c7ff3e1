"""The reasons a LiveStream's conditions and Events give (the status function, the loop and the
tests use these names; the strings are what users and their tools read)."""

from streamops.control.shared.conditions import INACTIVE as INACTIVE
from streamops.control.shared.conditions import INVALID_SPEC as INVALID_SPEC
from streamops.control.shared.conditions import REFUSED_BY_POLICY as REFUSED_BY_POLICY
from streamops.control.shared.conditions import STREAM_KEY_SECRET_NOT_FOUND as STREAM_KEY_SECRET_NOT_FOUND

# Ready (and BackupReady, for the backup ingest)
DEACTIVATED = "Deactivated"  # (also Live) a pull stream gave up after its inactivity timeout: deactivation.py
INGEST_STARTING = "IngestStarting"
INGEST_PENDING = "IngestPending"
INGEST_RUNNING = "IngestRunning"
# The Pod is ready, its Service's EndpointSlices do not list it ready yet: a push would be refused
INGEST_ENDPOINT_PENDING = "IngestEndpointPending"
INGEST_FAILED = "IngestFailed"
INGEST_NODE_LOST = "IngestNodeLost"  # evicted from an unreachable node: replaced once it is gone
# Ready, Stalled: SRT needs a passphrase of 10..79 characters, and the referenced key is not one
STREAM_KEY_INVALID_FOR_SRT = "StreamKeyInvalidForSrt"
# Ready, Stalled: the RTMPS certificate's Secret (source.push.tls.secretName) is missing or unusable
TLS_SECRET_NOT_FOUND = "TLSSecretNotFound"
TLS_SECRET_INVALID = "TLSSecretInvalid"
# Ready, Stalled: the quality set spec.transcoding.qualitySetRef names does not exist, or the operator
# cannot use it (a running ingest keeps its ladder, none is started)
QUALITY_SET_NOT_FOUND = "QualitySetNotFound"
QUALITY_SET_INVALID = "QualitySetInvalid"
# Ready, Stalled: the PlaybackPolicy spec.playback.policyRef names does not exist, or the operator cannot
# use it (the stream's servers refuse every viewer: fail closed)
PLAYBACK_POLICY_NOT_FOUND = "PlaybackPolicyNotFound"
PLAYBACK_POLICY_INVALID = "PlaybackPolicyInvalid"
# Ready, Stalled: the API server refused what the spec asks for (its message follows)
SERVICE_REJECTED = "ServiceRejected"
PLAYBACK_ROUTE_REJECTED = "PlaybackRouteRejected"
EDGE_REJECTED = "EdgeRejected"  # the namespace's edge tier (Deployment, Service, autoscaler) was refused
# Live, BackupLive
MEDIA_FLOWING = "MediaFlowing"
NO_MEDIA = "NoMedia"
# Live (False) of a pull stream whose last attempt failed: the RTSP camera refused the credentials
# (401), the credentials' Secret is not usable in the Pod, or anything else (status.pullFailure)
PULL_CREDENTIALS_REFUSED = "PullCredentialsRefused"
PULL_CREDENTIALS_UNREADABLE = "PullCredentialsUnreadable"
PULL_FAILED = "PullFailed"
# Recording
RECORDING = "Recording"
NOT_RECORDING = "NotRecording"

# Events
WENT_LIVE = "WentLive"
WENT_OFFLINE = "WentOffline"
BACKUP_WENT_LIVE = "BackupWentLive"
BACKUP_WENT_OFFLINE = "BackupWentOffline"
BACKUP_TOOK_OVER = "BackupTookOver"  # status.activeIngest: backup (Warning: the primary's publisher sends nothing)
PRIMARY_RESTORED = "PrimaryRestored"  # status.activeIngest: back from backup to primary
WEBRTC_NOT_PLAYABLE = "WebRtcNotPlayable"  # WebRtcPlayable turned False (B-frames refused, no component)
WHIP_PUBLISHER_REFUSED = "WhipPublisherRefused"  # the primary ingest refused WHIP offers (401, 403, 409, 4xx)
ICE_SERVERS_INVALID = "IceServersInvalid"  # playback.webrtc.iceServersSecretRef: missing or not RTCIceServer JSON
