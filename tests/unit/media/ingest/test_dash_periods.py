"""The served MPD across sessions (streamops.media.ingest.dash_periods), from MPDs shaped as FFmpeg's
dash muxer writes them: the availabilityStartTime stays the first session's, a Period per session
starting where it went on air and never before the one before ended, its own BaseURL, its timeline
cut to what was served (numbers moved on, a presentationTimeOffset where it starts late), earlier
Periods gone once out of the time shift buffer. With FFmpeg: tests/media/test_dash_continuity.py."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from streamops.media.ingest.dash_periods import (
    SessionMpd,
    availability_start,
    epoch,
    files_of,
    iso,
    served_mpd,
    written_numbers,
)

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
T0 = 1_800_000_000.0


def mpd(start: float, segments: int, *, first: int = 1, t: int = 0, live: bool = True) -> str:
    """A session's MPD: 1 s video segments (timescale 1000) and audio (48000), numbered from `first`."""
    head = (
        f'type="dynamic" availabilityStartTime="{iso(start)}" timeShiftBufferDepth="PT30.0S"'
        if live
        else 'type="static" mediaPresentationDuration="PT9.0S"'
    )
    video = f'<S t="{t}" d="1000" r="{segments - 1}" />' if segments else ""
    audio = f'<S t="{t * 48}" d="48000" r="{segments - 1}" />' if segments else ""
    names = 'initialization="init-$RepresentationID$.m4s" media="chunk-$RepresentationID$-$Number%06d$.m4s"'
    return f"""<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" {head} minBufferTime="PT2.0S">
 <Period id="0" start="PT0.0S">
  <AdaptationSet id="0" contentType="video"><Representation id="0" mimeType="video/mp4">
   <SegmentTemplate timescale="1000" {names} startNumber="{first}">
    <SegmentTimeline>{video}</SegmentTimeline></SegmentTemplate></Representation></AdaptationSet>
  <AdaptationSet id="1" contentType="audio"><Representation id="1" mimeType="audio/mp4">
   <SegmentTemplate timescale="48000" {names} startNumber="{first}">
    <SegmentTimeline>{audio}</SegmentTimeline></SegmentTemplate></Representation></AdaptationSet>
 </Period>
</MPD>
"""  # fmt: skip


def periods(text: str) -> list[tuple[str, float, str, int, list[tuple[str | None, str, str | None]], str | None]]:
    """(id, start, BaseURL, the video startNumber, its S list (t, d, r), its presentationTimeOffset)."""
    out = []
    for p in ET.fromstring(text).findall("d:Period", NS):
        template = p.find(".//d:Representation[@id='0']/d:SegmentTemplate", NS)
        assert template is not None
        s = [(e.get("t"), e.get("d") or "", e.get("r")) for e in template.findall("d:SegmentTimeline/d:S", NS)]
        start = float((p.get("start") or "").removeprefix("PT").removesuffix("S"))
        out.append((p.get("id") or "", start, p.findtext("d:BaseURL", "", NS), int(template.get("startNumber") or 0), s,
                    template.get("presentationTimeOffset")))  # fmt: skip
    return out


def test_one_session_is_served_as_ffmpeg_wrote_it_under_its_own_base_url():
    text = served_mpd([SessionMpd("a", mpd(T0, 3), T0)], T0, T0 + 4)
    assert ET.fromstring(text).get("availabilityStartTime") == iso(T0)
    assert periods(text) == [("a", 0.0, "a/", 1, [("0", "1000", "2")], None)]


def test_a_reconnect_adds_a_period_where_its_session_began_and_the_start_time_stays():
    first = mpd(T0, 5, live=False)  # FFmpeg's last MPD of a session: static, no availabilityStartTime
    assert availability_start(first) is None and availability_start(mpd(T0, 1)) == T0
    text = served_mpd([SessionMpd("a", first, T0, off_air=T0 + 7), SessionMpd("b", mpd(T0 + 7, 2), T0 + 7)], T0, T0 + 9)
    root = ET.fromstring(text)
    assert root.get("availabilityStartTime") == iso(T0) and root.get("type") == "dynamic"
    assert periods(text) == [
        ("a", 0.0, "a/", 1, [("0", "1000", "4")], None),
        ("b", 7.0, "b/", 1, [("0", "1000", "1")], None),
    ]


def test_a_session_whose_clock_overlaps_the_one_before_starts_after_it():
    text = served_mpd(
        [SessionMpd("a", mpd(T0, 5), T0, off_air=T0 + 5.2), SessionMpd("b", mpd(T0 + 4.6, 2), T0 + 4.6)], T0, T0 + 7
    )
    (_, _, _, _, _, _), (_, start, _, number, timeline, offset) = periods(text)
    assert start == 5.0 and number == 1 and timeline == [("0", "1000", "1")], "nothing dropped: it plays later"
    assert offset is None, "its first segment plays at the Period's start"


def test_a_switch_serves_what_each_session_had_on_air_only():
    # The primary (a) on air until T0+6, then its backup's relay session (b): it wrote segments 1-4
    # before it went on air (from T0+2), which are not served again.
    backup = mpd(T0 + 2, 8)
    written = written_numbers(mpd(T0 + 2, 4))
    assert written == {"0": 4, "1": 4}
    text = served_mpd(
        [SessionMpd("a", mpd(T0, 9), T0, off_air=T0 + 6), SessionMpd("b", backup, T0 + 2, written)], T0, T0 + 10
    )
    (_, _, _, _, a, _), (_, start, _, number, b, offset) = periods(text)
    assert a == [("0", "1000", "5")], "a's segments that began before it left the air"
    assert (start, number, b) == (6.0, 5, [("4000", "1000", "3")])
    assert offset == "4000", "b's media time 4 s plays at the Period's start"


def test_an_earlier_period_goes_once_out_of_the_time_shift_buffer():
    sessions = [SessionMpd("a", mpd(T0, 3), T0, off_air=T0 + 3), SessionMpd("b", mpd(T0 + 10, 2), T0 + 10)]
    assert [p[0] for p in periods(served_mpd(sessions, T0, T0 + 20))] == ["a", "b"]
    assert [p[0] for p in periods(served_mpd(sessions, T0, T0 + 40))] == ["b"]
    assert ET.fromstring(served_mpd(sessions, T0, T0 + 40)).get("availabilityStartTime") == iso(T0), "never moves"


def test_a_new_session_waits_for_its_first_video_segment():
    text = served_mpd(
        [SessionMpd("a", mpd(T0, 3), T0, off_air=T0 + 3), SessionMpd("b", mpd(T0 + 4, 0), T0 + 4)], T0, T0 + 4.5
    )
    assert [p[0] for p in periods(text)] == ["a"]
    assert epoch(iso(T0 + 0.5)) == T0 + 0.5


def test_a_sessions_files_are_its_init_segments_and_listed_segments():
    assert files_of(mpd(T0, 2, first=7)) == [
        "init-0.m4s",
        "chunk-0-000007.m4s",
        "chunk-0-000008.m4s",
        "init-1.m4s",
        "chunk-1-000007.m4s",
        "chunk-1-000008.m4s",
    ]
