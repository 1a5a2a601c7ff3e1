"""While both ingests of a handover serve (the successor caught up, the Service routing to both), a
player that read the predecessor's LL-HLS playlist may send its next request to the successor: the
preload-hinted part, a part of the segment being written, the blocking reload of the next part.
The successor's mirror lags the predecessor by up to one poll (and has complete segments only), so
it must hold such a request until its mirror (or its own session) has it and answer as the
predecessor would — never 404 (docs/design/handover.md, "What a viewer sees"). Deterministic: the
requests are made from the predecessor's playlist of the moment, not left to a player's timing."""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

from devtools.http_client import http_get
from devtools.media.peers import Publisher
from devtools.waits import wait_for
from streamops.contract.ingest import HANDOVER_FOLLOW_PATH, HANDOVER_RELEASE_PATH

from tests.media.test_handover import handover, post

HLS = {"segmentSeconds": 2, "latencyMode": "low", "cmaf": True, "mpegts": False}  # the multinode channel's
DVR = {"enabled": True, "durationSeconds": 30}
BASE = "/hls/cmaf/"
PART = re.compile(r'#EXT-X-PART:[^\n]*URI="(part-(\d+)\.m4s)"')
HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(part-(\d+)\.m4s)"')
SEQUENCE = re.compile(r"#EXT-X-MEDIA-SEQUENCE:(\d+)")


def named(text: str) -> tuple[list[tuple[str, int]], tuple[str, int], int]:
    """(the parts listed, the hinted part, the next segment's number) of an LL-HLS playlist."""
    parts = [(uri, int(n)) for uri, n in PART.findall(text)]
    hint = HINT.search(text)
    assert hint is not None, text
    segments = text.count("#EXTINF")
    return parts, (hint[1], int(hint[2])), int(SEQUENCE.search(text)[1]) + segments


def writing(text: str) -> int:
    """How many parts of the segment being written the playlist lists."""
    return text.rpartition("#EXTINF")[2].count("#EXT-X-PART:")


def fresh(ingest, hints: list[int]) -> str | None:
    """The LL-HLS playlist once its hinted part is two past the last one in `hints`."""
    text = http_get(ingest.http + BASE + "index.m3u8")[1].decode()
    hint = HINT.search(text)
    return text if hint is not None and (not hints or int(hint[2]) >= hints[-1] + 2) else None


def test_the_successor_holds_what_the_predecessor_has_or_will_have(ingest_factory):
    source = {"push": {"protocols": ["rtmp"]}}
    before = ingest_factory("predecessor", hls=HLS, dvr=DVR, source=source)
    after = ingest_factory("successor", hls=HLS, dvr=DVR, source=source)
    encoder = Publisher(f"rtmp://127.0.0.1:{before.ports['rtmp']}/live/{before.KEY}", size="640x360", gop_seconds=2)
    encoder.start()
    try:
        before.wait_live(timeout=20)
        wait_for(lambda: http_get(before.http + BASE + "index.m3u8")[1].count(b"#EXTINF") >= 2, timeout=30)
        follow = {"predecessorUrl": before.internal, "predecessorPod": "ingest-0"}
        assert post(after.internal + HANDOVER_FOLLOW_PATH, follow) == 200
        wait_for(lambda: handover(after).get("phase") == "caught-up", timeout=20)

        answers: list[tuple[str, int, float, bytes]] = []
        hints: list[int] = []

        def ask(url: str) -> tuple[str, int, float, bytes]:
            began = time.monotonic()
            code, body = http_get(after.http + BASE + url, timeout=20)
            return url, code, time.monotonic() - began, body

        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in range(2):  # at two moments of the segment being written, a part apart at least
                text = wait_for(lambda: fresh(before, hints), timeout=10, what="a new part")
                parts, hint, next_msn = named(text)
                hints.append(hint[1])
                urls = [uri for uri, _ in parts[-4:]] + [hint[0]]
                urls.append(f"index.m3u8?_HLS_msn={next_msn}&_HLS_part={writing(text)}")
                urls.append(f"index.m3u8?_HLS_msn={next_msn + 1}&_HLS_part=0")
                urls.append("index.m3u8")
                got = list(pool.map(ask, urls))
                for url, code, _, body in got:  # the same bytes as the predecessor's (still kept there)
                    if url.startswith("part-") and code == 200:
                        assert body == http_get(before.http + BASE + url)[1], url
                answers += got
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        for url, code, took, _ in answers:
            print(f"{code} {took:5.2f} s {url}")
        print(f"MEASURED successor's held requests: longest {max(a[2] for a in answers):.2f} s (load {load})")
        assert all(code == 200 for _, code, _, _ in answers), [a[:3] for a in answers]
        assert post(before.internal + HANDOVER_RELEASE_PATH) == 202
    finally:
        encoder.stop()
