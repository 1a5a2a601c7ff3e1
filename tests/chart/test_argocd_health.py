"""The Argo CD health checks (docs/gitops/argocd/health/*.lua) run by a real Lua interpreter on
sample objects, one per state a user can meet. The same scripts run on real objects from the
cluster in tests/cluster/test_gitops.py."""

from __future__ import annotations

from typing import Any

import pytest
from devtools.chart import ARGO_HEALTH, argo_health, to_lua


def cond(type_: str, status: str, reason: str = "Because", message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message or f"{type_} is {status}"}


def obj(kind: str, generation: int = 2, observed: int | None = 2, spec: dict[str, Any] | None = None, **status: Any):
    body: dict[str, Any] = {
        "apiVersion": "streaming.streamops.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "ns", "generation": generation},
        "spec": spec or {},
    }
    if observed is not None or status:
        body["status"] = dict(status)
        if observed is not None:
            body["status"]["observedGeneration"] = observed
    return body


CASES = [
    # kind, object, expected status, text the message must contain
    ("LiveStream", obj("LiveStream", observed=None), "Progressing", "observe"),
    (
        "LiveStream",
        obj("LiveStream", generation=3, observed=2, conditions=[cond("Ready", "True")]),
        "Progressing",
        "observe",
    ),
    (
        "LiveStream",
        obj("LiveStream", conditions=[cond("Ready", "False"), cond("Stalled", "True", message="Secret k missing")]),
        "Degraded",
        "Secret k missing",
    ),
    (
        "LiveStream",
        obj("LiveStream", conditions=[cond("Ready", "False"), cond("Reconciling", "True", message="Pod is Pending")]),
        "Progressing",
        "Pod is Pending",
    ),
    (
        "LiveStream",
        obj("LiveStream", conditions=[cond("Ready", "True")], live=False),
        "Healthy",
        "Ready for a publisher",
    ),
    ("LiveStream", obj("LiveStream", conditions=[cond("Ready", "True")], live=True), "Healthy", "Live"),
    (
        "LiveStream",
        obj("LiveStream", spec={"active": False}, conditions=[cond("Ready", "True", "Inactive")]),
        "Suspended",
        "switched off",
    ),
    # A pull stream deactivated after its inactivity timeout waits for the user, as a switched-off one.
    (
        "LiveStream",
        obj(
            "LiveStream",
            spec={"source": {"pull": {"urls": ["rtmp://origin/live/a"]}}},
            conditions=[cond("Ready", "False", "Deactivated", "pull stream deactivated: no data for 7200 s")],
        ),
        "Suspended",
        "deactivated",
    ),
    # A stalled stream is Degraded even when switched off: the user has something to fix.
    (
        "LiveStream",
        obj("LiveStream", spec={"active": False}, conditions=[cond("Stalled", "True", message="bad")]),
        "Degraded",
        "bad",
    ),
    (
        "LiveStream",
        obj("LiveStream", conditions=[cond("Ready", "False", message="ingest failed")]),
        "Progressing",
        "ingest failed",
    ),
    ("LiveStream", obj("LiveStream", conditions=[]), "Progressing", "Ready condition"),
    ("Recording", obj("Recording", observed=None), "Progressing", "observe"),
    (
        "Recording",
        obj(
            "Recording",
            conditions=[cond("Ready", "False"), cond("Reconciling", "True", message="waiting for cam to go live")],
        ),
        "Progressing",
        "waiting for cam",
    ),
    ("Recording", obj("Recording", conditions=[cond("Ready", "True", message="recording")]), "Healthy", "recording"),
    (
        "Recording",
        obj("Recording", conditions=[cond("Ready", "False"), cond("Succeeded", "True", message="2 videos")]),
        "Healthy",
        "2 videos",
    ),
    (
        "Recording",
        obj("Recording", conditions=[cond("Succeeded", "False", message="volume full")]),
        "Degraded",
        "volume full",
    ),
    (
        "Recording",
        obj("Recording", conditions=[cond("Stalled", "True", message="no such stream")]),
        "Degraded",
        "no such stream",
    ),
    ("Clip", obj("Clip", observed=None), "Progressing", "observe"),
    (
        "Clip",
        obj(
            "Clip",
            conditions=[
                cond("Ready", "False"),
                cond("Succeeded", "Unknown"),
                cond("Reconciling", "True", message="waiting for the DVR to hold the end"),
            ],
        ),
        "Progressing",
        "waiting for the DVR",
    ),
    (
        "Clip",
        obj("Clip", conditions=[cond("Ready", "True"), cond("Succeeded", "True", message="stored 60.040 s")]),
        "Healthy",
        "stored 60",
    ),
    (
        "Clip",
        obj("Clip", conditions=[cond("Succeeded", "False"), cond("Stalled", "True", message="keeps no DVR window")]),
        "Degraded",
        "no DVR",
    ),
    ("Restream", obj("Restream", observed=None), "Progressing", "observe"),
    (
        "Restream",
        obj("Restream", spec={"active": False}, conditions=[cond("Ready", "True")]),
        "Suspended",
        "switched off",
    ),
    (
        "Restream",
        obj("Restream", conditions=[cond("Ready", "False"), cond("Reconciling", "True", message="retrying in 8s")]),
        "Progressing",
        "retrying",
    ),
    ("Restream", obj("Restream", conditions=[cond("Ready", "True")], live=True), "Healthy", "Pushing"),
    (
        "Restream",
        obj("Restream", conditions=[cond("Ready", "False", "StreamNotLive", "waiting for cam to go live")]),
        "Progressing",
        "waiting for cam",
    ),
    (
        "Restream",
        obj("Restream", conditions=[cond("Stalled", "True", message="key Secret missing")]),
        "Degraded",
        "key Secret",
    ),
]


@pytest.mark.parametrize(("kind", "body", "status", "says"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_health(kind: str, body: dict[str, Any], status: str, says: str) -> None:
    got, message = argo_health(kind, body)
    assert (got, says in message) == (status, True), f"{kind}: {got} {message!r}"


def test_one_script_per_kind() -> None:
    assert sorted(p.stem for p in ARGO_HEALTH.glob("*.lua")) == ["Clip", "LiveStream", "Recording", "Restream"]


def test_scripts_stay_in_lua_5_1() -> None:
    """Argo CD runs health scripts in gopher-lua (Lua 5.1): no 5.2+ syntax in them."""
    for script in ARGO_HEALTH.glob("*.lua"):
        code = "\n".join(line.split("--")[0] for line in script.read_text().splitlines())
        for construct in ("//", "goto ", "<const>", "<close>", "::", " & ", " | ", "<<", ">>"):
            assert construct not in code, f"{script.name} uses {construct!r}"


def test_to_lua_escapes_strings() -> None:
    assert (
        to_lua({"m": 'a "quoted"\nline', "n": [1, True, None]})
        == '{["m"] = "a \\"quoted\\"\\nline", ["n"] = {1, true, nil}}'
    )
