"""The ingest Pod's mount table (specs/mounts.py): for every kind of spec, each file and directory its
worker's configuration names is mounted by the Pod (a file among its Secret volume's items), and the
Pod mounts no volume into the ingest that the configuration does not name."""

from __future__ import annotations

import itertools
import posixpath
from typing import Any

import pytest
from devtools.catalog import stored_livestream
from pydantic import BaseModel
from streamops.contract.ingest import IngestConfig
from streamops.contract.worker import PRIVATE_DIR
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.shared.settings import OperatorSettings, PlaybackSettings

SOURCES: dict[str, dict[str, Any]] = {
    "push": {"push": {"protocols": ["rtmp", "srt"]}},
    "own-key": {"push": {"protocols": ["rtmp"], "streamKeySecretRef": {"name": "key", "key": "k"}}},
    "rtmps": {"push": {"protocols": ["rtmp", "rtmps"], "tls": {"secretName": "cert"}}},
    "whip": {"push": {"protocols": ["rtmp", "whip"]}},
    "backup": {"push": {"protocols": ["rtmp", "rtmps", "whip"], "tls": {"secretName": "cert"}, "backup": True}},
    "pull": {"pull": {"urls": ["rtmp://camera.example/live"]}},
    "pull-login": {
        "pull": {
            "urls": ["rtsp://camera.example/live"],
            "credentialsSecretRef": {"name": "login", "usernameKey": "u", "passwordKey": "p"},
        }
    },
    "pull-ca": {"pull": {"urls": ["rtmps://camera.example/live"], "tls": {"caSecretRef": {"name": "ca", "key": "c"}}}},
}
EXTRAS: dict[str, dict[str, Any]] = {
    "plain": {},
    "ice": {"playback": {"webrtc": {"iceServersSecretRef": {"name": "turn"}}}},
    "ice-whep": {"playback": {"webrtc": {"enabled": True, "iceServersSecretRef": {"name": "turn"}}}},
    "signed": {"playback": {"access": "signed"}},
    "overlays": {
        "transcoding": {"renditions": [{"name": "720p", "height": 720, "videoBitrateKbps": 2500}]},
        "overlays": [
            {"name": "score", "url": "https://w.example.com/", "left": 5, "top": 5, "width": 40, "height": 20}
        ],
    },
}
SETTINGS = {"default": OperatorSettings(), "whep": OperatorSettings(playback=PlaybackSettings(webrtc=True))}


def named_paths(value: object) -> list[str]:
    """Every *_file and *_dir the configuration (or a part of it) sets."""
    if not isinstance(value, BaseModel):
        return []
    found = []
    for name in type(value).model_fields:
        field = getattr(value, name)
        if name.endswith(("_file", "_dir")) and isinstance(field, str):
            found.append(field)
        found += named_paths(field)
    return found


def cases() -> list[Any]:
    out = []
    for (source, spec), (extra, more), (settings_name, settings) in itertools.product(
        SOURCES.items(), EXTRAS.items(), SETTINGS.items()
    ):
        stream = stored_livestream(source=spec, **more)
        for role in ("primary", "backup") if spec.get("push", {}).get("backup") else ("primary",):
            case = f"{source}/{extra}/{settings_name}/{role}"
            out.append(pytest.param(case, stream, role, settings, id=case))
    return out


@pytest.mark.parametrize(("case", "stream", "role", "settings"), cases())
def test_the_pod_mounts_exactly_what_the_configuration_names(case, stream, role, settings) -> None:
    pod = ingest_pod(stream, role, settings)
    container = pod["spec"]["containers"][0]
    config = IngestConfig.model_validate_json(container["env"][0]["value"])
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounted = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    used = set()
    for path in named_paths(config):
        if path in mounted:  # a directory
            used.add(path)
            continue
        directory, file = posixpath.split(path)
        assert directory in mounted, f"{case}: {path} is not mounted"
        items = mounted[directory].get("secret", {}).get("items")
        assert items is None or file in [i["path"] for i in items], f"{case}: {file} is not among {items}"
        used.add(directory)
    assert set(mounted) - used == {PRIVATE_DIR}, f"{case}: mounted for nothing"
