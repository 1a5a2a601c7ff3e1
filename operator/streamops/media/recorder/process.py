"""The recorder process: `streamops worker record` (and `python -m streamops.media.recorder`).

A configured recorder records first and serves HTTP (and imports its server) only once its first
FFmpeg runs or the feed turned out not to be live, so a recorder started on a live feed writes
within ≈0.5 s; a standby (`standby: true`) serves HTTP at once and waits for `POST /start`,
without pydantic or the recorder's modules until then (contract/standby.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING

from streamops.contract.standby import CONFIG_ENV, StandbySettings, is_standby, read_standby
from streamops.media.worker_process import Worker, worker_main

if TYPE_CHECKING:
    from streamops.contract.recorder import RecorderConfig

HTTP_START_AFTER_SECONDS = 2.0  # serve HTTP by then even if the first recording attempt hangs


class RecorderProcess:
    """One Recording's recorder, from start to SIGTERM (after POST /stop it keeps serving /status)."""

    def __init__(self, config: RecorderConfig) -> None:
        from streamops.media.recorder.recording import Recorder

        self.config = config
        self.recorder = Recorder(config)

    def stop(self) -> None:
        self.recorder.request_exit()

    async def run(self) -> int:
        from streamops.media.recorder.recording import run_until_exit

        recorder = self.recorder
        recording = asyncio.create_task(recorder.run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(recorder.first_attempt.wait(), HTTP_START_AFTER_SECONDS)
        from streamops.contract.worker_credential import CredentialCheck
        from streamops.media.small_http import serve

        check = CredentialCheck(self.config.credential_file)
        server = await serve(recorder.routes(), self.config.http_host, self.config.http_port, check)
        try:
            return await run_until_exit(recorder, recording)
        finally:
            await server.cleanup()


def parse_config(text: str) -> RecorderConfig | StandbySettings:
    """A standby's configuration (`standby: true`, read without pydantic), else a RecorderConfig."""
    data = json.loads(text)
    if is_standby(data):
        return read_standby(data)
    from streamops.contract.recorder import RecorderConfig

    return RecorderConfig.model_validate(data)


def start(config: RecorderConfig | StandbySettings) -> Worker:
    if isinstance(config, StandbySettings):
        from streamops.media.recorder.standby import Standby

        return Standby(config)
    return RecorderProcess(config)


def main(argv: list[str] | None = None) -> int:
    what = "Record the live feed into MP4 videos."
    return worker_main(argv, "record", CONFIG_ENV, parse_config, start, what)
