"""A Broadcast on a real API server with the suite's operator (issue 41 item 2, work in progress): its
status names the streams that do not exist, follows one being created, and takes the user's state."""

from __future__ import annotations

from typing import Any

from devtools.catalog import livestream
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
    cluster.kubectl("patch", "broadcast", "keynote", "-n", ns, "--type=merge", "-p", '{"spec":{"state":"Finished"}}')
    status_where(cluster, ns, "phase Finished", lambda s: s.get("phase") == "Finished")
    table = cluster.kubectl("get", "bc", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "ONAIR", "READY", "AGE"], table


def test_a_stream_named_twice_is_refused_by_the_api_server(cluster, namespace):
    result = cluster.kubectl(
        "create", "-n", namespace, "-f", "-", input=str(broadcast("dup", streams=["a", "a"])).replace("'", '"'),
        check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "Duplicate value" in result.stderr, result.stderr
