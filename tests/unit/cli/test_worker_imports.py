"""What each `streamops worker <role>` imports (cli/worker.py, docs/design/lean-workers.md): started
through the command line the worker image runs, with a valid configuration of the role, the worker
made but not run, in a fresh interpreter. No role imports the operator, the other verbs or a custom
resource's model it does not use; only the ingest imports aiohttp and prometheus-client (every other
role writes its /metrics itself: metrics_text.py); the standby recorder imports no pydantic until
`POST /start`, nor OpenSSL while it waits; the pushers, overlay renderer and origin expiry map no
OpenSSL (their hashlib is CPython's own)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_get
from devtools.ports import free_port
from devtools.processes import stop_tree
from devtools.waits import wait_for
from devtools.worker_start_probe import MADE_ONLY
from streamops.cli.worker import NO_OPENSSL_HASHES, WORKERS

# The role made, not run (devtools.worker_start_probe), then the modules it loaded and the OpenSSL
# libraries it mapped.
PROBE = (
    MADE_ONLY
    + """
maps = open("/proc/self/maps").read().splitlines()
openssl = sorted({line.split()[-1] for line in maps if "libssl" in line or "libcrypto" in line})
print(json.dumps({"code": code, "modules": sorted(sys.modules), "openssl": openssl}))
"""
)

API = "streamops.api."
CRD_MODELS = tuple(
    API + name
    for name in (
        "common",
        "livestream",
        "recording",
        "restream",
        "clip",
        "broadcast",
        "kinds",
        "webhook",
        "quality_set",
    )
)
# Never in a worker: the operator, its Kubernetes client, the other verbs, the CRD generator.
NEVER = (
    "kopf",
    "streamops.control",
    "streamops.kube",
    "streamops.cli.playback",
    "streamops.cli.stats",
    "streamops.cli.video",
    "streamops.api.crd",
)

# OpenSSL's Python modules: libssl and libcrypto, 4–5 MiB of a waiting standby recorder's RSS.
OPENSSL = ("ssl", "_ssl", "_hashlib", "hmac", "hashlib", "secrets")
# What maps OpenSSL in a role that has hashlib without it (cli/worker.py NO_OPENSSL_HASHES): ≈3.5 MiB.
OPENSSL_LIBRARIES = ("ssl", "_ssl", "_hashlib")


def crd_models_but(*used: str) -> tuple[str, ...]:
    """Every custom resource's model module except the ones the role's contract uses for a field."""
    return tuple(m for m in CRD_MODELS if m.removeprefix(API) not in used)


# role: (worker kind, configuration (camelCase JSON, paths under {tmp}), modules it must not import)
ROLES: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "ingest": (
        "ingest",
        {"stream": "cam", "source": {"push": {"protocols": ["rtmp"]}}, "mediaDir": "{tmp}/media"},
        crd_models_but("common"),  # what its contract carries of a LiveStream: api.livestream_media
    ),
    "record-standby": (
        "record",
        {"standby": True, "recordingsRoot": "{tmp}", "httpPort": 1},
        (*CRD_MODELS, "aiohttp", "pydantic", "prometheus_client", "streamops.media.recorder.recording", *OPENSSL),
    ),
    "record": (
        "record",
        {
            "feedUrl": "http://127.0.0.1:1/feed",
            "recordingsRoot": "{tmp}",
            "directory": "rec",
            "reconnectWindowSeconds": 10,
            "maxSegmentSeconds": 60,
            "minDurationSeconds": 1,
            "httpPort": 1,
        },
        (
            "aiohttp",
            "prometheus_client",
            *crd_models_but("common", "recording"),
        ),  # Video (and Rendition: api.livestream_media)
    ),
    "push": (
        "push",
        {
            "feedUrl": "http://127.0.0.1:1/feed",
            "uri": "rtmp://127.0.0.1:1/live/x",
            "noAudioMode": "drop",
            "httpPort": 1,
        },
        ("aiohttp", "prometheus_client", *OPENSSL_LIBRARIES, *crd_models_but("common", "restream")),  # codecs, no-audio
    ),
    "pushers": (
        "pushers",
        {"stream": "cam", "privateDir": "{tmp}/private", "httpPort": 1},
        ("aiohttp", "prometheus_client", *OPENSSL_LIBRARIES, *crd_models_but("common", "restream")),  # codecs, no-audio
    ),
    "clip": (
        "clip",
        {
            "stream": "cam",
            "clip": "c",
            "playlistUrl": "http://127.0.0.1:1/dvr.m3u8",
            "start": "2026-01-01T00:00:00Z",
            "end": "2026-01-01T00:00:30Z",
            "title": "c",
            "recordingsRoot": "{tmp}",
            "directory": "ns/c",
            "httpPort": 1,
        },
        ("aiohttp", "prometheus_client", *crd_models_but("common", "recording", "clip")),  # Video, ClipMode
    ),
    "overlay": (
        "overlay",
        {"stream": "cam", "overlays": [], "directory": "{tmp}/overlays"},
        ("aiohttp", "prometheus_client", *OPENSSL_LIBRARIES, *CRD_MODELS),
    ),
    "expire": (
        "expire",
        {"recordingsRoot": "{tmp}", "origins": [{"path": "rec/v-origin.mp4", "expiredAt": "2026-01-01T00:00:00Z"}]},
        ("aiohttp", "prometheus_client", *OPENSSL_LIBRARIES, *CRD_MODELS),
    ),
}


def imported(kind: str, config: dict[str, Any], tmp: Path) -> tuple[list[str], list[str]]:
    """The modules the role made (not run) has loaded, and the OpenSSL libraries it has mapped."""
    path = tmp / f"{kind}.json"
    path.write_text(json.dumps(config).replace("{tmp}", str(tmp)))
    out = subprocess.run(
        [sys.executable, "-c", PROBE, kind, str(path)], capture_output=True, text=True, timeout=60, check=True
    )
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["code"] == 0, out.stderr[-2000:]
    return list(probe["modules"]), list(probe["openssl"])


def test_every_worker_kind_is_probed():
    missing = set(WORKERS) - {kind for kind, _, _ in ROLES.values()}
    assert not missing, f"add {sorted(missing)} to ROLES: a configuration and what it must not import"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_worker_imports_only_what_its_role_uses(role: str, tmp_path: Path) -> None:
    kind, config, forbidden = ROLES[role]
    modules, openssl = imported(kind, config, tmp_path)
    found = sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in (*forbidden, *NEVER)))
    assert found == [], f"streamops worker {kind} ({role}) imports {found}"
    assert ("aiohttp" in modules) == (role == "ingest"), "the ingest serves HTTP with aiohttp; no other worker"
    if kind in NO_OPENSSL_HASHES:  # hashlib and hmac are in (pydantic.types imports secrets), CPython's own
        assert "hashlib" in modules and openssl == [], f"streamops worker {kind} maps {openssl}"


def test_a_waiting_standby_recorder_maps_no_openssl(tmp_path: Path) -> None:
    """The standby recorder at rest as the operator finds it, its /status asked with the credential
    and /metrics scraped: no OpenSSL library mapped (asyncio without `ssl`, the credential compared
    without `hmac`: cli/worker.py, contract/worker_credential.py); ≈23 → 18 MiB of RSS."""
    credential = tmp_path / "credential"
    credential.write_text("standby-test-credential")
    port = free_port()
    config = tmp_path / "record.json"
    address = {"httpHost": "127.0.0.1", "httpPort": port}
    config.write_text(
        json.dumps({"standby": True, "recordingsRoot": str(tmp_path), **address, "credentialFile": str(credential)})
    )
    command = [sys.executable, "-m", "streamops", "worker", "record", "--config", str(config)]
    log = tmp_path / "record.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        assert process.poll() is None, f"the standby exited {process.returncode}: {log.read_text()[-2000:]}"
        return http_get(base + "/healthz", timeout=1)[0] == 200

    try:
        wait_for(serving, timeout=20)
        presented = {"Authorization": "Bearer standby-test-credential"}
        status, body = http_get(base + "/status", timeout=5, headers=presented)
        assert status == 200 and json.loads(body)["state"] == "standby"
        assert http_get(base + "/metrics", timeout=5)[0] == 200
        maps = Path(f"/proc/{process.pid}/maps").read_text().splitlines()
        openssl = sorted({line.split()[-1] for line in maps if "libssl" in line or "libcrypto" in line})
        assert openssl == [], f"the waiting standby maps {openssl}"
    finally:
        stop_tree(process)
