"""The content keys of an encrypted stream (spec.playback.encryption). Keys are
made here (CSPRNG, 16 bytes, and a random IV each), one per `segments_per_key` consecutive media
sequence numbers, and live in this process's memory only: never in a file, FFmpeg's argv or
environment, a log, status or a metric. A key's id names this process's run and the key's epoch,
so a key URI of an earlier run (a restart) is never answered with another key. Why serving-time
encryption and not FFmpeg's hls_enc: docs/design/protection.md.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

from streamops.media.aes_cbc import KEY_BYTES

_KID = re.compile(r"^([0-9a-f]{8})-([0-9]{1,19})$")


@dataclass(frozen=True)
class ContentKey:
    kid: str  # <run>-<epoch>: the key URI's last segment
    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)  # the EXT-X-KEY's IV (explicit: the same for every segment and part under it)


class KeyRing:
    """The keys of one ingest process: made on first use for a segment's epoch (msn // segments_per
    _key), the newest `kept` epochs kept (the DVR window's and a few more), older ones forgotten (their
    segments left the window: 404)."""

    def __init__(self, segments_per_key: int, kept: int) -> None:
        self.segments_per_key = max(1, segments_per_key)
        self.kept = max(2, kept)
        self.run = secrets.token_hex(4)
        self._keys: OrderedDict[int, ContentKey] = OrderedDict()  # by epoch, oldest first

    def epoch(self, msn: int) -> int:
        return msn // self.segments_per_key

    def for_segment(self, msn: int) -> ContentKey | None:
        """The key of the segment `msn` (and its parts); made now when its epoch is new. None for an
        epoch older than the kept ones (never made again: a key once forgotten stays so)."""
        epoch = self.epoch(msn)
        found = self._keys.get(epoch)
        if found is not None:
            return found
        if self._keys and epoch < next(iter(self._keys)) and len(self._keys) >= self.kept:
            return None
        made = ContentKey(f"{self.run}-{epoch}", secrets.token_bytes(KEY_BYTES), secrets.token_bytes(KEY_BYTES))
        self._keys[epoch] = made
        if list(self._keys) != sorted(self._keys):  # an older epoch listed after a newer one (rare)
            self._keys = OrderedDict(sorted(self._keys.items()))
        while len(self._keys) > self.kept:
            self._keys.popitem(last=False)
        return made

    def by_id(self, kid: str) -> ContentKey | None:
        """The key a playlist named, while it is kept; None for any other id (another run's too)."""
        match = _KID.match(kid)
        if match is None or match.group(1) != self.run:
            return None
        return self._keys.get(int(match.group(2)))


def segments_per_key(rotate_seconds: int, segment_seconds: int) -> int:
    """Whole segments per key: rotateSeconds rounded to segments, at least one."""
    return max(1, round(rotate_seconds / max(1, segment_seconds)))
