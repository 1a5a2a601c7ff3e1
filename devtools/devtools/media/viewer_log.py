"""What a viewer saw in a time window, read from hlsload's request log (components/hlsload, `-log`:
one JSON line per request). Pure: the multinode handover test runs one viewer through every
scenario and asks, per scenario's window, what issue 56's "Done when" counts:

- answers other than 200 by status (0 is no answer at all), and the 404s among them;
- resets: media playlists whose numbers went back from the viewer's previous playlist
  (EXT-X-MEDIA-SEQUENCE, EXT-X-DISCONTINUITY-SEQUENCE, the next segment, the preload hint): each time
  the sequence goes back counts once, not every playlist until the new numbers pass the old ones;
  the rule hlsload's own summary counts by;
- the longest stall: the longest stretch in the window without a new part or segment received
  (a URL answered 200 for the first time), in seconds and in segments;
- playlists that ended the stream (EXT-X-ENDLIST): a player, and hlsload, stops there.

    figures = Figures.of(read_log(path.read_text()), start, end, segment_seconds=2)
    print(figures.line())
    assert not figures.breaches(), figures.breaches()
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

MEDIA_KINDS = frozenset({"part", "part_hinted", "segment"})
PLAYLIST_KINDS = frozenset({"playlist", "playlist_blocking"})
# A playlist's numbers, as the log names them: any of them lower than the previous playlist's is a reset.
NUMBERS = ("media_sequence", "discontinuity_sequence", "next_msn", "hint")


@dataclass(frozen=True)
class Request:
    """One line of the log: `t` is when the answer's last byte came (or the request failed)."""

    t: float
    viewer: int
    kind: str
    url: str
    status: int
    numbers: dict[str, int] = field(default_factory=dict)  # a playlist's NUMBERS that it had
    endlist: bool = False
    error: str = ""  # no answer (status 0): timeout or connection
    ms: float = 0.0  # from the request to its last byte (or the failure)

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Request:
        return cls(
            t=float(raw["t"]),
            viewer=int(raw.get("viewer", 0)),
            kind=str(raw["kind"]),
            url=str(raw["url"]).split("?", 1)[0],
            status=int(raw["status"]),
            numbers={k: int(raw[k]) for k in NUMBERS if raw.get(k) is not None},
            endlist=bool(raw.get("endlist")),
            error=str(raw.get("error") or ""),
            ms=float(raw.get("ms") or 0.0),
        )


def read_log(text: str) -> list[Request]:
    """The log's requests in time order. A last line cut short (a log read while hlsload writes
    it) is left out; any other line that is not a request fails loudly."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(Request.of(json.loads(line)))
        except (ValueError, KeyError):
            if i == len(lines) - 1 and not text.endswith("\n"):
                break
            raise
    return sorted(out, key=lambda r: r.t)


def longest_gap(times: Iterable[float], start: float, end: float) -> float:
    """The longest stretch of [start, end] with none of `times` in it (the edges count: nothing at
    all is the whole window)."""
    inside = sorted(t for t in times if start <= t <= end)
    edges = [start, *inside, end]
    return max(b - a for a, b in itertools.pairwise(edges))


def resets(requests: Sequence[Request], start: float, end: float) -> list[Request]:
    """The playlists answered in [start, end] whose numbers went back from that viewer's previous
    playlist (answered in the window or before it)."""
    previous: dict[int, dict[str, int]] = {}
    out = []
    for r in requests:
        if r.status != 200 or r.kind not in PLAYLIST_KINDS or not r.numbers:
            continue
        before = previous.get(r.viewer, {})
        if start <= r.t <= end and any(n < before[k] for k, n in r.numbers.items() if k in before):
            out.append(r)
        previous[r.viewer] = r.numbers
    return out


def new_media(requests: Sequence[Request]) -> dict[int, list[float]]:
    """Per viewer, when each part or segment came in the first time (its URL's first 200)."""
    had: set[tuple[int, str]] = set()
    out: dict[int, list[float]] = {}
    for r in requests:
        if r.status == 200 and r.kind in MEDIA_KINDS and (r.viewer, r.url) not in had:
            had.add((r.viewer, r.url))
            out.setdefault(r.viewer, []).append(r.t)
    return out


@dataclass(frozen=True)
class Figures:
    """A window's figures over every viewer of the log (counts summed, the stall the longest)."""

    start: float
    end: float
    segment_seconds: float
    requests: int
    non_200: dict[int, int]  # status -> answers (0: none)
    resets: int
    longest_stall_s: float
    ended: int = 0  # playlists with EXT-X-ENDLIST

    @classmethod
    def of(cls, requests: Sequence[Request], start: float, end: float, segment_seconds: float) -> Figures:
        inside = [r for r in requests if start <= r.t <= end]
        non_200: dict[int, int] = {}
        for r in inside:
            if r.status != 200:
                non_200[r.status] = non_200.get(r.status, 0) + 1
        viewers = {r.viewer for r in requests} or {0}
        media = new_media(requests)
        stall = max(longest_gap(media.get(v, []), start, end) for v in viewers)
        return cls(
            start=start,
            end=end,
            segment_seconds=segment_seconds,
            requests=len(inside),
            non_200=dict(sorted(non_200.items())),
            resets=len(resets(requests, start, end)),
            longest_stall_s=round(stall, 3),
            ended=sum(1 for r in inside if r.status == 200 and r.endlist),
        )

    @property
    def not_found(self) -> int:
        return self.non_200.get(404, 0)

    @property
    def stall_segments(self) -> float:
        return round(self.longest_stall_s / self.segment_seconds, 2)

    def breaches(self) -> list[str]:
        """What breaks issue 56's bounds for a viewer: a 404, a reset, a stall over one segment."""
        out = []
        if self.not_found:
            out.append(f"{self.not_found} answers 404")
        if self.resets:
            out.append(f"{self.resets} media-sequence resets")
        if self.ended:
            out.append("the playlist ended the stream (EXT-X-ENDLIST): the player stopped")
        if self.longest_stall_s > self.segment_seconds:
            out.append(f"a stall of {self.longest_stall_s:.1f} s ({self.stall_segments:g} segments)")
        return out

    def line(self) -> str:
        failed = ", ".join(f"{'no answer' if s == 0 else s}: {n}" for s, n in self.non_200.items()) or "none"
        return (
            f"{self.end - self.start:.1f} s window, {self.requests} requests; non-200: {failed}; "
            f"resets: {self.resets}; longest stall {self.longest_stall_s:.2f} s = {self.stall_segments:g} segments"
            + ("; ENDLIST: the player stopped" if self.ended else "")
        )


def trouble_by_second(
    requests: Sequence[Request], t0: float, slow_ms: float, events: Sequence[tuple[float, str]] = (), limit: int = 40
) -> list[str]:
    """What went wrong, second by second from `t0` (Unix seconds): each second with a failed
    request (by kind and status or error) or one that took over `slow_ms`, with `events` (Unix
    seconds, what) in their place, so that a failure message says when the misses happened and
    beside what (a Pod added or removed, the load's end). At most `limit` seconds, the worst ones."""
    by_second: dict[int, dict[str, int]] = {}
    for r in requests:
        if r.status == 200 and r.ms <= slow_ms:
            continue
        what = f"{r.kind} {r.status or r.error or 'no answer'}" if r.status != 200 else f"{r.kind} slow"
        second = by_second.setdefault(int(r.t - t0), {})
        second[what] = second.get(what, 0) + 1
    worst = sorted(by_second, key=lambda k: -sum(by_second[k].values()))[:limit]
    lines = [
        (float(k), f"t+{k}s: " + ", ".join(f"{what} ×{n}" for what, n in sorted(by_second[k].items()))) for k in worst
    ]
    lines += [(t - t0, f"t+{t - t0:.1f}s: -- {what}") for t, what in events]
    return [line for _, line in sorted(lines)]
