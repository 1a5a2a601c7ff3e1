"""Ready's priority (status.py, READY_PRIORITY): which reason decides Ready, and Stalled with it, when
several hold at once; a row is the observation (and the stream) and the Ready, Stalled and BackupReady
it gives."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from devtools.catalog import stored_livestream
from streamops.contract.ingest import IngestStatus
from streamops.control.livestream.deactivation import Deactivation
from streamops.control.livestream.handover import HandoverState
from streamops.control.livestream.status import (
    EndpointObservation,
    IngestObservation,
    PodObservation,
    livestream_status,
)

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
RUNNING = PodObservation("cam-ingest", exists=True, uid="u1", phase="Running", ready=True)
SERVED = {"primary": EndpointObservation("cam-ingest", served=True)}
HEALTHY = IngestObservation({"primary": RUNNING}, endpoints=SERVED)
# Every reason of the stream at once, and the Ready reason each gives, in Ready's priority.
EVERY_PROBLEM: list[tuple[str, dict[str, Any], str]] = [
    ("policy_refusals", {"policy_refusals": ("a NodePort is not allowed",)}, "RefusedByPolicy"),
    ("service_rejected", {"service_rejected": "Service refused"}, "ServiceRejected"),
    ("route_rejected", {"route_rejected": "Ingress refused"}, "PlaybackRouteRejected"),
    ("edge_rejected", {"edge_rejected": "Deployment refused"}, "EdgeRejected"),
    ("key_secret_missing", {"key_secret_missing": "cam-key"}, "StreamKeySecretNotFound"),
    ("key_invalid_for_srt", {"key_invalid_for_srt": "too short"}, "StreamKeyInvalidForSrt"),
    ("tls_secret_problem", {"tls_secret_problem": ("TlsSecretNotFound", "no cert")}, "TlsSecretNotFound"),
    ("inactive", {}, "Inactive"),
    ("deactivation", {"deactivation": Deactivation("s", 2, "the source is gone")}, "Deactivated"),
    ("quality_set_problem", {"quality_set_problem": ("QualitySetNotFound", "no set")}, "QualitySetNotFound"),
]


def ready(stream_spec: dict[str, Any], observed: IngestObservation) -> dict[str, tuple[str, str]]:
    status = livestream_status(stored_livestream(uid="s", generation=2, **stream_spec), observed, T0)
    return {c.type: (c.status, c.reason) for c in status.conditions if c.type in ("Ready", "Stalled", "BackupReady")}


def test_each_reason_wins_over_every_one_after_it() -> None:
    """All of them at once, then without the one that decided Ready, until the Pod decides it."""
    left = list(EVERY_PROBLEM)
    while left:
        overrides = {k: v for _, fields, _ in left for k, v in fields.items()}
        spec = {"active": False} if any(name == "inactive" for name, _, _ in left) else {}
        winner, _, reason = left.pop(0)
        got = ready(spec, replace(HEALTHY, **overrides))
        assert got["Ready"][1] == reason, f"{winner} should decide Ready"
    assert ready({}, HEALTHY) == {"Ready": ("True", "IngestRunning")}


BACKUP = {"source": {"push": {"protocols": ["rtmp"], "backup": True}}}
ROWS = [
    # (row, stream spec, observation, Ready, Stalled, BackupReady)
    ("a healthy primary", {}, HEALTHY, ("True", "IngestRunning"), None, None),
    ("no Pod yet", {}, IngestObservation({}), ("False", "IngestStarting"), None, None),
    ("a refusal stalls", {}, replace(HEALTHY, service_rejected="no"), ("False", "ServiceRejected"), "True", None),
    ("switched off is Ready", {"active": False}, HEALTHY, ("True", "Inactive"), None, None),
    (
        "switched off, the key missing: the key first",
        {"active": False},
        replace(HEALTHY, key_secret_missing="k"),
        ("False", "StreamKeySecretNotFound"),
        "True",
        None,
    ),
    (
        "deactivated by the worker's word: not Ready, not Stalled",
        {},
        replace(HEALTHY, telemetry={"primary": IngestStatus(active=False)}),
        ("False", "Deactivated"),
        None,
        None,
    ),
    (
        "deactivated wins over the quality set",
        {},
        replace(HEALTHY, deactivation=Deactivation("s", 2, "gone"), quality_set_problem=("QualitySetNotFound", "x")),
        ("False", "Deactivated"),
        None,
        None,
    ),
    (
        "the backup says the stream's reason",
        BACKUP,
        replace(HEALTHY, edge_rejected="no"),
        ("False", "EdgeRejected"),
        "True",
        ("False", "EdgeRejected"),
    ),
    (
        "a backup without its Pod leaves the primary Ready",
        BACKUP,
        HEALTHY,
        ("True", "IngestRunning"),
        None,
        ("False", "IngestStarting"),
    ),
]


@pytest.mark.parametrize(
    ("spec", "observed", "want_ready", "want_stalled", "want_backup"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_ready_stalled_and_backup_ready(spec, observed, want_ready, want_stalled, want_backup) -> None:
    got = ready(spec, observed)
    assert got["Ready"] == want_ready
    assert got.get("Stalled", (None,))[0] == want_stalled
    assert got.get("BackupReady") == want_backup


def test_ready_does_not_wait_for_the_slices_while_the_services_move_in_a_handover() -> None:
    successor = replace(RUNNING, name="cam-ingest-b", uid="u2", serving=True)
    not_listed = {"primary": EndpointObservation("cam-ingest", served=False)}
    moving = HandoverState("primary", "MovingService", "cam-ingest", "cam-ingest-b", "containers[ingest].image")
    observed = IngestObservation({"primary": successor}, endpoints=not_listed, handovers={"primary": moving})
    assert ready({}, observed)["Ready"] == ("True", "IngestRunning")
    assert ready({}, replace(observed, handovers={}))["Ready"][0] == "False", "otherwise the slices decide"
