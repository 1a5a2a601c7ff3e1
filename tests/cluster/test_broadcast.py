"""A Broadcast on a real API server with the suite's operator (docs/design/broadcasts.md): its status
names the streams that do not exist, follows one being created and one going live, and takes the
user's state; the operator sends it to its streams' running ingests, which serve its page."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from devtools.catalog import livestream
from devtools.cluster.api_reads import ApiRefused
from devtools.cluster.local_pods import LocalPods
from devtools.http_client import http_get
from devtools.media.peers import Publisher
from devtools.waits import eventually
from streamops.api import API_VERSION


def broadcast(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Broadcast", "metadata": {"name": name}, "spec": spec}


def status_where(cluster: Any, ns: str, what: str, check: Any) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        status = (cluster.get("broadcasts", ns, "keynote") or {}).get("status") or {}
        return status if check(status) else None

    return eventually(probe, timeout=30, what=what)


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})


def test_a_broadcast_names_missing_streams_follows_them_and_takes_the_users_state(cluster, operator, namespace):
    ns = namespace
    cluster.apply(ns, livestream("main"))
    cluster.apply(ns, broadcast("keynote", streams=["main", "backup"]))
    missing = status_where(cluster, ns, "StreamsMissing", lambda s: ready(s).get("reason") == "StreamsMissing")
    assert ready(missing)["message"] == "no LiveStream backup in the namespace"
    assert (missing["phase"], missing.get("onAir")) == ("Pending", None)
    assert [(m["name"], m["found"], m["live"]) for m in missing["streams"]] == [
        ("main", True, False),
        ("backup", False, False),
    ]
    # The stream's own event wakes the broadcast (it follows the streams it names).
    cluster.apply(ns, livestream("backup"))
    found = status_where(cluster, ns, "Ready once backup exists", lambda s: ready(s).get("status") == "True")
    assert [m["found"] for m in found["streams"]] == [True, True]
    cluster.patch("broadcast", ns, "keynote", {"spec": {"state": "Finished"}})
    status_where(cluster, ns, "phase Finished", lambda s: s.get("phase") == "Finished")
    table = cluster.kubectl("get", "bc", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "ONAIR", "READY", "AGE"], table


def test_a_stream_named_twice_is_refused_by_the_api_server(cluster, namespace):
    with pytest.raises(ApiRefused) as refused:
        cluster.create(namespace, broadcast("dup", streams=["a", "a"]))
    assert "Duplicate value" in refused.value.message, refused.value.message


def test_the_operator_sends_the_broadcast_to_its_stream_s_ingest_and_a_state_change_reaches_it_in_seconds(
    cluster, operator, namespace, local_pods: LocalPods, publishers
):
    """A stream whose ingest runs (a local process) and publishes: the Broadcast goes Live with it on air,
    status.playerUrl is the page beside the stream's player, and the ingest serves the page and the state
    document the operator sent (POST /player-settings); the user's Paused reaches that document within
    seconds, the same ingest process throughout (nothing restarts)."""
    ns = namespace
    cluster.apply(ns, livestream("main", screenshots={"enabled": False}))
    ingest = local_pods.start(ns, "main-ingest")
    key = base64.b64decode(cluster.get("secrets", ns, "main-stream-key")["data"]["streamKey"]).decode()
    publishers.append(
        Publisher(f"rtmp://127.0.0.1:{ingest.config['ports']['rtmp']}/live/{key}", size="320x180").start()
    )
    cluster.apply(ns, broadcast("keynote", streams=["main", "backup"], title="Keynote"))
    live = status_where(
        cluster, ns, "Live with main on air", lambda s: (s.get("phase"), s.get("onAir")) == ("Live", "main")
    )
    player = (cluster.get("livestreams", ns, "main") or {})["status"]["playback"]["playerUrl"]
    assert live["playerUrl"] == player.removesuffix("/player") + "/broadcasts/keynote/player"
    http = f"http://127.0.0.1:{ingest.config['ports']['http']}"

    def document(check: Any) -> dict[str, Any] | None:
        code, body = http_get(f"{http}/broadcasts/keynote/state.json")
        found = json.loads(body) if code == 200 else None
        return found if found is not None and check(found) else None

    state = eventually(lambda: document(lambda d: d["onAir"] == "main"), timeout=30, what="state.json on the ingest")
    assert (state["title"], [m["name"] for m in state["members"]]) == ("Keynote", ["main", "backup"])
    assert state["members"][0]["hls"] == "hls/cmaf/index.m3u8" and state["members"][1].get("base") is None
    assert http_get(f"{http}/broadcasts/keynote/player")[0] == 200
    pid = ingest.process.pid if ingest.process else None

    paused = time.monotonic()
    cluster.patch("broadcast", ns, "keynote", {"spec": {"state": "Paused"}})
    eventually(
        lambda: document(lambda d: d["phase"] == "Paused"), timeout=15, interval=0.1, what="Paused on the ingest"
    )
    print(f"Broadcast state patched -> the ingest's state.json: {time.monotonic() - paused:.2f} s")
    assert ingest.process is not None and ingest.process.pid == pid and ingest.process.poll() is None
