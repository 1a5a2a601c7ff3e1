"""What a command says when it cannot do what was asked: one line for stderr, never a key."""

from __future__ import annotations

import json


class CommandError(Exception):
    """Why the command failed, in words for the person who typed it."""


def api_message(status: int, body: str) -> str:
    """The API server's own message (its Status object's), not the raw body: 'forbidden: User ...
    cannot get resource "secrets" ...' rather than a page of JSON."""
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        message = None
    text = str(message or body).strip().replace("\n", " ")
    return f"the API server answered {status}: {text[:400]}"
