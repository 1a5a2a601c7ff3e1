"""HLS that continues across the sessions of one ingest (a publisher's reconnect, a switch to or from
the backup, a handover's predecessor): one Timeline per standard variant and rendition
(hls_timeline.py) fed from the on-air session's FFmpeg playlist, one per LL-HLS rendition holding
the earlier sessions' segments while that session's packager is rebased to go on with the numbers
(llhls/packager.py). The routes ask it for the served playlists and for the file behind each
served URI; outputs.py tells it when another session goes on air; a handover's successor adopts a
predecessor's state (handover.py). Files of earlier sessions go once they leave the window (and
the grace); their directories once nothing served is in them.
Why: docs/design/handover.md (the data plane).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from streamops.contract.ingest import (
    HANDOVER_DASH_PERIODS_MAX,
    HandoverDash,
    HandoverDashPeriod,
    HandoverPlaylist,
    HandoverSegment,
    IngestConfig,
)
from streamops.media.ingest.commands import (
    ll_renditions,
    muxed_hls_variants,
    packager_settings,
    playlist_segments,
    renditions,
)
from streamops.media.ingest.dash_periods import (
    SessionMpd,
    availability_start,
    files_of,
    served_mpd,
    written_numbers,
)
from streamops.media.ingest.hls_timeline import (
    INIT_PREFIX,
    ServedSegment,
    SourcePlaylist,
    SourceSegment,
    Timeline,
    begin,
    extend,
    parse_source,
    unseen_from,
)
from streamops.media.ingest.llhls.fragments import fragments_of
from streamops.media.ingest.llhls.packager import Continued, LlHlsPackager
from streamops.media.ingest.llhls.playlist import INIT_URI, segment_uri
from streamops.media.ingest.served_media import ServedMedia
from streamops.media.ingest.served_playlist import served_playlist

Key = tuple[str, str]  # (variant, rendition): rendition "" without a ladder
MIRROR = "mirror"  # the source name of a predecessor's mirrored window
DASH_MANIFEST_NAME = "manifest.mpd"  # FFmpeg's MPD in a session's dash/ (commands.py)
DASH_KEPT_SECONDS = 60  # an earlier session's Period is kept this long past the window (then forgotten)
SPLIT_SEGMENTS_KEPT = 8  # segment files whose fragments are kept (parts asked of the last few)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def packager_source(packager: LlHlsPackager) -> SourcePlaylist:
    """An LL-HLS packager's complete segments as a session's playlist lists them."""
    segments = tuple(
        SourceSegment(s.msn, s.duration, segment_uri(s.msn), _iso(s.started_at), s.parts[0].number if s.parts else None)
        for s in packager.segments
        if s.complete
    )
    return SourcePlaylist(segments, INIT_URI if packager.init is not None else None, packager.ended)


def to_served(playlist: HandoverPlaylist, directory: Path) -> tuple[ServedSegment, ...]:
    """A predecessor's segments as this ingest serves them: its files mirrored into `directory`."""
    return tuple(
        ServedSegment(
            number=s.number,
            duration=s.duration,
            uri=s.uri,
            path=str(directory / s.uri),
            discontinuity=s.discontinuity,
            discontinuity_sequence=s.discontinuity_sequence,
            program_date_time=s.program_date_time,
            init_uri=s.init_uri,
            init_path=str(directory / s.init_uri) if s.init_uri else None,
            first_part=s.first_part,
        )
        for s in playlist.segments
    )


class Continuity:
    def __init__(self, config: IngestConfig, served: ServedMedia, log: logging.Logger) -> None:
        """`served`: what is on air (its `dir` and `packagers`: the session's, set by outputs.py
        after go_on_air(), or the idle packagers of an adopted window)."""
        self.config, self.served, self.log = config, served, log
        self.window = playlist_segments(config.dvr, config.hls)
        names = [r.name for r in renditions(config)] or [""]
        self.fmp4 = {v: t == "fmp4" for v, t in muxed_hls_variants(config)}
        self.standard: dict[Key, Timeline] = {(v, n): Timeline(self.window) for v in self.fmp4 for n in names}
        self.ll: dict[str, Timeline] = {n: Timeline(self.window) for n in ll_renditions(config)}
        self.next_part: dict[str, int] = {}
        self.hold_end = False  # a released predecessor: its playlists never end (the successor goes on)
        self._stamps: dict[Key, tuple[str, int, int]] = {}
        self._texts: dict[Key, tuple[Timeline, bool, str, float]] = {}
        self.multivariant: str | None = None  # a predecessor's, served until an own session is on air
        self.switched = asyncio.Event()  # set (and replaced) when another session goes on air
        # Set once a handover's predecessor released: what it does not have, its successor will.
        self.moved = asyncio.Event()
        self._split: OrderedDict[str, list[bytes]] = OrderedDict()  # _fragments()
        # DASH across sessions (dash_periods.py): each session on air since the first, its MPD frozen
        # when it left the air; the availabilityStartTime of the first, fixed.
        self.dash_sessions: list[DashSession] = []
        self.dash_anchor: float | None = None
        self._dash_head: str | None = None  # the last live MPD read (its root: while none is on air)
        self._dash_text: tuple[tuple[object, ...], str, float] | None = None  # (what it was made of, text, when)

    @property
    def dir(self) -> Path | None:
        """The on-air session's directory."""
        return self.served.dir

    @property
    def packagers(self) -> Mapping[str, LlHlsPackager]:
        """Its LL-HLS packagers (or the idle ones of an adopted window)."""
        return self.served.packagers

    def reset(self) -> None:
        """Forget what was served (a successor's own session that went on air before it was told to
        follow: the predecessor's window replaces it)."""
        self.dash_sessions, self.dash_anchor, self._dash_text, self._dash_head = [], None, None, None
        self.standard = {key: Timeline(self.window) for key in self.standard}
        self.ll = {name: Timeline(self.window) for name in self.ll}
        self.next_part.clear()
        self._stamps.clear()
        self._texts.clear()
        self.served.dir, self.served.packagers = None, {}
        self._switched()

    # --- the standard variants ------------------------------------------------------------------------
    def refresh(self, key: Key) -> Timeline:
        """The timeline with what the on-air session's playlist lists now (read when it changed)."""
        timeline = self.standard[key]
        if self.dir is None:
            return timeline
        variant, rendition = key
        path = self.dir / variant / rendition / "index.m3u8"
        try:
            stat = path.stat()
            stamp = (str(path), stat.st_mtime_ns, stat.st_size)
            if self._stamps.get(key) == stamp:
                return timeline
            after = timeline.last if timeline.source == str(self.dir) else None
            parsed = parse_source(path.read_text(), after)
        except (OSError, ValueError):
            return timeline  # not written yet (or being replaced: a rename, read again next time)
        self._stamps[key] = stamp
        suffix = ".m4s" if self.fmp4[variant] else ".ts"
        updated = extend(timeline, str(self.dir), str(path.parent), parsed, suffix)
        self._drop(timeline, updated)
        self.standard[key] = updated
        return updated

    def refresh_all(self) -> None:
        for key in self.standard:
            self.refresh(key)
        self._dash_read()  # a live MPD seen at least once: a short session's start is known

    def playlist(self, key: Key) -> tuple[str, float] | None:
        """The served media playlist and its Last-Modified; None before any segment."""
        timeline = self.refresh(key)
        if not timeline.segments:
            return None
        cached = self._texts.get(key)
        if cached is None or cached[0] is not timeline or cached[1] != self.hold_end:
            ended = timeline.ended and self.config.hls.end_list_on_stop and not self.hold_end
            text = served_playlist(
                timeline.listed, segment_seconds=self.config.hls.segment_seconds, fmp4=self.fmp4[key[0]], ended=ended
            )
            modified = cached[3] if cached is not None and cached[2] == text else time.time()
            cached = (timeline, self.hold_end, text, modified)
            self._texts[key] = cached
        return cached[2], cached[3]

    def hold(self) -> None:
        """A released predecessor: its playlists never end (the viewers go on at its successor)."""
        self.hold_end = True
        for packager in self.packagers.values():
            packager.hold_end = True

    def file(self, key: Key, name: str) -> Path | None:
        """The file a served URI of playlist `key` names (a segment, an init segment)."""
        if key[0] in self.fmp4:
            path = self.standard[key].path_of(name)
        else:
            timeline = self.ll.get(key[1])
            path = timeline.path_of(name) if timeline is not None else None
        return Path(path) if path is not None else None

    # --- LL-HLS parts -----------------------------------------------------------------------------------
    @property
    def mirroring(self) -> bool:
        """A handover's successor serving its predecessor's mirrored window (no own session on air).
        Standard variants' timelines count too: a stream without LL-HLS has none else (its
        segments were never held: 404s across the multinode switchover)."""
        return self.dir is None and any(t.source == MIRROR for t in (*self.ll.values(), *self.standard.values()))

    def part(self, rendition: str, number: int) -> bytes | None:
        """LL-HLS part `number`: the packager's on air, or one of a complete segment of an earlier
        session's or of a mirrored predecessor's (a fragment of its file)."""
        packager = self.packagers.get(rendition)
        if packager is not None and (body := packager.parts.get(number)) is not None:
            return body
        timeline = self.ll.get(rendition)
        for s in reversed(timeline.segments if timeline is not None else ()):
            if s.first_part is None or s.first_part > number:
                continue
            fragments = self._fragments(s.path)
            index = number - s.first_part
            return fragments[index] if index < len(fragments) else None
        return None

    def segment_of_part(self, rendition: str, number: int) -> int | None:
        """The number of the complete segment of an earlier session (or of a mirrored predecessor)
        that part `number` is a fragment of; None when none of them has it."""
        timeline = self.ll.get(rendition)
        for s in reversed(timeline.segments if timeline is not None else ()):
            if s.first_part is not None and s.first_part <= number:
                return s.number if number - s.first_part < len(self._fragments(s.path)) else None
        return None

    def part_may_come(self, rendition: str, number: int) -> bool:
        """A part this ingest does not have yet but will within a blocking timeout: the packager's
        next one (the preload hint; an ended packager's is the next session's first). While it
        serves a predecessor's mirrored window, also any after its last mirrored segment's first
        part (the predecessor wrote it since the last poll, or will) up to two segments past the
        predecessor's next part: held until the mirror (or its own session) has it, not a 404 for
        what the predecessor has or will have. Beyond: never (404 at once, as the predecessor)."""
        packager = self.packagers.get(rendition)
        if packager is None:
            return False
        if number == packager.next_part:
            return True
        if not self.mirroring:
            return False
        timeline = self.ll.get(rendition)
        last = timeline.segments[-1] if timeline is not None and timeline.segments else None
        known = last.first_part if last is not None and last.first_part is not None else packager.next_part
        return known <= number < packager.next_part + 2 * packager.parts_per_segment()

    def segment_may_come(self, key: Key, number: int) -> bool:
        """While it serves a predecessor's mirrored window: a segment the predecessor completed since
        the last poll or is writing (the next two numbers), held until the mirror has it; also the
        init segment named after such a number (a session the predecessor put on air since the
        last poll: a planned switchover's backup relay)."""
        timeline = self.standard.get(key) if key[0] in self.fmp4 else self.ll.get(key[1])
        if not self.mirroring or timeline is None or timeline.next_number is None:
            return False
        return timeline.next_number <= number < timeline.next_number + 2

    def _fragments(self, path: str) -> list[bytes]:
        """A complete segment file's fragments (its parts), the last few read kept: files are
        renamed into place, never changed."""
        found = self._split.get(path)
        if found is None:
            try:
                found = fragments_of(Path(path).read_bytes())
            except OSError:
                return []
            self._split[path] = found
            while len(self._split) > SPLIT_SEGMENTS_KEPT:
                self._split.popitem(last=False)
        return found

    # --- a switch -------------------------------------------------------------------------------------
    def go_on_air(self, directory: Path, packagers: Mapping[str, LlHlsPackager]) -> None:
        """The session writing into `directory` (with `packagers`) goes on air: what the one before
        wrote last is taken, and the new one's numbers go on from there."""
        if directory == self.dir:
            return
        self._dash_goes_on_air(directory)
        self.refresh_all()
        self._take_low_latency()
        self.served.dir = directory
        self._stamps.clear()
        for key, timeline in self.standard.items():
            already: tuple[SourceSegment, ...] = ()
            try:
                path = directory / key[0] / key[1] / "index.m3u8"
                already = parse_source(path.read_text()).segments
            except (OSError, ValueError):
                pass  # a new session: nothing written yet
            self.standard[key] = begin(timeline, str(directory), unseen_from(timeline, already))
        self.served.packagers = packagers
        for name, packager in packagers.items():
            self._rebase(name, packager, str(directory))
        self.refresh_all()
        self._switched()

    def _switched(self) -> None:
        self.switched.set()
        self.switched = asyncio.Event()

    def _take_low_latency(self) -> None:
        """The segments the LL-HLS packagers on air completed, into their timelines."""
        for name, packager in self.packagers.items():
            timeline = self.ll.get(name)
            if timeline is None or timeline.source is None:
                continue
            updated = extend(timeline, timeline.source, str(packager.dir), packager_source(packager), ".m4s")
            self._drop(timeline, updated)
            self.ll[name] = updated
            self.next_part[name] = max(self.next_part.get(name, 0), packager.next_part)

    def _rebase(self, name: str, packager: LlHlsPackager, source: str) -> None:
        timeline = self.ll.get(name)
        if timeline is None:
            return
        current = packager.segments[-1] if packager.segments and not packager.segments[-1].complete else None
        if timeline.next_number is not None:
            first_msn = timeline.next_number
        else:
            first_msn = current.msn if current is not None else packager.next_msn
        if name in self.next_part:
            first_part = self.next_part[name]
        else:
            first_part = current.parts[0].number if current is not None and current.parts else packager.next_part
        sequence = timeline.discontinuity_sequence + (1 if timeline.segments else 0)
        init_uri = f"{INIT_PREFIX}{first_msn}.mp4"
        packager.rebase(first_msn, first_part, Continued(timeline.listed, init_uri, sequence))
        self.ll[name] = begin(timeline, source, init_uri=init_uri)

    def low_latency_playlist(self, name: str) -> HandoverPlaylist | None:
        """The LL-HLS rendition's complete segments served now (earlier sessions' and the packager's)."""
        timeline = self.ll.get(name)
        packager = self.packagers.get(name)
        if timeline is None:
            return None
        if packager is not None and timeline.source is not None:
            timeline = extend(timeline, timeline.source, str(packager.dir), packager_source(packager), ".m4s")
        next_part = max(self.next_part.get(name, 0), packager.next_part if packager is not None else 0)
        return exported("cmaf", name, timeline, low_latency=True, next_part=next_part)

    # --- a handover's successor --------------------------------------------------------------------------
    def multivariant_text(self) -> str | None:
        """The on-air session's multivariant playlist (a ladder's), or the adopted one."""
        if self.dir is None or not renditions(self.config):
            return self.multivariant
        for variant in ("cmaf", "ts"):
            with contextlib.suppress(OSError):
                return (self.dir / variant / "index.m3u8").read_text()
        return self.multivariant

    def adopt(self, playlists: list[HandoverPlaylist], directory: Path, multivariant: str | None = None) -> None:
        """Serve a predecessor's window (mirrored into `directory`/<variant>/<rendition>/), until a
        session of this ingest's own goes on air and continues it."""
        self.multivariant = multivariant
        for p in playlists:
            key = (p.variant, p.rendition)
            where = directory / p.variant / p.rendition
            segments = to_served(p, where)
            timeline = self.ll.get(p.rendition) if p.low_latency else self.standard.get(key)
            if timeline is None:
                continue
            last = segments[-1] if segments else None
            adopted = replace(
                timeline,
                segments=segments,
                source=MIRROR,
                offset=0,
                last=last.number if last else None,
                next_number=p.next_number if p.next_number is not None else (last.number + 1 if last else None),
                discontinuity_sequence=last.discontinuity_sequence if last else 0,
                init_uri=last.init_uri if last else None,
                ended=False,
                first_listed=p.first_listed,
            )
            if p.low_latency:
                self.ll[p.rendition] = adopted
                if p.next_part is not None:
                    self.next_part[p.rendition] = p.next_part
            else:
                self.standard[key] = adopted
                self._texts.pop(key, None)
        if self.dir is None:  # no own session yet: LL-HLS from idle packagers holding the window
            settings = packager_settings(self.config)
            idle = {}
            for name, timeline in self.ll.items():
                packager = LlHlsPackager(directory / "cmaf" / name, settings, first_msn=timeline.next_number or 0)
                sequence = timeline.discontinuity_sequence + 1
                packager.rebase(
                    timeline.next_number or 0,
                    self.next_part.get(name, 0),
                    Continued(timeline.listed, f"{INIT_PREFIX}{timeline.next_number or 0}.mp4", sequence),
                )
                idle[name] = packager
            self.served.packagers = idle
            self._switched()

    def exported(self) -> list[HandoverPlaylist]:
        """Every served playlist, for a successor (HandoverState.playlists)."""
        self.refresh_all()
        playlists = [exported(v, r, t) for (v, r), t in self.standard.items()]
        for name in self.ll:
            ll = self.low_latency_playlist(name)
            if ll is not None:
                playlists.append(ll)
        return playlists

    def next_numbers(self) -> list[int]:
        """The number each served playlist's next segment gets (the LL-HLS packagers' included)."""
        numbers = [t.next_number for t in self.standard.values() if t.next_number is not None]
        numbers += [p.next_msn for p in self.packagers.values() if p.segments]
        return numbers + [t.next_number for t in self.ll.values() if t.next_number is not None]

    # --- DASH -----------------------------------------------------------------------------------------
    @property
    def dash_continued(self) -> bool:
        """Standard DASH is served across sessions; low-latency DASH (a number template dash.js
        computes from the clock, segments sent as they are written) is the on-air session's."""
        return bool(self.config.dash) and not self.config.dash_low_latency

    def _dash_goes_on_air(self, directory: Path) -> None:
        if not self.dash_continued:
            return
        now = time.time()
        if self.dash_sessions:
            self._dash_read()  # its last segments
            current = self.dash_sessions[-1]
            current.off_air, current.live = now, False
        self._dash_forget(now)
        used = {s.key for s in self.dash_sessions}
        key = directory.name if directory.name not in used else f"{directory.name}~{int(now * 1000)}"
        written: dict[str, int] = {}
        if self.dash_sessions:  # what it wrote while another was on air is not served (HLS: go_on_air)
            with contextlib.suppress(OSError, ValueError, ET.ParseError):
                written = written_numbers((directory / "dash" / DASH_MANIFEST_NAME).read_text())
        self.dash_sessions.append(DashSession(key, directory, written=written))
        self._dash_text = None

    def _dash_forget(self, now: float) -> None:
        """Sessions off the air for longer than the window (and a minute) go, with their files."""
        horizon = now - self.window * self.config.hls.segment_seconds - DASH_KEPT_SECONDS
        kept = [s for s in self.dash_sessions if s.off_air is None or s.off_air >= horizon]
        if len(kept) < len(self.dash_sessions):
            self.dash_sessions, self._dash_text = kept, None

    def _dash_read(self) -> None:
        """The on-air session's MPD, read when it changed; its availabilityStartTime kept from a
        live one (FFmpeg's last MPD is static, without it)."""
        current = self.dash_sessions[-1] if self.dash_sessions else None
        if current is None or not current.live:
            return
        path = current.dir / "dash" / DASH_MANIFEST_NAME
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == current.stamp:
                return
            text = path.read_text()
            start = availability_start(text)
        except (OSError, ValueError, ET.ParseError):
            return  # not written yet (FFmpeg renames it into place: read again next time)
        current.mpd, current.stamp = text, stamp
        if start is not None:
            self._dash_head = text
            current.available_from = start
            if self.dash_anchor is None:
                self.dash_anchor = start

    def dash_manifest(self) -> tuple[str, float] | None:
        """The served MPD across sessions and its Last-Modified; None before the first MPD."""
        self._dash_read()
        placed = [s for s in self.dash_sessions if s.mpd is not None and s.available_from is not None]
        if self.dash_anchor is None or not placed:
            return None
        # FFmpeg's MPD of a session that ended is static: served as it is only where the HLS
        # playlists end too (endListOnStop; never on a released predecessor: its successor goes on).
        ends = self.config.hls.end_list_on_stop and not self.hold_end
        stamp = (*((s.key, s.stamp, s.live) for s in placed), ends)
        if self._dash_text is None or self._dash_text[0] != stamp:
            sessions = [SessionMpd(s.key, s.mpd or "", s.available_from or 0.0, s.written, s.off_air) for s in placed]
            head = None if ends or self._dash_head is None or placed[-1].mpd == self._dash_head else self._dash_head
            try:
                served = served_mpd(sessions, self.dash_anchor, time.time(), head)
            except (ValueError, ET.ParseError):
                return None
            self._dash_text = (stamp, served, time.time())
        return self._dash_text[1], self._dash_text[2]

    def dash_exported(self) -> HandoverDash | None:
        """The DASH Periods served now, for a successor (HandoverState.dash)."""
        self._dash_read()
        placed = [s for s in self.dash_sessions if s.mpd is not None and s.available_from is not None]
        if self.dash_anchor is None or not placed:
            return None
        periods = []
        for s in placed[-HANDOVER_DASH_PERIODS_MAX:]:
            text = s.mpd or ""
            try:
                names = files_of(text)
            except ET.ParseError:
                continue
            listed = [n for n in names if (s.dir / "dash" / n).is_file()]
            periods.append(
                HandoverDashPeriod(
                    key=s.key, mpd=text, available_from=s.available_from or 0.0,
                    written=s.written, off_air=s.off_air, files=listed,
                )
            )  # fmt: skip
        return HandoverDash(anchor=self.dash_anchor, periods=periods, head=self._dash_head)

    def adopt_dash(self, dash: HandoverDash | None, directory: Path) -> None:
        """Serve a predecessor's DASH Periods (their files mirrored into `directory`/<key>/dash/),
        until a session of this ingest's own goes on air and adds its Period after them."""
        if dash is None or not self.dash_continued or self.dir is not None:
            return
        self.dash_anchor, self._dash_head, self._dash_text = dash.anchor, dash.head, None
        self.dash_sessions = [
            DashSession(
                p.key, directory / p.key, written=dict(p.written), off_air=p.off_air,
                mpd=p.mpd, available_from=p.available_from, live=False,
            )
            for p in dash.periods
        ]  # fmt: skip

    def dash_file(self, key: str, name: str) -> Path | None:
        """A file of the DASH session whose Period's BaseURL is `key`."""
        for s in self.dash_sessions:
            if s.key == key:
                return s.dir / "dash" / name
        return None

    # --- files ----------------------------------------------------------------------------------------
    def _drop(self, before: Timeline, after: Timeline) -> None:
        """Delete the files of earlier sessions' segments that left the window and the grace (the
        on-air session's own FFmpeg and packager delete theirs)."""
        kept = {s.path for s in after.segments}
        current = str(self.dir) if self.dir is not None else None
        for s in before.segments:
            if s.path not in kept and (current is None or not s.path.startswith(current + "/")):
                Path(s.path).unlink(missing_ok=True)

    def directories_in_use(self) -> set[Path]:
        """Session directories that still hold a served segment."""
        folders = {os.path.dirname(s.path) for t in (*self.standard.values(), *self.ll.values()) for s in t.segments}
        self._dash_forget(time.time())
        folders.update(str(s.dir / "dash") for s in self.dash_sessions)
        used: set[Path] = set()
        for folder in folders:  # a few: one per session, variant and rendition
            used.update(Path(folder).parents)
            used.add(Path(folder))
        return used


@dataclass
class DashSession:
    """A session on air since the first (DASH): its BaseURL folder, directory, what it wrote before it
    went on air, when it left the air (epoch seconds), its MPD as last read."""

    key: str
    dir: Path
    written: dict[str, int] = field(default_factory=dict)  # dash_periods.written_numbers when it went on air
    off_air: float | None = None
    mpd: str | None = None
    available_from: float | None = None  # its live MPD's availabilityStartTime
    stamp: tuple[int, int] | None = None  # (mtime, size) of its MPD when read
    live: bool = True  # on air: its MPD is read again when it changes


def exported(
    variant: str, rendition: str, timeline: Timeline, *, low_latency: bool = False, next_part: int | None = None
) -> HandoverPlaylist:
    return HandoverPlaylist(
        variant="cmaf" if variant == "cmaf" else "ts",
        rendition=rendition,
        low_latency=low_latency,
        segments=[
            HandoverSegment(
                number=s.number,
                duration=s.duration,
                uri=s.uri,
                discontinuity=s.discontinuity,
                discontinuity_sequence=s.discontinuity_sequence,
                program_date_time=s.program_date_time,
                init_uri=s.init_uri,
                first_part=s.first_part,
            )
            for s in timeline.segments
        ],
        next_number=timeline.next_number,
        next_part=next_part,
        ended=timeline.ended,
        first_listed=timeline.listed[0].number if timeline.listed else None,
    )
