"""`kubectl explain` has something to say about every field of the three CRDs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from streamops.api import KINDS
from streamops.api.crd import crd_manifest


def _properties(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, schema) of every property below `node`: nested objects, array items' properties and
    structured additionalProperties (map values), recursively."""
    for name, prop in (node.get("properties") or {}).items():
        child = f"{path}.{name}" if path else name
        yield child, prop
        yield from _properties(prop, child)
    items = node.get("items")
    if isinstance(items, dict):
        yield from _properties(items, f"{path}[]")
    values = node.get("additionalProperties")
    if isinstance(values, dict):
        yield from _properties(values, f"{path}{{}}")


# The API server refuses a CRD whose metadata schema says anything but its type (a description
# included); kubectl explain shows ObjectMeta's own documentation there.
NOT_DESCRIBABLE = {"metadata"}


def undescribed(schema: dict[str, Any]) -> list[str]:
    """Paths of the properties without a description (the root object included)."""
    missing = [] if _described(schema) else ["<root>"]
    return missing + [
        path for path, prop in _properties(schema, "") if path not in NOT_DESCRIBABLE and not _described(prop)
    ]


def _described(node: dict[str, Any]) -> bool:
    description = node.get("description")
    return isinstance(description, str) and bool(description.strip())


def _schema(kind: Any) -> dict[str, Any]:
    return crd_manifest(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize("kind", KINDS, ids=[k.kind for k in KINDS])
def test_every_crd_field_has_a_description(kind):
    schema = _schema(kind)
    assert {"spec", "status"} <= set(schema["properties"])
    assert schema["properties"]["metadata"] == {"type": "object"}, "the API server accepts nothing more"
    missing = undescribed(schema)
    assert not missing, f"{kind.kind}: fields without a description (kubectl explain): {', '.join(missing)}"


def test_walk_reaches_array_items_and_map_values():
    schema = {
        "type": "object",
        "description": "root",
        "properties": {
            "list": {
                "type": "array",
                "description": "a list",
                "items": {"type": "object", "properties": {"bare": {"type": "string"}}},
            },
            "map": {
                "type": "object",
                "description": "a map",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"deep": {"type": "object", "properties": {"bare": {"type": "integer"}}}},
                },
            },
            "plain": {"type": "string", "description": "  "},
        },
    }
    assert undescribed(schema) == ["list[].bare", "map{}.deep", "map{}.deep.bare", "plain"]
