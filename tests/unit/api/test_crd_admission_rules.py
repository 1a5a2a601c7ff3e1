"""Rules the API server enforces at admission, as the generated CRDs carry them: a stopped
Recording stays stopped (a CEL transition rule), and user paths have no dot segments (CEL, with a
Python twin in the models). The cluster suite (tests/cluster/test_validation.py) runs them on the
real API server."""

from __future__ import annotations

from typing import Any

import pytest
from devtools.catalog import livestream, recording
from pydantic import ValidationError
from streamops.api import LIVESTREAM, RECORDING, LiveStream, Recording
from streamops.api.crd import crd_manifest


def spec_schema(kind: Any) -> dict[str, Any]:
    schema = crd_manifest(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec: dict[str, Any] = schema["properties"]["spec"]
    return spec


def at(schema: dict[str, Any], *path: str) -> dict[str, Any]:
    for name in path:
        schema = schema["properties"][name]
    return schema


def test_stopped_is_a_transition_rule_that_points_to_a_new_recording():
    stopped = at(spec_schema(RECORDING), "stopped")
    assert stopped["type"] == "boolean" and stopped["default"] is False
    [rule] = stopped["x-kubernetes-validations"]
    # A transition rule (oldSelf): creating a stopped Recording stays allowed, only true -> false is not.
    assert "oldSelf" in rule["rule"]
    assert rule["reason"] == "FieldValueForbidden"
    assert "create a new Recording" in rule["message"]
    assert "cannot be set back to false" in stopped["description"]


@pytest.mark.parametrize(
    ("kind", "path", "segments"),
    [
        (RECORDING, ("storage", "pvc", "subPath"), "'..'"),
        (LIVESTREAM, ("playback", "ingress", "path"), "'.' or '..'"),
        (LIVESTREAM, ("playback", "httpRoute", "path"), "'.' or '..'"),
    ],
)
def test_path_fields_refuse_dot_segments_at_admission(kind, path, segments):
    field = at(spec_schema(kind), *path)
    [rule] = field["x-kubernetes-validations"]
    assert "'..'" in rule["rule"] and "oldSelf" not in rule["rule"]
    assert rule["message"].endswith(f"must not contain {segments} segments")
    assert field["maxLength"] <= 1024, "the split() rule's cost is bounded by the string's length"


@pytest.mark.parametrize("sub_path", ["..", "../x", "a/..", "a/../b", "a/b/../../.."])
def test_recording_model_refuses_a_backstep_in_sub_path(sub_path):
    with pytest.raises(ValidationError, match=r"subPath must not contain '\.\.' segments"):
        Recording.model_validate(recording(storage={"pvc": {"claimName": "videos", "subPath": sub_path}}))


@pytest.mark.parametrize("sub_path", ["team", "team/cams", "a..b", "..hidden", "v1.2/x", "./team"])
def test_recording_model_accepts_dots_inside_segments(sub_path):
    rec = Recording.model_validate(recording(storage={"pvc": {"claimName": "videos", "subPath": sub_path}}))
    assert rec.spec.storage and rec.spec.storage.pvc and rec.spec.storage.pvc.sub_path == sub_path


@pytest.mark.parametrize("route", ["ingress", "httpRoute"])
@pytest.mark.parametrize("path", ["/..", "/streams/../admin", "/streams/.", "/./cam"])
def test_livestream_model_refuses_dot_segments_in_route_paths(route, path):
    with pytest.raises(ValidationError, match=r"path must not contain '\.' or '\.\.' segments"):
        LiveStream.model_validate(livestream(playback={route: {"path": path}}))


@pytest.mark.parametrize("path", ["/", "/streams/cam", "/v1.2/live", "/a..b/.well-known"])
def test_livestream_model_accepts_route_paths_without_dot_segments(path):
    stream = LiveStream.model_validate(livestream(playback={"ingress": {"path": path}}))
    assert stream.spec.playback.ingress and stream.spec.playback.ingress.path == path
