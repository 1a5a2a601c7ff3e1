"""LL-HLS parts on a handover's successor (streamops.media.ingest.continuity), from hand-built fMP4
(devtools.media.fmp4_boxes): a part of a segment it mirrored is its predecessor's bytes (a fragment
of the segment file), a part the predecessor wrote since the last poll or will write is one that
may come (held by the routes), a part far ahead is not (404 at once, as the predecessor answers)."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from devtools.media.fmp4_boxes import VIDEO_TIMESCALE, fragment, init_segment, video_seconds
from streamops.contract.ingest import HandoverState, IngestConfig
from streamops.media.ingest.commands import packager_settings
from streamops.media.ingest.continuity import Continuity
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.handover import listed_files
from streamops.media.ingest.llhls.fragments import fragments_of
from streamops.media.ingest.llhls.packager import LlHlsPackager
from streamops.media.ingest.served_media import ServedMedia

log = logging.getLogger("test.continuity")
CONFIG = IngestConfig.model_validate(
    {
        "stream": "cam",
        "source": {"push": {}},
        "hls": {"latencyMode": "low", "segmentSeconds": 1, "partMilliseconds": 200},
    }
)
PART = int(0.2 * VIDEO_TIMESCALE)


def continuity() -> Continuity:
    return Continuity(CONFIG, ServedMedia(FeedHub(), FeedHub()), log)


def feed(packager: LlHlsPackager, first: int, count: int) -> None:
    for n in range(first, first + count):
        packager.feed(fragment(n * PART, video_seconds(0.2), keyframe=n % 5 == 0))


def test_fragments_of_a_segment_are_its_parts():
    data = [fragment(n * PART, video_seconds(0.2), keyframe=n == 0) for n in range(5)]
    assert fragments_of(b"".join(data)) == data
    assert fragments_of(b"") == []


def test_a_successor_answers_the_predecessors_parts_and_holds_what_is_to_come(tmp_path: Path):
    async def scenario() -> None:
        predecessor = continuity()
        (tmp_path / "p" / "cmaf").mkdir(parents=True)
        packager = LlHlsPackager(tmp_path / "p" / "cmaf", packager_settings(CONFIG), first_msn=100)
        predecessor.go_on_air(tmp_path / "p", {"": packager})
        packager.feed(init_segment())
        feed(packager, 0, 12)  # segments 100, 101 complete (parts 0-9); 102 has parts 10, 11
        state = HandoverState.model_validate_json(HandoverState(playlists=predecessor.exported()).to_json())
        mirror = tmp_path / "mirror"
        for (variant, rendition, name), target in listed_files(state.playlists, mirror):
            target.parent.mkdir(parents=True, exist_ok=True)
            if name == packager.init_uri and packager.init is not None:
                target.write_bytes(packager.init.data)
            else:
                shutil.copy(predecessor.file((variant, rendition), name) or packager.dir / name, target)
        successor = continuity()
        successor.adopt(state.playlists, mirror)
        assert successor.mirroring
        for number in range(10):
            assert successor.part("", number) == packager.parts.get(number) or number < 5, number
        assert successor.part("", 7) == packager.parts[7], "a part of a mirrored segment: the same bytes"
        assert successor.segment_of_part("", 7) == 101 and successor.segment_of_part("", 10) is None, "its key's"
        assert successor.part("", 10) is None and successor.part_may_come("", 10), "the predecessor has it"
        assert successor.part_may_come("", 12), "the predecessor's hinted part"
        assert successor.part_may_come("", 16), "written since the last poll"
        assert not successor.part_may_come("", 40), "far ahead: never"
        assert not successor.part_may_come("", 3), "long gone"
        assert successor.segment_may_come(("cmaf", ""), 102) and not successor.segment_may_come(("cmaf", ""), 110)

    asyncio.run(scenario())
