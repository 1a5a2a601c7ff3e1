"""A stream's shared pusher: one process, one supervisor per target (worker.Pusher: the single
pusher's state machine, unchanged) and one relay (`streamops-relay`) that carries every rtmp(s)
target of an H.264/AAC feed on one read of the feed; the others (srt, a silent track to add, other
codecs) get an FFmpeg each. The targets come over `PUT /targets`, asked for with the stream's worker
credential like the warm recorder's `POST /start` (docs/design/shared-pusher.md).

    streamops worker pushers      (config: env STREAMOPS_PUSHER_CONFIG or --config FILE, JSON)

A set changes only the targets it names differently: a new one starts, one gone stops, one whose
push configuration changed restarts its own run (FFmpeg or relay connection), a new key or version
is written in place (used at the next connect). No other target's task, FFmpeg or socket is touched."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from streamops.contract.metrics import spec
from streamops.contract.pusher import (
    CONFIG_ENV,
    PUSHER_STATES,
    TARGETS_PATH,
    PusherSetStatus,
    PusherTarget,
    PusherTargets,
    SharedPusherConfig,
    TargetStatus,
)
from streamops.contract.worker_credential import CredentialCheck
from streamops.media.metrics_text import Sample, exposition
from streamops.media.pusher.relay_process import RelayProcess
from streamops.media.pusher.target_set import CA_DIR, KEYS_DIR, TargetFiles, set_change, target_config
from streamops.media.pusher.worker import Pusher
from streamops.media.small_http import METRICS_CONTENT_TYPE, Reply, Route, serve, worker_routes
from streamops.media.worker_process import worker_main

log = logging.getLogger("streamops.pusher")
STOP_GRACE_SECONDS = 5.0  # a stopped target's FFmpeg gets 2 s (Pusher.push), its probe its timeout


def write_private(path: Path, text: str) -> None:
    """`text` into `path`, 0600 from its creation, replacing any previous file at once (a reader
    sees the old or the new, never a part)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.new")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)


@dataclass
class Running:
    """A target as it runs: as last sent, its supervisor, the supervisor's task."""

    target: PusherTarget
    pusher: Pusher
    task: asyncio.Task[None]


class SharedPusher:
    def __init__(self, config: SharedPusherConfig) -> None:
        self.config = config
        self.stopping = asyncio.Event()
        self.running: dict[str, Running] = {}
        self._applying = asyncio.Lock()  # one set at a time, in the order they came
        self._private_dir = Path(config.private_dir) if config.private_dir else None
        self.relay = RelayProcess()  # started at the first run it carries

    # --- the set ------------------------------------------------------------------------------------
    def _files(self, target: PusherTarget) -> TargetFiles:
        assert self._private_dir is not None, "run() made the private directory"
        return TargetFiles.of(self._private_dir, target.id)

    def _write_files(self, target: PusherTarget) -> TargetFiles:
        files = self._files(target)
        if target.stream_key is not None:
            write_private(files.key, target.stream_key.get_secret_value())
        else:
            files.key.unlink(missing_ok=True)
        if target.tls_ca is not None:
            write_private(files.ca, target.tls_ca)
        else:
            files.ca.unlink(missing_ok=True)
        return files

    def _start(self, target: PusherTarget, previous: Pusher | None = None) -> None:
        files = self._write_files(target)
        assert self._private_dir is not None
        shared = self.config.model_copy(update={"private_dir": str(self._private_dir)})
        pusher = Pusher(target_config(shared, target, files), relay=self.relay)
        if previous is not None:
            pusher.carry_counters(previous)
        task = asyncio.get_running_loop().create_task(pusher.push(), name=f"push {target.name}")
        self.running[target.id] = Running(target, pusher, task)

    async def _stop(self, target_id: str) -> Pusher:
        running = self.running.pop(target_id)
        running.pusher.stop()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            async with asyncio.timeout(STOP_GRACE_SECONDS):
                await asyncio.shield(running.task)
        if not running.task.done():
            running.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running.task
        return running.pusher

    async def apply(self, wanted: PusherTargets) -> None:
        """Bring the running set to `wanted`, touching only the targets that differ."""
        async with self._applying:
            change = set_change({i: r.target for i, r in self.running.items()}, wanted)
            if change.empty:
                return
            # New targets and new keys first: stopping one (its FFmpeg's 2 s grace) holds no other back.
            for target in change.start:
                log.info("%s: target added", target.name)
                self._start(target)
            for target in change.update:
                self._write_files(target)  # the key is read again at the next connect
                self.running[target.id].target = target
            gone = [self.running[i].target for i in change.stop]
            stopped = await asyncio.gather(*(self._stop(i) for i in (*change.stop, *(t.id for t in change.restart))))
            for target in gone:
                files = self._files(target)
                files.key.unlink(missing_ok=True)
                files.ca.unlink(missing_ok=True)
                log.info("%s: target removed", target.name)
            for target, previous in zip(change.restart, stopped[len(change.stop) :], strict=True):
                log.info("%s: target changed: restarting its push", target.name)
                self._start(target, previous)

    # --- the HTTP face ------------------------------------------------------------------------------
    def status(self) -> PusherSetStatus:
        entries = []
        for running in sorted(self.running.values(), key=lambda r: r.target.name):
            target = running.target
            entry = running.pusher.status().model_dump()
            entries.append(TargetStatus(**entry, id=target.id, name=target.name, version=target.version))
        return PusherSetStatus(targets=entries)

    def metrics(self) -> Reply:
        """/metrics: the single pusher's series, one set of labels per target."""
        stream = self.config.stream
        states: list[Sample] = []
        sent: list[Sample] = []
        reconnects: list[Sample] = []
        failures: list[Sample] = []
        for running in sorted(self.running.values(), key=lambda r: r.target.name):
            pusher = running.pusher
            labels = {"stream": stream, "target": running.target.name}
            state = pusher.status().state  # as /status says it (live: bytes reach the target)
            states += [({**labels, "state": s}, 1.0 if s == state else 0.0) for s in PUSHER_STATES]
            sent.append((labels, pusher.bytes_sent))
            reconnects.append((labels, pusher.reconnects))
            failures.append((labels, pusher.target_failures))
        text = exposition(
            [
                (spec("streamops_pusher_state", "pusher"), states),
                (spec("streamops_pusher_sent_bytes_total", "pusher"), sent),
                (spec("streamops_pusher_reconnects_total", "pusher"), reconnects),
                (spec("streamops_pusher_target_failures_total", "pusher"), failures),
            ]
        )
        return Reply(200, text, METRICS_CONTENT_TYPE)

    def routes(self) -> dict[tuple[str, str], Route]:
        async def put_targets(body: bytes) -> Reply:
            try:
                wanted = PusherTargets.model_validate_json(body)
            except ValueError as e:  # pydantic's ValidationError is one; its message never holds a key's value
                return Reply.json({"error": f"invalid targets: {_without_input(e)}"}, status=400)
            if self.stopping.is_set():
                return Reply.json({"error": "the pusher is stopping"}, status=503)
            await self.apply(wanted)
            return Reply.json(self.status().to_json_dict())

        # Ready once it serves: the operator sends the targets to a ready Pod.
        routes = worker_routes(self.status, lambda: True, self.metrics)
        return {**routes, ("PUT", TARGETS_PATH): put_targets}

    # --- the process --------------------------------------------------------------------------------
    def stop(self) -> None:
        """SIGTERM/SIGINT: every target stops pushing (FFmpeg ends cleanly), then the HTTP face."""
        self.stopping.set()

    async def run(self) -> None:
        cfg = self.config
        made_dir = cfg.private_dir is None
        if cfg.private_dir:
            self._private_dir = Path(cfg.private_dir)
            self._private_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        else:
            self._private_dir = Path(tempfile.mkdtemp(prefix="streamops-push-"))
        server = await serve(self.routes(), cfg.http_host, cfg.http_port, CredentialCheck(cfg.credential_file))
        log.info("pusher of %s: waiting for targets", cfg.stream)
        try:
            await self.stopping.wait()
        finally:
            async with self._applying:
                await asyncio.gather(*(self._stop(i) for i in list(self.running)))
            await self.relay.stop()
            await server.cleanup()
            for sub in (KEYS_DIR, CA_DIR):
                shutil.rmtree(self._private_dir / sub, ignore_errors=True)
            if made_dir:
                shutil.rmtree(self._private_dir, ignore_errors=True)


def _without_input(error: ValueError) -> str:
    """A validation error's messages without the input they quote (which may be a key)."""
    errors = getattr(error, "errors", None)
    if not callable(errors):
        return "not a JSON object of targets"
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors(include_input=False))


def main(argv: list[str] | None = None) -> int:
    what = "Forward the stream's live feed as is to every target the operator sends."
    return worker_main(argv, "pushers", CONFIG_ENV, SharedPusherConfig.model_validate_json, SharedPusher, what)
