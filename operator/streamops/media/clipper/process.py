"""The clipper process: `streamops worker clip` (and `python -m streamops.media.clipper`): serves
`/status` at once, cuts the one clip, and keeps answering until SIGTERM (its Pod deleted once the
operator wrote the Clip's final status)."""

from __future__ import annotations

import asyncio

from streamops.contract.clipper import CONFIG_ENV, ClipperConfig
from streamops.media.worker_process import Worker, worker_main


class ClipperProcess:
    def __init__(self, config: ClipperConfig) -> None:
        from streamops.media.clipper.clipper import Clipper

        self.config = config
        self.clipper = Clipper(config)

    def stop(self) -> None:
        self.clipper.stop()

    async def run(self) -> int:
        from streamops.media.small_http import serve

        clipper = self.clipper
        server = await serve(clipper.routes(), self.config.http_host, self.config.http_port, None)  # type: ignore[arg-type]
        job = asyncio.create_task(clipper.run())
        try:
            await clipper.exit_requested.wait()
            return 0
        finally:
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
            await server.cleanup()


def parse_config(text: str) -> ClipperConfig:
    return ClipperConfig.model_validate_json(text)


def start(config: ClipperConfig) -> Worker:
    return ClipperProcess(config)


def main(argv: list[str] | None = None) -> int:
    what = "Cut a clip out of a stream's DVR window into an MP4 video."
    return worker_main(argv, "clip", CONFIG_ENV, parse_config, start, what)
