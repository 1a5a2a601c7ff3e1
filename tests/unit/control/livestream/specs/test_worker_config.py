"""The ingest worker's configuration (specs/worker_config.py), as the Pod carries it."""

from __future__ import annotations

from functools import partial
from typing import Any

from devtools.catalog import stored_livestream
from streamops.contract.ingest import IngestConfig
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.shared.settings import OperatorSettings

SETTINGS = OperatorSettings()


stream = partial(stored_livestream, uid="uid-1", generation=1)


def config(pod: dict[str, Any]) -> IngestConfig:
    return IngestConfig.model_validate_json(pod["spec"]["containers"][0]["env"][0]["value"])


def test_whip_stays_off_the_backups_configuration():
    s = stream(source={"push": {"protocols": ["rtmp", "whip"], "backup": True}})
    assert config(ingest_pod(s, "primary", SETTINGS)).source.push.protocols == ["rtmp", "whip"]  # type: ignore[union-attr]
    assert config(ingest_pod(s, "backup", SETTINGS)).source.push.protocols == ["rtmp"]  # type: ignore[union-attr]


def test_encryption_reaches_the_ingest_only_when_set():
    """A stream without it keeps its configuration (and Pod parts) as before: no restart on upgrade;
    setting it changes the configuration: a restart part that names it."""
    plain = config(ingest_pod(stream(), "primary", SETTINGS))
    assert plain.encryption is None and "encryption" not in plain.model_dump(by_alias=True, exclude_none=True)
    encrypted = stream(playback={"encryption": {"rotateSeconds": 30}})
    got = config(ingest_pod(encrypted, "primary", SETTINGS)).encryption
    assert got is not None and got.method == "AES-128" and got.rotate_seconds == 30
