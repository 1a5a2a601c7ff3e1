"""The readers' component as the ingest runs it (media/ingest/readers.py): its argv names files and
addresses, never a secret; its events become viewer counts and refusals by reason, bounded to the
catalogue's labels whatever the child says."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry
from streamops.contract.ingest import IngestConfig
from streamops.media.ingest.readers import Readers, readers_command
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
