"""A warm recorder (LiveStream `recording.standby`): it serves HTTP at once, with no configuration,
and records from the moment `POST /start` brings one (a second `POST /start` with the same
configuration is answered like the first)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from streamops.contract.recorder import RecorderConfig, RecorderStatus, StandbyConfig
from streamops.contract.worker import START_PATH, STOP_PATH
from streamops.media.recorder.recording import Recorder, run_until_exit

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("streamops.recorder")


class Standby:
    """The standby process: `run()` serves HTTP until terminated, or hands over to the Recorder
    that `POST /start` starts (then until that one is terminated)."""

    def __init__(self, config: StandbyConfig) -> None:
        self.config = config
        self.registry = CollectorRegistry()
        self.recorder: Recorder | None = None
        self.recording: asyncio.Task[None] | None = None
        self.exit_now = asyncio.Event()  # started (hand over to the recorder) or terminated
        self.terminated = asyncio.Event()

    def status(self) -> RecorderStatus:
        return self.recorder.status() if self.recorder else RecorderStatus(state="standby")

    def ready(self) -> bool:  # a standby is ready to take a recording
        return self.recorder.ready() if self.recorder else True

    def stop(self) -> None:
        """SIGTERM/SIGINT."""
        self.terminated.set()
        self.exit_now.set()
        if self.recorder:
            self.recorder.request_exit()

    def start(self, wanted: RecorderConfig) -> None:
        recorder = Recorder(wanted, registry=self.registry)
        self.recorder, self.recording = recorder, asyncio.create_task(recorder.run())
        self.exit_now.set()  # hand over to the recorder's own lifecycle
        log.info("standby recorder started for %s", wanted.directory)

    def app(self) -> web.Application:
        from aiohttp import web

        from streamops.media.worker_http import worker_app

        async def start(request: web.Request) -> web.Response:
            try:
                # The standby knows where its storage is mounted: the Recording names a directory in it.
                sent = RecorderConfig.model_validate(await request.json())
                wanted = sent.model_copy(update={"recordings_root": self.config.recordings_root})
            except (ValueError, ValidationError, AttributeError) as e:
                return web.json_response({"error": f"invalid recorder configuration: {e}"}, status=400)
            if self.recorder is not None:
                same = self.recorder.config.directory == wanted.directory
                return web.json_response(self.status().to_json_dict(), status=200 if same else 409)
            self.start(wanted)
            return web.json_response(self.status().to_json_dict())

        async def stop(_: web.Request) -> web.Response:
            if self.recorder is not None:
                self.recorder.stop_requested.set()
                await self.recorder.stopped.wait()
            return web.json_response(self.status().to_json_dict())

        app = worker_app(self.status, self.ready, self.registry)
        app.router.add_post(START_PATH, start)
        app.router.add_post(STOP_PATH, stop)
        return app

    async def run(self) -> int:
        from streamops.media.worker_http import serve

        runner = await serve(self.app(), self.config.http_host, self.config.http_port)
        log.info("standby recorder listening on %s:%s", self.config.http_host, self.config.http_port)
        try:
            await self.exit_now.wait()
            if self.recorder is None or self.recording is None:
                return 0  # terminated while on standby
            if self.terminated.is_set():
                self.recorder.request_exit()
            return await run_until_exit(self.recorder, self.recording)
        finally:
            await runner.cleanup()
