"""HTTP requests made from inside a Pod (`kubectl exec` of the worker image's python3): what a test
reads of a worker's internal face (the ingest's /status, /metrics), which nothing outside the pod
network reaches, without opening a way in for the test."""

from __future__ import annotations

import json
import subprocess
from typing import Any, Protocol

from streamops.contract.http import INTERNAL_HTTP_PORT
from streamops.contract.worker_credential import CREDENTIAL_FILE


class Kubectl(Protocol):
    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]: ...


def get_in_pod(cluster: Kubectl, namespace: str, pod: str, url: str, timeout: float = 5) -> str:
    """The body of a GET of `url` made by the Pod's main container, presenting the stream's worker
    credential as the worker's own readers do (read there from its mounted file: it never leaves the
    Pod, nor appears on a command line); raises OSError when it fails."""
    code = (
        "import pathlib, sys, urllib.request\n"
        f"credential = pathlib.Path({CREDENTIAL_FILE!r})\n"
        "headers = {'Authorization': 'Bearer ' + credential.read_text().strip()} if credential.exists() else {}\n"
        f"request = urllib.request.Request({url!r}, headers=headers)\n"
        f"sys.stdout.write(urllib.request.urlopen(request, timeout={timeout}).read().decode())\n"
    )
    result = cluster.kubectl("exec", "-n", namespace, pod, "--", "python3", "-c", code, check=False)
    if result.returncode != 0:
        raise OSError(f"GET {url} in Pod {namespace}/{pod}: {result.stderr.strip()[-300:]}")
    return result.stdout


def ingest_internal(cluster: Kubectl, namespace: str, stream: str, path: str) -> str:
    """A GET of the primary ingest's internal face (its /status, /metrics), from its own Pod."""
    return get_in_pod(cluster, namespace, f"{stream}-ingest", f"http://127.0.0.1:{INTERNAL_HTTP_PORT}{path}")


def ingest_status(cluster: Kubectl, namespace: str, stream: str) -> dict[str, Any]:
    return dict(json.loads(ingest_internal(cluster, namespace, stream, "/status")))
