"""The in-memory fake of the operator's API adapter (devtools.fake_kube) keeps the adapter's
interface and the server semantics the reconciler tests rely on."""

from __future__ import annotations

import inspect
import typing

import pytest
from devtools.fake_kube import FakeKubeApi, matches_selector, merge_patch
from streamops.api import RECORDING
from streamops.control.runtime.indexes import child_entry
from streamops.kube.client import ApiError, KubeApi, NamespaceTerminating


def pod(name: str = "p", **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ns", "labels": labels}}


def test_the_fake_overrides_every_method_of_the_adapter_with_its_signature():
    public = [n for n, v in vars(KubeApi).items() if callable(v) and not n.startswith("_")]
    assert {"get", "list_metadata", "create", "patch", "delete", "get_custom", "patch_status", "request"} <= set(public)
    for name in public:
        assert name in vars(FakeKubeApi), f"KubeApi.{name} would reach the network from the fake"
        fake, real = getattr(FakeKubeApi, name), getattr(KubeApi, name)
        shape = [(p.name, p.kind, p.default) for p in inspect.signature(real).parameters.values()]
        assert [(p.name, p.kind, p.default) for p in inspect.signature(fake).parameters.values()] == shape, name
        if name != "request":  # (the transport, which the fake refuses anyway)
            assert typing.get_type_hints(fake) == typing.get_type_hints(real), name
    with pytest.raises(AssertionError, match="no transport"):
        FakeKubeApi().request("GET", "/api/v1/pods")


def test_merge_patch_is_rfc_7386():
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    assert merge_patch(target, {"a": "z", "c": {"f": None}, "l": [3]}) == {"a": "z", "c": {"d": "e"}, "l": [3]}
    assert merge_patch(target, {"n": {"x": None, "y": 1}}) == {**target, "n": {"y": 1}}
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}, "arguments are not changed"


def test_create_fills_in_the_servers_fields_and_refuses_a_second_one():
    api = FakeKubeApi()
    created = api.create(pod())
    assert created is not None
    meta = created["metadata"]
    assert (
        meta["uid"]
        and meta["resourceVersion"]
        and meta["generation"] == 1
        and created["status"] == {"phase": "Pending"}
    )
    assert api.create(pod()) is None, "409 is the adapter's None"
    assert [(c.verb, c.result) for c in api.calls] == [("create", "ok"), ("create", "conflict")]

    api.terminate_namespace("ns")
    with pytest.raises(NamespaceTerminating):
        api.create(pod("q"))


def test_patch_honours_a_resource_version_precondition():
    api = FakeKubeApi()
    version = api.create(pod())["metadata"]["resourceVersion"]
    api.patch("Pod", "ns", "p", {"metadata": {"labels": {"a": "1"}, "resourceVersion": version}})
    stored = api.object("Pod", "ns", "p")
    assert stored["metadata"]["labels"] == {"a": "1"} and stored["metadata"]["resourceVersion"] != version
    with pytest.raises(ApiError) as e:
        api.patch("Pod", "ns", "p", {"metadata": {"labels": {"a": "2"}, "resourceVersion": version}})
    assert e.value.status == 409 and api.object("Pod", "ns", "p")["metadata"]["labels"] == {"a": "1"}
    api.patch("Pod", "ns", "gone", {"metadata": {"labels": {"a": "1"}}})  # 404: the adapter's silent None
    assert api.calls[-1].result == "not-found"


def test_generation_follows_the_spec_and_status_is_a_subresource():
    api = FakeKubeApi()
    api.add({"kind": "Recording", "metadata": {"name": "r", "namespace": "ns"}, "spec": {"a": 1}})
    api.patch_custom(RECORDING, "ns", "r", {"metadata": {"labels": {"x": "y"}}, "status": {"recording": True}})
    assert api.object("Recording", "ns", "r")["metadata"]["generation"] == 1
    assert "status" not in api.object("Recording", "ns", "r")
    api.patch_custom(RECORDING, "ns", "r", {"spec": {"stopped": True}})
    assert api.object("Recording", "ns", "r")["metadata"]["generation"] == 2
    assert api.patch_status(RECORDING, "ns", "r", {"recording": True}) is True
    assert api.object("Recording", "ns", "r")["status"] == {"recording": True}
    assert api.patch_status(RECORDING, "ns", "gone", {"recording": True}) is False


def test_delete_honours_the_uid_precondition_and_finalizers():
    api = FakeKubeApi()
    api.create(pod())
    api.delete("Pod", "ns", "p", uid="someone-else")
    assert api.object("Pod", "ns", "p") is not None and api.calls[-1].result == "conflict"
    api.modify("Pod", "ns", "p", {"metadata": {"finalizers": ["x/y"]}})
    uid = api.object("Pod", "ns", "p")["metadata"]["uid"]
    api.delete("Pod", "ns", "p", uid=uid)
    assert api.object("Pod", "ns", "p")["metadata"]["deletionTimestamp"]
    api.remove_finalizers("Pod", "ns", "p")
    assert api.object("Pod", "ns", "p") is None
    api.delete("Pod", "ns", "p")  # gone already: fine
    assert api.calls[-1].result == "not-found"


def test_list_by_label_selector():
    api = FakeKubeApi()
    api.add(pod("a", app="x", tier="web"))
    api.add(pod("b", app="y"))
    api.add(pod("c"))

    def names(selector: str) -> list[str]:
        return [o["metadata"]["name"] for o in api.list_metadata("Pod", selector)]

    assert names("app=x") == ["a"] and names("app") == ["a", "b"] and names("!app") == ["c"]
    assert names("app!=x") == ["b", "c"] and names("app in (x, y),!tier") == ["b"]
    assert names("app notin (x)") == ["b", "c"] and names("") == ["a", "b", "c"]
    assert matches_selector({"a": "1"}, "a==1")


def test_injected_errors_are_converted_like_the_adapters():
    api = FakeKubeApi()
    api.fail("get", "Secret", status=404)
    api.add({"kind": "Secret", "metadata": {"name": "s", "namespace": "ns"}})
    assert api.get("Secret", "ns", "s") is None
    assert api.get("Secret", "ns", "s") is not None, "once"
    api.fail("create", "Pod", status=403, body='{"reason":"Forbidden"}', times=2)
    for _ in range(2):
        with pytest.raises(ApiError):
            api.create(pod())
    assert api.create(pod()) is not None
    api.fail("delete", "Pod", name="p", status=409)
    api.delete("Pod", "ns", "p")
    assert api.object("Pod", "ns", "p") is not None


def test_watched_kinds_are_read_from_a_live_index_that_can_lag():
    api = FakeKubeApi()
    api.watch("Pod", child_entry)
    api.create(pod())
    seen = api.get("Pod", "ns", "p")
    assert seen is not None and set(seen) == {"metadata", "spec", "status"}, "the trimmed entry, as in the operator"
    assert api.calls[-1].source == "index" and api.server_reads == []
    with api.lagging():
        api.set_phase("ns", "p", "Running")
        api.create(pod("q"))
        assert api.get("Pod", "ns", "p")["status"] == {"phase": "Pending"} and api.get("Pod", "ns", "q") is None
    assert api.get("Pod", "ns", "p")["status"] == {"phase": "Running"}
