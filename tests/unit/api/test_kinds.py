"""The pydantic models accept what users should write and refuse what the API server refuses."""

from __future__ import annotations

import pytest
from devtools.catalog import BAD, example_documents, livestream, restream
from pydantic import ValidationError
from streamops.api import KINDS, LiveStream, Restream
from streamops.api.common import check_uri, srt_mode_is_caller

MODELS = {k.kind: k.model for k in KINDS}


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_models_refuse_what_the_server_refuses(bad):
    with pytest.raises(ValidationError):
        MODELS[bad.manifest["kind"]].model_validate(bad.manifest)


def test_examples_parse():
    docs = [d for d in example_documents() if d["kind"] in MODELS]
    assert {d["kind"] for d in docs} == set(MODELS)
    for doc in docs:
        MODELS[doc["kind"]].model_validate(doc)


def test_defaults_match_the_hosted_platform():
    spec = LiveStream.model_validate(livestream()).spec
    assert spec.active is True
    assert spec.dvr.duration_seconds == 3600 and not spec.dvr.enabled
    assert spec.recording.reconnect_window_seconds == 10
    assert spec.recording.max_segment_seconds == 14400
    assert spec.recording.min_duration_seconds == 10
    assert spec.screenshots.interval_seconds == 10
    assert spec.source.push is not None and spec.source.push.protocols == ["rtmp", "srt"]


def test_wire_round_trip_is_camel_case():
    stream = LiveStream.model_validate(livestream(dvr={"enabled": True, "durationSeconds": 60}))
    wire = stream.wire()
    assert wire["spec"]["dvr"] == {"enabled": True, "durationSeconds": 60}
    assert LiveStream.model_validate(wire) == stream


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("srt://h:1", True),
        ("srt://h:1?mode=caller", True),
        ("srt://h:1?latency=1&mode=caller", True),
        ("srt://h:1?mode=listener", False),
        ("srt://h:1?mode=caller&mode=listener", False),
        ("srt://h:1?mode=rendezvous", False),
        ("rtmp://h/app?mode=listener", True),  # mode means nothing to rtmp
    ],
)
def test_srt_only_caller(uri, ok):
    assert srt_mode_is_caller(uri) is ok


@pytest.mark.parametrize("uri", ["subfile:,,start,0,end,0,,:/etc/passwd", "data:text/plain,x", "pipe:0", "rtmp://a b"])
def test_dangerous_uris_are_refused(uri):
    with pytest.raises(ValueError, match="must be a"):
        check_uri(uri, ("rtmp", "srt"), "uri")


def test_restream_key_never_in_uri():
    with pytest.raises(ValidationError, match="credentials in the URL"):
        Restream.model_validate(restream(uri="rtmps://live:key@host/app"))
