"""plan_pusher() as the pure function it is: what a Restream's reconcile wants from the Restream as
stored, its body and an Observed built by hand (no API at all). The writes themselves:
tests/unit/control/test_reconcilers.py."""

from __future__ import annotations

from typing import Any

from devtools.catalog import restream, stored, stored_livestream
from streamops.api import Restream
from streamops.control.restream.observation import Observed, Target
from streamops.control.restream.plan import Plan, plan_pusher, wanted_pod, wanted_targets
from streamops.control.shared.settings import OperatorSettings
from streamops.kube.manifests import Manifest
from streamops.kube.naming import IMMEDIATE, RESTARTS_ANNOTATION

SETTINGS = OperatorSettings()
STREAM = stored_livestream(uid="stream-uid")


def body(
    version: str = "7", owners: list[Manifest] | None = None, status: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    """The Restream as handed over (stored_restream's, as a body): its resourceVersion and ownerReferences."""
    raw = stored(restream("out", **spec), status, uid="restream-uid", generation=1)
    raw["metadata"].update({"resourceVersion": version, "ownerReferences": owners or []})
    return raw


def observed(raw: dict[str, Any] | None = None, **seen: Any) -> Observed:
    """What observe() reads for the Restream `raw` alone (its target, when it has one)."""
    mine = Restream.model_validate(raw or body())
    target = Target(mine, missing=seen.get("key_missing"), refused=seen.get("key_refused"))
    targets = (target,) if mine.spec.active else ()
    return Observed(None, stream=STREAM, targets=targets, **seen)


def plan(raw: dict[str, Any] | None = None, seen: Observed | None = None, patched_at: str | None = None) -> Plan:
    raw = raw or body()
    return plan_pusher(Restream.model_validate(raw), raw, seen or observed(raw), patched_at)


def test_a_new_restream_plans_its_pusher_then_its_stream_as_owner():
    p = plan()
    assert p.pusher and not p.remove and p.stream == STREAM
    assert p.owner_patch is not None and p.owner_patched_at == "7"
    [owner] = p.owner_patch["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("LiveStream", "stream-uid")
    pod = wanted_pod(p, SETTINGS, observed(), None)
    assert pod["metadata"]["name"] == "cam-pusher", "the stream's one pusher"
    assert [(r["kind"], r["uid"], r["controller"]) for r in pod["metadata"]["ownerReferences"]] == [
        ("Restream", "restream-uid", False)
    ]
    targets = wanted_targets(p, SETTINGS, observed())
    assert targets is not None and [(t.id, t.name) for t in targets.targets] == [("restream-uid", "out")]


def test_the_owner_patch_is_sent_once_per_body():
    assert plan(patched_at="7").owner_patch is None, "the same body again: the watch has not shown it yet"
    assert plan(patched_at="7").owner_patched_at == "7"
    assert plan(body("8"), patched_at="7").owner_patch is not None, "a newer body without the owner"
    owned = body(owners=[{"apiVersion": "v1", "kind": "LiveStream", "name": "cam", "uid": "stream-uid"}])
    p = plan(owned, patched_at="7")
    assert p.owner_patch is None and p.owner_patched_at is None


def test_an_inactive_restream_removes_the_pusher_only_when_it_was_the_last_target():
    inactive = body(active=False)
    p = plan(inactive, observed(inactive))
    assert p.remove and not p.pusher and p.owner_patch is None and not p.waiting_for_stream
    other = Restream.model_validate(stored(restream("yt"), None, uid="other-uid", generation=1))
    p = plan(inactive, Observed(None, stream=STREAM, targets=(Target(other),)))
    assert p.pusher and not p.remove and [t.restream.metadata.name for t in p.targets] == ["yt"]
    assert p.owner_patch is None, "an inactive Restream still sends no patch of its own"


def test_a_missing_stream_waits_and_writes_nothing():
    p = plan(seen=Observed(None))
    assert p.waiting_for_stream and not (p.remove or p.pusher) and p.owner_patch is None


def test_a_refused_or_missing_target_key_sends_no_target():
    refused = plan(seen=observed(key_refused="not labelled"))
    assert refused.remove and not refused.pusher and refused.key_refused == "not labelled"
    missing = plan(seen=observed(key_missing="yt"))
    assert missing.remove and not missing.pusher and missing.key_missing == "yt" and missing.targets == ()
    assert refused.owner_patch is None and missing.owner_patch is None


def test_on_the_host_network_it_waits_for_the_streams_ports_but_patches_the_owner():
    p = plan(seen=observed(host_network=True))
    assert p.waiting_for_stream and not p.pusher and p.owner_patch is not None and p.stream is None
    ready = plan(seen=observed(host_network=True, ingest_ports={"internal": 30001}))
    assert ready.pusher and not ready.waiting_for_stream


def test_busy_and_immediate_come_from_the_stored_restreams():
    assert not plan().busy and not plan().immediate
    live = body(status={"live": True})
    assert plan(live, observed(live)).busy, "a live target: the shared Pod is busy"
    annotated = body()
    annotated["metadata"]["annotations"] = {RESTARTS_ANNOTATION: IMMEDIATE}
    assert plan(annotated, observed(annotated)).immediate
