"""The served HLS across sessions (streamops.media.ingest.continuity) on files FFmpeg's hls muxer
would write, without FFmpeg: a switch continues the numbers, an earlier session's files go once they
leave the window, and a successor that adopts a predecessor's exported state serves the very same
playlist, then continues it with its own session. With FFmpeg: tests/media/test_continuity.py."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from streamops.contract.ingest import HandoverState, IngestConfig
from streamops.media.ingest.continuity import Continuity
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.served_media import ServedMedia

log = logging.getLogger("test.continuity")
CONFIG = IngestConfig.model_validate(
    {"stream": "cam", "source": {"push": {}}, "hls": {"cmaf": False, "mpegts": True, "segmentSeconds": 2}}
)
KEY = ("ts", "")
WINDOW = 6  # the window without DVR (commands.NON_DVR_PLAYLIST_SEGMENTS)


def session(root: Path, name: str, first: int, count: int) -> Path:
    """A session directory whose FFmpeg playlist lists `count` segments from `first` on (files written)."""
    directory = root / name / "ts"
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    for n in range(first, first + count):
        (directory / f"seg-{n}.ts").write_bytes(f"{name}-{n}".encode())
        lines += ["#EXT-X-PROGRAM-DATE-TIME:2026-11-29T21:00:00.000+0000", "#EXTINF:2.000000,", f"seg-{n}.ts"]
    (directory / "index.m3u8").write_text("\n".join(lines) + "\n")
    return root / name


def continuity() -> Continuity:
    return Continuity(CONFIG, ServedMedia(FeedHub(), FeedHub()), log)


def test_a_switch_continues_the_numbers_and_old_files_go_as_they_leave_the_window(tmp_path):
    served = continuity()
    served.go_on_air(session(tmp_path, "a", 1764450000, 0), {})  # on air at its first byte: no segment yet
    first = session(tmp_path, "a", 1764450000, 3)
    served.go_on_air(session(tmp_path, "b", 1764450100, 0), {})
    second = session(tmp_path, "b", 1764450100, 1)
    text, _ = served.playlist(KEY) or ("", 0.0)
    assert "#EXT-X-MEDIA-SEQUENCE:1764450000\n" in text and text.count("#EXT-X-DISCONTINUITY\n") == 1
    assert text.endswith("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-11-29T21:00:00.000+0000\n"
                         "#EXTINF:2.000000,\nseg-1764450003.ts\n")  # fmt: skip
    assert served.file(KEY, "seg-1764450003.ts") == second / "ts" / "seg-1764450100.ts"
    session(tmp_path, "b", 1764450100, 9)  # the window (6) and its grace (2) hold b's segments only
    served.refresh(KEY)
    assert not (first / "ts" / "seg-1764450000.ts").exists(), "left the window and the grace"
    assert first not in served.directories_in_use() and second in served.directories_in_use()


def test_a_successor_serves_the_same_playlist_then_continues_it(tmp_path):
    async def scenario() -> None:
        predecessor = continuity()
        predecessor.go_on_air(session(tmp_path / "p", "a", 500, 0), {})
        session(tmp_path / "p", "a", 500, 4)
        state = HandoverState.model_validate_json(HandoverState(playlists=predecessor.exported()).to_json())
        successor = continuity()
        successor.adopt(state.playlists, tmp_path / "mirror")
        assert successor.playlist(KEY) is not None and predecessor.playlist(KEY) is not None
        assert successor.playlist(KEY)[0] == predecessor.playlist(KEY)[0], "byte-identical"  # type: ignore[index]
        assert successor.file(KEY, "seg-503.ts") == tmp_path / "mirror" / "ts" / "seg-503.ts"
        successor.go_on_air(session(tmp_path / "s", "own", 1764460000, 0), {})
        session(tmp_path / "s", "own", 1764460000, 2)
        text, _ = successor.playlist(KEY) or ("", 0.0)
        assert [line for line in text.splitlines() if line.startswith("seg-")] == [
            f"seg-{n}.ts" for n in range(500, 506)
        ]
        assert text.count("#EXT-X-DISCONTINUITY\n") == 1

    asyncio.run(scenario())


def test_a_successor_with_a_larger_window_lists_nothing_its_predecessor_no_longer_listed(tmp_path):
    """A DVR edit that grows the window (issue 56's multinode (c), 60 -> 90 s) on a channel live
    longer than the old window: the exported state also holds the 2 segments kept beyond the window
    (files a player that read the playlist just before may still fetch), which the successor's larger
    window listed again: EXT-X-MEDIA-SEQUENCE went back from the predecessor's (a reset to a player)."""

    async def scenario() -> None:
        predecessor = continuity()
        predecessor.go_on_air(session(tmp_path / "p", "a", 500, 0), {})
        session(tmp_path / "p", "a", 500, WINDOW + 4)  # 10 written: 504-509 listed, 502-503 kept
        state = HandoverState.model_validate_json(HandoverState(playlists=predecessor.exported()).to_json())
        dvr = {"enabled": True, "durationSeconds": 60}
        successor = Continuity(
            CONFIG.model_copy(update={"dvr": type(CONFIG.dvr).model_validate(dvr)}),
            ServedMedia(FeedHub(), FeedHub()),
            log,
        )
        assert successor.window > WINDOW + 2
        successor.adopt(state.playlists, tmp_path / "mirror")
        before, after = predecessor.playlist(KEY), successor.playlist(KEY)
        assert before is not None and after is not None
        assert "#EXT-X-MEDIA-SEQUENCE:504\n" in before[0]
        assert after[0] == before[0], "the same window, not 2 segments more"
        assert successor.file(KEY, "seg-502.ts") is not None, "the kept ones are still served as files"
        successor.go_on_air(session(tmp_path / "s", "own", 1764460000, 0), {})
        session(tmp_path / "s", "own", 1764460000, 3)
        text, _ = successor.playlist(KEY) or ("", 0.0)
        assert "#EXT-X-MEDIA-SEQUENCE:504\n" in text, "then the window grows from there"
        assert [line for line in text.splitlines() if line.startswith("seg-")][-1] == "seg-512.ts"

    asyncio.run(scenario())


def test_a_released_predecessor_never_ends_its_playlists(tmp_path):
    served = continuity()
    served.go_on_air(session(tmp_path, "a", 1, 0), {})
    playlist = session(tmp_path, "a", 1, 2) / "ts" / "index.m3u8"
    playlist.write_text(playlist.read_text() + "#EXT-X-ENDLIST\n")
    assert (served.playlist(KEY) or ("",))[0].endswith("#EXT-X-ENDLIST\n")
    served.hold()
    assert "#EXT-X-ENDLIST" not in (served.playlist(KEY) or ("",))[0]
