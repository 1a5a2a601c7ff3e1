"""What every worker shares: its HTTP face (port and paths), how it reads its configuration, the
base models of configurations and status answers, and the time format on the wire."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

from streamops.api.common import KubeModel

HTTP_PORT = 8080  # every worker's HTTP face on the pod network (status, probes, metrics, media)

STATUS_PATH = "/status"  # GET: the worker's typed status (below, per worker)
READY_PATH = "/readyz"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
START_PATH = "/start"  # POST (warm recorder): the RecorderConfig to record with
STOP_PATH = "/stop"  # POST (recorder): finalise every video and keep serving /status


def utc_seconds(moment: datetime) -> datetime:
    """UTC, to the second, as Kubernetes shows times (a naive time is taken as UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    """ISO 8601 UTC to the second, as Kubernetes writes times: 2026-11-22T08:15:03Z."""
    return utc_seconds(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


# A time on the wire: parsed as UTC to the second, written as `iso()`.
UtcTime = Annotated[datetime, AfterValidator(utc_seconds), PlainSerializer(iso, return_type=str, when_used="json")]


class WorkerConfig(KubeModel):
    """A worker's configuration: camelCase JSON, unknown fields refused (an operator and a worker
    of different versions fail loudly at start instead of ignoring a setting)."""

    def to_json(self) -> str:
        return json.dumps(self.wire(), sort_keys=True)


class WorkerStatus(BaseModel):
    """A worker's `/status` answer: camelCase JSON; unknown fields are ignored, so an operator
    reads what it knows from a newer worker."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_json_dict(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, mode="json")


def read_config_json(path: str | None, env: str) -> str:
    """The configuration's JSON text: `--config FILE`, else the environment variable."""
    if path:
        return Path(path).read_text()
    if env not in os.environ:
        raise ValueError(f"no configuration: pass --config FILE or set {env}")
    return os.environ[env]
