"""Every worker's HTTP face: its port and paths. Standard library only, so that a worker that serves
HTTP before it needs pydantic (a standby recorder) can import them; `contract.worker` re-exports them."""

HTTP_PORT = 8080  # every worker's HTTP face on the pod network (status, probes, metrics, media)

STATUS_PATH = "/status"  # GET: the worker's typed status (contract.<worker>)
READY_PATH = "/readyz"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
START_PATH = "/start"  # POST (warm recorder): the RecorderConfig to record with
STOP_PATH = "/stop"  # POST (recorder): finalise every video and keep serving /status
