"""What the player page shows besides the media (docs/design/projection.md): POST /player-settings
(PLAYER_SETTINGS_PATH, the internal face, behind the stream's worker credential) from the operator
takes a `PlayerSettings`; the page reads the current one at each request and /status reports its
projection. Nothing restarts. An ingest starts with the defaults (regular) and keeps the settings in
memory only: the operator sends the spec's whenever /status shows others, so a new or restarted
worker is set within a tick of its status loop.
"""

from __future__ import annotations

import logging

from aiohttp import web
from pydantic import ValidationError

from streamops.contract.ingest import PLAYER_SETTINGS_PATH, PlayerSettings


class PageSettings:
    """The player page's settings now (the last POSTed, else the defaults)."""

    def __init__(self, log: logging.Logger) -> None:
        self.current = PlayerSettings()
        self.log = log

    def apply(self, settings: PlayerSettings) -> None:
        if settings != self.current:
            self.log.info("player page: projection %s", settings.projection)
        self.current = settings


def add_player_settings_route(app: web.Application, settings: PageSettings) -> None:
    """POST PLAYER_SETTINGS_PATH: 204 once applied (the next page request has it), 400 with the
    reason for a body that is not a PlayerSettings (unknown fields included)."""

    async def post(request: web.Request) -> web.Response:
        try:
            new = PlayerSettings.model_validate_json(await request.read())
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in e.errors())
            raise web.HTTPBadRequest(text=f"not PlayerSettings: {problems}") from None
        settings.apply(new)
        return web.Response(status=204)

    app.router.add_post(PLAYER_SETTINGS_PATH, post)
