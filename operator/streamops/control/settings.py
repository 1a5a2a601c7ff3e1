"""Operator-wide settings, read once from the environment (the Helm chart sets them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, Field

ENV_PREFIX = "STREAMOPS_"


class OperatorSettings(BaseModel):
    worker_image: str = Field(default="streamops-worker:0.1.0", description="Image of the FFmpeg workers.")
    worker_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    resync_seconds: float = Field(
        default=30.0, gt=0, description="Level-based safety net: every object is reconciled this often."
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> OperatorSettings:
        values = {name: env[ENV_PREFIX + name.upper()] for name in cls.model_fields if ENV_PREFIX + name.upper() in env}
        return cls.model_validate(values)
