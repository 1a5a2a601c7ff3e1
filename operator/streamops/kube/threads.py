"""The operator's API threads: a fixed pool that runs blocking API calls in priority order.

In a burst (hundreds of LiveStreams and Restreams created at once) the calls queue for the API
server. FIFO order made a stream wait behind every Restream created before it; streams first
(FIRST) lets encoders and viewers have their ingest while the Restreams, which follow a stream
anyway, wait. Within a priority, calls keep their order.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

FIRST, LATER = 0, 1
T = TypeVar("T")
_Job = tuple[int, int, Future[Any] | None, Callable[[], Any] | None]  # (priority, order, future, call)
_STOP = 2  # sorts after every call: queued work is done first unless cancelled


class ApiThreads:
    def __init__(self, threads: int, name: str) -> None:
        self._queue: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._order = itertools.count()
        self._threads = [threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        self._started = False
        self._closed = False
        self._guard = threading.Lock()

    def submit(self, priority: int, call: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._guard:
            if self._closed:
                raise RuntimeError("the API threads are shut down")
            if not self._started:  # threads on first use: an operator that never calls costs none
                for thread in self._threads:
                    thread.start()
                self._started = True
            self._queue.put((priority, next(self._order), future, call))
        return future

    def _serve(self) -> None:
        while True:
            _, _, future, call = self._queue.get()
            if future is None or call is None:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as e:  # handed to the awaiting coroutine, as an executor does
                future.set_exception(e)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        with self._guard:
            self._closed = True
            if cancel_futures:
                while True:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job[2] is not None:
                        job[2].cancel()
            for _ in self._threads:
                self._queue.put((_STOP, next(self._order), None, None))
        if wait and self._started:
            for thread in self._threads:
                thread.join()
