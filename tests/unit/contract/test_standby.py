"""The warm recorder reads its StandbyConfig without pydantic (contract/standby.py, to stay small
while it waits): held here to the model the operator writes, and its idle /status to the model's."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from streamops.contract.recorder import RecorderStatus, StandbyConfig
from streamops.contract.standby import STANDBY_STATUS, StandbySettings, is_standby, read_standby


def test_the_idle_status_is_the_models() -> None:
    assert RecorderStatus(state="standby").to_json_dict() == STANDBY_STATUS


@pytest.mark.parametrize(
    "config",
    [
        StandbyConfig(standby=True, recordings_root="/recordings", http_host="10.0.0.7", http_port=8081),
        StandbyConfig(standby=True, credential_file="/var/run/secrets/streamops/worker-credential/credential"),
        StandbyConfig(standby=True),
    ],
)
def test_what_the_operator_writes_reads_the_same(config: StandbyConfig) -> None:
    data = config.wire()
    assert is_standby(data)
    settings = StandbySettings(config.recordings_root, config.http_host, config.http_port, config.credential_file)
    assert read_standby(data) == settings


def test_defaults_are_the_models() -> None:
    model = StandbyConfig.model_validate({"standby": True})
    assert read_standby({"standby": True}) == StandbySettings(model.recordings_root, model.http_host, model.http_port)


@pytest.mark.parametrize(
    "data",
    [
        {"standby": True, "feedUrl": "http://x/feed"},  # a recorder's field: unknown to a standby
        {"standby": True, "httpPort": 70000},
        {"standby": True, "httpPort": -1},
        {"standby": True, "httpPort": None},
        {"standby": True, "httpHost": 5},
        {"standby": True, "recordingsRoot": ["/r"]},
        {"standby": True, "credentialFile": 7},
        {"standby": False},
    ],
)
def test_both_refuse(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        StandbyConfig.model_validate(data)
    with pytest.raises(ValueError):
        read_standby(data)


def test_only_standby_true_is_a_standby() -> None:
    assert not is_standby({"standby": False})
    assert not is_standby({"feedUrl": "http://x/feed"})
    assert not is_standby([{"standby": True}])
