"""An encoder that reconnects as OBS does: when its connection is refused or drops, FFmpeg exits,
and a new one is started after a short backoff, until the caller stops it. `wait_live()` bounds the
whole effort and says plainly why when the stream never goes live.

    encoder = ReconnectingPublisher(lambda: Publisher(url, netns=lan)).start()
    encoder.wait_live(lambda: stream_is_live(), timeout=90, what="obs-studio")
    ...
    encoder.stop()

Why: a LiveStream's `Ready` means its Service routes to the ingest Pod, but each node's kube-proxy
programs the NodePort a moment later; a push in that moment is refused (docs/design/exposure.md).
OBS, and every encoder a user points at a stream, tries again; the demo's encoder must too.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

from devtools.media.peers import Publisher
from devtools.processes import Lifecycle
from devtools.waits import WaitTimeout, eventually


@dataclass(frozen=True)
class Backoff:
    """Delay before the n-th attempt after a failure: `first`, growing by `factor` up to `ceiling`
    (OBS waits a few seconds; a NodePort is usually programmed within one). A connection that held
    `held_seconds` counts as a success: the next drop starts again from `first`."""

    first: float = 0.5
    factor: float = 2.0
    ceiling: float = 4.0
    held_seconds: float = 10.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after `failures` failed attempts in a row (1 or more)."""
        return float(min(self.ceiling, self.first * self.factor ** max(0, failures - 1)))


class NeverLive(RuntimeError):
    """The stream did not go live in time, however often the encoder tried."""


class ReconnectingPublisher(Lifecycle):
    """Keeps one Publisher (made by `make`) running: a watcher thread starts a new one after the last
    exited, waiting `backoff` between attempts. `on_start(publisher)` is called for each one started
    (e.g. to record its PID); `attempts` counts them; `current` is the latest."""

    def __init__(
        self,
        make: Callable[[], Publisher],
        backoff: Backoff | None = None,
        on_start: Callable[[Publisher], None] | None = None,
    ) -> None:
        self.make = make
        self.backoff = backoff or Backoff()
        self.on_start = on_start
        self.attempts = 0
        self.failures = 0  # in a row: reset by a connection that held
        self.current: Publisher | None = None
        self.last_failure = ""  # what the last encoder that exited wrote (the reason it gave up)
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # stop() never races a start in the watcher
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.current.pid if self.current else None

    def start(self) -> Self:
        self._launch()
        self._watcher = threading.Thread(target=self._watch, name="reconnecting-publisher", daemon=True)
        self._watcher.start()
        return self

    def _launch(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            publisher = self.make()
            self.current = publisher
            self.attempts += 1
            publisher.start()
            if self.on_start is not None:
                self.on_start(publisher)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            publisher = self.current
            if publisher is None:
                self._stopping.wait(0.1)
                continue
            if publisher.pid is not None:
                # Waiting on the process (not a look at it every 0.1 s): OBS starts its reconnect on
                # the socket's error, and the encoder's exit is that error here.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    publisher.wait(0.1)
            if publisher.running:
                continue
            held = time.monotonic() - (publisher.started_at or time.monotonic())
            self.failures = 1 if held >= self.backoff.held_seconds else self.failures + 1
            publisher.stop()  # closes its log; nothing of it is left running
            self.last_failure = publisher.log_tail(1500)
            if self._stopping.wait(self.backoff.delay(self.failures)):
                return
            self._launch()

    def wait_live(
        self, is_live: Callable[[], bool], timeout: float, what: str = "the stream", interval: float = 0.5
    ) -> float:
        """Block until is_live() holds (asked every `interval` s), reconnecting meanwhile; the seconds
        it took. NeverLive after `timeout` seconds, with the attempts made and the encoder's last words."""
        began = time.monotonic()
        try:
            eventually(is_live, timeout=timeout, interval=interval, what=f"{what} live")
        except WaitTimeout:
            url = self.current.url if self.current else "?/"
            target = url.rsplit("/", 1)[0]
            said = (self.last_failure or (self.current.log_tail(1500) if self.current else "")).replace(
                url, f"{target}/<key>"
            )  # the key is the URL's last part: never in a message
            raise NeverLive(
                f"{what} did not go live within {timeout:.0f} s: the encoder tried {self.attempts} times "
                f"to push to {target}/<key>, retrying with backoff. The last attempt said:\n{said}"
            ) from None
        return time.monotonic() - began

    def detach(self) -> None:
        """Stop reconnecting and leave the current encoder running (it outlives this process)."""
        self._stopping.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=30)

    def stop(self) -> None:
        self.detach()
        with self._lock, contextlib.suppress(Exception):
            if self.current is not None:
                self.current.stop()
