"""The Clip kind's API: what its CRD refuses at admission (its CEL rules; the cluster suite runs
them on the real API server: tests/cluster/test_validation.py) and the model's two ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from devtools.catalog import stored_clip
from pydantic import ValidationError
from streamops.api import CLIP
from streamops.api.crd import crd_manifest
from streamops.control.clip.specs.time_range import clip_range

NS = "studio"
CREATED = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


a_clip = partial(stored_clip, name="best", namespace=NS, created=CREATED.strftime("%Y-%m-%dT%H:%M:%SZ"))


def at(seconds: float) -> str:
    return (CREATED + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_crd_says_one_range_end_after_start_and_immutable():
    schema = crd_manifest(CLIP)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = {r["rule"]: r for r in schema["x-kubernetes-validations"]}
    assert "has(self.start) == has(self.end) && has(self.start) != has(self.lastSeconds)" in rules
    assert rules["self == oldSelf"]["reason"] == "FieldValueForbidden"
    assert any("timestamp(self.end) > timestamp(self.start)" in r for r in rules)
    for name in ("start", "end"):  # bounded: timestamp() on them stays within the CEL cost budget
        assert schema["properties"][name]["format"] == "date-time" and schema["properties"][name]["maxLength"] == 64
    assert schema["properties"]["lastSeconds"]["maximum"] == 14400
    assert schema["properties"]["mode"]["default"] == "keyframe"


def test_model_takes_either_range():
    assert a_clip(lastSeconds=60).spec.mode == "keyframe"
    both = a_clip(start=at(-60), end=at(-10), mode="exact")
    assert clip_range(both).end - clip_range(both).start == timedelta(seconds=50)
    last = clip_range(a_clip(lastSeconds=60))
    assert (last.start, last.end) == (CREATED - timedelta(seconds=60), CREATED)
    with pytest.raises(ValidationError, match="set either start and end, or lastSeconds"):
        a_clip(start=at(-60), end=at(-10), lastSeconds=5)
