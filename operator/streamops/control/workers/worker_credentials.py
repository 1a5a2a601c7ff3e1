"""The operator's side of the stream's worker credential (contract.worker_credential): the header
it presents to a stream's workers, from the stream's Secret, read once and kept in memory (status
is read every 0.5 s per worker: no API request per read). Read again when a worker refuses it (the
Secret was re-created: a new value), and a missing one at most every MISSING_RETRY_SECONDS."""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable

from streamops.contract.worker_credential import AUTHORIZATION, CREDENTIAL_KEY, bearer, credential_secret_name
from streamops.kube.client import KubeApi
from streamops.kube.manifests import Manifest

MISSING_RETRY_SECONDS = 5.0

StreamKey = tuple[str, str]  # namespace, stream


def credential_of(secret: Manifest | None) -> bytes | None:
    """The credential a worker reads from the Secret's mounted file (stripped), None without one."""
    value = ((secret or {}).get("data") or {}).get(CREDENTIAL_KEY)
    if not value:
        return None
    credential = base64.b64decode(value).strip()
    return credential or None


def read_worker_credential(api: KubeApi, namespace: str, stream: str) -> bytes | None:
    return credential_of(api.get("Secret", namespace, credential_secret_name(stream)))


class WorkerCredentials:
    """The headers per stream; `read` fetches a stream's credential (in the API threads)."""

    def __init__(self, read: Callable[[str, str], Awaitable[bytes | None]]) -> None:
        self._read = read
        self._known: dict[StreamKey, bytes] = {}
        self._missing_at: dict[StreamKey, float] = {}

    async def headers(self, namespace: str, stream: str) -> dict[str, str]:
        """The header that presents the stream's credential ({} while it has none)."""
        key = (namespace, stream)
        credential = self._known.get(key)
        if credential is None:
            missing_at = self._missing_at.get(key)
            if missing_at is not None and time.monotonic() - missing_at < MISSING_RETRY_SECONDS:
                return {}
            credential = await self._read(namespace, stream)
            if credential is None:
                self._missing_at[key] = time.monotonic()
                return {}
            self._missing_at.pop(key, None)
            self._known[key] = credential
        return {AUTHORIZATION: bearer(credential)}

    def refused(self, namespace: str, stream: str) -> None:
        """A worker of the stream answered 401: read the Secret again before the next request."""
        self._known.pop((namespace, stream), None)

    def forget(self, namespace: str, stream: str) -> None:
        """The stream is gone."""
        self._known.pop((namespace, stream), None)
        self._missing_at.pop((namespace, stream), None)
