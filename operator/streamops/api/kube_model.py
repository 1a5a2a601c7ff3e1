"""`KubeModel`, the base of every API and contract model, in a module of its own: a worker's
contract builds on it without building the models of api/common.py (docs/design/lean-workers.md).
api.common re-exports it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class KubeModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are an error."""

    # defer_build: a model's validator is built on its first use, not at import; an operator that
    # never sees a Clip or a Broadcast never pays for their schemas (docs/design/operator-scale.md).
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True)

    def wire(self) -> dict[str, Any]:
        """The object as the API server stores it (camelCase, no unset optionals)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
