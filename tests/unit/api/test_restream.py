"""The Restream's spec model (api/restream.py): its defaults, the targets it refuses and why. That each
Python rule says what its CEL twin says at admission: test_crd_cel_parity.py."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from streamops.api.restream import NO_AV1_OVER_SRT, TLS_NEEDS_RTMPS, RestreamSpec, RestreamStatus

REF = {"streamRef": {"name": "cam"}}


def test_defaults_forward_the_original_as_h264_and_drop_missing_audio():
    spec = RestreamSpec.model_validate({**REF, "uri": "rtmp://live.example/app"})
    assert (spec.active, spec.source, spec.no_audio_mode, spec.target_video_codecs) == (
        True,
        "original",
        "drop",
        ["h264"],
    )
    assert spec.stream_key_secret_ref is None and spec.tls is None
    assert RestreamSpec.model_validate(REF | {"uri": "rtmp://h/a"}).target_video_codecs is not spec.target_video_codecs


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"uri": "srt://h:9000?mode=caller", "targetVideoCodecs": ["h264", "av1"]}, NO_AV1_OVER_SRT),
        ({"uri": "rtmp://h/app", "tls": {"insecureSkipVerify": True}}, TLS_NEEDS_RTMPS),
        ({"uri": "rtmp://h/app", "targetVideoCodecs": ["hevc", "hevc"]}, "lists a codec twice"),
        ({"uri": "rtmp://h/app", "targetVideoCodecs": []}, "at least 1 item"),
        ({"uri": "http://h/app"}, "uri"),
        ({"uri": "rtmp://user:pw@h/app"}, "credentials|userinfo|user"),
    ],
)
def test_targets_refused(spec, says):
    with pytest.raises(ValidationError, match=says):
        RestreamSpec.model_validate({**REF, **spec})


def test_what_is_accepted_round_trips_in_the_crds_names():
    spec = RestreamSpec.model_validate(
        {**REF, "uri": "rtmps://h/app", "tls": {"insecureSkipVerify": True}, "targetVideoCodecs": ["h264", "av1"]}
    )
    dumped = spec.model_dump(by_alias=True, exclude_none=True)
    assert dumped["targetVideoCodecs"] == ["h264", "av1"] and dumped["noAudioMode"] == "drop"
    assert RestreamSpec.model_validate(dumped) == spec
    srt = RestreamSpec.model_validate({**REF, "uri": "srt://h:9000?mode=caller", "targetVideoCodecs": ["hevc"]})
    assert srt.target_video_codecs == ["hevc"]
    assert RestreamStatus().live is False and RestreamStatus().conditions == []
