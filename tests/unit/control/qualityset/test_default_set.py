"""The default ClusterQualitySet: created when missing, never updated, none when disabled."""

from __future__ import annotations

import json

from devtools.fake_kube import FakeKubeApi
from streamops.api import ClusterQualitySet
from streamops.control.qualityset.default_set import default_quality_set, ensure_default_quality_set
from streamops.control.shared.settings import OperatorSettings


def test_created_when_missing_with_the_settings_ladder_and_left_alone_after() -> None:
    api, settings = FakeKubeApi(), OperatorSettings()
    assert ensure_default_quality_set(api, settings)
    created = api.object("ClusterQualitySet", "", "default")
    assert created is not None and "namespace" not in created["metadata"]
    parsed = ClusterQualitySet.model_validate(created)
    assert [(r.name, r.video_bitrate_kbps) for r in parsed.spec.tallest_first()] == [
        ("1080p", 6000),
        ("720p", 3000),
        ("480p", 1500),
        ("360p", 800),
    ]
    # An admin's edit stays: the operator only creates it.
    api.modify("ClusterQualitySet", "", "default", {"spec": {"renditions": created["spec"]["renditions"][1:]}})
    assert not ensure_default_quality_set(api, settings)
    assert len((api.object("ClusterQualitySet", "", "default") or {})["spec"]["renditions"]) == 3


def test_renamed_or_disabled_by_the_chart() -> None:
    house = {"name": "house", "renditions": [{"name": "720p", "height": 720, "videoBitrateKbps": 3000}]}
    renamed = OperatorSettings.from_env({"STREAMOPS_DEFAULT_QUALITY_SET": json.dumps(house)})
    manifest = default_quality_set(renamed)
    assert manifest is not None and manifest["metadata"]["name"] == "house"
    disabled = OperatorSettings.from_env({"STREAMOPS_DEFAULT_QUALITY_SET": ""})
    api = FakeKubeApi()
    assert default_quality_set(disabled) is None and not ensure_default_quality_set(api, disabled)
    assert api.writes == []
