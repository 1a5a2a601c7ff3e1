"""Headless Chromium for the browser test tier, driven over the Chrome DevTools Protocol (CDP).

    with Browser() as browser:
        page = browser.open("http://127.0.0.1:8080/player.html")
        assert page.evaluate("document.querySelector('video').readyState") >= 2

Confined to loopback: the binary without Debian's wrapper, an empty environment, and the flags of
`confined_flags()` (streamops.media.overlay.chromium, the overlay renderer's too: no background
service, a dead proxy for every request not for loopback or `allowed_hosts`, resolver rules
answering NOTFOUND for every other name); `Browser.sockets()` lists the process tree's inet sockets
for tests to check it. With `netns=` it runs in that network namespace (nsenter, like every peer of
devtools.media.peers). The three layers of confinement and what was measured:
docs/design/test-harness.md, "The browser".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from streamops.media.overlay.cdp import CdpConnection, CdpError, EventListener
from streamops.media.overlay.chromium import CHROMIUM, confined_env, confined_flags, devtools_endpoint

from devtools.media.peers import _Peer
from devtools.netns import entered
from devtools.processes import proc_tree
from devtools.waits import eventually


class DevToolsError(CdpError):
    """A CDP command answered with an error, or the connection to the browser is gone."""


class JavaScriptError(RuntimeError):
    """The evaluated expression threw (or its promise rejected)."""


@dataclass(frozen=True)
class ConsoleMessage:
    """What a page logged: console.* calls, uncaught exceptions, and the browser's own log entries
    about the page (failed loads, media errors, CSP violations)."""

    level: str
    text: str
    source: str = ""

    def __str__(self) -> str:
        return f"[{self.level}] {self.text}" + (f" ({self.source})" if self.source else "")


@dataclass(frozen=True)
class InetSocket:
    """One IPv4/IPv6 socket from /proc/PID/net/*: remote is ('0.0.0.0' or '::', 0) when unconnected."""

    proto: str
    local: tuple[str, int]
    remote: tuple[str, int]
    pid: int

    @property
    def on_loopback(self) -> bool:
        """Bound to and (if connected) talking to loopback only."""

        def loopback(address: str) -> bool:
            ip = ipaddress.ip_address(address)
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            return ip.is_loopback

        remote_set = self.remote[0] not in ("0.0.0.0", "::")
        return loopback(self.local[0]) and (not remote_set or loopback(self.remote[0]))


# --- the DevTools protocol --------------------------------------------------------------------------


class DevToolsConnection:
    """One websocket to the browser's CDP endpoint, with pages as flat sessions on it: the overlay
    renderer's client (streamops.media.overlay.cdp), written once, made synchronous.

    Its event loop runs in a daemon thread of its own, so callers stay synchronous; events reach
    per-session listeners (called in that thread: keep them short). With `netns`, the thread lives
    in that namespace, so the connection is made where the browser listens."""

    def __init__(self, ws_url: str, *, netns: str | None = None, timeout: float = 10.0) -> None:
        self._loop = asyncio.new_event_loop()
        self._cdp = CdpConnection()
        self._thread = threading.Thread(target=self._run, args=(netns,), name="devtools-protocol", daemon=True)
        self._thread.start()
        try:
            self._submit(self._cdp.connect(ws_url), timeout, "connect")
        except BaseException:
            self.close()
            raise

    @property
    def closed_because(self) -> str | None:
        return self._cdp.closed_because

    def _run(self, netns: str | None) -> None:
        asyncio.set_event_loop(self._loop)
        with entered(netns) if netns else contextlib.nullcontext():
            self._loop.run_forever()

    def _submit(self, coro: Coroutine[Any, Any, Any], timeout: float, what: str) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"CDP {what}: no answer within {timeout:g}s") from None

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, session_id: str | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Send one command and wait for its result (DevToolsError if it answers with an error;
        TimeoutError after timeout)."""
        if self._loop.is_closed():
            raise DevToolsError(f"{method}: connection closed")
        # timeout=None: the wait is _submit's, which raises TimeoutError (Page.evaluate tells it apart)
        called = self._cdp.call(method, params, session_id=session_id, timeout=None)
        try:
            return dict(self._submit(called, timeout, method))
        except CdpError as e:
            raise DevToolsError(str(e)) from None

    def listen(self, session_id: str, listener: EventListener | None) -> None:
        """Events of that session go to listener(method, params); None stops them."""
        self._cdp.listen(session_id, listener)

    def close(self) -> None:
        """Close the websocket and end the thread; idempotent."""
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._submit(self._cdp.close(), 5, "disconnect")
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()


# --- pages ------------------------------------------------------------------------------------------


class Page:
    """One tab: navigate, evaluate JavaScript, read what it logged."""

    def __init__(
        self, connection: DevToolsConnection, target_id: str, session_id: str, browser_state: Callable[[], str]
    ) -> None:
        self._connection = connection
        self.target_id = target_id
        self.session_id = session_id
        self._browser_state = browser_state
        self._console: list[ConsoleMessage] = []
        self.closed = False
        connection.listen(session_id, self._on_event)

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled":
            text = " ".join(_remote_object_text(arg) for arg in params.get("args", []))
            frame = (params.get("stackTrace") or {}).get("callFrames") or [{}]
            where = f"{frame[0].get('url', '')}:{frame[0].get('lineNumber', '')}" if frame[0].get("url") else ""
            self._console.append(ConsoleMessage(params.get("type", "log"), text, where))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self._console.append(ConsoleMessage("exception", _exception_text(details), details.get("url", "")))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            level, text = entry.get("level", "info"), entry.get("text", "")
            self._console.append(ConsoleMessage(level, text, entry.get("url", "")))

    @property
    def console(self) -> list[ConsoleMessage]:
        """Everything logged so far, oldest first (a copy)."""
        return list(self._console)

    def console_tail(self, count: int = 40) -> str:
        """The last messages, one a line: for assertion messages."""
        return "\n".join(str(m) for m in self._console[-count:]) or "(no console messages)"

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0) -> dict[str, Any]:
        """A raw CDP command in this page's session, for what Page does not wrap."""
        try:
            return self._connection.call(method, params, session_id=self.session_id, timeout=timeout)
        except DevToolsError as e:
            raise DevToolsError(f"{e}\n{self._browser_state()}") from None

    def navigate(self, url: str, timeout: float = 30.0) -> None:
        """Load url and wait for its load event; DevToolsError with Chromium's net error (e.g.
        net::ERR_CONNECTION_REFUSED) when the document cannot be loaded."""
        result = self.call("Page.navigate", {"url": url}, timeout)
        if result.get("errorText"):
            raise DevToolsError(f"navigating to {url}: {result['errorText']}")
        self.evaluate(_LOADED, timeout=timeout)

    def evaluate(self, expression: str, *, await_promise: bool = True, timeout: float = 30.0) -> Any:
        """The value of a JavaScript expression (Runtime.evaluate, returnByValue: JSON-able values;
        undefined is None). JavaScriptError when it throws or its promise rejects; TimeoutError
        after timeout (the script goes on running in the page)."""
        params = {"expression": expression, "returnByValue": True, "awaitPromise": await_promise, "userGesture": True}
        try:
            result = self.call("Runtime.evaluate", params, timeout)
        except TimeoutError as e:
            raise TimeoutError(f"{e}: {expression[:200]}\nconsole:\n{self.console_tail()}") from None
        if "exceptionDetails" in result:
            message = _exception_text(result["exceptionDetails"])
            raise JavaScriptError(f"{message}\nin: {expression[:200]}\nconsole:\n{self.console_tail()}")
        return result.get("result", {}).get("value")

    def wait_until(
        self, expression: str, timeout: float = 30.0, interval: float = 0.1, explain: Callable[[], str] | None = None
    ) -> Any:
        """Poll a (synchronous) expression until it is truthy; its value, or WaitTimeout with the console
        and what `explain` says."""

        def console_and_more() -> str:
            return f"console:\n{self.console_tail()}" + (f"\n{explain()}" if explain is not None else "")

        return eventually(
            lambda: self.evaluate(expression, await_promise=False), timeout, interval, expression, console_and_more
        )

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._connection.listen(self.session_id, None)
        with contextlib.suppress(DevToolsError, TimeoutError):
            self._connection.call("Target.closeTarget", {"targetId": self.target_id}, timeout=5)


_LOADED = "new Promise(r => document.readyState === 'complete' ? r(true) : addEventListener('load', () => r(true)))"


def _remote_object_text(obj: dict[str, Any]) -> str:
    preview = obj.get("preview") or {}
    if "properties" in preview:  # objects and arrays arrive as a preview of their first properties
        if preview.get("subtype") == "array":
            return "[" + ", ".join(str(p.get("value", "")) for p in preview["properties"]) + "]"
        return "{" + ", ".join(f"{p['name']}: {p.get('value', '')}" for p in preview["properties"]) + "}"
    if "value" in obj:
        value = obj["value"]
        return value if isinstance(value, str) else json.dumps(value)
    return str(obj.get("description") or obj.get("unserializableValue") or obj.get("type", "?"))


def _exception_text(details: dict[str, Any]) -> str:
    exception = details.get("exception") or {}
    return str(exception.get("description") or exception.get("value") or details.get("text", "exception"))


# --- the browser ------------------------------------------------------------------------------------


# The window the pages are laid out and composited in: Chromium's compositor draws every frame of a
# playing video at the window's size, and the tests read intrinsic sizes and decoded pixels, never
# the window's (measured: docs/design/test-harness.md, "The browser").
WINDOW_SIZE = "640,360"


class Browser(_Peer):
    """Headless Chromium, confined to loopback (module docstring), as a context manager: stopped by
    PID on exit (TERM, then KILL for the whole tree), its profile directory removed.

    `netns`: run in that network namespace; `allowed_hosts`: names or addresses besides loopback
    that pages may reach (only sensible inside a namespace whose other addresses are the
    harness's own); `mapped_hosts`: names resolved to a given "address:port"; `extra_flags` and
    `disabled_features`: added to the harness's own (confined_flags; devtools.media.webrtc_browser
    has WebRTC's). Chromium's stderr goes to the log (log_tail() in failure messages)."""

    def __init__(
        self,
        *,
        netns: str | None = None,
        allowed_hosts: Iterable[str] = (),
        mapped_hosts: Mapping[str, str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        executable: str | os.PathLike[str] = CHROMIUM,
        window_size: str = WINDOW_SIZE,
        start_timeout: float = 30.0,
        extra_flags: Iterable[str] = (),
        disabled_features: Iterable[str] = (),
    ) -> None:
        super().__init__(log_path, netns=netns)
        self.allowed_hosts = list(allowed_hosts)
        self.mapped_hosts = dict(mapped_hosts or {})
        self.executable = Path(executable)
        self.window_size = window_size
        self.start_timeout = start_timeout
        self.extra_flags = list(extra_flags)
        self.disabled_features = list(disabled_features)
        self._profile_dir: Path | None = None  # made by start(), removed by stop()
        self.connection: DevToolsConnection | None = None
        self.pages: list[Page] = []
        self.ready_after: float | None = None  # seconds from launch to a connected CDP endpoint

    @property
    def profile_dir(self) -> Path:
        """The throwaway --user-data-dir (also HOME and TMPDIR): gone after stop()."""
        if self._profile_dir is None:
            raise RuntimeError("Browser not started")
        return self._profile_dir

    def command(self) -> list[str]:
        # An empty environment: nothing like http_proxy, GOOGLE_API_KEY or DBUS_SESSION_BUS_ADDRESS
        # from ours; HOME and the XDG dirs in the throwaway profile (NSS database, fontconfig cache).
        env = ["env", "-i", *(f"{k}={v}" for k, v in confined_env(self.profile_dir).items())]
        flags = confined_flags(
            self.profile_dir,
            allowed_hosts=self.allowed_hosts,
            window_size=self.window_size,
            mapped_hosts=self.mapped_hosts,
            extra_flags=self.extra_flags,
            disabled_features=self.disabled_features,
        )
        return [*env, str(self.executable), *flags]

    def start(self) -> Self:
        if not self.executable.exists():
            raise FileNotFoundError(f"{self.executable} is missing: install Debian's chromium (make deps)")
        self._profile_dir = Path(tempfile.mkdtemp(prefix="streamops-chromium-"))
        return super().start()

    def _ready(self) -> None:
        def endpoint() -> str | None:
            self._check_alive()
            return devtools_endpoint(self.profile_dir)

        ws_url = eventually(endpoint, self.start_timeout, 0.02, "Chromium's DevToolsActivePort")
        self.connection = DevToolsConnection(ws_url, netns=self.netns, timeout=self.start_timeout)
        if self.started_at is not None:
            self.ready_after = time.monotonic() - self.started_at

    def _check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(
                f"Chromium exited with {self._proc.returncode} while starting; stderr ({self.log_path}):\n"
                + self.log_tail()
            )

    def state(self) -> str:
        """One paragraph for failure messages: running or not, and the end of Chromium's stderr."""
        status = "running" if self.running else f"exited with {self.returncode}"
        closed = self.connection.closed_because if self.connection else "not connected"
        return f"Chromium (pid {self.pid}) {status}; CDP: {closed or 'connected'}; stderr tail:\n{self.log_tail(1500)}"

    def open(self, url: str = "about:blank", timeout: float = 30.0) -> Page:
        """A new tab, with console collection on, navigated to url (and its load event seen)."""
        if self.connection is None:
            raise RuntimeError("Browser not started")
        target_id = self.connection.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
        attached = self.connection.call(
            "Target.attachToTarget", {"targetId": target_id, "flatten": True}, timeout=timeout
        )
        page = Page(self.connection, target_id, attached["sessionId"], self.state)
        self.pages.append(page)
        for domain in ("Runtime", "Log", "Page"):
            page.call(f"{domain}.enable", timeout=timeout)
        if url != "about:blank":
            page.navigate(url, timeout)
        return page

    def sockets(self) -> list[InetSocket]:
        """The TCP/UDP/raw sockets every process of the browser holds (from /proc: a snapshot)."""
        if self.pid is None:
            return []
        return inet_sockets(proc_tree(self.pid))

    def stop(self, grace: float = 5.0) -> int | None:
        for page in self.pages:
            with contextlib.suppress(Exception):
                page.close()
        self.pages.clear()
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        try:
            return super().stop(grace)
        finally:
            if self._profile_dir is not None:
                shutil.rmtree(self._profile_dir, ignore_errors=True)


# --- /proc/net --------------------------------------------------------------------------------------

_SOCKET_TABLES = ("tcp", "tcp6", "udp", "udp6", "raw", "raw6")


def inet_sockets(pids: Iterable[int]) -> list[InetSocket]:
    """The inet sockets the processes hold, read from each one's own /proc/PID/net (its namespace)."""
    found: list[InetSocket] = []
    for pid in pids:
        inodes: set[str] = set()
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(fd.path)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
        if not inodes:
            continue
        for table in _SOCKET_TABLES:
            with contextlib.suppress(OSError), open(f"/proc/{pid}/net/{table}") as f:
                for line in list(f)[1:]:
                    fields = line.split()
                    if len(fields) > 9 and fields[9] in inodes:
                        local, remote = _proc_net_address(fields[1]), _proc_net_address(fields[2])
                        found.append(InetSocket(table, local, remote, pid))
    return found


def _proc_net_address(hex_address: str) -> tuple[str, int]:
    """'0100007F:1F90' -> ('127.0.0.1', 8080): the address is in host byte order per 32-bit word."""
    address, port = hex_address.split(":")
    raw = bytes.fromhex(address)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw), int(port, 16)
