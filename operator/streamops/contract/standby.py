"""A warm recorder's side of `StandbyConfig` (contract.recorder), read without pydantic.

Why a second reader: a standby waits, often for hours, with nothing to do but answer /status; the
pydantic models cost it ≈13 MiB of its ≈39 MiB (smaps_rollup, issue 15: target ≤ 30 MiB), and it
needs them only once `POST /start` brings a RecorderConfig. `StandbyConfig` stays the definition the
operator writes; tests/unit/contract/test_standby.py holds this reader to it (same values, the same
refusals) and `STANDBY_STATUS` to `RecorderStatus(state="standby")`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamops.contract.http import HTTP_PORT
from streamops.contract.recordings_claim import RECORDINGS_ROOT

CONFIG_ENV = "STREAMOPS_RECORDER_CONFIG"  # a recorder's or a standby's configuration (contract.recorder)
DEFAULT_HTTP_HOST = "0.0.0.0"

# What a standby answers on GET /status: RecorderStatus(state="standby"), as JSON.
STANDBY_STATUS: dict[str, object] = {
    "state": "standby",
    "recording": False,
    "startedAt": None,
    "endedAt": None,
    "duration": None,
    "videos": [],
    "discarded": [],
    "lastError": None,
    "storedBytes": 0,
    "noSpace": False,
    "storageProblem": None,
    "storageError": None,
    "handover": None,
}


@dataclass(frozen=True)
class StandbySettings:
    recordings_root: str = RECORDINGS_ROOT
    http_host: str = DEFAULT_HTTP_HOST
    http_port: int = HTTP_PORT
    credential_file: str | None = None


def is_standby(data: object) -> bool:
    return isinstance(data, dict) and data.get("standby") is True


def read_standby(data: dict[str, Any]) -> StandbySettings:
    """A StandbyConfig's JSON object (camelCase, unknown fields refused, like the model).
    Raises ValueError with a one-line message."""
    known = {"standby", "recordingsRoot", "httpHost", "httpPort", "credentialFile"}
    if unknown := sorted(set(data) - known):
        raise ValueError(f"{unknown[0]}: Extra inputs are not permitted")
    if data.get("standby") is not True:
        raise ValueError("standby: Input should be True")
    root, host = data.get("recordingsRoot", RECORDINGS_ROOT), data.get("httpHost", DEFAULT_HTTP_HOST)
    port = data.get("httpPort", HTTP_PORT)
    for name, value in (("recordingsRoot", root), ("httpHost", host)):
        if not isinstance(value, str):
            raise ValueError(f"{name}: Input should be a valid string")
    if isinstance(port, bool) or not isinstance(port, int):
        raise ValueError("httpPort: Input should be a valid integer")
    if not 0 <= port <= 65535:
        raise ValueError("httpPort: Input should be between 0 and 65535")
    credential = data.get("credentialFile")
    if credential is not None and not isinstance(credential, str):
        raise ValueError("credentialFile: Input should be a valid string")
    return StandbySettings(recordings_root=root, http_host=host, http_port=port, credential_file=credential)
