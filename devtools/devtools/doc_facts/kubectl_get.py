"""`kubectl get lst` as kubectl prints it: the LiveStream CRD's printer columns (the ones without a
priority: -o wide shows the others), the cells the API server's table convertor makes of two sample
streams (k8s.io/apiextensions-apiserver tableconvertor.go: a missing value is an empty cell; `date`
is an age as HumanDuration says it), aligned as kubectl's tabwriter does (min width 6, padding 3).
The samples' statuses are validated by the status model, so a renamed field fails here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from streamops.api.crd import crd_manifest
from streamops.api.kinds import LIVESTREAM
from streamops.api.livestream import LiveStreamSpec, LiveStreamStatus

from devtools.doc_facts.json_path import first_result

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _ready(since: datetime) -> dict[str, Any]:
    return {"type": "Ready", "status": "True", "reason": "IngestReady", "lastTransitionTime": since.isoformat()}


def _sample(name: str, title: str, age: timedelta, status: dict[str, Any]) -> dict[str, Any]:
    created = NOW - age
    status = {**status, "conditions": [_ready(created + timedelta(seconds=20))]}
    return {
        "metadata": {"name": name, "creationTimestamp": created.isoformat().replace("+00:00", "Z")},
        "spec": LiveStreamSpec.model_validate({"title": title, "source": {"push": {}}}).wire(),
        "status": LiveStreamStatus.model_validate(status).wire(),
    }


SAMPLES = [
    _sample(
        "match-day",
        "Match day",
        timedelta(hours=2, minutes=14),
        {"live": True, "activeIngest": "primary", "recording": True, "viewers": {"total": 1284}},
    ),
    _sample(
        "rehearsal",
        "Rehearsal",
        timedelta(days=3, hours=4),
        {"live": False, "recording": False, "viewers": {"total": 0}},
    ),
]


def human_duration(d: timedelta) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    seconds = int(d.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def cell(column: dict[str, Any], obj: dict[str, Any]) -> str:
    value = first_result(column["jsonPath"], obj)
    if value is None:
        return ""
    kind = column["type"]
    if kind == "date":
        return human_duration(NOW - datetime.fromisoformat(value))
    if kind == "boolean" and isinstance(value, bool):
        return "true" if value else "false"
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value))
    if kind == "string" and isinstance(value, str):
        return value
    raise ValueError(f"printer column {column['name']}: no rendering of a {kind} from {value!r}")


def default_columns() -> list[dict[str, Any]]:
    """The printer columns `kubectl get` shows (priority 0), as the generated CRD declares them."""
    columns = crd_manifest(LIVESTREAM)["spec"]["versions"][0]["additionalPrinterColumns"]
    return [c for c in columns if not c.get("priority")]


def header() -> list[str]:
    return ["NAME", *(c["name"].upper() for c in default_columns())]


def aligned(rows: list[list[str]]) -> str:
    """As kubectl's tabwriter: each column but the last as wide as its widest cell plus 3, at least 6."""
    widths = [max(6, max(len(row[i]) for row in rows) + 3) for i in range(len(rows[0]) - 1)]
    return "\n".join("".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + row[-1] for row in rows)


def render() -> str:
    columns = default_columns()
    rows = [header(), *([s["metadata"]["name"], *(cell(c, s) for c in columns)] for s in SAMPLES)]
    return "```console\n$ kubectl get lst\n" + aligned(rows) + "\n```"
