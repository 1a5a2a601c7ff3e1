"""Where a Recording's videos go (specs/storage.py): the Recording's storage, the stream's, the
chart's S3, the default claim."""

from __future__ import annotations

import json
from functools import partial

from devtools.catalog import stored_livestream, stored_recording
from streamops.control.recording.specs.storage import resolved_storage
from streamops.control.shared.settings import OperatorSettings

S3 = {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3-creds"}
CHART_S3 = {"endpoint": "http://minio.storage:9000", "bucket": "chart-bucket", "credentialsSecret": "chart-creds"}
SETTINGS = OperatorSettings()
WITH_CHART_S3 = OperatorSettings.from_env({"STREAMOPS_RECORDINGS_S3": json.dumps(CHART_S3)})


stream = partial(stored_livestream, uid="stream-uid", generation=1)


rec = stored_recording


def test_storage_resolution_precedence():
    own_pvc = {"pvc": {"claimName": "archive"}}
    assert resolved_storage(rec(storage=own_pvc), stream(recording={"storage": {"s3": S3}}), WITH_CHART_S3).pvc
    # The Recording names none: the stream's default, else the chart's S3, else the default claim.
    by_stream = resolved_storage(rec(), stream(recording={"storage": {"s3": S3}}), WITH_CHART_S3)
    assert by_stream.s3 is not None and by_stream.s3.bucket == "videos"
    by_chart = resolved_storage(rec(), stream(), WITH_CHART_S3)
    assert by_chart.s3 is not None and by_chart.s3.bucket == "chart-bucket"
    default = resolved_storage(rec(), stream(), SETTINGS)
    assert default.s3 is None and default.pvc is not None and default.pvc.claim_name == SETTINGS.recordings.claim
    # A stream default of a claim wins over the chart's S3, and a Recording's S3 over everything.
    assert resolved_storage(rec(), stream(recording={"storage": own_pvc}), WITH_CHART_S3).pvc is not None
    assert resolved_storage(rec(storage={"s3": S3}), stream(), SETTINGS).s3 is not None
