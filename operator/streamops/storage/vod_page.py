"""The VOD page of a recorded video (pure): the player's look (theme.html) and vod.js inlined into
one HTML object, which the recorder uploads next to each video (`<key without .mp4>.html`), and
the fragment that tells it what to play: the video's renditions with their (presigned) URLs.

One object, no other requests: a page presigned for GET is all a viewer needs, and an iframe on
any origin may embed it (the bucket sends no frame-blocking headers). The page reads the
template files by path rather than importing the player package, whose page.py imports aiohttp
(≈0.3 s): the recorder imports this and must start its first FFmpeg without that delay."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

PLAYER_DIR = Path(__file__).resolve().parents[1] / "media" / "ingest" / "player"
VOD_TEMPLATE = PLAYER_DIR / "vod.html"
VOD_SCRIPT = PLAYER_DIR / "vod.js"
THEME = PLAYER_DIR / "theme.html"
PAGE_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True)
class PageSource:
    """One quality the page offers: a rendition's name, frame size and the URL of its MP4."""

    name: str
    width: int
    height: int
    url: str


def page_key(video_key: str) -> str:
    """The page sits next to its video: the same key with .html instead of .mp4."""
    stem = video_key[: -len(".mp4")] if video_key.endswith(".mp4") else video_key
    return f"{stem}.html"


def render_vod_page(title: str) -> str:
    """The page's HTML: the script inlined (it must not close its <script> element)."""
    script = VOD_SCRIPT.read_text()
    if "</script" in script.lower():
        raise ValueError("vod.js must not contain '</script'")
    return (
        VOD_TEMPLATE.read_text()
        .replace("{{THEME}}", THEME.read_text())
        .replace("{{TITLE}}", html.escape(title))
        .replace("{{SCRIPT}}", script)
    )


def page_fragment(title: str, sources: list[PageSource], quality: str | None = None) -> str:
    """`v=<base64url JSON>` (and `q=<quality>`): what the page plays, tallest first. In the
    fragment, so the links never reach a server's logs with the page's request."""
    doc = {"t": title, "r": [{"n": s.name, "w": s.width, "h": s.height, "u": s.url} for s in sources]}
    data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    fields = {"v": base64.urlsafe_b64encode(data).decode().rstrip("=")}
    if quality is not None:
        fields["q"] = quality
    return urlencode(fields)


def iframe_element(url: str) -> str:
    """The <iframe> that embeds the page (16:9, autoplay and fullscreen allowed to it)."""
    return (
        f'<iframe src="{html.escape(url)}" width="640" height="360" frameborder="0" '
        'allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>'
    )


def page_url(page: str, title: str, sources: list[PageSource], quality: str | None = None) -> str:
    """The page's URL (presigned) with its fragment."""
    return f"{page}#{page_fragment(title, sources, quality)}"
