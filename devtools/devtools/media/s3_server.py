"""The S3-compatible server of the tests, the benchmarks and the demo: versitygw (posix backend), a
real process stopped by PID like the media peers (devtools.media.peers), plus the reference client
of the upload benchmark (curl with a presigned PUT URL).

    with S3Server(tmp_path / "s3") as s3:
        s3.create_bucket("recordings")
        s3.client().put_object(Bucket="recordings", Key="a", Body=b"x")
        s3.objects("recordings")  # {"a": 1}

TLS from a private CA per server, random root keys never on a command line, the same port, keys and
data across restart(), `lan_relay()` for Pods on the local cluster's LAN: docs/design/object-storage.md.
"""

from __future__ import annotations

import base64
import os
import secrets
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from streamops.api.recording import CA_KEY, CREDENTIAL_KEYS
from streamops.control.shared.tenancy import ALLOW_REFERENCE_LABEL

from devtools import pki
from devtools.address_plan import OUTSIDE_IP
from devtools.http_client import http_ok
from devtools.media.peers import _Peer
from devtools.ports import LOOPBACK, free_port, tcp_accepts
from devtools.versions import built, versitygw_bin
from devtools.waits import wait_for

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_REGION = "us-east-1"
LAN_RELAY_PORT = 9443  # where Pods reach the server on the local cluster's LAN (https://10.241.0.1:9443)
HEALTH_PATH = "/health"


def versitygw() -> Path:
    """The pinned binary, built by hack/build-versitygw.sh on first use (≈1-2 min; the script locks,
    so parallel sessions build it once)."""
    return built(versitygw_bin(), "build-versitygw.sh")


class S3Server(_Peer):
    """versitygw serving the directories under `workdir`/data as buckets.

    `endpoint` (https://127.0.0.1:<port>) with `ca_file`, `access_key`, `secret_key`, `region`;
    `client()` is a boto3 client for it. `hosts`: more names or addresses the certificate is valid
    for (127.0.0.1 and the LAN relay's 10.241.0.1 always are).
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        tls: bool = True,
        hosts: tuple[str, ...] = (),
        region: str = DEFAULT_REGION,
        port: int | None = None,
        start_timeout: float = 20.0,
        keep_alive: bool = False,
    ) -> None:
        self.dir = Path(workdir).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        super().__init__(self.dir / "versitygw.log")
        self.data_dir = self.dir / "data"
        self.tls = tls
        # versitygw closes every connection after one answer unless told (`--keep-alive`); AWS S3,
        # MinIO, Ceph RGW and R2 keep them open. Off for the tests (each request its own connection,
        # which a relay counts); the benchmark turns it on.
        self.keep_alive = keep_alive
        self.region = region
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self.access_key = "SO" + secrets.token_hex(9).upper()  # 20 characters, like AWS's key ids
        self.secret_key = secrets.token_urlsafe(30)  # 40 characters
        # A UNIX socket path has at most 107 bytes and pytest's tmp_path can be longer: a short
        # directory of its own (removed by stop(), made again by start() under the same name).
        self.socket_path = Path(tempfile.mkdtemp(prefix="streamops-s3-")) / "s3.sock"
        self._credentials_file = self.dir / "credentials.env"
        self.hosts = (LOOPBACK, OUTSIDE_IP, *hosts)
        self.ca_file: Path | None = None
        self._cert: Path | None = None
        self._key: Path | None = None
        if tls:
            self._make_certificates()

    def _make_certificates(self) -> None:
        certs = self.dir / "pki"
        self.ca_file = pki.new_ca(certs, "streamops-test-s3-ca")
        now = datetime.now(UTC)
        self._cert, self._key = pki.sign_server(
            certs, "s3", self.hosts, now - timedelta(hours=1), now + timedelta(days=2)
        )

    # --- where and how to reach it ------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{LOOPBACK}:{self.port}"

    def client(self, endpoint: str | None = None) -> S3Client:
        """A boto3 S3 client (path-style, SigV4, the private CA, no proxy from the environment) for
        `endpoint` (default: this server's on loopback; e.g. a LAN relay's to sign URLs for Pods)."""
        import boto3  # ≈0.4 s to import: only the tests that talk S3 pay it
        from botocore.config import Config

        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            proxies={},  # an empty mapping, not None: botocore would read *_proxy from the environment
            retries={"max_attempts": 2, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        )
        return boto3.client(
            "s3",
            endpoint_url=endpoint or self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            verify=str(self.ca_file) if self.ca_file else False,
            config=config,
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def objects(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Key -> size of every object in `bucket` under `prefix`, as the S3 API lists them."""
        found: dict[str, int] = {}
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                found[obj["Key"]] = obj["Size"]
        return found

    def credentials_secret(self, name: str, namespace: str, allow_reference: bool = True) -> dict[str, Any]:
        """A v1 Secret manifest with the root credentials, as S3Storage.credentialsSecret names it:
        labelled for use by specs (docs/design/tenancy.md) unless `allow_reference` is false."""
        values = dict(zip(CREDENTIAL_KEYS, (self.access_key, self.secret_key), strict=True))
        return _secret(name, namespace, values, allow_reference)

    def ca_secret(self, name: str, namespace: str, allow_reference: bool = True) -> dict[str, Any]:
        """A v1 Secret manifest with the CA bundle (key ca.crt), as S3Storage.caSecret names it
        (labelled as credentials_secret's)."""
        if self.ca_file is None:
            raise RuntimeError("S3Server(tls=False) has no CA")
        return _secret(name, namespace, {CA_KEY: self.ca_file.read_text()}, allow_reference)

    def lan_relay(self, netns: str, address: str = OUTSIDE_IP, port: int = LAN_RELAY_PORT) -> S3LanRelay:
        """A relay (not started) from `address`:`port` inside the network namespace `netns` to this
        server: on the local cluster, netns=cluster.network.outside and Pods use relay.endpoint."""
        return S3LanRelay(self, netns, address, port)

    # --- the process --------------------------------------------------------------------------------

    def command(self) -> list[str]:
        vgw = [str(versitygw()), "--port", f"{LOOPBACK}:{self.port}", "--port", str(self.socket_path)]
        if self._cert and self._key:
            vgw += ["--cert", str(self._cert), "--key", str(self._key)]  # absolute: relative ones were not found
        vgw += ["--region", self.region, "--health", HEALTH_PATH, "--quiet"]
        vgw += ["--keep-alive"] if self.keep_alive else []
        vgw += ["posix", str(self.data_dir)]
        # The keys go through the environment (ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY), read from
        # a 0600 file by a shell that then execs versitygw (same PID): never on a command line.
        return ["bash", "-c", 'set -a && . "$0" && exec "$@"', str(self._credentials_file), *vgw]

    def start(self) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_path.parent.mkdir(mode=0o700, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)  # a SIGKILLed server leaves its socket file behind
        self._credentials_file.touch(mode=0o600)
        self._credentials_file.write_text(
            f"ROOT_ACCESS_KEY_ID={shlex.quote(self.access_key)}\nROOT_SECRET_ACCESS_KEY={shlex.quote(self.secret_key)}\n"
        )
        try:
            return super().start()
        finally:
            self._credentials_file.unlink()  # read by then: no copy of the keys is left on disk

    def restart(self) -> Self:
        """Stop, then serve the same port, certificate and data again."""
        self.stop()
        return self.start()

    def stop(self, grace: float = 5.0) -> int | None:
        try:
            return super().stop(grace)
        finally:
            self._proc = None  # start() again: same port, directory and keys
            shutil.rmtree(self.socket_path.parent, ignore_errors=True)

    def _ready(self) -> None:
        ctx = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None

        def up() -> bool:
            self._check_alive()  # a taken port or a bad flag: fail now, with versitygw's own words
            return self.socket_path.exists() and http_ok(f"{self.endpoint}{HEALTH_PATH}", ctx, timeout=2)

        wait_for(up, self.start_timeout, 0.05, f"versitygw on {self.endpoint}")


class S3LanRelay(_Peer):
    """devtools.media.unix_relay inside network namespace `netns`: `address`:`port` there → the server's
    UNIX socket. `endpoint` is the same server as seen from that network (TLS from end to end; the
    certificate names 10.241.0.1). Survives the server's restarts (it connects per connection)."""

    def __init__(self, server: S3Server, netns: str, address: str, port: int, start_timeout: float = 10.0) -> None:
        super().__init__(server.dir / f"relay-{address}-{port}.log", netns=netns)
        self.server = server
        self.address = address
        self.port = port
        self.start_timeout = start_timeout

    @property
    def endpoint(self) -> str:
        return f"{self.server.scheme}://{self.address}:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "devtools.media.unix_relay",
            "--listen", f"{self.address}:{self.port}", "--to", str(self.server.socket_path),
        ]  # fmt: skip

    def _ready(self) -> None:
        def up() -> bool:
            self._check_alive()
            with self._where():
                return tcp_accepts(self.port, self.address)

        wait_for(up, self.start_timeout, 0.05, f"S3 relay on {self.address}:{self.port} in {self.netns}")

    def stop(self, grace: float = 5.0) -> int | None:
        try:
            return super().stop(grace)
        finally:
            self._proc = None


def _secret(name: str, namespace: str, values: dict[str, str], allow_reference: bool) -> dict[str, Any]:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if allow_reference:
        metadata["labels"] = {ALLOW_REFERENCE_LABEL: "true"}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque", "data": data}


# --- the benchmark's reference client --------------------------------------------------------------------


def curl_put_seconds(server: S3Server, bucket: str, key: str, path: str | os.PathLike[str]) -> float:
    """Seconds curl takes to PUT the file at `path` to bucket/key with a presigned URL: the reference
    ("a client copying the same file") that the recorder's upload throughput is compared with. The
    time is curl's own time_total (connection, TLS, request, answer), without its process start."""
    url = server.client().generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600)
    argv = ["curl", "--silent", "--show-error", "--fail", "--noproxy", "*", "--upload-file", os.fspath(path)]
    if server.ca_file is not None:
        argv += ["--cacert", str(server.ca_file)]
    # Expect: 100-continue would add a round trip curl makes for bodies over 1 MiB; boto3 does not.
    argv += ["--header", "Expect:", "--output", os.devnull, "--write-out", "%{time_total}", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        # The URL's query carries the signature and the access key id: say what failed without it.
        raise RuntimeError(f"curl PUT {bucket}/{key} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return float(done.stdout)
