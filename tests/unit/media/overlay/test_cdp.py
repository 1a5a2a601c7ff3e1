"""The Chrome DevTools Protocol client (media/overlay/cdp.py) on the overlay renderer's transport, two
real pipes as --remote-debugging-pipe gives them (NUL-ended JSON), with a stand-in browser on their
other ends: commands answered by id, errors and timeouts as CdpError, events to their session's
listener, a browser that goes away failing what waits. The real Chromium: tests/media/test_overlays.py."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from streamops.media.overlay.cdp import CdpConnection, CdpError

Browser = Callable[[dict[str, Any], Callable[[dict[str, Any]], None]], None]


def with_browser(browser: Browser, test: Callable[[CdpConnection, Callable[[], None]], Awaitable[None]]) -> None:
    """Run `test` on a connection whose other ends `browser(message, send)` answers; the callable
    handed to `test` closes the browser's ends (the browser exits)."""

    async def scenario() -> None:
        commands_read, commands_write = os.pipe()
        answers_read, answers_write = os.pipe()
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        browser_in, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(commands_read, "rb", 0)
        )
        browser_out, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(answers_write, "wb", 0))

        def send(message: dict[str, Any]) -> None:
            browser_out.write(json.dumps(message).encode() + b"\0")

        async def serve() -> None:
            while True:
                browser(json.loads((await reader.readuntil(b"\0"))[:-1]), send)

        serving = asyncio.create_task(serve())

        def exit_browser() -> None:
            browser_out.close()
            browser_in.close()

        connection = CdpConnection()
        await connection.connect_pipe(commands_write, answers_read)
        try:
            await test(connection, exit_browser)
        finally:
            await connection.close()
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            exit_browser()

    asyncio.run(scenario())


def echo(message: dict[str, Any], send: Callable[[dict[str, Any]], None]) -> None:
    if message["method"] == "Fail.now":
        send({"id": message["id"], "error": {"code": -32000, "message": "No target", "data": "x"}})
    elif message["method"] == "Page.navigate":
        send({"sessionId": message["sessionId"], "method": "Page.loadEventFired", "params": {"t": 1}})
        send({"sessionId": "other", "method": "Page.loadEventFired", "params": {}})
        send({"id": message["id"], "result": {"frameId": "F"}})
    elif message["method"] != "Never.answer":
        send({"id": message["id"], "result": {"echo": message["params"], "session": message.get("sessionId")}})


def test_commands_are_answered_by_id_and_events_go_to_their_sessions_listener():
    async def test(connection: CdpConnection, _: Callable[[], None]) -> None:
        assert connection.alive
        first, second = await asyncio.gather(connection.call("A.b", {"x": 1}), connection.call("A.c", session_id="S"))
        assert first == {"echo": {"x": 1}, "session": None} and second == {"echo": {}, "session": "S"}
        events: list[tuple[str, dict[str, Any]]] = []
        connection.listen("S", lambda method, params: events.append((method, params)))
        assert await connection.call("Page.navigate", {"url": "about:blank"}, session_id="S") == {"frameId": "F"}
        assert events == [("Page.loadEventFired", {"t": 1})]
        connection.listen("S", None)
        await connection.call("Page.navigate", session_id="S")
        assert len(events) == 1

    with_browser(echo, test)


def test_an_error_or_no_answer_is_a_cdp_error():
    async def test(connection: CdpConnection, _: Callable[[], None]) -> None:
        with pytest.raises(CdpError, match=r"Fail.now: No target \(-32000\) x"):
            await connection.call("Fail.now")
        with pytest.raises(CdpError, match=r"Never.answer: no answer within 0.05s"):
            await connection.call("Never.answer", timeout=0.05)
        assert connection.alive and await connection.call("Still.there") == {"echo": {}, "session": None}

    with_browser(echo, test)


def test_a_browser_that_goes_away_fails_what_waits_and_every_later_call():
    async def test(connection: CdpConnection, exit_browser: Callable[[], None]) -> None:
        waiting = asyncio.create_task(connection.call("Never.answer", timeout=None))
        await asyncio.sleep(0)
        exit_browser()
        with pytest.raises(CdpError, match="browser connection lost: the browser closed its DevTools pipe"):
            await asyncio.wait_for(waiting, 5)
        assert not connection.alive
        with pytest.raises(CdpError, match=r"A\.b: browser connection lost"):
            await connection.call("A.b")

    with_browser(echo, test)
