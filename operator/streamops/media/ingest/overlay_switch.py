"""The ingest's side of the overlay switch (docs/design/overlays.md, "Switching live"): POST
/overlays (SWITCH_PATH) from the operator, checked and kept in switch.json for the renderer
(overlay/switch.py), and which overlays are on (IngestStatus.overlays_enabled). Nothing restarts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from streamops.contract.ingest import IngestConfig
from streamops.contract.overlay import SWITCH_AUTH_HEADER, SWITCH_PATH, OverlaySwitch, switch_token_valid
from streamops.media.overlay.switch import read_switch, switch_problem, write_switch


class SwitchedOverlays:
    """The overlays switched on: the last switch received, kept in the shared overlay directory so
    that a restarted container reads it back."""

    def __init__(self, config: IngestConfig, log: logging.Logger) -> None:
        self.directory = Path(config.overlay_dir) if config.overlays and config.overlay_dir else None
        switch = read_switch(self.directory) if self.directory is not None else None
        self.enabled: list[str] | None = switch.enabled if switch is not None else None
        self.log = log

    def apply(self, switch: OverlaySwitch) -> None:
        """The renderer reads switch.json at its next capture tick."""
        assert self.directory is not None  # the route answers 404 without overlays
        write_switch(self.directory, switch)
        if switch.enabled != self.enabled:
            self.log.info("overlays on: %s", ", ".join(switch.enabled) or "none")
        self.enabled = list(switch.enabled)


def switch_refusal(key: bytes | None, stream: str, body: bytes, request: web.Request, now: float) -> str | None:
    """Why an overlay switch is refused, or None. A push stream's must be signed with its key
    (SWITCH_AUTH_HEADER: the operator reads the key's Secret); a pull stream has no key: its switch
    is served on the internal port only, behind the stream's worker credential like every route
    there (worker.apps), which no external Service carries and the chart's NetworkPolicy opens to
    the operator and the stream's own workers alone."""
    if key is not None:
        token = request.headers.get(SWITCH_AUTH_HEADER, "")
        return None if switch_token_valid(key, stream, body, token, now) else "not signed with the stream's key"
    return None


def add_switch_route(
    app: web.Application, config: IngestConfig, read_key: Callable[[], bytes | None], overlays: SwitchedOverlays
) -> None:
    """POST SWITCH_PATH: the overlays that are on, from the operator; `read_key`: the stream key, if any."""
    names = [o.name for o in config.overlays or []]

    async def overlay_switch(request: web.Request) -> web.Response:
        if not names or not config.overlay_dir:
            raise web.HTTPNotFound(text="this ingest has no overlays")
        body = await request.read()
        if (refusal := switch_refusal(read_key(), config.stream, body, request, time.time())) is not None:
            raise web.HTTPForbidden(text=refusal)
        try:
            switch = OverlaySwitch.model_validate_json(body)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in e.errors())
            raise web.HTTPBadRequest(text=f"not an OverlaySwitch: {problems}") from None
        if (problem := switch_problem(switch, names)) is not None:
            raise web.HTTPBadRequest(text=problem)
        overlays.apply(switch)
        return web.Response(status=204)

    app.router.add_post(SWITCH_PATH, overlay_switch)
