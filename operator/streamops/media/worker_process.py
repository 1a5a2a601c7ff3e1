"""How every worker process starts: `streamops worker ingest|record|push [--config FILE] [-v]`.

One function, `worker_main()`, does for each worker what a worker process does before and around
its job: the standard arguments, logging, the configuration (`--config FILE`, else the worker's
environment variable; parsed into the worker's contract model), and the worker's coroutine run
with SIGTERM and SIGINT wired to its `stop()`. A configuration that cannot be read or is invalid
is one line on stderr and exit code 2, never a traceback.

Nothing here imports aiohttp or pydantic: the recorder serves HTTP only once its first FFmpeg
runs, and a standby recorder waits without pydantic (contract/standby.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

C = TypeVar("C")

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
CONFIG_ERROR_EXIT = 2


class Worker(Protocol):
    """What a worker process runs: `run()` until done (its exit code, None for 0); `stop()` is
    called on SIGTERM/SIGINT and makes `run()` end cleanly."""

    async def run(self) -> int | None: ...

    def stop(self) -> None: ...


class ConfigError(ValueError):
    """The configuration cannot be read or is invalid (the message is one line)."""


def utc_now() -> datetime:
    """The workers' wall clock (aware, UTC); `streamops.contract.worker.UtcTime` formats it."""
    return datetime.now(UTC)


def read_config_json(path: str | None, env: str) -> str:
    """The configuration's JSON text: `--config FILE`, else the environment variable."""
    if path:
        return Path(path).read_text()
    if env not in os.environ:
        raise ValueError(f"no configuration: pass --config FILE or set {env}")
    return os.environ[env]


def one_line(errors: Iterable[Mapping[str, Any]]) -> str:
    """A pydantic error's `errors()` as one line: `field.path: message; ...` (field names as in the JSON)."""
    problems = []
    for e in errors:
        where = ".".join(str(part) for part in e["loc"])
        problems.append(f"{where}: {e['msg']}" if where else e["msg"])
    return "; ".join(problems)


def load_config(path: str | None, env: str, parse: Callable[[str], C]) -> C:
    """The configuration from `path`, else from the environment variable `env`, parsed by `parse`
    (the worker's contract model). Raises ConfigError with a one-line message."""
    try:
        return parse(read_config_json(path, env))
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:  # pydantic's ValidationError is one; else no configuration at all, or not JSON
        errors = getattr(e, "errors", None)
        raise ConfigError(one_line(errors()) if callable(errors) else str(e).replace("\n", " ")) from None


def parse_arguments(prog: str, description: str, config_env: str, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", help=f"JSON config file (default: env {config_env})")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (FFmpeg's output too, redacted)")
    return parser.parse_args(argv)


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT)


async def run_until_stopped(start: Callable[[], Worker]) -> int:
    """Make the worker inside the running loop, wire SIGTERM/SIGINT to its `stop()`, run it."""
    worker = start()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, worker.stop)
    try:
        return await worker.run() or 0
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


def worker_main(
    argv: list[str] | None,
    name: str,
    config_env: str,
    parse_config: Callable[[str], C],
    start: Callable[[C], Worker],
    description: str = "",
) -> int:
    """`streamops worker <name>`: arguments, logging, the configuration (`--config FILE`, else the
    environment variable `config_env`) parsed by `parse_config`, then the worker `start` makes of
    it until it ends or is stopped. Exit code 2 for a configuration that cannot be used."""
    prog = f"streamops worker {name}"
    args = parse_arguments(prog, description, config_env, argv)
    setup_logging(args.verbose)
    try:
        config = load_config(args.config, config_env, parse_config)
    except ConfigError as e:
        print(f"{prog}: invalid configuration: {e}", file=sys.stderr, flush=True)
        return CONFIG_ERROR_EXIT
    return asyncio.run(run_until_stopped(lambda: start(config)))
