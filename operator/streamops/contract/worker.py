"""What every worker shares: its HTTP face (port and paths, defined in `contract.http`), the base
models of configurations and status answers, and the time format on the wire."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from streamops.api.kube_model import KubeModel

# Re-exported (`as`): the contract's names, importable from here as before.
from streamops.contract.http import HEALTH_PATH as HEALTH_PATH
from streamops.contract.http import HTTP_PORT as HTTP_PORT
from streamops.contract.http import METRICS_PATH as METRICS_PATH
from streamops.contract.http import READY_PATH as READY_PATH
from streamops.contract.http import START_PATH as START_PATH
from streamops.contract.http import STATUS_PATH as STATUS_PATH
from streamops.contract.http import STOP_PATH as STOP_PATH

# A worker's time to exit after SIGTERM (its Pod's terminationGracePeriodSeconds); a recorder
# uploading to object storage gets more (recording/specs/worker_config.py, UPLOADER_GRACE_SECONDS).
POD_GRACE_SECONDS = 15
# A worker Pod's memory-backed emptyDir only its worker container mounts (the root is read-only):
# where FIFOs and files that hold secrets for FFmpeg go (the pusher's target, the feed credential).
PRIVATE_DIR = "/run/streamops/private"


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


class CredentialedConfig(WorkerConfig):
    """The configuration of a worker that the stream's worker credential guards and that presents
    it (contract.worker_credential): the ingest, the recorder (standby too) and the pusher."""

    credential_file: str | None = Field(
        default=None,
        description="The stream's worker credential (a mounted Secret file): asked of every request but the "
        "probes and /metrics, presented to the ingest. None: every such request is refused.",
    )


class WorkerStatus(BaseModel):
    """A worker's `/status` answer: camelCase JSON; unknown fields are ignored, so an operator
    reads what it knows from a newer worker."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_json_dict(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, mode="json")
