"""The operator's kopf indexes (handlers.py, INDEXES): one registration per table row, under the name
the handlers take it by, on the objects its row says, filing each object's entry as its row's
function makes it."""

from __future__ import annotations

import asyncio

import kopf
from devtools.catalog import livestream
from streamops.control import handlers
from streamops.control.runtime.indexes import broadcast_entry, stream_object_entry
from streamops.kube.naming import COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL


def registered() -> dict[str, kopf.IndexingHandler]:
    return {h.id: h for h in kopf.get_default_registry()._indexing.get_all_handlers()}


def test_each_row_is_one_index_under_its_name_on_its_objects() -> None:
    indexes = registered()
    assert sorted(indexes) == sorted(row.name for row in handlers.INDEXES)
    pods = indexes["worker_pods"]
    assert (pods.selector.group, pods.selector.version, pods.selector.any_name) == ("", "v1", "pods")
    assert pods.labels == {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: kopf.PRESENT}
    assert indexes["service_objects"].labels == {MANAGED_BY_LABEL: MANAGED_BY}
    assert indexes["ingest_endpoint_slices"].selector.group == "discovery.k8s.io"
    assert indexes["broadcasts"].labels is None and indexes["broadcasts"].selector.any_name == "broadcasts"


def test_an_index_files_what_its_rows_entry_makes() -> None:
    indexes = registered()
    stream = {**livestream(), "metadata": {"name": "cam", "namespace": "media", "uid": "u"}}
    broadcast = {"metadata": {"name": "final", "namespace": "media"}, "spec": {"streams": ["cam"]}}
    for name, body, entry in (
        ("stream_objects", stream, stream_object_entry),
        ("broadcasts", broadcast, broadcast_entry),
    ):
        filed = asyncio.run(indexes[name].fn(body=kopf.Body(body)))
        assert filed == entry(kopf.Body(body)) and filed
