"""Checks every kind makes of its spec: a spec the operator cannot use (pure: spec_reads.py reads
the objects it refers to)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from streamops.kube.manifests import Body, Manifest, plain

SPEC_REJECTED = "spec rejected by the operator"
ModelT = TypeVar("ModelT", bound=BaseModel)


def spec_problem(error: ValidationError) -> str:
    problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in error.errors())
    return f"{SPEC_REJECTED}: {problems}"


@dataclass(frozen=True)
class Parsed(Generic[ModelT]):
    """An object as a reconcile reads it: the plain body, its generation, and the model or the
    problem with its spec."""

    raw: Manifest
    generation: int | None
    obj: ModelT | None = None
    problem: str | None = None


def parse(model: type[ModelT], body: Body) -> Parsed[ModelT]:
    raw: Manifest = plain(body)
    generation = raw.get("metadata", {}).get("generation")
    try:
        return Parsed(raw, generation, model.model_validate(raw))
    except ValidationError as e:
        return Parsed(raw, generation, problem=spec_problem(e))
