"""The overlay renderer (`streamops worker overlay`, docs/design/overlays.md): one confined headless
Chromium, one page per overlay with a viewport of the overlay's box and a transparent background,
captured every `captureIntervalSeconds`; a capture whose bytes changed replaces `<name>.png`
atomically, where the ingest's FFmpeg reads it for every frame. Only the overlays switched on
(`switch.json`, written by the ingest; none without it) have a page: one switched off has its page
closed and a fully transparent PNG, reported `disabled`. A page that cannot be loaded (net
error, HTTP error status, crash, no answer) is shown as a fully transparent PNG, reported `failing`
in `status.json` and loaded again after a backoff; the stream never waits for it. Every request of
the browser goes through the egress guard's proxy (streamops.egress.proxy, docs/design/egress.md):
a page whose document is refused there fails with "refused by policy". Chromium runs in its own
sandbox when the runtime lets it (not as root, user namespaces allowed), else without.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from streamops.contract.egress_policy import EgressPolicy
from streamops.contract.overlay import (
    CONFIG_ENV,
    STATUS_FILE,
    OverlayRendererConfig,
    OverlayRendererStatus,
    OverlayReport,
    OverlayState,
    RenderedOverlay,
    png_name,
)
from streamops.egress.proxy import GuardProxy
from streamops.media.overlay.cdp import CdpConnection, CdpError
from streamops.media.overlay.chromium import confined_env, confined_flags
from streamops.media.overlay.png import transparent_png, write_atomically
from streamops.media.overlay.switch import SwitchWatch
from streamops.media.worker_process import utc_now, worker_main

log = logging.getLogger("streamops.overlay")

LOAD_TIMEOUT_SECONDS = 15.0
CAPTURE_TIMEOUT_SECONDS = 5.0
START_TIMEOUT_SECONDS = 30.0
STATUS_REFRESH_SECONDS = 5.0
# Timers and painting of pages that are not in front go on at full rate: every overlay is "in front".
RENDERING_FLAGS = (
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
)
# Chromium's own sandbox needs user namespaces, which a restricted Pod's seccomp RuntimeDefault
# refuses: there it cannot start sandboxed ("No usable sandbox!") and runs with this instead, the
# Pod's securityContext (non-root, no capabilities, seccomp) confining it (docs/design/egress.md).
NO_SANDBOX = "--no-sandbox"


class PageFailed(Exception):
    """Why a page shows nothing (a message without the URL's query or credentials)."""


def shown_url(url: str) -> str:
    """The URL as messages show it: scheme, host, port and path only (a query may hold a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def url_host(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return f"[{host}]" if ":" in host else host


def allowed_hosts(config: OverlayRendererConfig) -> list[str]:
    """Every overlay URL's host and every overlay's allowedHosts, once each: the only hosts pages reach."""
    hosts: list[str] = []
    for overlay in config.overlays:
        for host in [url_host(overlay.url), *overlay.allowed_hosts]:
            if host and host not in hosts:
                hosts.append(host)
    return hosts


def sandbox_refused(stderr: str) -> bool:
    """Chromium's words when it cannot set up its sandbox (and exits)."""
    return "sandbox" in stderr.lower()


def devtools_descriptors(commands: int, answers: int) -> Callable[[], None]:
    """What the browser's child runs between fork and exec: `commands` as its fd 3, `answers` as its
    fd 4 (--remote-debugging-pipe). Two dup2 calls: nothing that could wait on a lock another thread
    of ours held when it forked, why preexec_fn is frowned upon."""

    def move() -> None:
        os.dup2(commands, 3)
        os.dup2(answers, 4)

    return move


class ChromiumProcess:
    """The browser: started with the confined flags in a throwaway profile, its requests through
    the proxy at `proxy`, in its own sandbox when `sandbox`; stopped by its PID."""

    def __init__(self, config: OverlayRendererConfig, proxy: str, sandbox: bool) -> None:
        self.config = config
        self.proxy = proxy
        self.sandbox = sandbox
        self.process: asyncio.subprocess.Process | None = None
        self.profile_dir: Path | None = None
        self.connection: CdpConnection | None = None
        self.stderr_tail: deque[str] = deque(maxlen=20)
        self._stderr_reader: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return (
            self.process is not None
            and self.process.returncode is None
            and self.connection is not None
            and self.connection.alive
        )

    async def start(self) -> CdpConnection:
        self.profile_dir = Path(tempfile.mkdtemp(prefix="streamops-overlay-chromium-"))
        flags = confined_flags(
            self.profile_dir,
            loopback=False,
            headless="--headless=new",
            extra_flags=[*RENDERING_FLAGS, *([] if self.sandbox else [NO_SANDBOX])],
            proxy=self.proxy,
            devtools_pipe=True,
        )
        # CDP on two pipes, the browser's fds 3 (it reads) and 4 (it writes): no DevTools port,
        # which with worker.hostNetwork anything on the node could drive (issue 52, finding 8).
        commands_read, commands_write = os.pipe()
        answers_read, answers_write = os.pipe()
        # Its ends above 4 first, so that moving them to 3 and 4 overwrites neither.
        theirs = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5) for fd in (commands_read, answers_write)]
        for fd in (commands_read, answers_write):
            os.close(fd)
        self.connection = CdpConnection()
        try:
            self.process = await asyncio.create_subprocess_exec(
                self.config.chromium,
                *flags,
                env=confined_env(self.profile_dir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its helpers (zygote, renderers, GPU) in a group of their own
                # Only inheritable descriptors reach it (Python makes none): its stdio and 3 and 4.
                close_fds=False,
                preexec_fn=devtools_descriptors(*theirs),
            )
        except BaseException:
            for fd in (commands_write, answers_read):
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        await self.connection.connect_pipe(commands_write, answers_read)
        self._stderr_reader = asyncio.create_task(self._read_stderr())
        try:
            await self.connection.call("Browser.getVersion", timeout=START_TIMEOUT_SECONDS)
        except CdpError as e:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), 2)
            if self.process.returncode is not None:
                await asyncio.sleep(0.1)  # its last words, for sandbox_refused()
                raise PageFailed(f"Chromium exited with {self.process.returncode}: {self.tail()}") from None
            raise PageFailed(f"Chromium did not answer on its DevTools pipe: {e}") from None
        return self.connection

    async def _read_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        async for line in self.process.stderr:
            text = line.decode(errors="replace").rstrip()
            self.stderr_tail.append(text)
            log.debug("chromium: %s", text)

    def tail(self) -> str:
        return " | ".join(list(self.stderr_tail)[-3:]) or "(no output)"

    @property
    def exited(self) -> bool:
        return self.process is not None and self.process.returncode is not None

    async def stop(self) -> None:
        if self.connection is not None:
            await self.connection.close()
            self.connection = None
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.process is not None:
            # What the browser left of its group (it waits for its helpers, so normally nothing).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self._stderr_reader is not None:
            self._stderr_reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stderr_reader
        if self.profile_dir is not None:
            shutil.rmtree(self.profile_dir, ignore_errors=True)
            self.profile_dir = None


class OverlayPage:
    """One overlay's page in the browser: a target with the box's viewport and no background.
    `proxy`: the egress guard its requests go through, asked why a document failed."""

    def __init__(self, connection: CdpConnection, overlay: RenderedOverlay, proxy: GuardProxy) -> None:
        self.connection = connection
        self.overlay = overlay
        self.proxy = proxy
        self.target_id: str | None = None
        self.session_id: str | None = None
        self.crashed = False
        self._documents: dict[str, int] = {}  # loaderId → HTTP status of the document it loaded
        self._document_urls: dict[str, str] = {}  # loaderId → the document's URL (after redirects)
        self._loaded = asyncio.Event()

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Network.requestWillBeSent" and params.get("type") == "Document":
            self._document_urls[params.get("loaderId", "")] = str(params.get("request", {}).get("url", ""))
        elif method == "Network.responseReceived" and params.get("type") == "Document":
            self._documents[params.get("loaderId", "")] = int(params.get("response", {}).get("status", 0))
        elif method == "Page.loadEventFired":
            self._loaded.set()
        elif method in ("Inspector.targetCrashed", "Inspector.detached"):
            self.crashed = True

    async def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 10) -> dict[str, Any]:
        return await self.connection.call(method, params, session_id=self.session_id, timeout=timeout)

    async def open(self) -> None:
        """Create the target, size it, make its background transparent and load the URL."""
        created = await self.connection.call("Target.createTarget", {"url": "about:blank"})
        self.target_id = created["targetId"]
        attached = await self.connection.call("Target.attachToTarget", {"targetId": self.target_id, "flatten": True})
        self.session_id = attached["sessionId"]
        self.connection.listen(self.session_id, self._on_event)
        for domain in ("Page", "Network", "Inspector"):
            await self.call(f"{domain}.enable")
        width, height = self.overlay.width, self.overlay.height
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        await self.call("Emulation.setDefaultBackgroundColorOverride", {"color": {"r": 0, "g": 0, "b": 0, "a": 0}})
        self._loaded.clear()
        shown = shown_url(self.overlay.url)
        navigated = await self.call("Page.navigate", {"url": self.overlay.url}, timeout=LOAD_TIMEOUT_SECONDS)
        why = self._proxy_note(navigated.get("loaderId", ""))
        if navigated.get("errorText"):
            raise PageFailed(f"{why or navigated['errorText']} loading {shown}")
        try:
            await asyncio.wait_for(self._loaded.wait(), LOAD_TIMEOUT_SECONDS)
        except TimeoutError:
            raise PageFailed(f"{shown} did not finish loading within {LOAD_TIMEOUT_SECONDS:g}s") from None
        status = self._documents.get(navigated.get("loaderId", ""), 0)
        if status >= 400:
            why = self._proxy_note(navigated.get("loaderId", ""))
            raise PageFailed(f"{why} loading {shown}" if why else f"HTTP {status} from {shown}")

    def _proxy_note(self, loader_id: str) -> str | None:
        """Why the proxy did not fetch the document (its last URL, after redirects), if it did not."""
        parts = urlsplit(self._document_urls.get(loader_id) or self.overlay.url)
        if not parts.hostname:
            return None
        return self.proxy.note(parts.hostname, parts.port or {"https": 443}.get(parts.scheme, 80))

    async def capture(self) -> bytes:
        if self.crashed:
            raise PageFailed(f"the page of {shown_url(self.overlay.url)} crashed")
        try:
            shot = await self.call(
                "Page.captureScreenshot", {"format": "png", "fromSurface": True}, timeout=CAPTURE_TIMEOUT_SECONDS
            )
        except CdpError as e:
            raise PageFailed(f"capturing {shown_url(self.overlay.url)}: {e}") from None
        return base64.b64decode(shot["data"])

    async def close(self) -> None:
        if self.session_id is not None:
            self.connection.listen(self.session_id, None)
        if self.target_id is not None and self.connection.alive:
            with contextlib.suppress(CdpError):
                await self.connection.call("Target.closeTarget", {"targetId": self.target_id}, timeout=5)


class OverlayRenderer:
    """The sidecar's worker: the browser, a task per overlay, and status.json."""

    def __init__(self, config: OverlayRendererConfig) -> None:
        self.config = config
        self.directory = Path(config.directory)
        self.reports: dict[str, OverlayReport] = {}
        self.switch = SwitchWatch(self.directory, [o.name for o in config.overlays])
        self.browser_failed = ""  # why the browser is not running, for overlays switched on meanwhile
        self.proxy = GuardProxy(config.egress or EgressPolicy(), allowed_hosts(config))
        # Chromium refuses to sandbox as root; otherwise tried until it says it cannot.
        self.sandbox = os.geteuid() != 0
        self.sandboxed: bool | None = None
        self._stopping = asyncio.Event()
        self._status_dirty = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    def set_state(self, name: str, state: OverlayState, message: str = "", captured: bool = False) -> None:
        previous = self.reports.get(name)
        report = previous.model_copy() if previous else OverlayReport(name=name, state=state)
        changed = previous is None or (previous.state, previous.message) != (state, message)
        report.state, report.message = state, message
        if captured:
            report.captures += 1
            report.updated_at = utc_now()
        self.reports[name] = report
        if changed:
            (log.warning if state == "failing" else log.info)("overlay %s: %s %s", name, state, message)
            self._status_dirty.set()

    def write_status(self) -> None:
        status = OverlayRendererStatus(
            written_at=utc_now(), overlays=list(self.reports.values()), sandboxed=self.sandboxed
        )
        write_atomically(self.directory / STATUS_FILE, status.model_dump_json(by_alias=True).encode())

    def show_nothing(self, overlay: RenderedOverlay) -> None:
        write_atomically(self.directory / png_name(overlay.name), transparent_png(overlay.width, overlay.height))

    def show_off(self, overlay: RenderedOverlay) -> None:
        """An overlay switched off: nothing drawn, reported "disabled" (once: not rewritten each tick)."""
        report = self.reports.get(overlay.name)
        if report is None or report.state != "disabled":
            self.show_nothing(overlay)
            self.set_state(overlay.name, "disabled")

    async def run(self) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        for overlay in self.config.overlays:
            self.show_nothing(overlay)
        self.switch.poll()
        for overlay in self.config.overlays:
            if overlay.name not in self.switch.on:
                self.show_off(overlay)
        status_task = asyncio.create_task(self._status_loop())
        proxy = await self.proxy.start()
        failures = 0
        try:
            while not self._stopping.is_set():
                browser = ChromiumProcess(self.config, proxy, self.sandbox)
                try:
                    connection = await browser.start()
                    failures = 0
                    self.sandboxed = self.sandbox
                    self._status_dirty.set()
                    await self._render_all(browser, connection)
                except PageFailed as e:
                    if self.sandbox and browser.exited and sandbox_refused(browser.tail()):
                        log.warning("Chromium cannot use its sandbox here, running it without: %s", browser.tail())
                        self.sandbox = False
                        continue  # at once (its `finally` stops what is left of it)
                    self._browser_failed(e)
                except (CdpError, OSError) as e:
                    self._browser_failed(e)
                finally:
                    await browser.stop()
                if self._stopping.is_set():
                    break
                failures += 1
                await self._without_browser(min(self.config.retry_max_seconds, 2.0**failures))
        finally:
            status_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await status_task
            await self.proxy.close()
            self.write_status()
        return 0

    def _browser_failed(self, e: Exception) -> None:
        log.warning("the browser failed: %s", e)
        self.browser_failed = f"the renderer's browser failed: {e}"
        for overlay in self.config.overlays:
            if overlay.name in self.switch.on:
                self.show_nothing(overlay)
                self.set_state(overlay.name, "failing", self.browser_failed)

    async def _render_all(self, browser: ChromiumProcess, connection: CdpConnection) -> None:
        """Each overlay switched on rendered by a task of its own, until stopped or the browser dies
        (then PageFailed). switch.json is looked at every capture tick: an overlay switched off has
        its task cancelled (its page closed) and shows nothing at once; one switched on gets a task."""
        tasks: dict[str, asyncio.Task[None]] = {}
        closing: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping.is_set():
                if not browser.alive:
                    raise PageFailed(f"Chromium is gone: {browser.tail()}")
                self.switch.poll()
                for overlay in self.config.overlays:
                    task = tasks.get(overlay.name)
                    if overlay.name in self.switch.on and task is None:
                        tasks[overlay.name] = asyncio.create_task(self._render(connection, overlay))
                    elif overlay.name not in self.switch.on:
                        if task is not None:
                            # Cancelled at its next await: it writes no PNG after this one, so the
                            # transparent PNG below is the last word without waiting for the page to close.
                            task.cancel()
                            closing.add(tasks.pop(overlay.name))
                        self.show_off(overlay)
                closing = {t for t in closing if not t.done()}
                await self._sleep(self.config.capture_interval_seconds)
        finally:
            for task in (*tasks.values(), *closing):
                task.cancel()
            await asyncio.gather(*tasks.values(), *closing, return_exceptions=True)

    async def _without_browser(self, seconds: float) -> None:
        """The wait before the browser is started again, following the switch meanwhile: an overlay
        switched off is "disabled", one switched on fails as the browser did."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            self.switch.poll()
            for overlay in self.config.overlays:
                if overlay.name not in self.switch.on:
                    self.show_off(overlay)
                elif (report := self.reports.get(overlay.name)) is None or report.state == "disabled":
                    self.set_state(overlay.name, "failing", self.browser_failed)
            await self._sleep(min(left, self.config.capture_interval_seconds))

    async def _render(self, connection: CdpConnection, overlay: RenderedOverlay) -> None:
        failures = 0
        path = self.directory / png_name(overlay.name)
        while not self._stopping.is_set() and connection.alive:
            page = OverlayPage(connection, overlay, self.proxy)
            last = b""
            try:
                await page.open()
                while not self._stopping.is_set():
                    started = time.monotonic()
                    png = await page.capture()
                    if png != last:
                        write_atomically(path, png)
                        last = png
                        self.set_state(overlay.name, "rendering", captured=True)
                        failures = 0
                    await self._sleep(max(0.0, self.config.capture_interval_seconds - (time.monotonic() - started)))
            except (PageFailed, CdpError) as e:
                failures += 1
                self.show_nothing(overlay)
                self.set_state(overlay.name, "failing", str(e))
            finally:
                await page.close()
            await self._sleep(min(self.config.retry_max_seconds, 2.0 ** (failures - 1)))

    async def _status_loop(self) -> None:
        while True:
            self.write_status()
            self._status_dirty.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_dirty.wait(), STATUS_REFRESH_SECONDS)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


def main(argv: list[str] | None = None) -> int:
    what = "Render HTML overlays in a confined headless Chromium into PNGs the ingest composites."
    return worker_main(argv, "overlay", CONFIG_ENV, OverlayRendererConfig.model_validate_json, OverlayRenderer, what)
