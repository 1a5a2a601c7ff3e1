"""A stream's quality set read from the operator's watch, and the stream its workers are built from
(control/shared/quality_sets.py)."""

from __future__ import annotations

from devtools.catalog import named_ladder, quality_set, stored_livestream
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.control.shared.quality_set_reads import read_quality_set
from streamops.control.shared.quality_sets import resolved


def put(api: FakeKubeApi, body: dict, namespace: str = "media") -> None:
    if body["kind"] == "QualitySet":
        body["metadata"]["namespace"] = namespace
    api.add(body)


def test_a_namespaced_set_is_read_from_the_streams_namespace_and_a_cluster_set_from_the_cluster() -> None:
    api = operator_view()
    put(api, quality_set("hd"), namespace="media")
    put(api, quality_set("hd", {"name": "720p", "height": 720, "videoBitrateKbps": 3000}), namespace="other")
    put(api, quality_set("default", {"name": "1080p", "height": 1080, "videoBitrateKbps": 6000}, cluster=True))
    own = read_quality_set(api, stored_livestream(transcoding=named_ladder("hd")))
    assert own is not None and not own.missing and own.reference == "QualitySet/hd"
    assert [r.name for r in own.renditions or ()] == ["360p", "180p"], "its own namespace's, not another's"
    cluster = read_quality_set(api, stored_livestream(transcoding=named_ladder("default", cluster=True)))
    assert cluster is not None and [r.name for r in cluster.renditions or ()] == ["1080p"]
    assert not [c for c in api.calls if c.source == "server"], "read from the watch, as the operator does"
    assert read_quality_set(api, stored_livestream()) is None, "a stream naming no set reads nothing"


def test_a_missing_set_says_where_it_was_looked_for_and_leaves_the_stream_as_it_is() -> None:
    api = operator_view()
    stream = stored_livestream(transcoding=named_ladder("sports"))
    lookup = read_quality_set(api, stream)
    assert lookup is not None and lookup.missing
    assert lookup.message("media").startswith("QualitySet sports in namespace media, named in ")
    assert "a running ingest keeps the ladder it has" in lookup.message("media")
    assert resolved(stream, lookup) is stream


def test_the_resolved_stream_carries_the_ladder_inline_as_if_the_user_had_written_it() -> None:
    api = operator_view()
    put(api, quality_set("hd"))
    named = stored_livestream(transcoding=named_ladder("hd"))
    inline = stored_livestream(transcoding={"renditions": quality_set()["spec"]["renditions"]})
    built = resolved(named, read_quality_set(api, named))
    assert built.spec.transcoding == inline.spec.transcoding
    assert built.spec.transcoding is not None and built.spec.transcoding.quality_set_ref is None
    assert named.spec.transcoding is not None and named.spec.transcoding.quality_set_ref is not None, "not changed"


def test_a_set_the_operator_cannot_parse_counts_as_missing_with_why() -> None:
    api = operator_view()
    put(api, {**quality_set("hd"), "spec": {"renditions": [{"name": "x", "height": 9999, "videoBitrateKbps": 1}]}})
    lookup = read_quality_set(api, stored_livestream(transcoding=named_ladder("hd")))
    assert lookup is not None and lookup.missing and lookup.problem and lookup.problem.startswith("cannot be used")
