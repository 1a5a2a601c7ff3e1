"""The content keys of an encrypted stream (spec.playback.encryption): one key and IV (16 bytes each)
per `segments_per_key` consecutive media sequence numbers, made on first use and kept in this
process's memory only: never in a file, FFmpeg's argv or environment, a log, status or a metric.

A signed stream's keys are derived from its namespace's playback signing key (the mounted Secret's
`current`, a CSPRNG's 32 bytes) by HMAC-SHA256 over the stream and the epoch: every ingest of the
stream — a restarted one, a handover's successor — makes the same key under the same id, so
players and caches holding another one's playlist or segments go on decrypting. Anyone holding
the signing key can sign tokens and so fetch every key already: deriving gives it nothing more. A
public stream's keys (no signing key mounted) are random per process, and a handover's successor
takes its predecessor's with the window (handover.py: each key with the sequence numbers it
encrypts, in memory only), so both serve every segment under the same key. The id is
`<prefix>-<epoch>`: the prefix names the signing key (an HMAC of it, not its token kid) or the run
of the process that made it. Why: docs/design/protection.md.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from streamops.media.aes_cbc import KEY_BYTES

# Sequence numbers start at the wall clock's second and go on one a segment (continuity.py): a key
# taken for numbers a day past it is no stream's (and would make every key here look old).
AHEAD_ALLOWED = 86400
_KID = re.compile(r"^([0-9a-f]{8})-([0-9]{1,19})$")


@dataclass(frozen=True)
class ContentKey:
    kid: str  # <run>-<epoch>: the key URI's last segment
    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)  # the EXT-X-KEY's IV (explicit: the same for every segment and part under it)


_LABEL = b"streamops-hls-aes-128\0"


def _mac(master: bytes, *parts: str) -> bytes:
    return hmac.new(master, _LABEL + "\0".join(parts).encode(), hashlib.sha256).digest()


def derived_id(master: bytes, epoch: int) -> str:
    return f"{_mac(master, 'id')[:4].hex()}-{epoch}"


def derived(master: bytes, stream: str, epoch: int) -> ContentKey:
    """Epoch `epoch`'s key of `stream` (namespace/name) under the signing key `master`."""
    return ContentKey(
        derived_id(master, epoch),
        _mac(master, "key", stream, str(epoch))[:16],
        _mac(master, "iv", stream, str(epoch))[:16],
    )


@dataclass(frozen=True)
class KeySpan:
    """A key and the media sequence numbers [first, end) it encrypts."""

    first: int
    end: int
    key: ContentKey


class KeyRing:
    """The keys of one ingest process, each over a span of media sequence numbers: made on first use
    for a segment's epoch (msn // segments_per_key), or taken from a handover's predecessor
    (`adopt`: its spans as they were, whatever its rotation). Spans ending `kept` epochs before the
    newest segment are forgotten (their segments left the window: 404), and never made again. `masters`:
    the stream's signing keys now (current first; none: random keys), `stream` the identity they
    sign; `clock`: wall-clock seconds, which bounds the epochs a key may be derived for on request
    (sequence numbers never run ahead of it)."""

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
        self._spans: list[KeySpan] = []  # in order, apart
        self._firsts: list[int] = []  # each span's first, for bisect
        self._by_id: dict[str, ContentKey] = {}
        self._forgotten_below = 0  # segments older than this have no key any more
        self._newest = -1  # the newest segment a key was asked for (a span may reach past it)

    def epoch(self, msn: int) -> int:
        return msn // self.segments_per_key

    def _at(self, msn: int) -> int:
        """The index of the last span starting at or before `msn` (-1: none)."""
        return bisect.bisect_right(self._firsts, msn) - 1

    def for_segment(self, msn: int) -> ContentKey | None:
        """The key of the segment `msn` (and its parts); made now when no span has it. None for a
        segment older than the kept spans (never made again: a key once forgotten stays so)."""
        self._newest = max(self._newest, msn)
        i = self._at(msn)
        if i >= 0 and msn < self._spans[i].end:
            return self._spans[i].key
        if msn < self._forgotten_below:
            return None
        epoch = self.epoch(msn)
        # Its epoch's numbers, less any a neighbour (a predecessor's key) has.
        first = max(epoch * self.segments_per_key, self._spans[i].end if i >= 0 else 0)
        end = (epoch + 1) * self.segments_per_key
        if i + 1 < len(self._spans):
            end = min(end, self._spans[i + 1].first)
        masters = self.masters() if self.masters is not None else ()
        kid = derived_id(masters[0], epoch) if masters else f"{self.run}-{epoch}"
        made = self._by_id.get(kid)  # another piece of the same epoch: the same key
        if made is None:
            if masters:
                made = derived(masters[0], self.stream, epoch)
            else:
                made = ContentKey(kid, secrets.token_bytes(KEY_BYTES), secrets.token_bytes(KEY_BYTES))
        self._insert(i + 1, KeySpan(first, end, made))
        self._forget()
        return made

    def _insert(self, index: int, span: KeySpan) -> None:
        self._spans.insert(index, span)
        self._firsts.insert(index, span.first)
        self._by_id[span.key.kid] = span.key

    def _forget(self) -> None:
        """Spans that ended `kept` epochs before the newest segment go (not before the newest span's
        end: a predecessor's span of a longer rotation reaches far past what is listed)."""
        horizon = self._newest + 1 - self.kept * self.segments_per_key
        gone = 0
        while gone < len(self._spans) and self._spans[gone].end <= horizon:
            gone += 1
        if gone:
            self._forgotten_below = max(self._forgotten_below, self._spans[gone - 1].end)
            del self._spans[:gone], self._firsts[:gone]
            self._by_id = {s.key.kid: s.key for s in self._spans}

    def by_id(self, kid: str) -> ContentKey | None:
        """The key a playlist named: one this ring made or took and keeps, or one derived for the id
        (another ingest of the stream made it: a predecessor, a restart) under a signing key mounted
        now, for an epoch not past the clock's; None for any other id (a random key of another run)."""
        match = _KID.match(kid)
        if match is None:
            return None
        found = self._by_id.get(kid)
        if found is not None:
            return found
        epoch = int(match.group(2))
        if self.masters is None or epoch > self.epoch(int(self.clock())) + 1:
            return None
        for master in self.masters():
            key = derived(master, self.stream, epoch)
            if key.kid == kid:
                return key
        return None

    def cover(self, first: int, last: int) -> None:
        """Make the keys of segments first..last now (a handover's predecessor, before it hands them
        over: its successor lists them under the same keys whether or not a viewer asked here yet)."""
        msn = max(first, self._forgotten_below)
        while msn <= last:
            if self.for_segment(msn) is None:
                return
            msn = self._spans[self._at(msn)].end

    def spans(self) -> list[KeySpan]:
        """The keys kept, oldest first."""
        return list(self._spans)

    def adopt(self, spans: Sequence[KeySpan]) -> int:
        """Take a handover predecessor's keys for the segments they encrypt. A span that overlaps
        one kept here (unless the very same), is already forgotten, starts a day past the clock's
        second, or reuses an id kept here for another key is left out: what this ring listed stays
        as it listed it. Returns how many were left out."""
        left_out = 0
        for span in spans:
            if span.end <= span.first or len(span.key.key) != KEY_BYTES or len(span.key.iv) != KEY_BYTES:
                left_out += 1
                continue
            i = self._at(span.first)
            if i >= 0 and self._spans[i] == span:
                continue  # taken at an earlier poll
            known = self._by_id.get(span.key.kid)
            overlaps = (i >= 0 and self._spans[i].end > span.first) or (
                i + 1 < len(self._spans) and self._spans[i + 1].first < span.end
            )
            ahead = span.first > self.clock() + AHEAD_ALLOWED
            if overlaps or ahead or span.end <= self._forgotten_below or (known is not None and known != span.key):
                left_out += 1
                continue
            self._insert(i + 1, span)
            self._newest = max(self._newest, span.first)  # its first segment is listed, or was
        self._forget()
        return left_out


def segments_per_key(rotate_seconds: int, segment_seconds: int) -> int:
    """Whole segments per key: rotateSeconds rounded to segments, at least one."""
    return max(1, round(rotate_seconds / max(1, segment_seconds)))
