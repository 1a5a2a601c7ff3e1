"""`streamops operator` as a real process of this machine (the cluster suite, the stack of the e2e
suite, the operator benchmark): started in a session of its own with its output in a log file,
ready once its liveness endpoint answers, stopped by PID (its group)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from devtools.http_client import http_ok
from devtools.ports import LOOPBACK, free_port
from devtools.waits import eventually


class OperatorProcess:
    """One operator process against `kubeconfig`, with `env` added to this process's environment
    (a copy, read at each start: a test changes it between restarts with `with_env`)."""

    def __init__(
        self,
        kubeconfig: Path,
        log: Path,
        env: Mapping[str, str] | None = None,
        *,
        args: Sequence[str] = ("--verbose",),
        cwd: Path | None = None,
        pid_file: Path | None = None,
    ) -> None:
        self.kubeconfig, self.log = Path(kubeconfig), Path(log)
        self.env: dict[str, str] = dict(env) if env is not None else {}
        self.args, self.cwd, self.pid_file = list(args), cwd, pid_file
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.metrics_port = 0

    @property
    def pid(self) -> int:
        assert self.process is not None, "operator not started"
        return self.process.pid

    @property
    def liveness(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/healthz"

    @property
    def metrics_url(self) -> str:
        """Its Prometheus endpoint (on loopback: the operator's default, 0.0.0.0:8080, is a Pod's)."""
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"

    def start(self, timeout: float = 60.0) -> OperatorProcess:
        self.port, self.metrics_port = free_port(), free_port()
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), **self.env}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        metrics = ["--metrics-address", LOOPBACK, "--metrics-port", str(self.metrics_port)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamops", "operator", *self.args, "--liveness", self.liveness, *metrics],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True, cwd=self.cwd,
            )  # fmt: skip
        if self.pid_file is not None:
            self.pid_file.write_text(str(self.process.pid))
        eventually(self._healthy, timeout=timeout, interval=0.2, what="operator liveness endpoint")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"operator exited with {self.process.returncode}:\n{self.logs()[-3000:]}")
        return http_ok(self.liveness, timeout=1)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM its group, SIGKILL after 20 s."""
        if self.running():
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    @contextlib.contextmanager
    def with_env(self, env: Mapping[str, str], *, restart: bool = True) -> Iterator[OperatorProcess]:
        """`env` over its settings until the block ends, then its own settings again (restarted).
        `restart`: restart with `env` now; False leaves that to the caller's next start."""
        saved = dict(self.env)
        self.env.update(env)
        try:
            if restart:
                self.restart()
            yield self
        finally:
            self.env.clear()
            self.env.update(saved)
            self.restart()

    def kill(self) -> None:
        """SIGKILL its group (a crash: no cleanup handler runs); start() brings it back."""
        if self.running():
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
