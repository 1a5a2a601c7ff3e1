"""The Recording's models (api/recording.py): storage (one kind, endpoints and key templates refused or
normalised), keepOrigin only with a transcoded recording, and what a video's files weigh. That each
Python rule says what its CEL twin says at admission: test_crd_cel_parity.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from streamops.api.recording import (
    DEFAULT_KEY_TEMPLATE,
    KEEP_ORIGIN_NEEDS_TRANSCODED,
    KEY_TEMPLATE_SLASHES,
    ONE_STORAGE,
    KeepOrigin,
    RecordingSpec,
    RecordingStorage,
    S3Storage,
    Video,
    keeps_origin,
    s3_endpoint_message,
)

S3 = {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3"}


def test_s3_defaults_and_an_endpoint_loses_its_trailing_slash():
    s3 = S3Storage.model_validate({**S3, "endpoint": "http://127.0.0.1:9000/", "publicEndpoint": "https://cdn.x/"})
    assert (s3.endpoint, s3.public_endpoint) == ("http://127.0.0.1:9000", "https://cdn.x")
    assert (s3.key_template, s3.path_style, s3.ca_secret, s3.delete_after_days) == (
        DEFAULT_KEY_TEMPLATE,
        True,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"endpoint": "https://s3.example.com/bucket"}, s3_endpoint_message("endpoint")),
        ({"endpoint": "https://key:secret@s3.example.com"}, s3_endpoint_message("endpoint")),
        ({"publicEndpoint": "ftp://cdn.example.com"}, s3_endpoint_message("publicEndpoint")),
        ({"keyTemplate": "/videos/{stream}"}, KEY_TEMPLATE_SLASHES),
        ({"keyTemplate": "videos/../{stream}"}, "keyTemplate"),
        ({"keyTemplate": "videos/{secret}"}, "pattern"),
        ({"bucket": "Videos"}, "pattern"),
    ],
)
def test_s3_storage_refused(fields, says):
    with pytest.raises(ValidationError, match=re.escape(says)):
        S3Storage.model_validate({**S3, **fields})


def test_storage_is_one_kind_and_a_sub_path_stays_inside_the_claim():
    with pytest.raises(ValidationError, match=re.escape(ONE_STORAGE)):
        RecordingStorage.model_validate({"pvc": {"claimName": "c"}, "s3": S3})
    assert RecordingStorage.model_validate({"pvc": {"claimName": "c", "subPath": "a/b"}}).pvc is not None
    for sub_path in ("/abs", "a/../../b", "a/"):
        with pytest.raises(ValidationError):
            RecordingStorage.model_validate({"pvc": {"claimName": "c", "subPath": sub_path}})


def test_keep_origin_needs_a_transcoded_recording():
    ref = {"streamRef": {"name": "cam"}}
    with pytest.raises(ValidationError, match=re.escape(KEEP_ORIGIN_NEEDS_TRANSCODED)):
        RecordingSpec.model_validate({**ref, "type": "origin", "keepOrigin": {"enabled": True}})
    spec = RecordingSpec.model_validate({**ref, "type": "transcoded", "keepOrigin": {"enabled": True}})
    assert keeps_origin(spec.keep_origin) and spec.keep_origin is not None and spec.keep_origin.delete_after_days == 7
    assert not keeps_origin(None) and not keeps_origin(KeepOrigin())
    assert RecordingSpec.model_validate({**ref, "type": "origin", "keepOrigin": {"enabled": False}}).type == "origin"


def test_a_videos_stored_size_counts_each_file_once_and_an_expired_origin_not_at_all():
    rendition = {"width": 1280, "height": 720, "path": "v.mp4", "sizeBytes": 100}
    video = Video.model_validate(
        {
            "title": "t",
            "path": "v.mp4",
            "durationSeconds": 10.0,
            "startedAt": "2026-11-29T10:00:00Z",
            "endedAt": "2026-11-29T10:00:10Z",
            "sizeBytes": 100,
            "renditions": [{**rendition, "name": "720p"}, {**rendition, "name": "360p", "sizeBytes": 30}],
            "origin": {"width": 1920, "height": 1080, "path": "v-origin.mp4", "sizeBytes": 500},
        }
    )
    assert video.stored_size() == 100 + 30 + 500
    assert [f.path for f in video.files()] == ["v.mp4", "v.mp4", "v.mp4", "v-origin.mp4"]
    assert video.origin is not None and video.origin.name == "origin" and video.origin.key() == "v-origin.mp4"
    expired = video.model_copy(
        update={"origin": video.origin.model_copy(update={"expired_at": datetime(2026, 11, 29, tzinfo=UTC)})}
    )
    assert expired.stored_size() == 130
