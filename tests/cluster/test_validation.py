"""The real API server refuses bad manifests with messages a user can act on, accepts every
example, and applies the schema defaults."""

from __future__ import annotations

import pytest
import yaml
from devtools.catalog import BAD, EXAMPLES


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_server_rejects_bad_manifest(cluster, namespace, bad):
    result = cluster.kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump(bad.manifest), check=False)
    assert result.returncode != 0, f"{bad.id} was accepted"
    assert bad.says in result.stderr, result.stderr
    kind = bad.manifest["kind"].lower() + "s"
    assert cluster.list(kind, namespace) == [], "nothing is stored from a rejected manifest"


def test_examples_are_accepted_and_defaulted(cluster, namespace):
    cluster.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES))
    stream = cluster.get("livestreams", namespace, "obs-studio")
    spec = stream["spec"]
    # Server-side defaults from the schema, nested ones included.
    assert spec["active"] is True
    assert spec["hls"] == {"segmentSeconds": 2, "cmaf": True, "mpegts": True, "endListOnStop": True}
    assert spec["recording"]["reconnectWindowSeconds"] == 10
    assert spec["recording"]["maxSegmentSeconds"] == 14400
    assert spec["screenshots"] == {"enabled": True, "intervalSeconds": 10}
    applied = [r for r in cluster.list("recordings", namespace) if not r["metadata"].get("ownerReferences")]
    assert len(applied) == 1  # (the operator may have added studio-b-auto for the auto-recorded stream)
    assert len(cluster.list("restreams", namespace)) == 2


def test_short_names_category_and_columns(cluster, namespace):
    cluster.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "livestream-push.yaml"))
    table = cluster.kubectl("get", "lst", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "LIVE", "RECORDING", "READY", "AGE"]
    assert table[1].split()[0] == "obs-studio"
    assert (
        "livestream.streaming.streamops.dev/obs-studio"
        in cluster.kubectl("get", "streaming", "-n", namespace, "-o", "name").stdout
    )
    for short in ("rec", "rst"):
        cluster.kubectl("get", short, "-n", namespace)
