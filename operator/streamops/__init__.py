"""streamops: live streams (ingest, HLS/DVR, recording, restreaming) as Kubernetes custom resources."""

__version__ = "0.1.0"
