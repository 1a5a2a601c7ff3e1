"""Making one owned child match its desired manifest (control/workers/children.py), against the
in-memory API (devtools.fake_kube): created when missing, patched where it drifted, deleted when
no longer wanted by uid — and what the owner does not own never touched."""

from __future__ import annotations

import copy
from typing import Any

from devtools.fake_kube import FakeKubeApi
from streamops.control.workers.children import annotations_patch, ensure_owned, ensure_service, roll_pod
from streamops.control.workers.restarts import BUILT_FOR_ANNOTATION
from streamops.kube.naming import MANAGED_ANNOTATIONS_ANNOTATION, SPEC_HASH_ANNOTATION

OWNER = "owner-uid"


def owned(kind: str, name: str, owner: str = OWNER, **rest: Any) -> dict[str, Any]:
    api_version = {"Pod": "v1", "Service": "v1", "Ingress": "networking.k8s.io/v1"}[kind]
    meta = {"name": name, "namespace": "media", "labels": {"app": "x"}, "annotations": {}}
    meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "LiveStream", "name": "cam", "uid": owner}]
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **rest}


def service(name: str = "cam-ingest", owner: str = OWNER, **spec: Any) -> dict[str, Any]:
    ports = [{"name": "rtmp", "port": 1935, "targetPort": 1935, "protocol": "TCP"}]
    return owned("Service", name, owner, spec={"type": "ClusterIP", "ports": ports, "selector": {"a": "b"}, **spec})


def test_a_missing_pod_is_created_with_the_generation_it_was_built_for():
    api = FakeKubeApi()
    pod = owned("Pod", "cam-ingest", spec={"containers": [{"name": "w", "image": "i"}]})
    roll = roll_pod(api, pod, None, OWNER, generation=4)
    assert roll.pod is not None and roll.change.action == "keep"
    stored = api.object("Pod", "media", "cam-ingest")
    assert stored is not None and stored["metadata"]["annotations"][BUILT_FOR_ANNOTATION] == "4"


def test_a_pod_no_longer_wanted_is_deleted_by_its_uid_and_one_not_ours_is_never_touched():
    api = FakeKubeApi()
    ours = api.add(owned("Pod", "cam-ingest", spec={"containers": []}))
    theirs = api.add(owned("Pod", "cam-backup", owner="someone-else", spec={"containers": []}))
    assert roll_pod(api, None, theirs, OWNER).pod == theirs
    roll_pod(api, None, ours, OWNER)
    deletes = [(c.name, c.body) for c in api.calls if c.verb == "delete"]
    assert deletes == [("cam-ingest", {"preconditions": {"uid": ours["metadata"]["uid"]}})]
    assert api.object("Pod", "media", "cam-backup") is not None


def test_a_service_is_created_then_patched_only_where_it_drifted_keeping_its_node_ports():
    api = FakeKubeApi()
    created = ensure_service(api, service(), None, OWNER)
    assert created is not None and api.object("Service", "media", "cam-ingest") is not None
    api.clear_calls()
    current = api.object("Service", "media", "cam-ingest")
    ensure_service(api, service(), current, OWNER)
    assert not api.writes, "nothing drifted"
    node_port = copy.deepcopy(current)
    node_port["spec"].update(type="NodePort")
    node_port["spec"]["ports"][0]["nodePort"] = 31935
    api.modify("Service", "media", "cam-ingest", {"spec": node_port["spec"]})
    ensure_service(api, service(type="LoadBalancer"), api.object("Service", "media", "cam-ingest"), OWNER)
    (patch,) = [c.body for c in api.writes]
    assert patch["spec"]["type"] == "LoadBalancer"
    assert patch["spec"]["ports"][0]["nodePort"] == 31935, "the allocated nodePort is kept"


def test_someone_elses_service_is_never_touched():
    api = FakeKubeApi()
    theirs = api.add(service(owner="someone-else", type="NodePort"))
    assert ensure_service(api, service(), theirs, OWNER) is None
    assert not api.writes


def test_annotations_we_set_before_and_no_longer_want_are_cleared_and_others_kept():
    current = {"annotations": {"a": "1", "b": "2", "theirs": "x", MANAGED_ANNOTATIONS_ANNOTATION: '["a", "b"]'}}
    assert annotations_patch({"annotations": {"a": "1"}}, current) == {"a": "1", "b": None}
    assert annotations_patch({"annotations": {"a": "1", "b": "2"}}, current) is None
    assert annotations_patch(
        {"annotations": {"a": "2"}}, {"annotations": {MANAGED_ANNOTATIONS_ANNOTATION: "junk"}}
    ) == {"a": "2"}


def test_a_hashed_child_is_patched_when_its_hash_differs_and_deleted_when_unwanted():
    api = FakeKubeApi()

    def ingress(digest: str) -> dict[str, Any]:
        obj = owned("Ingress", "cam", spec={"rules": [{"host": digest}]})
        obj["metadata"]["annotations"][SPEC_HASH_ANNOTATION] = digest
        return obj

    ensure_owned(api, ingress("h1"), None, "Ingress", OWNER)
    current = api.object("Ingress", "media", "cam")
    api.clear_calls()
    ensure_owned(api, ingress("h1"), current, "Ingress", OWNER)
    assert not api.writes, "same hash: nothing to write"
    ensure_owned(api, ingress("h2"), current, "Ingress", OWNER)
    assert [c.verb for c in api.writes] == ["patch"]
    stored = api.object("Ingress", "media", "cam")
    assert stored is not None and stored["spec"] == {"rules": [{"host": "h2"}]}
    ensure_owned(api, None, stored, "Ingress", OWNER)
    assert api.object("Ingress", "media", "cam") is None
