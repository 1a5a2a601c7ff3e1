"""A stand-in Prometheus for the tests of the CLIs that ask one (cli/prometheus_api.py, cli/stats.py):
an HTTP server on 127.0.0.1 answering /api/v1/query_range as a test says."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StandIn:
    """An HTTP server on 127.0.0.1 answering /api/v1/query_range with `answer(query) -> (status, body)`;
    it records each request's path and Authorization header."""

    def __init__(self) -> None:
        self.answer: Callable[[dict[str, str]], tuple[int, bytes, dict[str, str]]] = lambda q: (200, b"{}", {})
        self.seen: list[tuple[str, str | None]] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen.append((self.path, self.headers.get("Authorization")))
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                status, body, headers = outer.answer(query)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # The client may hang up on purpose (past its size limit or its timeout).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        # Handler threads are joined on exit: none outlives its test to write into another's capture.
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> StandIn:
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def success(result: list[dict[str, Any]]) -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}}).encode()
