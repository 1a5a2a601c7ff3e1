"""A webhook receiver for tests, demo and benchmarks: a real HTTP server (aiohttp) in its own process
that parses every request with the CloudEvents SDK, checks its Standard Webhooks signature against
the secrets it is given, and appends one JSON line per request to a log the test reads: the event,
whether the signature held, when it arrived. `--delay` answers slowly; `--status` answers with
another code. Run as a child process and stopped by PID (WebhookReceiver), so "the receiver is
down" is a real closed port.

    python -m devtools.media.webhook_receiver --host 127.0.0.1 --port P --log F --secret S [--delay 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat
from streamops.contract.webhook_event import verify

from devtools.processes import kill_group
from devtools.waits import eventually


def serve(args: argparse.Namespace) -> None:
    secrets = [s.encode() for s in args.secret]
    log = Path(args.log).open("a", buffering=1)  # noqa: SIM115 (open for the server's life)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        arrived = time.time()
        headers = dict(request.headers)
        try:
            event = from_http(HTTPMessage(headers={k.lower(): v for k, v in headers.items()}, body=body), JSONFormat())
            attributes = event.get_attributes()
            parsed: dict[str, Any] | None = {
                "id": attributes["id"],
                "type": attributes["type"],
                "source": attributes["source"],
                "subject": attributes.get("subject"),
                "sequence": attributes.get("sequence"),
                "data": event.get_data(),
            }
            error = None
        except Exception as e:  # the SDK refused it: recorded, answered 400
            parsed, error = None, f"{type(e).__name__}: {e}"
        entry = {
            "arrived": arrived,
            "event": parsed,
            "error": error,
            "verified": any(verify(headers, body, s) for s in secrets),
            # Which of its secrets verified it (a rotation signs with two), and how many signatures came.
            "verifiedWith": [i for i, s in enumerate(secrets) if verify(headers, body, s)],
            "signatures": len(headers.get("webhook-signature", "").split()),
            "contentType": headers.get("Content-Type"),
            "webhookId": headers.get("webhook-id"),
        }
        if args.delay:
            await asyncio.sleep(args.delay)
        log.write(json.dumps(entry, default=str) + "\n")
        return web.Response(status=400 if error else args.status, text="ok\n")

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    web.run_app(app, host=args.host, port=args.port, print=None, handle_signals=True, access_log=None)


class WebhookReceiver:
    """The receiver as a child process of the test (its own process group, stopped by PID)."""

    def __init__(
        self, host: str, port: int, log: Path, secrets: list[str], delay: float = 0.0, netns: str | None = None
    ) -> None:
        self.host, self.port, self.log, self.secrets, self.delay, self.netns = host, port, log, secrets, delay, netns
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def start(self) -> WebhookReceiver:
        command = [sys.executable, "-m", "devtools.media.webhook_receiver", "--host", self.host, "--port"]
        command += [str(self.port), "--log", str(self.log), "--delay", str(self.delay)]
        for s in self.secrets:
            command += ["--secret", s]
        if self.netns:
            command = ["ip", "netns", "exec", self.netns, *command]
        self.log.touch()
        self.proc = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL)

        def listening() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "webhook receiver exited"
            probe = ["ss", "-Hltn", f"sport = :{self.port}"]
            if self.netns:
                probe = ["ip", "netns", "exec", self.netns, *probe]
            return bool(subprocess.run(probe, capture_output=True, text=True).stdout.strip())

        eventually(listening, timeout=15, interval=0.1, what="webhook receiver listening")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            kill_group(self.proc.pid)
            self.proc.wait(timeout=5)
        self.proc = None

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def events(self) -> list[dict[str, Any]]:
        """The events received, in arrival order (duplicates included)."""
        return [e["event"] for e in self.entries() if e["event"] is not None]

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--secret", action="append", default=[])
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--status", type=int, default=200)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    serve(args)


if __name__ == "__main__":
    main()
