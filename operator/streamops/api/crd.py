"""CustomResourceDefinitions generated from the pydantic models (`make crds`).

pydantic emits JSON Schema; Kubernetes wants a *structural* OpenAPI v3 schema: no $ref, no
anyOf-with-null for optionals, no additionalProperties beside properties, no titles. Defaults
of nested objects are the whole default object.
"""

from __future__ import annotations

import functools
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema, to_jsonable_python

from streamops.api.common import GROUP, VERSION
from streamops.api.kinds import KINDS, Kind

_DROPPED_KEYS = {"title", "$defs"}


class _FactoryDefaults(GenerateJsonSchema):
    """Also publish default_factory defaults (lists, nested objects) in the schema."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is None or schema.get("default_factory_takes_data"):
            return super().get_default_value(schema)
        value = factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            # The whole object, not {}: the API server validates a default (CEL included) before
            # it would fill in the nested defaults.
            return value.model_dump(by_alias=True, exclude_none=True, mode="json")
        return to_jsonable_python(value)


def _structural(node: Any, defs: dict[str, Any], keep_defaults: bool) -> Any:  # noqa: C901 (listed in ruff.toml: split it when next changed)
    if isinstance(node, list):
        return [_structural(item, defs, keep_defaults) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**target, **node}
    if "allOf" in node and len(node["allOf"]) == 1:
        node = {**node.pop("allOf")[0], **node}
        return _structural(node, defs, keep_defaults)
    if "anyOf" in node:
        # Optional[X] comes as anyOf [X, null]: the API server expresses optional by omission.
        variants = [v for v in node.pop("anyOf") if v.get("type") != "null"]
        if len(variants) != 1:
            raise ValueError(f"cannot express a union in a structural schema: {variants}")
        merged = {**variants[0], **node}
        if merged.get("default", ...) is None:
            del merged["default"]
        return _structural(merged, defs, keep_defaults)
    if node.get("default", ...) is None or (not keep_defaults and "default" in node):
        node.pop("default", None)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "additionalProperties":
            # false (a model refusing unknown fields) is the structural default; a schema is a map's values.
            if isinstance(value, dict):
                out[key] = _structural(value, defs, keep_defaults)
            continue
        if key == "properties":
            out[key] = {name: _structural(prop, defs, keep_defaults) for name, prop in value.items()}
        elif key in ("items",):
            out[key] = _structural(value, defs, keep_defaults)
        elif key == "const":
            out["enum"] = [value]  # a Literal of one value: the API server's schema has no `const`
        elif key == "description" and isinstance(value, str):
            out[key] = " ".join(value.split())  # a docstring's line breaks are not paragraphs
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def openapi_schema(model: type[BaseModel], keep_defaults: bool = True) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a model, as a CRD embeds it."""
    raw = model.model_json_schema(by_alias=True, schema_generator=_FactoryDefaults)
    schema: dict[str, Any] = _structural(raw, raw.get("$defs", {}), keep_defaults)
    return schema


def _model_of(annotation: Any) -> type[BaseModel]:
    """The model of a field annotated `Model` or `Model | None`."""
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    raise TypeError(f"not a model annotation: {annotation!r}")


_API_VERSION_DESCRIPTION = f"The versioned schema of this representation of an object: {GROUP}/{VERSION}."
_KIND_DESCRIPTION = "The REST resource this object represents, in CamelCase."


def crd_manifest(kind: Kind) -> dict[str, Any]:
    fields = kind.model.model_fields
    spec_model = _model_of(fields["spec"].annotation)
    status_model = _model_of(fields["status"].annotation)
    schema = {
        "type": "object",
        "description": kind.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": _API_VERSION_DESCRIPTION},
            "kind": {"type": "string", "description": _KIND_DESCRIPTION},
            # Nothing but the type: the API server refuses a CRD that says more about metadata (its
            # description included); kubectl explain shows ObjectMeta's own documentation.
            "metadata": {"type": "object"},
            "spec": openapi_schema(spec_model),
            # The operator writes status; defaults there would only hide missing observations.
            "status": openapi_schema(status_model, keep_defaults=False),
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/name": "streamops", "app.kubernetes.io/part-of": "streamops"},
        },
        "spec": {
            "group": GROUP,
            "scope": kind.scope,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": [kind.short_name],
                "categories": ["streaming"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": kind.printer_columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def crd_yaml(kind: Kind) -> str:
    header = "# Generated from the pydantic models in operator/streamops/api by `make crds`. Do not edit.\n"
    return header + yaml.safe_dump(crd_manifest(kind), sort_keys=False, width=100)


def crd_files() -> dict[str, str]:
    """File name → content of every CRD, as `crds/` should hold them."""
    return dict(_crd_texts())


@functools.cache
def _crd_texts() -> tuple[tuple[str, str], ...]:
    # Made once per process (≈ 0.6 CPU-s: the schemas and their YAML): the models do not change in
    # one, and the unit tests' stale checks ask for them three times in a row.
    return tuple((f"{kind.crd_name}.yaml", crd_yaml(kind)) for kind in KINDS)
