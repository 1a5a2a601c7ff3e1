"""DASH across a publisher's reconnect on one ingest, and across a handover between two ingest workers,
with real FFmpeg (continuity.py, dash_periods.py, handover.py): the served MPD keeps its
availabilityStartTime and gains a Period per session, each starting after the one before, under a
BaseURL of its own; every segment it lists answers, a Period's numbers never go back from one MPD
update to the next, and ffprobe (Debian's, an independent reader) reads it. A handover's successor
serves the predecessor's Periods (mirrored) before its own."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from devtools.http_client import http_get
from devtools.media.peers import Publisher, TcpForwarder, ffprobe_streams
from devtools.media.reconnecting_publisher import Backoff, ReconnectingPublisher
from devtools.waits import wait_for
from streamops.contract.ingest import HANDOVER_FOLLOW_PATH, HANDOVER_RELEASE_PATH

from tests.media.test_handover import handover, post

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
HLS = {"segmentSeconds": 1}
DVR = {"enabled": True, "durationSeconds": 30}


def mpd(ingest) -> ET.Element | None:
    code, body = http_get(f"{ingest.http}/dash/manifest.mpd")
    return ET.fromstring(body) if code == 200 else None


def periods(root: ET.Element) -> list[ET.Element]:
    return root.findall("d:Period", NS)


def listed(root: ET.Element) -> list[tuple[str, str, int]]:
    """(Period id, segment URL relative to /dash/, $Number$) of every segment the MPD lists."""
    out = []
    for period in periods(root):
        base = period.findtext("d:BaseURL", "", NS)
        for rep in period.iter(f"{{{NS['d']}}}Representation"):
            template = rep.find("d:SegmentTemplate", NS)
            number = int(template.get("startNumber", "1"))
            out.append(
                (
                    period.get("id"),
                    base + template.get("initialization").replace("$RepresentationID$", rep.get("id")),
                    0,
                )
            )
            for s in template.iter(f"{{{NS['d']}}}S"):
                for _ in range(int(s.get("r", "0")) + 1):
                    media = template.get("media").replace("$RepresentationID$", rep.get("id"))
                    out.append((period.get("id"), base + media.replace("$Number%06d$", f"{number:06d}"), number))
                    number += 1
    return out


def seconds(duration: str) -> float:
    return float(duration.removeprefix("PT").removesuffix("S"))


def test_dash_goes_on_across_a_reconnect_in_a_period_of_its_own(ingest_factory):
    ingest = ingest_factory("ingest", hls=HLS, dvr=DVR, dash=True, source={"push": {"protocols": ["rtmp"]}})
    url = f"rtmp://127.0.0.1:{ingest.ports['rtmp']}/live/{ingest.KEY}"
    first = Publisher(url, size="640x360", gop_seconds=1).start()
    try:
        ingest.wait_live(timeout=20)
        before = wait_for(lambda: (r := mpd(ingest)) is not None and len(listed(r)) >= 6 and r, timeout=30)
    finally:
        first.stop()
    wait_for(lambda: not ingest.status().get("live"), timeout=20, what="the first session's end")
    second = Publisher(url, size="640x360", gop_seconds=1).start()
    try:
        ingest.wait_live(timeout=20)
        after = wait_for(
            lambda: (
                (r := mpd(ingest)) is not None
                and len(periods(r)) == 2
                and len(listed(r)) >= len(listed(before)) + 4
                and r
            ),
            timeout=30,
            what="a second Period with segments",
        )
        assert after.get("availabilityStartTime") == before.get("availabilityStartTime"), "fixed across sessions"
        starts = [seconds(p.get("start")) for p in periods(after)]
        assert starts == sorted(starts) and starts[1] > starts[0], starts
        ids = [p.get("id") for p in periods(after)]
        assert len(set(ids)) == 2 and ids[0] == periods(before)[0].get("id"), ids
        numbers = {}
        for pid, _, number in listed(before):
            numbers[pid] = max(numbers.get(pid, 0), number)
        kept = [n for pid, _, n in listed(after) if pid == ids[0] and n]
        assert kept and max(kept) >= numbers[ids[0]] - 0, "the first Period's numbers never go back"
        urls = [u for _, u, _ in listed(after)]
        assert len(urls) == len(set(urls)), "never one URL for two segments"
        for u in urls:
            assert http_get(f"{ingest.http}/dash/{u}", timeout=15)[0] == 200, u
        kinds = {s["codec_type"] for s in ffprobe_streams(f"{ingest.http}/dash/manifest.mpd", timeout=30)}
        assert "video" in kinds, kinds
    finally:
        second.stop()


def test_dash_goes_on_across_a_handover_in_a_period_of_the_successors_own(ingest_factory, tmp_path):
    source = {"push": {"protocols": ["rtmp"]}}
    before = ingest_factory("predecessor", hls=HLS, dvr=DVR, dash=True, source=source)
    after = ingest_factory("successor", hls=HLS, dvr=DVR, dash=True, source=source)
    service = TcpForwarder(before.ports["rtmp"], tmp_path / "service").start()
    encoder = ReconnectingPublisher(
        lambda: Publisher(f"rtmp://127.0.0.1:{service.port}/live/{before.KEY}", size="640x360", gop_seconds=1),
        Backoff(first=0.2, ceiling=1.0),
    ).start()
    try:
        before.wait_live(timeout=20)
        wait_for(lambda: (r := mpd(before)) is not None and len(listed(r)) >= 6, timeout=30)
        follow = {"predecessorUrl": before.internal, "predecessorPod": "ingest-0"}
        assert post(after.internal + HANDOVER_FOLLOW_PATH, follow) == 200
        wait_for(lambda: handover(after).get("phase") == "caught-up", timeout=20)
        mirrored = wait_for(lambda: mpd(after), timeout=10, what="the mirrored MPD")
        origin = mpd(before)
        assert mirrored.get("availabilityStartTime") == origin.get("availabilityStartTime")
        assert [p.get("id") for p in periods(mirrored)] == [p.get("id") for p in periods(origin)]
        for _, u, _ in listed(mirrored):
            assert http_get(f"{after.http}/dash/{u}", timeout=15)[0] == 200, ("mirrored", u)

        service.upstream = ("127.0.0.1", after.ports["rtmp"])
        assert post(before.internal + HANDOVER_RELEASE_PATH) == 202
        wait_for(lambda: handover(before).get("release") == "released", timeout=20)
        wait_for(lambda: handover(after).get("phase") == "on-air", timeout=30, what="the successor's own media")
        last = mpd(before)
        assert last is not None and last.get("type") == "dynamic", "a released predecessor's MPD never ends"
        continued = wait_for(
            lambda: (r := mpd(after)) is not None and len(periods(r)) == len(periods(last)) + 1 and r,
            timeout=30,
            what="the successor's own Period",
        )
        assert continued.get("availabilityStartTime") == origin.get("availabilityStartTime"), (
            "fixed across the handover"
        )
        starts = [seconds(p.get("start")) for p in periods(continued)]
        assert starts == sorted(starts), starts
        for _, u, _ in listed(continued):
            assert http_get(f"{after.http}/dash/{u}", timeout=15)[0] == 200, ("continued", u)
        kinds = {s["codec_type"] for s in ffprobe_streams(f"{after.http}/dash/manifest.mpd", timeout=30)}
        assert "video" in kinds, kinds
    finally:
        encoder.stop()
        service.stop()
