"""One client asking an HTTP server for one URL as fast as it can (issue 52's request flood): h2load
(nghttp2-client) over HTTP/1.1 keep-alive, reconnecting when the server closes a connection.

    with RequestFlood(url, connections=32, streams=8, where=lambda: netns.entered(lan)):
        ...                                        # the ingest's refusals and its feed, meanwhile

h2load's own summary is lost: with connections the server closes, its timed mode does not end by
itself, so it is stopped by PID (its session's group); count what the server answered instead (the
ingest's streamops_playback_requests_total, streamops_ingest_overload_refusals_total). `bound`:
coreutils' timeout kills it by then even if whoever started it never stops it.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable
from types import TracebackType
from typing import Self

from devtools.processes import stop_tree


class RequestFlood:
    """h2load at `url` from inside `where` (e.g. a network namespace: it inherits it) until stop()."""

    def __init__(
        self,
        url: str,
        *,
        connections: int = 64,
        streams: int = 1,
        bound: float = 300,
        where: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
    ) -> None:
        # -m > 1 on HTTP/1.1: that many requests pipelined on each connection.
        h2load = ["h2load", "--h1", "-c", str(connections), "-m", str(streams), "-n", "1000000000", url]
        self.argv = ["timeout", "-s", "KILL", f"{bound:g}", *h2load]
        self.where = where
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def start(self) -> Self:
        with self.where():
            self.process = subprocess.Popen(
                self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            stop_tree(self.process)
            self.process = None
