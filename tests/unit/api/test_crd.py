"""The CRDs in crds/ are generated from the models, structural, and say what users need."""

from __future__ import annotations

import json

import pytest
from devtools.versions import REPO
from streamops.api import KINDS, LIVESTREAM
from streamops.api.crd import crd_files, crd_manifest
from streamops.cli.streamops_command import main

CRDS = REPO / "crds"


def test_crds_directory_is_not_stale():
    assert main(["crds", "--out", str(CRDS), "--check"]) == 0, "crds/ is stale: run `make crds`"


def test_stale_check_notices_a_change(tmp_path):
    for name, text in crd_files().items():
        (tmp_path / name).write_text(text)
    assert main(["crds", "--out", str(tmp_path), "--check"]) == 0
    livestreams = tmp_path / "livestreams.streaming.streamops.dev.yaml"
    livestreams.write_text(livestreams.read_text().replace("maximum: 14400", "maximum: 99999"))
    assert main(["crds", "--out", str(tmp_path), "--check"]) == 1


def _walk(node, path=""):
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


@pytest.mark.parametrize("kind", KINDS, ids=[k.kind for k in KINDS])
def test_schema_is_structural(kind):
    schema = crd_manifest(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    text = json.dumps(schema)
    for forbidden in ('"$ref"', '"anyOf"', '"allOf"', '"additionalProperties": false', '"default": null'):
        assert forbidden not in text
    for path, node in _walk(schema):
        if isinstance(node, dict) and "additionalProperties" in node:
            # A map (annotations): string values, no properties beside it (structural schemas forbid both).
            assert node["additionalProperties"].get("type") == "string" and "properties" not in node, path
        if isinstance(node, dict) and isinstance(node.get("title"), str):
            raise AssertionError(f"{path} carries a pydantic title")
        if isinstance(node, dict) and "const" in node and not path.endswith("/properties"):
            raise AssertionError(f"{path}: the API server refuses `const` (a one-value Literal is an enum)")
        if isinstance(node, dict) and ("properties" in node or "items" in node):
            assert "type" in node, f"{path} has no type"
        if isinstance(node, dict) and node.get("type") == "string" and "x-kubernetes-validations" in node:
            assert "maxLength" in node, f"{path}: CEL on an unbounded string blows the cost budget"


@pytest.mark.parametrize("kind", KINDS, ids=[k.kind for k in KINDS])
def test_crd_names_and_subresources(kind):
    crd = crd_manifest(kind)
    names = crd["spec"]["names"]
    assert names["shortNames"] == [kind.short_name] and names["categories"] == ["streaming"]
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert any(c["name"] == "Ready" for c in version["additionalPrinterColumns"])


def test_livestream_columns_and_defaults():
    crd = crd_manifest(LIVESTREAM)
    columns = {c["name"]: c["jsonPath"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert columns["Live"] == ".status.live" and columns["Recording"] == ".status.recording"
    assert "Age" in columns
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["dvr"]["default"] == {"enabled": False, "durationSeconds": 3600}
    dvr = spec["properties"]["dvr"]["properties"]["durationSeconds"]
    assert (dvr["minimum"], dvr["maximum"], dvr["default"]) == (30, 14400, 3600)
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert "default" not in json.dumps(status), "status is observed, never defaulted"
