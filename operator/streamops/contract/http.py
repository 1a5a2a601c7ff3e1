"""Every worker's HTTP face: its port and paths. Standard library only, so that a worker that serves
HTTP before it needs pydantic (a standby recorder) can import them; `contract.worker` re-exports them."""

HTTP_PORT = 8080  # every worker's HTTP face on the pod network (status, probes, metrics, media)
# The ingest's second face: what only the operator and the stream's own workers use (feeds, status,
# metrics, viewers, the overlay switch, the backup uplink). Its port 8080 is the public one (playback,
# WHIP, WHEP), the one external Services carry: docs/design/surfaces.md.
INTERNAL_HTTP_PORT = 8081

STATUS_PATH = "/status"  # GET: the worker's typed status (contract.<worker>)
READY_PATH = "/readyz"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
START_PATH = "/start"  # POST (warm recorder): the RecorderConfig to record with
STOP_PATH = "/stop"  # POST (recorder): finalise every video and keep serving /status
RELEASE_PATH = "/handover/release"  # POST (recorder): its successor continues the video (handover.md, Part 5)
