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
