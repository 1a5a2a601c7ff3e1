"""The served MPD across an ingest's sessions (a publisher's reconnect, a switch to or from the
backup), pure: one Period per session, the MPD's availabilityStartTime fixed at the first session's;
each Period starts where its session went on air (its own availabilityStartTime, or the switch;
never before the Period before it ended), lists its segments under a BaseURL of its own (the
session's directory name: never one URL for two sessions' files, a worker's restart included) and
its SegmentTimeline cut to what was served (a presentationTimeOffset where it starts late, the
startNumber moved on by the segments cut). FFmpeg's dash muxer writes one Period per session with
its own availabilityStartTime and numbers from 1; ISO 23009-1 says availabilityStartTime shall not
change across MPD updates, and dash.js keeps counting from its old position when it does. Why and
what players do with it: docs/design/handover.md (DASH).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

NS = "urn:mpeg:dash:schema:mpd:2011"
_Q = "{" + NS + "}"
for _prefix, _uri in (
    ("", NS),
    ("xsi", "http://www.w3.org/2001/XMLSchema-instance"),
    ("xlink", "http://www.w3.org/1999/xlink"),
):
    ET.register_namespace(_prefix, _uri)
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?$")


@dataclass(frozen=True)
class SessionMpd:
    """One session's part of the served MPD: `key` its BaseURL folder (the session directory's
    name), `mpd` its MPD (live, or as it was when it left the air: FFmpeg's last one is static, with
    no availabilityStartTime), `available_from` its live MPD's availabilityStartTime (epoch seconds),
    `written`: per Representation id, the last number it wrote before it went on air (its MPD
    then: written_numbers), `off_air`: when it left the air (epoch seconds; None: on air)."""

    key: str
    mpd: str
    available_from: float
    written: Mapping[str, int] = field(default_factory=dict)
    off_air: float | None = None


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds_of(duration: str | None) -> float:
    """An xs:duration as FFmpeg writes them (PT1H2M3.5S); 0 for None."""
    match = _DURATION.match(duration or "")
    if match is None:
        return 0.0
    hours, minutes, secs = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0)


def availability_start(mpd: str) -> float | None:
    """A session's live MPD's availabilityStartTime (epoch seconds); None in a static one (FFmpeg's
    last). ValueError: not an MPD."""
    root = ET.fromstring(mpd)
    if root.tag != _Q + "MPD":
        raise ValueError("not an MPD")
    value = root.get("availabilityStartTime")
    return epoch(value) if value is not None else None


def served_mpd(sessions: Sequence[SessionMpd], anchor: float, now: float, head: str | None = None) -> str:
    """The MPD of `sessions` (oldest first), with availabilityStartTime `anchor` (the first
    session's: fixed for the ingest's life); the MPD element's other attributes the last session's,
    or `head`'s (a live MPD: the on-air session's ended, and the next one continues: no static MPD,
    which ends a player). An earlier session's Period goes once its last segment is older than the
    time shift buffer. ValueError: an MPD without a Period."""
    roots = [ET.fromstring(s.mpd) for s in sessions]
    root = ET.fromstring(head) if head is not None else roots[-1]
    depth = seconds_of(root.get("timeShiftBufferDepth")) or float("inf")
    periods: list[ET.Element] = []
    ended = anchor
    for i, (session, mpd) in enumerate(zip(sessions, roots, strict=True)):
        period = mpd.find(_Q + "Period")
        if period is None:
            raise ValueError("an MPD without a Period")
        own = session.available_from + seconds_of(period.get("start"))
        representations = list(period.iter(_Q + "Representation"))
        video = [r.get("mimeType", "").startswith("video/") for r in representations]
        cuts = [(v, t) for r, v in zip(representations, video, strict=True) if (t := _cut(r, own, session)) is not None]
        timelines = [t for _, t in cuts]
        kept = [(template, scale, segments) for template, scale, segments in timelines if segments]
        if not kept or any(v and not t[2] for v, t in cuts):
            if periods or i < len(sessions) - 1:
                continue  # on air without a segment of each Representation yet: its Period comes then
            kept_start, last_end = own, own
        else:
            kept_start = min(own + segments[0][0] / scale for _, scale, segments in kept)
            last_end = max(own + sum(segments[-1]) / scale for _, scale, segments in kept)
        if i < len(sessions) - 1 and last_end < now - depth:
            continue  # nothing of it served any more
        # Where its first segment plays: never before the Period before ended (the sessions'
        # clocks are FFmpeg's availabilityStartTime, read apart: a reconnect's may overlap a little).
        start = max(kept_start, ended)
        for template, scale, segments in timelines:
            # The media time playing at the Period's start, the same instant for every
            # Representation (audio and video keep their sync), a segment never before its own
            # wall time (never announced before it is written).
            offset = min(round((start - own) * scale), segments[0][0] if segments else round((start - own) * scale))
            if offset > 0:
                template.set("presentationTimeOffset", str(offset))
        period.set("id", session.key)
        period.set("start", f"PT{max(0.0, start - anchor):.3f}S")
        base = ET.Element(_Q + "BaseURL")
        base.text = f"{session.key}/"
        period.insert(0, base)
        periods.append(period)
        ended = max(start, last_end)
    for old in [*root.findall(_Q + "Period"), *root.findall(_Q + "BaseURL")]:
        root.remove(old)
    root.set("availabilityStartTime", iso(anchor))
    if root.get("mediaPresentationDuration") is not None:  # the session on air ended (a static MPD)
        root.set("mediaPresentationDuration", f"PT{max(0.0, ended - anchor):.3f}S")
    root.extend(periods)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _cut(
    representation: ET.Element, own: float, session: SessionMpd
) -> tuple[ET.Element, int, list[tuple[int, int]]] | None:
    """A Representation's SegmentTimeline cut to what `session` served: not the segments it wrote
    before it went on air (numbers up to `session.written`'s for it: startNumber moves on past
    them), nor those beginning after it left the air. (its SegmentTemplate, timescale, (t, d) kept);
    None without a template."""
    template = representation.find(_Q + "SegmentTemplate")
    if template is None:
        return None
    timeline = template.find(_Q + "SegmentTimeline")
    scale = int(template.get("timescale", "1"))
    if timeline is None:
        return template, scale, []
    segments = _expanded(timeline)
    number = int(template.get("startNumber", "1"))
    written = session.written.get(representation.get("id", ""), 0)
    cut = min(len(segments), max(0, written - number + 1))
    kept = [(t, d) for t, d in segments[cut:] if session.off_air is None or own + t / scale < session.off_air]
    template.set("startNumber", str(number + cut))
    for s in list(timeline):
        timeline.remove(s)
    timeline.extend(_compressed(kept))
    return template, scale, kept


def _compressed(segments: list[tuple[int, int]]) -> list[ET.Element]:
    """S elements for `segments`: one per run of equal durations that follow one another (r)."""
    out: list[ET.Element] = []
    end: int | None = None
    for t, d in segments:
        last = out[-1] if out else None
        if last is not None and t == end and int(last.get("d", "0")) == d:
            last.set("r", str(int(last.get("r", "0")) + 1))
        else:
            attributes = {"d": str(d)} if t == end else {"t": str(t), "d": str(d)}
            out.append(ET.Element(_Q + "S", attributes))
        end = t + d
    return out


def written_numbers(mpd: str) -> dict[str, int]:
    """The last $Number$ each Representation's timeline lists (what a session wrote before it went
    on air: a backup's relay prepared beforehand, a primary's own session at a switch back)."""
    found: dict[str, int] = {}
    for representation in ET.fromstring(mpd).iter(_Q + "Representation"):
        template = representation.find(_Q + "SegmentTemplate")
        timeline = template.find(_Q + "SegmentTimeline") if template is not None else None
        if template is not None and timeline is not None:
            count = len(_expanded(timeline))
            if count:
                found[representation.get("id", "")] = int(template.get("startNumber", "1")) + count - 1
    return found


def _expanded(timeline: ET.Element) -> list[tuple[int, int]]:
    """(t, d) of every segment an S list names (its r repeats, t carried on where omitted)."""
    out: list[tuple[int, int]] = []
    t = 0
    for s in timeline.findall(_Q + "S"):
        t = int(s.get("t", t))
        d = int(s.get("d", "0"))
        for _ in range(int(s.get("r", "0")) + 1):
            out.append((t, d))
            t += d
    return out


def files_of(mpd: str) -> list[str]:
    """The files a session's MPD names: each Representation's init segment and listed segments."""
    names: list[str] = []
    for representation in ET.fromstring(mpd).iter(_Q + "Representation"):
        template = representation.find(_Q + "SegmentTemplate")
        timeline = template.find(_Q + "SegmentTimeline") if template is not None else None
        if template is None or timeline is None:
            continue
        rid = representation.get("id", "")
        init, media = template.get("initialization"), template.get("media")
        if init:
            names.append(init.replace("$RepresentationID$", rid))
        number = int(template.get("startNumber", "1"))
        for _ in _expanded(timeline):
            if media:
                names.append(media.replace("$RepresentationID$", rid).replace("$Number%06d$", f"{number:06d}"))
            number += 1
    return names
