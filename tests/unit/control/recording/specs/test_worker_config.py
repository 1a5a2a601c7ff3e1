"""The recorder's configuration (specs/worker_config.py): the upload target to object storage."""

from __future__ import annotations

from functools import partial

from devtools.catalog import stored_livestream, stored_recording
from streamops.contract.recorder import CA_FILE
from streamops.control.recording.specs.worker_config import recorder_config
from streamops.control.runtime.settings import OperatorSettings

S3 = {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3-creds"}
SETTINGS = OperatorSettings()


stream = partial(stored_livestream, uid="stream-uid", generation=1)


rec = stored_recording


def test_upload_target_fills_in_the_names_and_keeps_the_time_placeholders():
    r = rec(storage={"s3": {**S3, "caSecret": "s3-ca", "region": "eu-1", "pathStyle": False}})
    target = recorder_config(r, stream(), SETTINGS, None, 8080).upload
    assert target is not None
    assert (target.endpoint, target.bucket, target.region, target.path_style) == (
        "https://s3.example.com",
        "videos",
        "eu-1",
        False,
    )
    assert target.key_prefix == "streamops/media/cam/{year}/{month}/{day}/{hour}/{minute}/rec-01234567"
    assert (target.stream, target.recording) == ("cam", "rec"), "the names of each video's sidecar"
    assert target.ca_file == CA_FILE
    assert recorder_config(rec(storage={"s3": S3}), stream(), SETTINGS, None, 8080).upload.ca_file is None
    assert recorder_config(rec(), stream(), SETTINGS, None, 8080).upload is None
