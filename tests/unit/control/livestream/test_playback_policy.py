"""spec.playback.policyRef through a stream's reconcile against the fake API (docs/design/playback-rules.md):
the policy's rules as the stream's key of the namespace's ConfigMap, the ingest mounting that key (and the
GeoIP database), a missing policy failing closed, and which changes restart the ingest (naming or
dropping a policy) and which do not (editing it, naming another)."""

from __future__ import annotations

import json
from typing import Any

from devtools.catalog import livestream
from devtools.fake_kube import FakeKubeApi
from streamops.api import LiveStream
from streamops.api.common import API_VERSION
from streamops.api.kinds import PLAYBACK_POLICY
from streamops.contract.ingest import RULES_CONFIGMAP
from streamops.control.livestream import reasons
from streamops.control.livestream.reconcile import StreamOutcome, reconcile_livestream
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.shared.settings import GeoIPDatabase, OperatorSettings, PlaybackSettings
from streamops.kube.naming import SPEC_HASH_ANNOTATION

NS = "media"
GEOIP = OperatorSettings(
    playback=PlaybackSettings(geoip=GeoIPDatabase(volume={"configMap": {"name": "geoip"}}, file="c.mmdb"))
)


def policy(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "PlaybackPolicy", "metadata": {"name": name}, "spec": spec}


def reconcile(api: FakeKubeApi, settings: OperatorSettings = GEOIP) -> StreamOutcome:
    body = api.object("LiveStream", NS, "cam")
    assert body is not None
    return reconcile_livestream(api, settings, body, None)


def rules(api: FakeKubeApi) -> dict[str, str]:
    found = api.object("ConfigMap", NS, RULES_CONFIGMAP)
    return dict((found or {}).get("data") or {})


def pod(api: FakeKubeApi) -> dict[str, Any]:
    found = api.object("Pod", NS, "cam-ingest")
    assert found is not None
    return found


def config(pod: dict[str, Any]) -> dict[str, Any]:
    env = pod["spec"]["containers"][0]["env"]
    return dict(json.loads(next(e["value"] for e in env if e["name"] == "STREAMOPS_INGEST_CONFIG")))


def name_policy(api: FakeKubeApi, name: str | None) -> None:
    body = api.object("LiveStream", NS, "cam")
    assert body is not None
    body["spec"].setdefault("playback", {})["policyRef"] = {"name": name} if name else None
    if name is None:
        del body["spec"]["playback"]["policyRef"]
    body["metadata"]["generation"] += 1
    api.add(body)


def test_the_policy_s_rules_reach_the_ingest_s_key_and_an_edit_restarts_nothing(api):
    api.add_in(NS, policy("partners", deniedCIDRs=["192.0.2.0/24"], deniedCountries=["FR"]))
    api.add_in(NS, livestream("cam", playback={"policyRef": {"name": "partners"}}))

    outcome = reconcile(api)
    assert outcome.playback_policy_problem is None
    assert json.loads(rules(api)["cam.json"]) == {"deniedCIDRs": ["192.0.2.0/24"], "deniedCountries": ["FR"]}
    configmap = api.object("ConfigMap", NS, RULES_CONFIGMAP)
    assert configmap is not None and configmap["metadata"].get("ownerReferences") is None, "shared by the streams"
    first = pod(api)
    volumes = {v["name"]: v for v in first["spec"]["volumes"]}
    assert volumes["playback-rules"]["configMap"] == {
        "name": RULES_CONFIGMAP,
        "items": [{"key": "cam.json", "path": "rules.json"}],
        "optional": True,
    }
    assert volumes["geoip"] == {"name": "geoip", "configMap": {"name": "geoip"}}
    playback = config(first)["playback"]
    assert playback["rulesFile"] == "/etc/streamops/playback-rules/rules.json"
    assert playback["geoipFile"] == "/etc/streamops/geoip/c.mmdb"

    # An edit of the policy: the key, not the Pod.
    api.add_in(NS, policy("partners", allowedCIDRs=["203.0.113.0/24"]))
    api.clear_calls()
    reconcile(api)
    assert [(c.verb, c.kind) for c in api.writes if c.result == "ok"] == [("patch", "ConfigMap")]
    assert json.loads(rules(api)["cam.json"]) == {"allowedCIDRs": ["203.0.113.0/24"]}
    assert pod(api)["metadata"]["uid"] == first["metadata"]["uid"]

    # Another policy named: the key again; the Pod mounts the stream's key whatever the policy.
    api.add_in(NS, policy("open"))
    name_policy(api, "open")
    reconcile(api)
    assert json.loads(rules(api)["cam.json"]) == {}
    assert (
        pod(api)["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
        == first["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    )

    # Nothing changed: nothing written.
    api.clear_calls()
    reconcile(api)
    assert [c for c in api.writes if c.result == "ok"] == []


def test_a_missing_policy_fails_closed_and_says_so_until_it_exists(api):
    api.add_in(NS, livestream("cam", playback={"policyRef": {"name": "later"}}))

    outcome = reconcile(api)
    assert outcome.playback_policy_problem is not None
    reason, message = outcome.playback_policy_problem
    assert reason == reasons.PLAYBACK_POLICY_NOT_FOUND and "PlaybackPolicy later" in message
    assert "cam.json" not in rules(api), "no key: the ingest's rules file is missing, every viewer refused"
    assert "playback-rules" in {v["name"] for v in pod(api)["spec"]["volumes"]}, "the Pod is made, its key optional"

    api.add_in(NS, policy("later", allowedUserAgents=["VLC/*"]))
    assert reconcile(api).playback_policy_problem is None
    assert json.loads(rules(api)["cam.json"]) == {"allowedUserAgents": ["VLC/*"]}

    api.delete_custom(PLAYBACK_POLICY, NS, "later")
    assert reconcile(api).playback_policy_problem is not None
    assert "cam.json" not in rules(api), "a policy deleted takes its streams' keys: they refuse every viewer"


def test_naming_or_dropping_a_policy_changes_the_ingest_naming_another_does_not(api):
    def spec_hash(playback: dict[str, Any]) -> str:
        body = FakeKubeApi().add_in(NS, livestream("cam", playback=playback))
        body["metadata"]["uid"] = "u"
        stream = LiveStream.model_validate(body)
        return str(ingest_pod(stream, "primary", GEOIP)["metadata"]["annotations"][SPEC_HASH_ANNOTATION])

    none, partners, other = (
        spec_hash({}),
        spec_hash({"policyRef": {"name": "a"}}),
        spec_hash({"policyRef": {"name": "b"}}),
    )
    assert none != partners, "naming a policy (or dropping one) is a change of the ingest: a volume"
    assert partners == other, "the Pod mounts the stream's key, whichever policy fills it"

    api.add_in(NS, livestream("cam"))
    reconcile(api)
    plain = pod(api)
    assert {"playback-rules", "geoip"}.isdisjoint(v["name"] for v in plain["spec"]["volumes"])
    assert "playback" not in config(plain), "an ingest without a policy keeps the configuration it had"
    assert api.object("ConfigMap", NS, RULES_CONFIGMAP) is None
    assert [c for c in api.calls if c.kind == "ConfigMap"] == [], "a stream without a policy reads no rules"
