"""The stream's worker credential, as both halves treat it: the operator generates one per stream
into the Secret `<stream>-worker-credential` and presents it to the stream's workers; every worker
Pod of the stream mounts it (CREDENTIAL_FILE), asks for it on its control and feed routes, and
presents it when it reads the ingest's feed or status. Never the stream key, never in argv, env,
logs, status, Events or metrics. Why one per stream: docs/design/surfaces.md ("The worker
credential"). No pydantic here: the standby recorder reads this before it has any.

Nor OpenSSL: `hmac` and `secrets` import `_hashlib`, which maps libcrypto (≈3.8 MiB of RSS, most
of the standby recorder's at rest beyond asyncio: docs/design/lean-workers.md). The constant-time
comparison is `_operator._compare_digest`, the C function `hmac.compare_digest` itself is when
Python has no OpenSSL; the generator imports `secrets` when it runs (the operator only)."""

from __future__ import annotations

from _operator import _compare_digest
from dataclasses import dataclass
from pathlib import Path

from streamops.contract.http import HEALTH_PATH, METRICS_PATH, READY_PATH

CREDENTIAL_DIR = "/var/run/secrets/streamops/worker-credential"
CREDENTIAL_KEY = "credential"  # the Secret's key, and the file's name in CREDENTIAL_DIR
CREDENTIAL_FILE = f"{CREDENTIAL_DIR}/{CREDENTIAL_KEY}"
AUTHORIZATION = "Authorization"
# token_urlsafe(32): 43 characters of [A-Za-z0-9_-] (256 random bits): nothing a header, an
# FFmpeg argument or an ffconcat token would need to escape.
GENERATED_BYTES = 32
# Open on every worker: the kubelet's probes, and /metrics (a scraper cannot hold one credential
# per stream; NetworkPolicy limits who reaches the port, and no series carries a secret).
OPEN_PATHS = frozenset({HEALTH_PATH, READY_PATH, METRICS_PATH})


def credential_secret_name(stream: str) -> str:
    return f"{stream}-worker-credential"


def generate_worker_credential() -> str:
    import secrets

    return secrets.token_urlsafe(GENERATED_BYTES)


def bearer(credential: bytes) -> str:
    """The Authorization header's value that presents `credential`."""
    return "Bearer " + credential.decode("ascii")


def read_credential(path: str | None) -> bytes | None:
    """The credential in a mounted Secret file (surrounding whitespace dropped), None when there is
    no usable one: no file configured, unreadable, empty, or not printable ASCII (it goes into an
    HTTP header). Read at every use: a re-created Secret reaches the running worker."""
    if not path:
        return None
    try:
        value = Path(path).read_bytes().strip()
    except OSError:
        return None
    if not value or not all(0x21 <= b <= 0x7E for b in value):
        return None
    return value


def authorized(presented: str | None, credential: bytes | None) -> bool:
    """Whether an Authorization header presents `credential`, compared in constant time (the
    time does not tell how much of a guess was right). No credential configured: nothing is."""
    if credential is None or presented is None:
        return False
    return _compare_digest(presented.encode("utf-8", "surrogateescape"), bearer(credential).encode())


@dataclass(frozen=True)
class CredentialCheck:
    """A worker's check of its control and feed requests, from its configured credential file."""

    credential_file: str | None

    def allows(self, path: str, presented: str | None) -> bool:
        return path in OPEN_PATHS or authorized(presented, read_credential(self.credential_file))

    def header(self) -> dict[str, str]:
        """What this worker presents to the stream's other workers ({} without a credential)."""
        credential = read_credential(self.credential_file)
        return {AUTHORIZATION: bearer(credential)} if credential is not None else {}
