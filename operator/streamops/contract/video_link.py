"""Signed links to a video on a recordings claim, as the signer (`streamops video url|page`) writes
them and the namespace's edge checks them (media/edge/edge_videos.lua, its Lua twin). The playback
tokens' scheme and keys (contract/playback_token.py), with a scope of their own: the file. Design:
docs/design/claim-videos.md. Pure: no clock, no files, no I/O.

    <base>/videos/<claim>/t/<token>/<path>      token = playback_token.sign(key, scope, expires)
    scope = "<namespace>/video:<claim>/<path>"  (a stream's tokens sign "<namespace>/<name>": a
                                                 name holds no ':', so neither passes for the other)

`path` is the file's path relative to the claim's root, as status.videos[].path shows it; only
plain names are signed or served (VIDEO_PATH): no `.`/`..` segment, no hidden file, no percent
sign (an encoded slash or dot is never decoded into one), no backslash, only .mp4/.html/.json.
"""

from __future__ import annotations

import re

from streamops.contract.playback_token import TOKEN_SEGMENT, sign

VIDEOS_PREFIX = "/videos"  # the edge's location for claim files
SCOPE_MARK = "video:"
MAX_PATH = 1024
EXTENSIONS = ("mp4", "html", "json")  # a video or rendition, its VOD page, its sidecar
# The claim's name (a PVC name: DNS-1123 subdomain, dots left out: one segment).
CLAIM = r"[a-z0-9](?:[-a-z0-9]{0,251}[a-z0-9])?"
# A segment begins with a letter, digit or underscore: never `.`, `..` or a hidden file (the
# recorder's `.….deriving.mp4`), and holds nothing a URL would have to encode.
SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,254}"
VIDEO_PATH = rf"(?:{SEGMENT}/){{0,16}}{SEGMENT}\.(?:{'|'.join(EXTENSIONS)})"
# The edge's pattern (edge_videos.lua has the same text): the raw request path, never decoded.
SIGNED_PATH = rf"^{VIDEOS_PREFIX}/({CLAIM})/{TOKEN_SEGMENT}/([^/]{{1,200}})/({VIDEO_PATH})$"

_CLAIM = re.compile(CLAIM)
_VIDEO_PATH = re.compile(VIDEO_PATH)
_SIGNED_PATH = re.compile(SIGNED_PATH)


class UnsafePath(ValueError):
    """A claim or path that is not signed nor served (its message says which)."""


def checked(claim: str, path: str) -> tuple[str, str]:
    """(claim, path) when both are what a link may name, else UnsafePath."""
    if not _CLAIM.fullmatch(claim):
        raise UnsafePath(f"{claim!r} is not a claim name")
    if len(path) > MAX_PATH or not _VIDEO_PATH.fullmatch(path):
        raise UnsafePath(
            f"{path!r} is not a video path a link can name (plain names joined by '/', ending in "
            f"{', '.join('.' + e for e in EXTENSIONS)}; no '.', '..' or hidden names)"
        )
    return claim, path


def scope(namespace: str, claim: str, path: str) -> str:
    """What a token for one file signs."""
    checked(claim, path)
    return f"{namespace}/{SCOPE_MARK}{claim}/{path}"


def unsigned_url(base: str, claim: str, path: str) -> str:
    """The file's URL without a token (status.videos[].downloadUrl): the edge answers it 401."""
    checked(claim, path)
    return f"{base.rstrip('/')}{VIDEOS_PREFIX}/{claim}/{path}"


def signed_url(base: str, key: bytes, namespace: str, claim: str, path: str, expires: int, ip: str = "") -> str:
    """The file's URL with a token valid until `expires` (Unix seconds), for any viewer or only `ip`."""
    token = sign(key, scope(namespace, claim, path), expires, ip)
    return f"{base.rstrip('/')}{VIDEOS_PREFIX}/{claim}/{TOKEN_SEGMENT}/{token}/{path}"


def sign_unsigned(url: str, key: bytes, namespace: str, expires: int, ip: str = "") -> str:
    """`unsigned_url`'s answer with a token put in (what the CLI does with status' URLs)."""
    head, marker, rest = url.partition(f"{VIDEOS_PREFIX}/")
    claim, slash, path = rest.partition("/")
    if not marker or not slash or "://" not in head:
        raise UnsafePath(f"{url!r} is not a claim video URL (<base>{VIDEOS_PREFIX}/<claim>/<path>)")
    return signed_url(head, key, namespace, claim, path, expires, ip)


def parse_signed_path(raw_path: str) -> tuple[str, str, str] | None:
    """(claim, token, path) of a request's raw path (before any percent-decoding), or None when it
    is not one the edge serves (what edge_videos.lua decides with the same pattern)."""
    match = _SIGNED_PATH.fullmatch(raw_path)
    if match is None or len(match.group(3)) > MAX_PATH:
        return None
    claim, token, path = match.groups()
    return claim, token, path


def page_path(video_path: str) -> str:
    """The VOD page next to a video on the claim: the same path with .html instead of .mp4."""
    stem = video_path[: -len(".mp4")] if video_path.endswith(".mp4") else video_path
    return f"{stem}.html"
