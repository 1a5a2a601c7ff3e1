"""The recorder's configuration (specs/worker_config.py): the upload target to object storage."""

from __future__ import annotations

from functools import partial

from devtools.catalog import stored_livestream, stored_recording
from streamops.contract.recorder import CA_FILE
from streamops.control.recording.specs.worker_config import recorder_config
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings

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


LADDER = {"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]}
KEEP = {"enabled": True, "deleteAfterDays": 3}


def test_keep_origin_records_the_origin_feed_beside_the_transcoded_one_for_its_days():
    transcoded = stream(transcoding=LADDER, recording={"type": "transcoded"})
    config = recorder_config(rec(keepOrigin=KEEP), transcoded, SETTINGS, None, 8080)
    assert config.feed_url.endswith("/feed/transcoded") and config.origin_feed_url is not None
    assert config.origin_feed_url.endswith("/feed") and config.origin_feed_url.rsplit("/feed", 1)[0] in config.feed_url
    assert config.origin_keep_seconds == 3 * 86400
    short_days = OperatorSettings(
        recordings=RecordingsSettings(retention_day_seconds=20)
    )  # the tests' day: the recorder is told seconds
    assert recorder_config(rec(keepOrigin=KEEP), transcoded, short_days, None, 8080).origin_keep_seconds == 60


def test_keep_origin_defaults_from_the_stream_and_the_recordings_own_wins():
    inherited = stream(transcoding=LADDER, recording={"type": "transcoded", "keepOrigin": {"enabled": True}})
    assert recorder_config(rec(), inherited, SETTINGS, None, 8080).origin_keep_seconds == 7 * 86400, "7 days"
    off = recorder_config(rec(keepOrigin={"enabled": False}), inherited, SETTINGS, None, 8080)
    assert off.origin_feed_url is None and off.origin_keep_seconds is None


def test_an_origin_recording_keeps_no_second_original_and_its_configuration_is_unchanged():
    transcoding = stream(transcoding=LADDER)  # recording.type origin by default
    inherited_origin = recorder_config(rec(keepOrigin=KEEP), transcoding, SETTINGS, None, 8080)
    assert inherited_origin.origin_feed_url is None, "the type inherited is origin: keepOrigin is ignored"
    plain = recorder_config(rec(), transcoding, SETTINGS, None, 8080)
    assert "originFeedUrl" not in plain.to_json() and "originKeepSeconds" not in plain.to_json(), "no Pod rolls"
