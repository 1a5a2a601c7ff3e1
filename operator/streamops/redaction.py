"""Secrets out of text: the one redaction every part uses on what leaves it (worker logs, /status,
errors; the operator's retention errors). A secret is masked as is and percent-encoded, as it
appears in URLs."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Any URL's userinfo (scheme://user:password@host/…), whoever printed it: FFmpeg names the URL it opens
# ("Input #0, rtsp, from '…'", "Error opening input file …"). Up to the first /, space or quote: an @
# further on belongs to the path.
_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]+@")


class Redactor:
    """Replaces secrets (stream keys, target keys, a camera's password) and any URL's userinfo
    wherever text leaves the worker."""

    MASK = "***"

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        for s in secrets:
            self.add(s)

    def add(self, secret: str) -> None:
        from urllib.parse import quote

        for form in {secret, quote(secret, safe="")}:
            if form and form not in self._secrets:
                self._secrets.append(form)
        self._secrets.sort(key=len, reverse=True)  # longest first: a key containing another

    def __call__(self, text: str) -> str:
        text = _USERINFO.sub(rf"\1{self.MASK}@", text)
        for s in self._secrets:
            text = text.replace(s, self.MASK)
        return text
