"""The relay process (`streamops-relay`, components/relay) as the shared pusher's child: started at
the first run that needs it, one for every target it carries. Commands (`open`, keys included;
`close`) go to its stdin, its events come back per run (`RelayRun.events`). When it exits every open
run ends as a target failure; the next run starts it again. Why: docs/design/shared-pusher.md,
"The relay"."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
from itertools import count
from typing import Any

from streamops.media.ffmpeg import FfmpegProcess
from streamops.media.pusher.relay_command import RelayOpen
from streamops.redaction import Redactor

RELAY = os.environ.get("STREAMOPS_RELAY", "streamops-relay")
EVENT_LINE_BYTES = 1 << 16  # an event is a few hundred bytes: longer is a broken child
GONE = {"event": "ended", "reason": "target-failed", "error": "the relay process exited"}

log = logging.getLogger("streamops.pusher")


def _said(line: str) -> None:
    """What the relay says besides its events (a feed's session boundaries, slow tries): logged."""
    log.info("relay: %s", line)


class RelayRun:
    """One run of one target in the relay: its events in order, the last an `ended`."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.ended = False


class RelayProcess:
    def __init__(self, binary: str = RELAY) -> None:
        self.binary = binary
        self.process: FfmpegProcess | None = None
        self.runs: dict[str, RelayRun] = {}
        self._ids = count(1)
        self._reader: asyncio.Task[None] | None = None
        self._gone: asyncio.Future[int | None] | None = None  # a process that exited, being reaped
        self._starting = asyncio.Lock()

    @property
    def available(self) -> bool:
        """Whether the binary is there (a worker run by hand without it keeps FFmpeg for every target)."""
        return shutil.which(self.binary) is not None

    def new_run_id(self, target: str) -> str:
        return f"{target}#{next(self._ids)}"

    async def _ensure(self) -> FfmpegProcess:
        async with self._starting:
            proc = self.process
            if proc is not None and proc.process is not None and proc.process.returncode is None:
                return proc
            proc = FfmpegProcess(
                "relay",
                [self.binary],
                Redactor(),
                log,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                on_stderr=_said,
            )
            await proc.start()
            self.process = proc
            self._reader = asyncio.create_task(self._read_events(proc), name="relay events")
            return proc

    async def open(self, command: RelayOpen) -> RelayRun:
        proc = await self._ensure()
        run = self.runs[command.run_id] = RelayRun(command.run_id)
        if not self._send(proc, command.line()):
            self._end(run, GONE)
        return run

    def close(self, run: RelayRun) -> None:
        if not run.ended and self.process is not None:
            self._send(self.process, json.dumps({"op": "close", "id": run.run_id}).encode() + b"\n")

    @staticmethod
    def _send(proc: FfmpegProcess, line: bytes) -> bool:
        process = proc.process
        if process is None or process.stdin is None or process.returncode is not None:
            return False
        try:
            process.stdin.write(line)
        except (ConnectionError, RuntimeError):
            return False
        return True

    def _end(self, run: RelayRun, event: dict[str, Any]) -> None:
        if not run.ended:
            run.ended = True
            run.events.put_nowait({**event, "id": run.run_id})
        self.runs.pop(run.run_id, None)

    async def _read_events(self, proc: FfmpegProcess) -> None:
        """Its events until its stdout ends or it exits (whichever shows first: a pipe end inherited
        elsewhere could hold the end of its stdout back), then every open run ends."""
        assert proc.process is not None and proc.process.stdout is not None
        stdout, exited = proc.process.stdout, asyncio.ensure_future(proc.process.wait())
        # What is there, not a line at a time: the relay writes each second's report (a line per
        # target) at once, read and dispatched here in one wake and one wait, not one per target.
        pending = b""
        try:
            while True:
                chunk_read = asyncio.ensure_future(stdout.read(EVENT_LINE_BYTES))
                await asyncio.wait({chunk_read, exited}, return_when=asyncio.FIRST_COMPLETED)
                if not chunk_read.done():
                    chunk_read.cancel()
                    break
                chunk = chunk_read.result()
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop() if chunk else b""  # the end: its last line, unended, counts too
                if len(pending) > EVENT_LINE_BYTES or any(len(line) > EVENT_LINE_BYTES for line in lines):
                    break  # a broken child
                for line in lines:
                    self._dispatch_line(line)
                if not chunk:
                    break
        except OSError:
            pass
        finally:
            exited.cancel()
            if self.process is proc:  # gone (its stdout ended first, maybe before it was reaped)
                self.process = None
                self._gone = asyncio.ensure_future(proc.stop(grace=1))  # reaped, by its PID
            for run in list(self.runs.values()):
                self._end(run, GONE)

    def _dispatch_line(self, line: bytes) -> None:
        if not line:
            return
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict) and isinstance(run_id := event.get("id"), str):
                self._dispatch(run_id, event)

    def _dispatch(self, run_id: str, event: dict[str, Any]) -> None:
        run = self.runs.get(run_id)
        if run is None:
            return
        if event.get("event") in ("ended", "refused"):
            self._end(run, {**event, "event": "ended", "reason": event.get("reason", "target-failed")})
        else:
            run.events.put_nowait(event)

    async def stop(self) -> None:
        """Close its stdin (it closes every target and exits), then stop it by its PID."""
        proc, self.process = self.process, None
        if self._gone is not None:
            with contextlib.suppress(Exception):
                await self._gone
        if proc is None or proc.process is None:
            return
        if proc.process.stdin is not None:
            with contextlib.suppress(Exception):
                proc.process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.process.wait(), 3)
        await proc.stop(grace=1)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 2)
