"""LL-HLS packaging of one rendition (media/ingest/llhls/packager.py) from hand-built fMP4
(devtools.media.fmp4_boxes): a keyframe part begins a new segment once the current one is long
enough, segments on disk within the window, parts served from memory, blocking reloads answered when
the part arrives, refused too far ahead, and the end. With FFmpeg: tests/media/test_llhls.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from devtools.media.fmp4_boxes import VIDEO_TIMESCALE, fragment, init_segment, video_seconds
from streamops.media.ingest.llhls.packager import (
    SEGMENT_FILES_KEPT_BEYOND_WINDOW,
    LlHlsPackager,
    PackagerSettings,
    PlaylistRequestError,
)
from streamops.media.ingest.llhls.playlist import INIT_URI, segment_uri

SETTINGS = PackagerSettings(segment_seconds=1, part_seconds=0.2, window_segments=2, end_list_on_stop=True)
PART = int(0.2 * VIDEO_TIMESCALE)


def parts(packager: LlHlsPackager, first: int, count: int) -> None:
    """`count` parts of 0.2 s from part number `first` on, a keyframe every fifth (every 1 s)."""
    for n in range(first, first + count):
        packager.feed(fragment(n * PART, video_seconds(0.2), keyframe=n % 5 == 0))


def test_keyframe_parts_begin_segments_written_to_disk_within_the_window(tmp_path: Path):
    packager = LlHlsPackager(tmp_path, SETTINGS, first_msn=100)
    assert not packager.has_media and asyncio.run(packager.playlist()) is None
    packager.feed(init_segment())
    assert (tmp_path / INIT_URI).read_bytes() == init_segment()
    parts(packager, 0, 11)  # segments 100 and 101 complete, 102 begun with one part
    assert [(s.msn, s.complete, len(s.parts)) for s in packager.segments] == [
        (100, True, 5),
        (101, True, 5),
        (102, False, 1),
    ]
    assert (tmp_path / segment_uri(100)).read_bytes() == b"".join(
        fragment(n * PART, video_seconds(0.2), keyframe=n % 5 == 0) for n in range(5)
    )
    parts(packager, 11, 10)  # 102 and 103 complete: 100 and 101 leave the playlist
    assert [s.msn for s in packager.segments] == [102, 103, 104]
    assert (tmp_path / segment_uri(100)).exists(), "kept a little longer, for players that read the playlist before"
    text = asyncio.run(packager.playlist())
    assert text is not None and "#EXT-X-MEDIA-SEQUENCE:102" in text and "#EXT-X-PRELOAD-HINT" in text
    assert 0 not in packager.parts and packager.next_part - 1 in packager.parts, "old parts go, recent ones stay"


def test_a_blocking_reload_is_answered_when_its_part_arrives_and_refused_too_far_ahead(tmp_path: Path):
    async def scenario() -> None:
        packager = LlHlsPackager(tmp_path, SETTINGS, first_msn=1)
        packager.feed(init_segment())
        parts(packager, 0, 6)  # segment 1 complete, segment 2 has part 0
        waiting = asyncio.create_task(packager.playlist(msn=2, part=1))
        next_part = asyncio.create_task(packager.part(packager.next_part))
        await asyncio.sleep(0)
        assert not waiting.done() and not next_part.done()
        parts(packager, 6, 1)
        text = await asyncio.wait_for(waiting, 5)
        assert text is not None and text.count("#EXT-X-PART:") >= 7
        assert await asyncio.wait_for(next_part, 5) == packager.parts[6]
        with pytest.raises(PlaylistRequestError):
            await packager.playlist(msn=5)
        assert await packager.part(999) is None

        packager.finish()
        ended = await packager.playlist()
        assert ended is not None and ended.rstrip().endswith("#EXT-X-ENDLIST") and packager.segments[-1].complete
        assert await packager.playlist(msn=3) is None, "never coming: answered at once, not after the timeout"

    asyncio.run(scenario())


def test_segment_files_beyond_the_window_and_its_grace_are_deleted(tmp_path: Path):
    """A session's segment files once filled the media emptyDir: the files to delete were counted
    among the listed segments, which never exceed the window."""
    packager = LlHlsPackager(tmp_path, SETTINGS, first_msn=100)
    packager.feed(init_segment())
    parts(packager, 0, 100)  # 20 segments
    files = sorted(f.name for f in tmp_path.iterdir() if f.name != INIT_URI)
    listed = [s.msn for s in packager.segments if s.complete]
    assert len(files) == len(listed) + SEGMENT_FILES_KEPT_BEYOND_WINDOW
    assert files == sorted(segment_uri(n) for n in range(listed[0] - SEGMENT_FILES_KEPT_BEYOND_WINDOW, listed[-1] + 1))


def test_a_session_going_on_air_after_another_continues_its_numbers_and_window(tmp_path: Path):
    """rebase(): the packager of the next session takes the next segment and part numbers, lists the
    earlier sessions' segments first, a discontinuity and its own init URI; blocking reloads for the
    earlier numbers answer at once (docs/design/handover.md)."""
    from streamops.media.ingest.hls_timeline import ServedSegment
    from streamops.media.ingest.llhls.packager import Continued

    earlier = tuple(
        ServedSegment(n, 1.0, segment_uri(n), f"/old/{n}", False, 0, "2026-11-29T21:00:00.000Z", "init-0.mp4", None)
        for n in (40, 41)
    )

    async def scenario() -> None:
        packager = LlHlsPackager(tmp_path, SETTINGS)  # numbered from the wall clock until rebased
        packager.feed(init_segment())
        parts(packager, 0, 2)  # the first segment begun before the session went on air
        packager.rebase(42, 77, Continued(earlier, "init-1.mp4", 1))
        assert await packager.playlist(msn=41) is not None, "an earlier session's segment: at once"
        parts(packager, 2, 4)  # segment 42 complete, 43 begun
        text = await packager.playlist()
        assert text is not None
        assert [s.msn for s in packager.segments] == [42, 43] and sorted(packager.parts)[0] == 77
        assert (tmp_path / segment_uri(42)).exists()
        assert "#EXT-X-MEDIA-SEQUENCE:41\n" in text and '#EXT-X-MAP:URI="init-0.mp4"' in text
        after = text.partition("#EXT-X-DISCONTINUITY\n")[2]
        assert after.startswith('#EXT-X-MAP:URI="init-1.mp4"\n') and "seg-42.m4s" in after
        assert 'URI="part-77.m4s"' in after and 'PRELOAD-HINT:TYPE=PART,URI="part-83.m4s"' in text
        assert text.count("#EXTINF") == 2, "the window (2 segments): 41 and 42"

    asyncio.run(scenario())
