"""Browser tier: headless Chromium (devtools.media.browser), confined to loopback, playing pages and media
that the tests serve on 127.0.0.1. Every process is stopped by PID."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.media.browser import Browser, Page
from devtools.netns import entered
from devtools.ports import LOOPBACK


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module (≈0.5 s to start); tests open their own pages. Not per session:
    a session-wide one stays up through the cluster tiers that run after this one (its GPU process
    alone used ≈5 % of a core there)."""
    with Browser() as started:
        yield started


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = browser.open()
    yield opened
    opened.close()


class StaticSite:
    """A directory served over http://127.0.0.1:<port>/ by the standard library, in a thread; with
    netns, on that namespace's loopback."""

    def __init__(self, root: Path, netns: str | None = None) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_QuietHandler, directory=str(root))
        with entered(netns) if netns else contextlib.nullcontext():  # the socket stays where it was made
            self._server = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="static-site", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "") -> str:
        return f"http://{LOOPBACK}:{self.port}/{path.lstrip('/')}"

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site_factory(tmp_path: Path) -> Iterator[Callable[..., StaticSite]]:
    """make(name, netns=None): a StaticSite on tmp_path / name, closed after the test."""
    made: list[StaticSite] = []

    def make(name: str = "site", netns: str | None = None) -> StaticSite:
        made.append(StaticSite(tmp_path / name, netns))
        return made[-1]

    yield make
    for site in made:
        site.close()


@pytest.fixture
def static_site(site_factory: Callable[..., StaticSite]) -> StaticSite:
    return site_factory()
