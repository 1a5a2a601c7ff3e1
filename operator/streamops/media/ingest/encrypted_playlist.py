"""A media playlist's EXT-X-KEY lines for an encrypted stream, pure: text in, text out, for every HLS
playlist the ingest serves (the standard variants' across sessions, the LL-HLS packager's, blocking
reloads and delta updates alike). Each segment (its parts and preload hint with it) is preceded by
the key of its media sequence number when that differs from the key in force; each EXT-X-MAP by
METHOD=NONE, so that init segments stay clear (an init segment under an AES-128 key would need an IV
of its own, RFC 8216bis §4.4.4.4, and carries no media). A multivariant playlist lists no segments
and passes unchanged. Why: docs/design/protection.md.
"""

from __future__ import annotations

from collections.abc import Callable

from streamops.media.ingest.encryption import ContentKey

# Tags that belong to the next segment: the key in force must be its own before the first of them.
_SEGMENT_TAGS = ("#EXTINF:", "#EXT-X-PART:", "#EXT-X-PROGRAM-DATE-TIME:", "#EXT-X-BYTERANGE:", "#EXT-X-PRELOAD-HINT:")
NO_KEY = "#EXT-X-KEY:METHOD=NONE"


def key_line(key: ContentKey, uri_base: str) -> str:
    return f'#EXT-X-KEY:METHOD=AES-128,URI="{uri_base}{key.kid}",IV=0x{key.iv.hex()}'


def _int_after(line: str, prefix: str) -> int:
    value = line.removeprefix(prefix).split(",")[0]
    return int(value) if value.isdigit() else 0


def with_keys(text: str, key_for: Callable[[int], ContentKey | None], uri_base: str) -> str:
    """`text` with its segments' keys. `key_for`: a media sequence number's key (None: a segment past
    the kept keys, left without one — it is not served either); `uri_base`: the key route relative to
    the playlist (e.g. "../../key/")."""
    lines = text.split("\n")
    if not any(line.startswith(("#EXTINF:", "#EXT-X-PART:")) for line in lines):
        return text  # multivariant, or no segment yet
    out: list[str] = []
    msn = 0
    in_force: str | None = None  # the key line in force (NO_KEY after a MAP), None at the top
    opened = False  # the current segment's first tag has been written
    after_extinf = False
    for line in lines:
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = _int_after(line, "#EXT-X-MEDIA-SEQUENCE:")
        elif line.startswith("#EXT-X-SKIP:"):
            msn += _int_after(line, "#EXT-X-SKIP:SKIPPED-SEGMENTS=")
        elif line.startswith("#EXT-X-MAP:") and in_force not in (None, NO_KEY):
            out.append(NO_KEY)
            in_force = NO_KEY
        elif line.startswith(_SEGMENT_TAGS) and not opened:
            key = key_for(msn)
            wanted = key_line(key, uri_base) if key is not None else NO_KEY
            if wanted != in_force and not (in_force is None and key is None):
                out.append(wanted)
                in_force = wanted
            opened = True
        out.append(line)
        if line.startswith("#EXTINF:"):
            after_extinf = True
        elif after_extinf and line and not line.startswith("#"):
            msn, opened, after_extinf = msn + 1, False, False  # the segment's URI: the next one begins
    return "\n".join(out)


def key_uri_base(rendition: str | None) -> str:
    """From <prefix>/hls/<variant>/[<rendition>/]index.m3u8 to <prefix>/key/ (the token segment, when
    there is one, stays in the path: relative URIs resolve inside it)."""
    return "../../../key/" if rendition else "../../key/"
