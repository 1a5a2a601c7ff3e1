"""The RTMP(S) front door's worker side (media/ingest/rtmp_front.py) without the process: its command
line (paths and limits, never the key), the answers to its `publish` events on the control channel,
refusals counted by reason, readiness, and the RTMPS certificate's fingerprint and error. The front
itself: components/rtmp's Go tests; through the worker: tests/media/test_rtmp_front.py."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from streamops.contract.ingest import IngestConfig
from streamops.media.ingest.rtmp_front import RTMP_FRONT, HlsAdmission, RtmpFront, front_command
from streamops.redaction import Redactor

log = logging.getLogger("test.rtmp_front")
KEY_FILE = "/var/run/secrets/streamops/stream-key/stream-key"


def config(**overrides: Any) -> IngestConfig:
    return IngestConfig.model_validate(
        {"stream": "cam", "source": {"push": {}}, "streamKeyFile": KEY_FILE, "publisherTimeoutSeconds": 7, **overrides}
    )


class Stdin:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.lines.append(json.loads(data))


def front(admission: Path | str = Path("/m/.private/session.flv")) -> tuple[RtmpFront, Stdin, list[tuple[str, int]]]:
    """A front whose process is a stand-in for our FfmpegProcess: what is written to its stdin is kept."""
    refused: list[tuple[str, int]] = []
    made = RtmpFront(config(), lambda session, tls: admission, lambda r, n: refused.append((r, n)), Redactor(), log)
    stdin = Stdin()
    made.process = SimpleNamespace(process=SimpleNamespace(stdin=stdin, returncode=None))  # type: ignore[assignment]
    return made, stdin, refused


def test_the_command_names_the_key_file_and_the_listeners_never_the_key():
    argv = front_command(config())
    assert argv == [RTMP_FRONT, "--key-file", KEY_FILE, "--rtmp", "0.0.0.0:1935", "--idle-timeout", "7s"]
    tls = {"secretName": "tls"}
    rtmps = config(
        source={"push": {"protocols": ["rtmps"], "tls": tls}},
        ports={"rtmps": 1936},
        tlsCertFile="/tls/tls.crt",
        tlsKeyFile="/tls/tls.key",
    )
    assert front_command(rtmps)[3:] == [
        "--rtmps", "0.0.0.0:1936", "--cert", "/tls/tls.crt", "--tls-key", "/tls/tls.key", "--idle-timeout", "7s",
    ]  # fmt: skip


@pytest.mark.parametrize(("admission", "answer"), [
    (Path("/m/.private/session.flv"), {"type": "admit", "id": 4, "fifo": "/m/.private/session.flv"}),
    ("busy", {"type": "refuse", "id": 4, "reason": "busy"}),
])  # fmt: skip
def test_a_publish_is_admitted_to_a_sessions_fifo_or_refused_with_the_reason(admission, answer):
    made, stdin, _ = front(admission)
    made.on_event({"type": "publish", "id": 4, "peer": "203.0.113.9:50000", "tls": False})
    made.close(4)
    assert stdin.lines == [answer, {"type": "close", "id": 4}]
    made.on_event({"type": "ended", "id": 4, "reason": "idle"})
    made.process.process.returncode = 0  # type: ignore[union-attr]
    made.close(5)  # an exited front is told nothing
    assert len(stdin.lines) == 2


def test_a_publisher_whose_hls_the_front_writes_is_admitted_with_hls_and_its_mux_events_reach_the_worker():
    """IngestConfig.hlsWriter front: `admit` carries `hls` (components/rtmp/README.md); a `mux`
    event goes to the worker's callback, its error redacted (a path could carry the key)."""
    hls = {"ts_dir": "/m/s/ts", "cmaf_dir": "", "segment_ms": 2000, "list_size": 6, "delete_threshold": 2,
           "start_number": 1764554400, "end_list": True}  # fmt: skip
    made, stdin, _ = front(HlsAdmission(Path("/m/.private/session.flv"), hls))
    failed: list[tuple[int, str, bool]] = []
    made.on_mux = lambda session, error, unsupported: failed.append((session, error, unsupported))
    made.redact = Redactor(["s3cret-key"])
    made.on_event({"type": "publish", "id": 4, "peer": "203.0.113.9:50000", "tls": False})
    assert stdin.lines == [{"type": "admit", "id": 4, "fifo": "/m/.private/session.flv", "hls": hls}]
    made.on_event({"type": "mux", "id": 4, "error": "mux: unsupported: FLV video codec 2", "unsupported": True})
    made.on_event({"type": "mux", "id": 5, "error": "open /m/s3cret-key/ts: no space left"})
    assert failed == [(4, "mux: unsupported: FLV video codec 2", True), (5, "open /m/***/ts: no space left", False)]


def test_refusals_count_by_known_reason_and_their_reported_count():
    made, _, refused = front()
    for event in (
        {"reason": "key", "count": 3},
        {"reason": "source-cap"},
        {"reason": "something-new", "count": 2},
        {"reason": "key", "count": -5},
    ):
        made.on_event({"type": "refused", **event})
    assert refused == [("key", 3), ("source_cap", 1), ("protocol", 2), ("key", 1)]
    assert made.refusals == {"key": 4, "source_cap": 1, "protocol": 2} and made.refused == 7


def test_listening_and_the_certificate_say_so():
    made, _, _ = front()
    assert made.error == "not started yet" and not made.listening.is_set()
    made.on_event({"type": "listening"})
    assert made.error is None and made.listening.is_set()
    made.on_event({"type": "certificate", "sha256": "ab" * 32})
    made.on_event({"type": "certificate", "error": "cannot load /tls/tls.crt: expired"})
    assert made.fingerprint == "ab" * 32 and made.tls_error == "cannot load /tls/tls.crt: expired"
    made.on_event({"type": "certificate", "sha256": "cd" * 32})
    assert (made.fingerprint, made.tls_error) == ("cd" * 32, None)


def test_a_held_admission_is_answered_when_it_is_done():
    async def check() -> None:
        decided: asyncio.Future[Path | str] = asyncio.get_running_loop().create_future()
        made, stdin, _ = front()
        made.admit = lambda session, tls: decided  # type: ignore[assignment,return-value]
        made.on_event({"type": "publish", "id": 6, "peer": "203.0.113.9:50000", "tls": False})
        await asyncio.sleep(0)
        assert stdin.lines == [], "no answer while held"
        decided.set_result(Path("/m/.private/session.flv"))
        await asyncio.wait_for(asyncio.gather(*made._held), timeout=30)
        assert stdin.lines == [{"type": "admit", "id": 6, "fifo": "/m/.private/session.flv"}]

    asyncio.run(check())
