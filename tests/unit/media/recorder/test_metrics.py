"""The recorder writes /metrics itself (metrics_text.py, no prometheus-client in its process): the
text is what prometheus-client wrote for the same catalogue entries and values, in the same order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import generate_latest
from streamops.media.recorder.recording import Recorder
from streamops.media.worker_metrics import counter, read_counter, read_gauge, worker_registry

from tests.unit.media.recorder.test_recording import config

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


class Uploads:
    """The uploader's four figures the metrics read (videos/upload.py's Uploader has them)."""

    pending = 2
    bytes_sent = 123456
    failed_attempts = 3

    def lag_seconds(self, now: datetime) -> float:
        return 7.5


@pytest.mark.parametrize("uploading", [False, True])
def test_metrics_are_what_prometheus_client_writes_for_the_same_values(uploading: bool) -> None:
    recorder = Recorder(config(stream="cam", recording='we"ird\\name\nx'), clock=lambda: NOW)
    if uploading:
        recorder.uploader = Uploads()  # type: ignore[assignment]
    for count, n in ((recorder.m_videos, 2), (recorder.m_discarded, 1), (recorder.m_errors, 4), (recorder.m_drops, 5)):
        count.inc(n)

    reg, labels = worker_registry(), {"stream": "cam", "recording": 'we"ird\\name\nx'}
    read_gauge("streamops_recorder_recording", "recorder", reg, labels, lambda: 0)
    read_gauge("streamops_recorder_recorded_seconds", "recorder", reg, labels, lambda: 0.0)
    for name, n in (("videos", 2), ("discarded", 1), ("errors", 4), ("source_drops", 5)):
        counter(f"streamops_recorder_{name}_total", "recorder", reg).labels(**labels).inc(n)
    if uploading:
        read_gauge("streamops_recorder_uploads_pending", "recorder", reg, labels, lambda: 2)
        read_gauge("streamops_recorder_upload_lag_seconds", "recorder", reg, labels, lambda: 7.5)
        read_counter("streamops_recorder_uploaded_bytes_total", "recorder", reg, labels, lambda: 123456)
        read_counter("streamops_recorder_upload_failures_total", "recorder", reg, labels, lambda: 3)

    assert recorder.metrics().decode().splitlines() == generate_latest(reg).decode().splitlines()
