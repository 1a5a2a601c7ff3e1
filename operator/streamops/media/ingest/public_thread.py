"""The ingest's public face on an event loop of its own, on a thread of its own (issue 52): reading
and parsing viewers' requests, the caps and rate budgets and their refusals (load_caps.py), and
sending the answers (a file's sendfile included) happen there; only the route handlers of accepted
requests run on the worker's loop, where what they serve lives (the LL-HLS packagers, the playback
gate's counts, WebRTC). So a flood of requests, refused or not, is queued on the face's loop and
never between the worker's loop and the feed of the recorders and pushers: the worker's loop
spends on viewers only the handlers of what the caps let through. Why and the measurements:
docs/design/playback.md ("Viewer load and the recorder").
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

T = TypeVar("T")

# A body is read on the face's loop before its handler runs on the worker's (a WHIP or WHEP offer:
# ≈ 4-6 kB; the routes refuse one over 64 KiB by its Content-Length without reading it).
READ_AHEAD_BYTES = 64 * 1024


class LoopThread:
    """An asyncio event loop running on a daemon thread until `stop()`."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """`coroutine`'s result, run on this thread's loop, awaited from another loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def stop(self) -> None:
        """Stop the loop (its tasks are cancelled) and wait for the thread."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()


def handlers_on(loop: asyncio.AbstractEventLoop, here: Callable[[web.Request], bool]) -> Middleware:
    """The public face's innermost middleware: route handlers run on `loop` (the worker's); a request
    for which `here` is true keeps its handler on the face's loop (one that writes its response
    itself as it goes: a low-latency DASH segment, dash_chunks.py). On `loop` itself (a test's app
    served on the worker's loop) it changes nothing."""

    @web.middleware
    async def dispatch(request: web.Request, handler: Handler) -> web.StreamResponse:
        if asyncio.get_running_loop() is loop or here(request):
            return await handler(request)
        if request.body_exists and (request.content_length or 0) <= READ_AHEAD_BYTES:
            await request.read()  # the handler's own read() then returns it at once, on any loop

        async def handle() -> web.StreamResponse:
            return await handler(request)

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(handle(), loop))

    return dispatch
