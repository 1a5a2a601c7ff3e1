"""The origin expiry worker's contract (`streamops worker expire`): a one-shot Pod on a Recording's
claim that deletes the originals (keepOrigin) whose deleteAt has passed, because the operator cannot
reach a claim's files itself (objects in a bucket it deletes itself: control/storage/retention.py).
`ExpiryConfig` comes by the environment variable CONFIG_ENV; the Pod's phase says how it went
(Succeeded: every file is gone, already gone counting as gone)."""

from __future__ import annotations

from pydantic import Field, field_validator

from streamops.api.kube_model import KubeModel
from streamops.contract.recordings_claim import ORIGIN_SUFFIX, RECORDINGS_ROOT, relative_directory
from streamops.contract.worker import WorkerConfig

CONFIG_ENV = "STREAMOPS_EXPIRY_CONFIG"
ORIGINS_MAX = 500  # one Pod deletes at most this many (≈40 kB in its annotation); the next round takes the rest


class ExpiredOrigin(KubeModel):
    """An original to delete, and the sidecar of its video (which then says it expired)."""

    path: str = Field(description="The original's file, relative to the recordings root (…-origin.mp4).")
    sidecar: str | None = Field(default=None, description="Its video's JSON sidecar, relative to the root.")
    expired_at: str = Field(description="What the sidecar's origin.expiredAt is set to (UTC, ISO 8601).")

    @field_validator("path")
    @classmethod
    def _an_original(cls, path: str) -> str:
        path = relative_directory(path)
        if not path.endswith(f"{ORIGIN_SUFFIX}.mp4"):
            raise ValueError(f"path must name an original (…{ORIGIN_SUFFIX}.mp4): nothing else is deleted")
        return path

    @field_validator("sidecar")
    @classmethod
    def _a_sidecar(cls, sidecar: str | None) -> str | None:
        if sidecar is None:
            return None
        sidecar = relative_directory(sidecar)
        if not sidecar.endswith(".json"):
            raise ValueError("sidecar must name a video's .json sidecar")
        return sidecar


class ExpiryConfig(WorkerConfig):
    """What one origin expiry Pod deletes."""

    recordings_root: str = Field(default=RECORDINGS_ROOT, description="Where the recordings claim is mounted.")
    origins: list[ExpiredOrigin] = Field(min_length=1, max_length=ORIGINS_MAX)
