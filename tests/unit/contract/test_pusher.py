"""The shared pusher's contract: a target's key is written only into the operator's PUT body."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from streamops.contract.pusher import PusherSetStatus, PusherTargets

KEY = "live_8f3a-SECRET-key"
WIRE = {
    "targets": [
        {
            "id": "uid-1",
            "name": "yt",
            "version": "3/100",
            "feedUrl": "http://10.0.0.9:8081/feed",
            "uri": "rtmp://a.rtmp.youtube.com/live2",
            "streamKey": KEY,
            "noAudioMode": "drop",
        }
    ]
}


def test_the_key_is_in_the_put_body_and_in_no_other_rendering():
    sent = PusherTargets.model_validate(WIRE)
    assert json.loads(sent.body())["targets"][0]["streamKey"] == KEY
    assert PusherTargets.model_validate_json(sent.body()) == sent, "the pusher reads what the operator sends"
    for rendering in (repr(sent), str(sent), json.dumps(sent.wire()), sent.model_dump_json(), sent.to_json()):
        assert KEY not in rendering
    assert sent.versions() == {"uid-1": "3/100"}


def test_a_set_is_refused_whole_for_one_bad_target():
    twice = {"targets": [WIRE["targets"][0], WIRE["targets"][0]]}
    with pytest.raises(ValidationError, match="unique"):
        PusherTargets.model_validate(twice)
    srt = {**WIRE["targets"][0], "uri": "srt://198.51.100.1:9000?mode=caller&streamid=x"}
    with pytest.raises(ValidationError, match="streamid"):
        PusherTargets.model_validate({"targets": [srt]})
    with pytest.raises(ValidationError):
        PusherTargets.model_validate({"targets": [{**WIRE["targets"][0], "uri": "file:///etc/passwd"}]})


def test_the_status_of_a_set_finds_a_target_by_id():
    status = PusherSetStatus.model_validate(
        {"targets": [{"id": "uid-1", "name": "yt", "version": "3", "live": True, "state": "live"}], "newer": 1}
    )
    entry = status.of("uid-1")
    assert entry is not None and entry.live and entry.name == "yt"
    assert status.of("uid-2") is None and status.versions() == {"uid-1": "3"}
