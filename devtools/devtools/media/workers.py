"""The streamops workers as local processes (`streamops worker ingest|record|push`), for the media
tests and the benchmarks. Each is stopped by PID, with every FFmpeg it started."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from streamops.contract.ingest import PLAYER_SETTINGS_PATH

from devtools.http_client import http_get, http_json, http_request
from devtools.ports import free_port
from devtools.processes import child_env, stop_tree
from devtools.versions import webrtc_bin, worker_ffmpeg_env
from devtools.waits import wait_for

# The stream's worker credential, as the operator's Secret gives it to every worker Pod of a stream
# (contract/worker_credential.py): every worker started here holds this one in its workdir, so the
# workers of a test reach each other; a test presents WORKER_AUTH where the operator would.
WORKER_CREDENTIAL = "media-tests-worker-credential-0123456789abcdef"
WORKER_AUTH = {"Authorization": f"Bearer {WORKER_CREDENTIAL}"}
CREDENTIALED_KINDS = ("ingest", "record", "push", "pushers")
# The egress guard refuses loopback unless allow-listed (docs/design/egress.md): the pull origins and
# restream targets of the media tests are on 127.0.0.1, as an admin's allow-list would let them be.
# 127.0.0.2 stays refused: the tests put what must not be reached there.
LOOPBACK_PEERS = {"allowCidrs": ["127.0.0.1/32"]}
GUARDED_KINDS = ("ingest", "push", "pushers")


def credential_file(workdir: Path) -> str:
    """WORKER_CREDENTIAL in a file of `workdir` (as a Secret's mount holds it), for a config's
    `credentialFile`."""
    workdir.mkdir(parents=True, exist_ok=True)
    return write_credential(workdir / "worker-credential")


def write_credential(path: Path) -> str:
    path.unlink(missing_ok=True)  # a second worker in the same workdir (0440: not writable)
    path.write_text(WORKER_CREDENTIAL + "\n")
    path.chmod(0o440)
    return str(path)


class Worker:
    """A `streamops worker <kind>` process with a JSON config, logs in a file. An ingest, recorder
    or pusher holds WORKER_CREDENTIAL unless its config names another `credentialFile` (or None)."""

    def __init__(
        self, kind: str, config: dict[str, Any], workdir: Path, http_port: int, env: dict[str, str] | None = None
    ) -> None:
        """`env`: added to the worker's environment (e.g. the S3 keys a Pod gets by secretKeyRef)."""
        self.kind, self.config, self.workdir, self.http_port = kind, config, workdir, http_port
        # Written by start(): a test may create the workdir between the two.
        self._credential = workdir / "worker-credential"
        if kind in CREDENTIALED_KINDS and "credentialFile" not in config:
            config["credentialFile"] = str(self._credential)
        if kind in GUARDED_KINDS and "egress" not in config:
            config["egress"] = LOOPBACK_PEERS
        self.env = env or {}
        self.config_path = workdir / f"{kind}.json"
        self.log_path = workdir / f"{kind}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def control(self) -> str:
        """Where its status, metrics and control are: its one HTTP port (the ingest: its internal one)."""
        return self.http

    def write_config(self) -> None:
        """The config file (and the credential file it names), as the worker reads them at start."""
        if self.config.get("credentialFile") == str(self._credential):
            write_credential(self._credential)
        self.config_path.write_text(json.dumps(self.config))

    def start(self) -> Worker:
        self.write_config()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamops", "worker", self.kind, "--config", str(self.config_path), "-v"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**child_env(), **worker_ffmpeg_env(), **self.env},
            )
        try:
            wait_for(self._healthy, timeout=15)
        except BaseException:  # never healthy: the caller has no worker to stop, so it is stopped here
            self.stop()
            raise
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.kind} worker exited {self.process.returncode}:\n{self.logs()[-3000:]}")
        return http_get(self.http + "/healthz", timeout=1)[0] == 200

    def status(self) -> dict[str, Any]:
        return http_json(self.control + "/status", headers=WORKER_AUTH)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        """Signal the worker's group, KILL it after `timeout`; no FFmpeg it started outlives it
        (they run in sessions of their own: stopped by PID, as recorded before the signal)."""
        if self.process is None:
            return None
        return stop_tree(self.process, sig, timeout)


class Ingest(Worker):
    KEY = "test-key-0123456789abcdef"

    def __init__(self, workdir: Path, webrtc: dict[str, Any] | None = None, **overrides: Any) -> None:
        """`webrtc`: the config's `webrtc` (e.g. `{}` for the defaults); with it the ingest gets free
        ports.webrtcUdp/webrtcTcp and runs streamops-webrtc (built here on first use)."""
        self.ports = {
            "rtmp": free_port("tcp"),
            "srt": free_port("udp"),
            "http": free_port("tcp"),
            "internal": free_port("tcp"),
        }
        if webrtc is not None:
            self.ports |= {"webrtcUdp": free_port("udp"), "webrtcTcp": free_port("tcp")}
        key_file = workdir / "stream-key"
        key_file.write_text(self.KEY + "\n")
        config: dict[str, Any] = {
            "stream": "cam",
            "source": {"push": {"protocols": ["rtmp", "srt"]}},
            "ports": self.ports,
            "mediaDir": str(workdir / "media"),
            "streamKeyFile": str(key_file),
            "bindAddress": "127.0.0.1",
            "screenshots": {"intervalSeconds": 2},
            # WHIP and the publish page on the loopback HTTP port (no TLS here);
            # tests/unit/media/ingest/test_key_bearing.py covers the default, HTTPS only.
            "publishOverHttp": True,
        }
        if webrtc is not None:
            config["webrtc"] = webrtc
        config.update(overrides)
        self.ports = config["ports"]  # the test's own, when it passes ports (e.g. with rtmps)
        self.ports.setdefault("internal", free_port("tcp"))  # never the default 8081: tests run side by side
        env = {"STREAMOPS_WEBRTC": str(webrtc_bin())} if config.get("webrtc") is not None else {}
        super().__init__("ingest", config, workdir, self.ports["http"], env=env)

    def rtmp_url(self, key: str | None = None) -> str:
        return f"rtmp://127.0.0.1:{self.ports['rtmp']}/live/{key or self.KEY}"

    def rtmps_url(self, key: str | None = None, host: str = "127.0.0.1") -> str:
        return f"rtmps://{host}:{self.ports['rtmps']}/live/{key or self.KEY}"

    def srt_url(self, key: str | None = None) -> str:
        return f"srt://127.0.0.1:{self.ports['srt']}?mode=caller&passphrase={key or self.KEY}"

    @property
    def internal(self) -> str:
        """The internal face: feeds, status, metrics, viewers, the overlay switch, the backup uplink."""
        return f"http://127.0.0.1:{self.ports['internal']}"

    @property
    def control(self) -> str:
        return self.internal

    @property
    def feed_url(self) -> str:
        return self.internal + "/feed"

    @property
    def whip_url(self) -> str:
        return self.http + "/whip"

    @property
    def whep_url(self) -> str:
        return self.http + "/whep"

    def wait_live(self, timeout: float = 15) -> dict[str, Any]:
        return wait_for(lambda: (s := self.status())["live"] and s, timeout=timeout)

    def set_player(self, **settings: Any) -> int:
        """POST /player-settings (e.g. projection="vr360"), as the operator does: the HTTP status."""
        body = json.dumps(settings).encode()
        headers = {"Content-Type": "application/json", **WORKER_AUTH}
        return http_request("POST", f"{self.internal}{PLAYER_SETTINGS_PATH}", body, headers)[0]
