"""Shared by the chart tests (tests/chart, no cluster) and the cluster tests of the chart
(tests/cluster/test_chart_*.py, test_gitops.py): helm, Lua and kstatus helpers."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "charts" / "streamops"
VALUES_DIR = Path(__file__).resolve().parent / "chart" / "values"
ARGO_HEALTH = REPO / "docs" / "gitops" / "argocd" / "health"
RELEASE_NAMESPACE = "streamops-system"


def _versions(var: str) -> str:
    out = subprocess.run(
        ["bash", "-c", f"source {REPO / 'hack' / 'versions.sh'} && echo ${var}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def helm_bin() -> Path:
    """The pinned helm built by hack/build-helm.sh (`make helm`); a missing one is an error."""
    path = Path(_versions("HELM_BIN"))
    if not path.is_file():
        raise AssertionError(f"{path} is missing: run `make helm` (hack/build-helm.sh)")
    return path


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(helm_bin()), *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def render(*values_files: str | Path, namespace: str = RELEASE_NAMESPACE, sets: tuple[str, ...] = ()) -> str:
    args = ["template", "streamops", str(CHART), "--namespace", namespace]
    for f in values_files:
        args += ["-f", str(f)]
    for s in sets:
        args += ["--set", s]
    return helm(*args).stdout


def objects(manifest: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(manifest) if d]


def find(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


# --------------------------------------------------------------------------------- kstatus


def kstatus(obj: dict[str, Any]) -> tuple[str, str]:
    """Status of a custom resource by the rules of sigs.k8s.io/cli-utils pkg/kstatus/status
    (Compute -> checkGenericProperties -> checkGeneration; no type-specific rules for CRs):
    deletionTimestamp -> Terminating; status.observedGeneration present and != generation ->
    InProgress; condition Reconciling=True -> InProgress; Stalled=True -> Failed; else Current."""
    meta, status = obj.get("metadata", {}), obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "Terminating", "Resource scheduled for deletion"
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if generation is not None and observed is not None and observed != generation:
        return (
            "InProgress",
            f"{obj.get('kind')} generation is {generation}, but latest observed generation is {observed}",
        )
    for c in status.get("conditions") or []:
        if c.get("type") == "Reconciling" and c.get("status") == "True":
            return "InProgress", c.get("message", "")
        if c.get("type") == "Stalled" and c.get("status") == "True":
            return "Failed", c.get("message", "")
    return "Current", "Resource is current"


# ------------------------------------------------------------------------ Argo CD health (Lua)


def lua_bin() -> str:
    for name in ("lua5.4", "lua5.3", "lua5.1", "lua"):
        if found := shutil.which(name):
            return found
    raise AssertionError("no Lua interpreter: run `make deps` (installs Debian's lua5.4)")


def to_lua(value: Any) -> str:
    """JSON-like data as a Lua table constructor (what Argo CD hands a health script as `obj`)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid Lua escapes for this data
    if isinstance(value, list):
        return "{" + ", ".join(to_lua(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{json.dumps(k)}] = {to_lua(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot express {type(value).__name__} in Lua")


def argo_health(kind: str, obj: dict[str, Any]) -> tuple[str, str]:
    """Run docs/gitops/argocd/health/<kind>.lua on obj, as Argo CD does (global `obj`, returns hs)."""
    script = (ARGO_HEALTH / f"{kind}.lua").read_text()
    program = (
        f"obj = {to_lua(obj)}\n"
        f"local hs = (function()\n{script}\nend)()\n"
        'io.write(tostring(hs.status), "\\n", tostring(hs.message))\n'
    )
    result = subprocess.run([lua_bin(), "-"], input=program, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise AssertionError(f"{kind}.lua failed: {result.stderr}")
    status, _, message = result.stdout.partition("\n")
    return status, message
