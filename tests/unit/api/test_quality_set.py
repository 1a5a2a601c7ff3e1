"""QualitySet and ClusterQualitySet: one Rendition model with the LiveStream's ladder, their CRDs'
scope and columns, and a LiveStream's qualitySetRef as a ladder."""

from __future__ import annotations

import pytest
from devtools.catalog import livestream, named_ladder, quality_set
from pydantic import ValidationError
from streamops.api import CLUSTER_QUALITY_SET, QUALITY_SET, ClusterQualitySet, LiveStream, QualitySet
from streamops.api.crd import crd_manifest
from streamops.api.livestream import Rendition


def test_a_set_holds_the_livestreams_own_renditions_tallest_first_as_its_ingest_encodes_them() -> None:
    ladder = [
        {"name": "360p", "height": 360, "videoBitrateKbps": 800},
        {"name": "720p", "height": 720, "videoBitrateKbps": 3000},
    ]
    qs = QualitySet.model_validate(quality_set("hd", *ladder))
    assert all(type(r) is Rendition for r in qs.spec.renditions)
    assert [r.name for r in qs.spec.tallest_first()] == ["720p", "360p"]
    stream = LiveStream.model_validate(livestream(transcoding={"renditions": ladder}))
    assert stream.spec.transcoding is not None
    assert qs.spec.tallest_first() == stream.spec.transcoding.tallest_first(), "one model, one order"


def test_a_set_needs_a_rendition_and_keeps_the_ladders_bounds() -> None:
    with pytest.raises(ValidationError):
        QualitySet.model_validate({**quality_set(), "spec": {"renditions": []}})
    seven = [{"name": f"r{i}", "height": 360, "videoBitrateKbps": 500} for i in range(7)]
    with pytest.raises(ValidationError):
        QualitySet.model_validate(quality_set("hd", *seven))
    with pytest.raises(ValidationError):
        QualitySet.model_validate(quality_set("hd", {"name": "tiny", "height": 100, "videoBitrateKbps": 300}))


def test_the_cluster_set_is_cluster_scoped_and_both_show_their_qualities_and_users() -> None:
    assert crd_manifest(CLUSTER_QUALITY_SET)["spec"]["scope"] == "Cluster" and not CLUSTER_QUALITY_SET.namespaced
    assert crd_manifest(QUALITY_SET)["spec"]["scope"] == "Namespaced" and QUALITY_SET.namespaced
    for kind in (QUALITY_SET, CLUSTER_QUALITY_SET):
        columns = crd_manifest(kind)["spec"]["versions"][0]["additionalPrinterColumns"]
        assert [c["jsonPath"] for c in columns][:2] == [".status.qualities", ".status.streams"]
    assert ClusterQualitySet.model_validate(quality_set("default", cluster=True)).metadata.namespace is None


def test_a_reference_is_a_ladder_and_excludes_inline_renditions() -> None:
    named = LiveStream.model_validate(livestream(transcoding=named_ladder("default", cluster=True)))
    assert named.spec.has_ladder and named.spec.transcoding is not None
    ref = named.spec.transcoding.quality_set_ref
    assert ref is not None and (ref.kind, ref.name) == ("ClusterQualitySet", "default")
    default_kind = LiveStream.model_validate(livestream(transcoding={"qualitySetRef": {"name": "hd"}}))
    assert default_kind.spec.transcoding and default_kind.spec.transcoding.quality_set_ref
    assert default_kind.spec.transcoding.quality_set_ref.kind == "QualitySet"
    assert not LiveStream.model_validate(livestream()).spec.has_ladder
    # What needed a rendition takes a named ladder as one.
    LiveStream.model_validate(livestream(transcoding=named_ladder(), recording={"type": "transcoded"}))
