"""Plain HTTP probes for the harness: direct connections only (proxy settings from the
environment never see this traffic)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _opener(ctx: ssl.SSLContext | None) -> urllib.request.OpenerDirector:
    if ctx is None:
        return _DIRECT
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))


def http_get(
    url: str, timeout: float = 5.0, ctx: ssl.SSLContext | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """(status, body), also for error statuses; (0, b"") when nothing answers."""
    try:
        with _opener(ctx).open(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()
    except (OSError, ssl.SSLError):
        return 0, b""


def http_request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of any request, error statuses included; (0, {}, b"") when nothing
    answers."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with _DIRECT.open(request, timeout=timeout) as resp:
            return int(resp.status), dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as e:
        return int(e.code), dict(e.headers.items()), e.read()
    except OSError:
        return 0, {}, b""


def http_ok(url: str, ctx: ssl.SSLContext | None = None, timeout: float = 5.0) -> bool:
    return http_get(url, timeout, ctx)[0] == 200


def http_json(url: str, timeout: float = 3.0, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON document at url (raises on any failure)."""
    with _DIRECT.open(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as resp:
        return dict(json.loads(resp.read()))
