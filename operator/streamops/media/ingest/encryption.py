"""The content keys of an encrypted stream (spec.playback.encryption): one key and IV (16 bytes each)
per `segments_per_key` consecutive media sequence numbers, made on first use and kept in this
process's memory only: never in a file, FFmpeg's argv or environment, a log, status or a metric.

A signed stream's keys are derived from its namespace's playback signing key (the mounted Secret's
`current`, a CSPRNG's 32 bytes) by HMAC-SHA256 over the stream and the epoch: every ingest of the
stream — a restarted one, a handover's successor — makes the same key under the same id, so
players and caches holding another one's playlist or segments go on decrypting. Anyone holding
the signing key can sign tokens and so fetch every key already: deriving gives it nothing more. A
public stream's keys (no signing key mounted) are random per process. The id is
`<prefix>-<epoch>`: the prefix names the signing key (an HMAC of it, not its token kid) or this
process's run. Why: docs/design/protection.md.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from streamops.media.aes_cbc import KEY_BYTES

_KID = re.compile(r"^([0-9a-f]{8})-([0-9]{1,19})$")


@dataclass(frozen=True)
class ContentKey:
    kid: str  # <run>-<epoch>: the key URI's last segment
    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)  # the EXT-X-KEY's IV (explicit: the same for every segment and part under it)


_LABEL = b"streamops-hls-aes-128\0"


def _mac(master: bytes, *parts: str) -> bytes:
    return hmac.new(master, _LABEL + "\0".join(parts).encode(), hashlib.sha256).digest()


def derived(master: bytes, stream: str, epoch: int) -> ContentKey:
    """Epoch `epoch`'s key of `stream` (namespace/name) under the signing key `master`."""
    prefix = _mac(master, "id")[:4].hex()
    return ContentKey(
        f"{prefix}-{epoch}", _mac(master, "key", stream, str(epoch))[:16], _mac(master, "iv", stream, str(epoch))[:16]
    )


class KeyRing:
    """The keys of one ingest process: made on first use for a segment's epoch (msn // segments_per
    _key), the newest `kept` epochs kept (the DVR window's and a few more), older ones forgotten (their
    segments left the window: 404). `masters`: the stream's signing keys now (current first; none:
    random keys), `stream` the identity they sign; `clock`: wall-clock seconds, which bounds the
    epochs a key may be derived for on request (sequence numbers never run ahead of it)."""

    def __init__(
        self,
        segments_per_key: int,
        kept: int,
        stream: str = "",
        masters: Callable[[], Sequence[bytes]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.segments_per_key = max(1, segments_per_key)
        self.kept = max(2, kept)
        self.stream, self.masters, self.clock = stream, masters, clock
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
        masters = self.masters() if self.masters is not None else ()
        if masters:
            made = derived(masters[0], self.stream, epoch)
        else:
            made = ContentKey(f"{self.run}-{epoch}", secrets.token_bytes(KEY_BYTES), secrets.token_bytes(KEY_BYTES))
        self._keys[epoch] = made
        if list(self._keys) != sorted(self._keys):  # an older epoch listed after a newer one (rare)
            self._keys = OrderedDict(sorted(self._keys.items()))
        while len(self._keys) > self.kept:
            self._keys.popitem(last=False)
        return made

    def by_id(self, kid: str) -> ContentKey | None:
        """The key a playlist named: one this ring made and keeps, or one derived for the id (another
        ingest of the stream made it: a predecessor, a restart) under a signing key mounted now, for
        an epoch not past the clock's; None for any other id (a random key of another run)."""
        match = _KID.match(kid)
        if match is None:
            return None
        epoch = int(match.group(2))
        found = self._keys.get(epoch)
        if found is not None and found.kid == kid:
            return found
        if self.masters is None or epoch > self.epoch(int(self.clock())) + 1:
            return None
        for master in self.masters():
            key = derived(master, self.stream, epoch)
            if key.kid == kid:
                return key
        return None


def segments_per_key(rotate_seconds: int, segment_seconds: int) -> int:
    """Whole segments per key: rotateSeconds rounded to segments, at least one."""
    return max(1, round(rotate_seconds / max(1, segment_seconds)))
