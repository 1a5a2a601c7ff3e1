"""Reaching a cluster-internal URL from outside the cluster: `kubectl port-forward` to the Service
named by the URL's cluster DNS name, run as a child process listening on 127.0.0.1 only, on a port
it picks, and stopped by its PID when the command ends (also on ^C or an error).

kubectl, not a port-forward of our own: it speaks whatever the API server offers (WebSockets, SPDY),
follows the Service to a ready Pod and its target port, and uses the same kubeconfig and context.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlsplit, urlunsplit

from streamops.cli.command_error import CommandError

DEFAULT_PORTS = {"http": 80, "https": 443, "rtmp": 1935, "rtmps": 443}
START_SECONDS = 30.0
STOP_SECONDS = 5.0
RESOLVE_SECONDS = 2.0


def cluster_service(url: str) -> tuple[str, str, int] | None:
    """(Service, namespace, port) of a URL on a Service's cluster DNS name
    (`<service>.<namespace>.svc[.<cluster domain>]`), else None."""
    parts = urlsplit(url)
    labels = (parts.hostname or "").split(".")
    if len(labels) < 3 or labels[2] != "svc" or not labels[0] or not labels[1]:
        return None
    port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    if port is None:
        return None
    return labels[0], labels[1], port


def resolves(host: str) -> bool:
    """Whether `host` resolves from here (inside the cluster, a Pod's resolver knows cluster names),
    waiting at most RESOLVE_SECONDS for a slow resolver."""
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return bool(pool.submit(socket.getaddrinfo, host, None).result(timeout=RESOLVE_SECONDS))
    except (OSError, FutureTimeout):
        return False
    finally:
        pool.shutdown(wait=False)


def through(url: str, local_port: int) -> str:
    """`url` with its host and port replaced by the local end of a port-forward."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{local_port}"))


def kubectl_binary(given: str | None) -> str:
    found = shutil.which(given or "kubectl")
    if found is None:
        raise CommandError(f"{given or 'kubectl'} not found on PATH: port-forwarding needs kubectl (--kubectl PATH)")
    return found


class PortForward:
    """`kubectl port-forward -n NAMESPACE svc/SERVICE :PORT --address 127.0.0.1`."""

    def __init__(self, kubectl: str, namespace: str, service: str, port: int) -> None:
        self.argv = [
            kubectl, "port-forward", "-n", namespace, f"svc/{service}", f":{port}", "--address", "127.0.0.1",
        ]  # fmt: skip
        self.what = f"svc/{service} port {port} in namespace {namespace}"
        self.process: subprocess.Popen[str] | None = None
        self.local_port = 0

    def start(self, timeout: float = START_SECONDS) -> int:
        """The local port, once kubectl says it forwards."""
        self.process = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        ready = threading.Event()
        stdout, stderr = self.process.stdout, self.process.stderr
        assert stdout is not None and stderr is not None
        errors: list[str] = []

        def read_stdout() -> None:
            # Read to the end: kubectl prints a line per connection, and a full pipe would stall it.
            for line in stdout:
                if not ready.is_set() and line.startswith("Forwarding from 127.0.0.1:"):
                    self.local_port = int(line.split("127.0.0.1:", 1)[1].split()[0])
                    ready.set()
            ready.set()  # kubectl ended

        def read_stderr() -> None:
            for line in stderr:
                errors.append(line.strip())

        threading.Thread(target=read_stdout, daemon=True).start()
        threading.Thread(target=read_stderr, daemon=True).start()
        ready.wait(timeout)
        if not self.local_port:
            self.stop()
            said = next((e for e in errors if e), "") or f"no answer within {timeout:.0f} s"
            raise CommandError(f"kubectl port-forward to {self.what} failed: {said}")
        return self.local_port

    def stop(self) -> None:
        """SIGTERM to the child's PID, SIGKILL after STOP_SECONDS."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_SECONDS)

    def __enter__(self) -> PortForward:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
