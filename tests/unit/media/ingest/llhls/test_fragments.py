"""Reading FFmpeg's fragmented MP4 as it streams out of a pipe (media/ingest/llhls/fragments.py): the
tracks of the init segment, a fragment's start, duration and whether it starts on a keyframe (of its
video track when it has one), and the stream split into whole boxes whatever the pieces it arrives in.
The fMP4 is built by hand (devtools.media.fmp4_boxes); FFmpeg's own: tests/media/test_llhls.py."""

from __future__ import annotations

import pytest
from devtools.media.fmp4_boxes import (
    AUDIO_TIMESCALE,
    AUDIO_TRACK,
    VIDEO_TIMESCALE,
    VIDEO_TRACK,
    box,
    fragment,
    init_segment,
    video_seconds,
)
from streamops.media.ingest.llhls.fragments import Fragment, FragmentedStream, InitSegment, Track


def test_the_init_segment_names_its_tracks_and_their_defaults():
    init = InitSegment.parse(init_segment(trex_duration=3000))
    assert init.tracks == {
        VIDEO_TRACK: Track("video", VIDEO_TIMESCALE, 3000, 0),
        AUDIO_TRACK: Track("audio", AUDIO_TIMESCALE, 1024, 0),
    }
    with pytest.raises(ValueError, match="no moov"):
        InitSegment.parse(box(b"ftyp", bytes(8)))
    with pytest.raises(ValueError, match="no track"):
        InitSegment.parse(box(b"moov"))


def test_a_fragment_is_timed_by_its_video_track_and_independent_when_it_starts_on_a_keyframe():
    init = InitSegment.parse(init_segment())
    part = Fragment.parse(fragment(2 * VIDEO_TIMESCALE, video_seconds(0.2), audio_time=96_000), init)
    assert (part.start, round(part.duration, 6), part.independent) == (2.0, 0.2, True)
    later = Fragment.parse(fragment(int(2.2 * VIDEO_TIMESCALE), video_seconds(0.2), keyframe=False), init)
    assert later.start == pytest.approx(2.2) and not later.independent
    with pytest.raises(ValueError, match="without moof"):
        Fragment.parse(box(b"mdat"), init)


def test_an_audio_only_fragment_is_always_independent():
    audio_only = InitSegment.parse(init_segment())
    moof_of_audio = fragment(0, [3000], audio_time=48_000)
    # Only the audio track known: the video traf is ignored, the audio's timing counts.
    init = InitSegment(audio_only.data, {AUDIO_TRACK: audio_only.tracks[AUDIO_TRACK]})
    part = Fragment.parse(moof_of_audio, init)
    assert (part.start, part.duration, part.independent) == (1.0, 2048 / AUDIO_TIMESCALE, True)


def test_the_stream_yields_the_init_then_each_whole_fragment_whatever_the_pieces():
    data = init_segment() + fragment(0, video_seconds(0.2)) + fragment(18_000, video_seconds(0.2), keyframe=False)
    stream = FragmentedStream()
    found: list[InitSegment | Fragment] = []
    for i in range(0, len(data), 7):
        found.extend(stream.feed(data[i : i + 7]))
    init, first, second = found
    assert isinstance(init, InitSegment) and init.data == init_segment() and stream.init is init
    assert isinstance(first, Fragment) and first.independent and first.data == fragment(0, video_seconds(0.2))
    assert isinstance(second, Fragment) and not second.independent and second.start == 0.2
    assert stream.buffer == bytearray()
    with pytest.raises(ValueError, match="malformed box"):
        FragmentedStream().feed(b"\x00\x00\x00\x04moof")
