"""The recorder's contract (contract/recorder.py): its configuration's defaults, the directory, the
feed, what it refuses; a video's sidecar key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from streamops.api import LiveStreamSpec
from streamops.contract.recorder import RecorderConfig, sidecar_key
from streamops.redaction import Redactor

FEED = "http://cam-ingest.streams.svc:8080/feed"


SETTINGS = {"reconnectWindowSeconds": 10, "maxSegmentSeconds": 14400, "minDurationSeconds": 10}


def config(**overrides: object) -> RecorderConfig:
    return RecorderConfig.model_validate(
        {"feedUrl": FEED, "recordingsRoot": "/var/lib/streamops", "directory": "rec", **SETTINGS, **overrides}
    )


def test_config_defaults_follow_the_hosted_api() -> None:
    defaults = LiveStreamSpec.model_validate({"source": {"push": {}}}).recording
    assert (defaults.reconnect_window_seconds, defaults.max_segment_seconds, defaults.min_duration_seconds) == (
        10,
        14400,
        10,
    ), "the defaults live in the API (a stream's recording defaults), once"
    for field in SETTINGS:
        without = {k: v for k, v in SETTINGS.items() if k != field}
        with pytest.raises(ValidationError):  # the operator always resolves them: no second default here
            RecorderConfig.model_validate({"feedUrl": FEED, "directory": "rec", **without})
    c = config(title="Camera 1")
    assert (c.http_host, c.http_port, c.recordings_root) == ("0.0.0.0", 8080, "/var/lib/streamops")
    assert c.title == "Camera 1"


@pytest.mark.parametrize("directory", ["/tmp", "../x", "a/../../b", "", "."])
def test_config_directory_stays_inside_the_recordings_root(directory: str) -> None:
    with pytest.raises(ValidationError, match="inside the recordings root"):
        config(directory=directory)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "concat:/etc/passwd|/etc/shadow",
        "rtmp://127.0.0.1/live/feed",
        "https://example.com/feed",
        "http://user:secret@127.0.0.1/feed",
        "http://127.0.0.1/a feed",
    ],
)
def test_config_takes_only_plain_http_feeds(url: str) -> None:
    with pytest.raises(ValidationError):
        config(feedUrl=url)


def test_config_rejects_unknown_fields_and_nonsense() -> None:
    with pytest.raises(ValidationError):
        config(reconnectWindow=10)  # a typo must not silently become the default
    with pytest.raises(ValidationError):
        config(reconnectWindowSeconds=-1)
    with pytest.raises(ValidationError):
        config(maxSegmentSeconds=0)


def test_the_recorder_config_leaves_the_backoff_cap_unset_by_default() -> None:
    config = RecorderConfig(
        feed_url="http://127.0.0.1:1/feed",
        directory="rec",
        reconnect_window_seconds=10,
        max_segment_seconds=14400,
        min_duration_seconds=10,
    )
    assert config.upload_backoff_max_seconds is None
    assert "uploadBackoffMaxSeconds" not in config.to_json(), "unset: the configuration (Pod hash) stays as it was"
    with pytest.raises(ValueError):
        RecorderConfig.model_validate({**config.wire(), "uploadBackoffMaxSeconds": 0.5})


def test_sidecar_key_and_redaction():
    assert sidecar_key("a/b/record-1.mp4") == "a/b/record-1.json"
    # (retention's errors go through the workers' Redactor)
    assert Redactor(["AKID", "SECRET", ""])("bad key AKID and SECRET") == "bad key *** and ***"
