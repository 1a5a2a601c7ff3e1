"""The readers' component as the ingest runs it (media/ingest/readers.py): its argv names files and
addresses, never a secret; its events become viewer counts and refusals by reason, bounded to the
catalogue's labels whatever the child says."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

from prometheus_client import CollectorRegistry
from streamops.contract.ingest import IngestConfig
from streamops.media.ingest.readers import Readers, readers_command
from streamops.media.ingest.viewer_rules import ViewerRules
from streamops.redaction import Redactor

CONFIG = IngestConfig.model_validate(
    {
        "stream": "cam",
        "source": {"push": {"protocols": ["rtmp"]}},
        "ports": {"srtRead": 8890, "rtsp": 8554, "rtsps": 8322},
        "credentialFile": "/var/run/secrets/streamops/worker-credential/credential",
        "playback": {"namespace": "media", "access": "signed", "keysDir": "/keys"},
        "readers": {"srt": True, "rtsp": True, "rtsps": True, "tlsCertFile": "/c/tls.crt", "tlsKeyFile": "/c/tls.key"},
    }
)


def test_the_argv_names_files_and_addresses_only():
    argv = readers_command(CONFIG, "127.0.0.1", 8081)
    assert argv[argv.index("--feed") + 1] == "http://127.0.0.1:8081/feed"
    assert argv[argv.index("--stream") + 1] == "media/cam"
    assert argv[argv.index("--keys-dir") + 1] == "/keys"
    assert argv[argv.index("--credential-file") + 1].endswith("/credential")
    assert argv[argv.index("--srt") + 1] == "0.0.0.0:8890"
    assert argv[argv.index("--rtsps") + 1] == "0.0.0.0:8322" and "--cert" in argv


def test_events_become_counts_bounded_to_the_catalogue():
    registry = CollectorRegistry()
    readers = Readers(CONFIG, lambda: ("127.0.0.1", 1), registry, {"stream": "cam", "role": "primary"}, Redactor(),
                      logging.getLogger("test"))  # fmt: skip
    readers.on_event({"type": "viewers", "srt": 2, "rtsp": 1, "hls": 99})
    assert readers.viewers == {"srt": 2, "rtsp": 1}
    readers.on_event({"type": "viewers", "srt": -1, "rtsp": "x"})
    assert readers.viewers == {"srt": 2, "rtsp": 1}
    readers.on_event({"type": "refused", "protocol": "srt", "reason": "missing", "count": 3})
    readers.on_event({"type": "refused", "protocol": "gopher", "reason": "v1~token~in~a~reason", "count": -5})
    assert readers.refusals == {("srt", "missing"): 3, ("rtsp", "protocol"): 1}
    sample = registry.get_sample_value(
        "streamops_ingest_reader_refusals_total",
        {"stream": "cam", "role": "primary", "protocol": "srt", "reason": "missing"},
    )
    assert sample == 3
    for listener in ("srt", "rtsp"):
        readers.on_event({"type": "listening", "listener": listener, "address": "0.0.0.0:1"})
    assert readers.error is not None  # rtsps not bound yet
    readers.on_event({"type": "listening", "listener": "rtsps", "address": "0.0.0.0:2"})
    assert readers.error is None


class Stdin:
    def __init__(self) -> None:
        self.lines: list[dict[str, object]] = []

    def write(self, data: bytes) -> None:
        self.lines += [json.loads(line) for line in data.splitlines()]


class Child:
    def __init__(self) -> None:
        self.stdin = Stdin()


def test_the_component_s_questions_are_answered_by_the_stream_s_rules_with_an_address_only(tmp_path):
    """An "ask" is the gate's decision with a listener's facts: the address and country rules apply,
    the referrer and user-agent rules (HTTP's facts) do not; no rules (none loaded): refused."""
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(
        json.dumps(
            {
                "deniedCIDRs": ["192.0.2.0/24"],
                "allowedReferrers": ["example.com"],
                "allowNoReferrer": False,
                "allowedUserAgents": ["Chrome/*"],
            }
        )
    )
    config = CONFIG.model_copy(
        update={"playback": CONFIG.playback.model_copy(update={"rules_file": str(rules_file)})}  # type: ignore[union-attr]
    )
    assert "--rules" in readers_command(config, "127.0.0.1", 8081) and "--rules" not in readers_command(CONFIG, "h", 1)
    log = logging.getLogger("test")
    readers = Readers(config, lambda: ("127.0.0.1", 1), CollectorRegistry(), {}, Redactor(), log)
    child = Child()
    readers.process = SimpleNamespace(process=child)  # type: ignore[assignment]
    rules = ViewerRules(str(rules_file), None, log)
    readers.rules = lambda: rules
    readers.on_event({"type": "ask", "id": 1, "address": "192.0.2.7"})
    readers.on_event({"type": "ask", "id": 2, "address": "198.51.100.7"})
    readers.on_event({"type": "ask", "id": "3", "address": "198.51.100.7"})  # not one: unanswered
    readers.rules = lambda: None
    readers.on_event({"type": "ask", "id": 4, "address": "198.51.100.7"})
    assert child.stdin.lines == [
        {"id": 1, "refused": "address"},
        {"id": 2, "refused": ""},
        {"id": 4, "refused": "rules_unavailable"},
    ]
    registry = CollectorRegistry()
    counted = Readers(config, lambda: ("127.0.0.1", 1), registry, {"stream": "cam", "role": "primary"}, Redactor(), log)
    counted.on_event({"type": "refused", "protocol": "srt", "reason": "address", "count": 2})
    assert counted.refusals == {("srt", "address"): 2}, "the rules' reasons are the catalogue's"
