"""A warm recorder (LiveStream `recording.standby`): it serves HTTP at once, with no configuration,
and records from the moment `POST /start` brings one (a second `POST /start` with the same
configuration is answered like the first).

While it waits it holds only the HTTP server: pydantic, FFmpeg's command builders and the Recorder
(its /metrics written by hand: no prometheus-client) are imported by the first `POST /start` (≈0.2 s on an
idle machine, still well inside the ≤ 1 s start; the waiting process is ≈18 MiB instead of ≈39:
issues 15 and 53, docs/design/lean-workers.md)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from streamops.contract.http import RELEASE_PATH, START_PATH, STOP_PATH
from streamops.contract.standby import STANDBY_STATUS, StandbySettings
from streamops.contract.worker_credential import CredentialCheck
from streamops.media.small_http import METRICS_CONTENT_TYPE, Reply, Route, serve, worker_routes

if TYPE_CHECKING:
    from streamops.contract.recorder import RecorderConfig, RecorderStatus
    from streamops.media.recorder.recording import Recorder

log = logging.getLogger("streamops.recorder")


class Standby:
    """The standby process: `run()` serves HTTP until terminated, or hands over to the Recorder
    that `POST /start` starts (then until that one is terminated)."""

    def __init__(self, config: StandbySettings) -> None:
        self.config = config
        self.recorder: Recorder | None = None
        self.recording: asyncio.Task[None] | None = None
        self.exit_now = asyncio.Event()  # started (hand over to the recorder) or terminated
        self.terminated = asyncio.Event()

    def status(self) -> RecorderStatus | dict[str, object]:
        return self.recorder.status() if self.recorder else STANDBY_STATUS

    def ready(self) -> bool:  # a standby is ready to take a recording
        return self.recorder.ready() if self.recorder else True

    def stop(self) -> None:
        """SIGTERM/SIGINT."""
        self.terminated.set()
        self.exit_now.set()
        if self.recorder:
            self.recorder.request_exit()

    def start(self, wanted: RecorderConfig) -> None:
        from streamops.media.recorder.recording import Recorder

        recorder = Recorder(wanted)
        self.recorder, self.recording = recorder, asyncio.create_task(recorder.run())
        self.exit_now.set()  # hand over to the recorder's own lifecycle
        log.info("standby recorder started for %s", wanted.directory)

    def routes(self) -> dict[tuple[str, str], Route]:
        async def start(body: bytes) -> Reply:
            from streamops.contract.recorder import RecorderConfig

            try:
                # The standby knows where its storage and its credential are mounted: the Recording
                # names a directory in it.
                sent = RecorderConfig.model_validate_json(body)
                mounted = {
                    "recordings_root": self.config.recordings_root,
                    "credential_file": self.config.credential_file,
                }
                wanted = sent.model_copy(update=mounted)
            except ValueError as e:  # pydantic's ValidationError is one
                return Reply.json({"error": f"invalid recorder configuration: {e}"}, status=400)
            if self.recorder is not None:
                same = self.recorder.config.directory == wanted.directory
                return Reply.json(self.recorder.status().to_json_dict(), status=200 if same else 409)
            self.start(wanted)
            assert self.recorder is not None
            return Reply.json(self.recorder.status().to_json_dict())

        async def stop(_: bytes) -> Reply:
            if self.recorder is None:
                return Reply.json(STANDBY_STATUS)
            await self.recorder.stop_recording()
            return Reply.json(self.recorder.status().to_json_dict())

        async def release(_: bytes) -> Reply:
            # Handed over to a successor (docs/design/handover.md, Part 5): the Recorder's own answer.
            refused = "no recording to hand over" if self.recorder is None else self.recorder.hand_over()
            if refused is not None:
                return Reply.json({"error": refused}, status=409)
            assert self.recorder is not None
            return Reply.json(self.recorder.status().to_json_dict())

        def metrics() -> Reply:  # none before POST /start: then the Recorder's
            return Reply(200, self.recorder.metrics() if self.recorder else b"", METRICS_CONTENT_TYPE)

        routes = worker_routes(self.status, self.ready, metrics)
        return {**routes, ("POST", START_PATH): start, ("POST", STOP_PATH): stop, ("POST", RELEASE_PATH): release}

    async def run(self) -> int:
        check = CredentialCheck(self.config.credential_file)
        server = await serve(self.routes(), self.config.http_host, self.config.http_port, check)
        log.info("standby recorder listening on %s:%s", self.config.http_host, self.config.http_port)
        try:
            await self.exit_now.wait()
            if self.recorder is None or self.recording is None:
                return 0  # terminated while on standby
            if self.terminated.is_set():
                self.recorder.request_exit()
            from streamops.media.recorder.recording import run_until_exit

            return await run_until_exit(self.recorder, self.recording)
        finally:
            await server.cleanup()
