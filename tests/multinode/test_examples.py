"""examples/ applied as a batch, `kubectl apply -f examples/`, into a fresh namespace of the session
cluster: its release has the chart's policy defaults (the egress guard, the Secrets' opt-in label,
a stream's own LoadBalancer and chosen nodePorts refused, NetworkPolicies enforced), the session's
images and its NodePort ingest with an external host, as the quick start installs. Each object
reaches the state examples/README.md gives it (column "After `kubectl apply -f examples/`"): `Ready`
(condition Ready True) or the reason of the condition it waits on (Ready False, Stalled, Recording…),
read from the README so the table cannot drift from what the cluster shows.

Multinode rather than the cluster tier: there the operator runs without a kubelet and with the
tier's own allowances (LoadBalancer, chosen nodePorts, loopback egress), so neither Ready nor the
default refusals would be what a user sees.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.recordings_volume import RECORDINGS_CLAIM, recordings_volume_objects
from devtools.cluster.release import Release
from devtools.versions import REPO
from devtools.waits import eventually

pytestmark = pytest.mark.timeout(300)

EXAMPLES = REPO / "examples"
# `kind/name`: `State` (or `Other`…): any of the states is as documented
CELL = re.compile(r"`(\w+)/([\w.-]+)`: ((?:`\w+`(?: or )?)+)")


def documented_states() -> dict[tuple[str, str], tuple[str, ...]]:
    """(kind as kubectl takes it, name) → `Ready` or the reasons it waits with, from the README's table."""
    states: dict[tuple[str, str], tuple[str, ...]] = {}
    for line in (EXAMPLES / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("[`"):
            for kind, name, either in CELL.findall(cells[3]):
                states[(kind, name)] = tuple(re.findall(r"`(\w+)`", either))
    return states


def conditions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("status") or {}).get("conditions") or [])


def in_state(obj: dict[str, Any], states: tuple[str, ...]) -> bool:
    found = conditions(obj)
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in found)
    return any(ready if state == "Ready" else any(c.get("reason") == state for c in found) for state in states)


def summary(obj: dict[str, Any]) -> str:
    return ", ".join(f"{c['type']}={c['status']}:{c.get('reason', '')}" for c in conditions(obj)) or "(no conditions)"


@pytest.fixture
def examples_namespace(cluster: LocalCluster, release: Release, namespace: str) -> Iterator[str]:
    """A fresh namespace under the session's release (its operator reconciles what is applied), with
    a recordings volume as a default StorageClass would give it (the local cluster has no provisioner)."""
    directory = cluster.dir / "recordings" / namespace
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o777)  # a local volume gets no fsGroup; the workers run as uid 10001
    volume = recordings_volume_objects(directory, namespace, RECORDINGS_CLAIM, cluster.nodes[0].name)
    cluster.apply_objects(volume)
    try:
        yield namespace
    finally:  # the cluster-scoped example and volume
        cluster.kubectl(
            "delete", "-f", str(EXAMPLES / "clusterqualityset.yaml"), "--ignore-not-found", "--wait=false", check=False
        )
        cluster.kubectl("delete", "pv", f"recordings-{namespace}", "--ignore-not-found", "--wait=false", check=False)
        shutil.rmtree(directory, ignore_errors=True)


def test_the_examples_apply_as_a_batch(cluster: LocalCluster, examples_namespace: str) -> None:
    began = time.monotonic()
    applied = json.loads(cluster.kubectl("apply", "-f", str(EXAMPLES), "-n", examples_namespace, "-o", "json").stdout)
    items = applied.get("items") or [applied]
    # kubectl's names for the kinds (lowercased kind, as `kubectl get livestream` takes them)
    wanted = {(o["kind"].lower(), o["metadata"]["name"]) for o in items if o["kind"] != "Secret"}
    documented = documented_states()
    assert not (missing := sorted(f"{k}/{n}" for k, n in wanted - documented.keys())), (
        f"examples/README.md gives no state for {missing}"
    )
    resources = ",".join(sorted({k for k, _ in wanted}))

    def current() -> dict[tuple[str, str], dict[str, Any]]:
        got = cluster.kubectl("get", resources, "-n", examples_namespace, "-o", "json", check=False).stdout
        found = json.loads(got or "{}").get("items") or []
        return {(o["kind"].lower(), o["metadata"]["name"]): o for o in found}

    def off() -> list[str]:
        now = current()
        return [f"{k}/{n}" for k, n in sorted(wanted) if not in_state(now.get((k, n), {}), documented[(k, n)])]

    try:
        eventually(lambda: not off(), timeout=120, interval=1, what="every example in its documented state")
    finally:
        now = current()
        lines = [
            f"  {k}/{n} (documented {documented.get((k, n))}): {summary(now.get((k, n), {}))}"
            for k, n in sorted(wanted)
        ]
        print(f"\nexamples after {time.monotonic() - began:.1f}s:\n" + "\n".join(lines))
