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
    from streamops.media.small_http import Route

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

    def routes(self) -> dict[tuple[str, str], Route]:
        from streamops.media.small_http import Reply, worker_routes

        async def start(body: bytes) -> Reply:
            try:
                # The standby knows where its storage is mounted: the Recording names a directory in it.
                sent = RecorderConfig.model_validate_json(body)
                wanted = sent.model_copy(update={"recordings_root": self.config.recordings_root})
            except (ValueError, ValidationError) as e:
                return Reply.json({"error": f"invalid recorder configuration: {e}"}, status=400)
            if self.recorder is not None:
                same = self.recorder.config.directory == wanted.directory
                return Reply.json(self.status().to_json_dict(), status=200 if same else 409)
            self.start(wanted)
            return Reply.json(self.status().to_json_dict())

        async def stop(_: bytes) -> Reply:
            if self.recorder is not None:
                self.recorder.stop_requested.set()
                await self.recorder.stopped.wait()
            return Reply.json(self.status().to_json_dict())

        return {
            **worker_routes(self.status, self.ready, self.registry),
            ("POST", START_PATH): start,
            ("POST", STOP_PATH): stop,
        }

    async def run(self) -> int:
        from streamops.media.small_http import serve

        server = await serve(self.routes(), self.config.http_host, self.config.http_port)
        log.info("standby recorder listening on %s:%s", self.config.http_host, self.config.http_port)
        try:
            await self.exit_now.wait()
            if self.recorder is None or self.recording is None:
                return 0  # terminated while on standby
            if self.terminated.is_set():
                self.recorder.request_exit()
            return await run_until_exit(self.recorder, self.recording)
        finally:
            await server.cleanup()
