"""The stream key as an SRT passphrase (10..79 characters): generated keys always fit; a referenced
key that does not is reported (Stalled, StreamKeyInvalidForSrt, never the key itself) while the
ingest keeps running for RTMP, and the worker starts no SRT listener with it."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from devtools.catalog import livestream, stored
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.api import LiveStream
from streamops.contract.ingest import IngestConfig
from streamops.contract.stream_key import (
    SRT_PASSPHRASE_MAX,
    SRT_PASSPHRASE_MIN,
    generate_stream_key,
    srt_passphrase_problem,
    stream_key_bytes,
)
from streamops.control.livestream import reasons
from streamops.control.livestream.reconcile import StreamOutcome, reconcile_livestream
from streamops.control.livestream.status import (
    EndpointObservation,
    IngestObservation,
    PodObservation,
    livestream_events,
    livestream_status,
)
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.tenancy import ALLOW_REFERENCE_LABELS
from streamops.media.ingest.worker import IngestWorker

NS = "media"
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
SHORT_KEY = "Zq9wX3"  # 6 characters
LONG_KEY = "k" * 80


def test_generated_keys_are_valid_srt_passphrases_and_need_no_escaping():
    keys = {generate_stream_key() for _ in range(200)}
    assert len(keys) == 200, "random"
    for key in keys:
        assert srt_passphrase_problem(stream_key_bytes(key.encode())) is None
        # Nothing an RTMP stream name or an SRT URL's query would need to escape.
        assert re.fullmatch(r"[A-Za-z0-9_-]+", key), key


@pytest.mark.parametrize(
    ("length", "problem"),
    [
        (0, "shorter than 10"),
        (SRT_PASSPHRASE_MIN - 1, "shorter than 10"),
        (SRT_PASSPHRASE_MIN, None),
        (SRT_PASSPHRASE_MAX, None),
        (SRT_PASSPHRASE_MAX + 1, "longer than 79"),
    ],
)
def test_srt_passphrase_length_bounds(length, problem):
    key = (b"Kq7" * 30)[:length]
    found = srt_passphrase_problem(key)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
        assert not key or key.decode() not in found, "says how the key is wrong, never what it is"


@pytest.mark.parametrize("key", [b"0123456789\x00", b"01234\t56789", "0123456789\u00e9".encode("latin-1")])
def test_a_key_that_is_not_printable_text_is_no_passphrase(key):
    found = srt_passphrase_problem(key)
    assert found is not None and ("not printable" in found or "not UTF-8" in found)


def test_a_key_in_utf8_is_counted_in_bytes_as_srt_does():
    assert srt_passphrase_problem("ééééé".encode()) is None  # 5 characters, 10 bytes
    assert srt_passphrase_problem("ééééé".encode()[:-1] + b"x") is not None  # broken UTF-8


def test_the_key_is_measured_as_the_worker_reads_it():
    # A key file written with echo ends in a newline; the worker strips it, so does the check.
    assert srt_passphrase_problem(stream_key_bytes(b"  0123456789\n")) is None
    assert srt_passphrase_problem(stream_key_bytes(b"012345678\n")) is not None


# --- the operator: reconcile ------------------------------------------------------------------------


@pytest.fixture
def api() -> FakeKubeApi:
    api = operator_view()
    return api


def key_secret(value: bytes, name: str = "mykey") -> dict[str, Any]:
    data = {"streamKey": base64.b64encode(value).decode()}
    metadata = {"name": name, "namespace": NS, "labels": ALLOW_REFERENCE_LABELS}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "data": data}


def reconcile(api: FakeKubeApi) -> StreamOutcome:
    body = api.object("LiveStream", NS, "cam")
    assert body is not None
    return reconcile_livestream(api, OperatorSettings(), body, None, auto_recording_exists=False)


def referencing(*protocols: str) -> dict[str, Any]:
    return livestream("cam", source={"push": {"protocols": list(protocols), "streamKeySecretRef": {"name": "mykey"}}})


@pytest.mark.parametrize("value", [SHORT_KEY.encode(), LONG_KEY.encode(), b"Zq9w\n"])
def test_a_referenced_key_srt_cannot_use_is_reported_and_the_ingest_still_runs(api, value):
    api.add_in(NS, referencing("rtmp", "srt"))
    api.add_in(NS, key_secret(value))
    outcome = reconcile(api)
    assert outcome.key_invalid_for_srt is not None and outcome.key_secret_missing is None
    assert value.strip().decode() not in outcome.key_invalid_for_srt
    # RTMP takes any key, and the worker leaves SRT off: a fixed key then works without a restart.
    assert api.names("Pod") == ["cam-ingest"]

    api.modify("Secret", NS, "mykey", {"data": {"streamKey": base64.b64encode(b"0123456789").decode()}})
    assert reconcile(api).key_invalid_for_srt is None


def test_the_length_matters_only_with_srt(api):
    api.add_in(NS, referencing("rtmp"))
    api.add_in(NS, key_secret(SHORT_KEY.encode()))
    assert reconcile(api).key_invalid_for_srt is None


def test_a_generated_key_is_never_reported(api):
    api.add_in(NS, livestream("cam", source={"push": {"protocols": ["srt"]}}))
    assert reconcile(api).key_invalid_for_srt is None
    secret = api.object("Secret", NS, "cam-stream-key")
    assert secret is not None
    assert srt_passphrase_problem(base64.b64decode(secret["data"]["streamKey"])) is None


def test_a_missing_secret_is_missing_not_invalid(api):
    api.add_in(NS, referencing("srt"))
    outcome = reconcile(api)
    assert outcome.key_secret_missing == "mykey" and outcome.key_invalid_for_srt is None


# --- the operator: status and Events ----------------------------------------------------------------


def stream(*protocols: str) -> LiveStream:
    return LiveStream.model_validate(stored(referencing(*protocols), uid="u", generation=2))


def running_pod() -> PodObservation:
    pod = {"metadata": {"name": "cam-ingest"}, "spec": {"nodeName": "n1"}}
    pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    return PodObservation.of("cam-ingest", pod)


def test_status_stalls_with_a_message_that_says_what_to_do_and_not_the_key():
    problem = srt_passphrase_problem(SHORT_KEY.encode())
    assert problem is not None
    observed = IngestObservation({"primary": running_pod()}, key_invalid_for_srt=problem)
    status = livestream_status(stream("rtmp", "srt"), observed, T0)
    ready, stalled = status.condition("Ready"), status.condition("Stalled")
    assert ready is not None and stalled is not None
    assert (ready.status, ready.reason) == ("False", reasons.STREAM_KEY_INVALID_FOR_SRT)
    assert (stalled.status, stalled.reason) == ("True", reasons.STREAM_KEY_INVALID_FOR_SRT)
    message = stalled.message
    assert "Secret mykey (key streamKey)" in message and "10 to 79" in message
    assert "rtmp publishers are accepted" in message and SHORT_KEY not in message
    assert status.ingest is not None and status.ingest.stream_key_secret == "mykey"
    # The Warning Event (Stalled turned True), and the way back once the key is fixed.
    events = livestream_events(None, status)
    assert [(e.type, e.reason) for e in events if e.type == "Warning"] == [
        ("Warning", reasons.STREAM_KEY_INVALID_FOR_SRT)
    ]
    fixed = livestream_status(
        stream("rtmp", "srt").model_copy(update={"status": status}),
        IngestObservation(
            {"primary": running_pod()}, endpoints={"primary": EndpointObservation("cam-ingest", served=True)}
        ),
        T0,
    )
    assert fixed.condition("Stalled") is None and fixed.condition("Ready").status == "True"


def test_srt_only_stream_does_not_promise_other_protocols():
    observed = IngestObservation({"primary": running_pod()}, key_invalid_for_srt="the stream key is shorter than 10")
    message = livestream_status(stream("srt"), observed, T0).condition("Stalled").message
    assert "publishers are accepted" not in message


# --- the worker ---------------------------------------------------------------------------------


def worker(tmp_path: Path) -> IngestWorker:
    return IngestWorker(
        IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}, "mediaDir": str(tmp_path)})
    )


@pytest.mark.parametrize("key", [SHORT_KEY.encode(), LONG_KEY.encode()])
def test_the_worker_starts_no_srt_listener_with_a_key_srt_refuses(tmp_path, key):
    # FFmpeg would exit at once ("failed to set option SRTO_PASSPHRASE") and be started again and again.
    assert worker(tmp_path).push.listener("srt", key) is None


def test_the_worker_listens_on_srt_with_a_valid_key(tmp_path):
    session = worker(tmp_path).push.listener("srt", b"0123456789")
    assert session is not None and session.kind == "srt" and session.key == b"0123456789"
