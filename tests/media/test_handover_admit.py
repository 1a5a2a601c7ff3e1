"""A handover successor that caught up (labelled serving: the Services route to it, its predecessor
is released next) holds an RTMP publisher's admission rather than refusing it `inactive`
(rtmp_sessions.RtmpSessions.admit, issue 56): the encoder reconnecting from its predecessor as it
is cut lands on the successor on its first try; and a publisher held while the predecessor is
never released is refused `inactive` once ADMIT_HOLD_SECONDS passed, as before. Two real ingest
workers, real FFmpeg publishers, the real RTMP front; refusals counted from the successor's status."""

from __future__ import annotations

import os
import re
import time

from devtools.http_client import http_get
from devtools.media.peers import Publisher
from devtools.waits import wait_for
from streamops.contract.ingest import HANDOVER_FOLLOW_PATH, HANDOVER_RELEASE_PATH
from streamops.media.ingest.rtmp_sessions import ADMIT_HOLD_SECONDS

from tests.media.test_handover import handover, post

HLS = {"segmentSeconds": 1, "latencyMode": "standard", "cmaf": False, "mpegts": True}
SOURCE = {"push": {"protocols": ["rtmp"]}}
HELD = "held: this ingest takes over from a handover's predecessor"
ACCEPTED = re.compile(r"RTMP publisher \S+ accepted")


def held(ingest) -> int:
    return ingest.logs().count(HELD)


def test_a_successor_holds_the_encoders_reconnect_and_refuses_it_only_past_the_bound(ingest_factory):
    before = ingest_factory("predecessor", hls=HLS, source=SOURCE)
    after = ingest_factory("successor", hls=HLS, source=SOURCE)
    publishers: list[Publisher] = []

    def publish(ingest) -> Publisher:
        url = f"rtmp://127.0.0.1:{ingest.ports['rtmp']}/live/{ingest.KEY}"
        publishers.append(publisher := Publisher(url, size="640x360", gop_seconds=1).start())
        return publisher

    try:
        publish(before)
        before.wait_live(timeout=20)
        wait_for(lambda: http_get(before.http + "/hls/ts/index.m3u8")[1].count(b"#EXTINF") >= 2, timeout=30)
        follow = {"predecessorUrl": before.internal, "predecessorPod": "ingest-0"}
        assert post(after.internal + HANDOVER_FOLLOW_PATH, follow) == 200
        wait_for(lambda: handover(after).get("phase") == "caught-up", timeout=20)

        # Never released: held, then refused `inactive` once the bound passed (the front's own
        # admit timeout, 5 s, would have answered `busy`).
        began = time.monotonic()
        stray = publish(after)
        wait_for(lambda: held(after) == 1, timeout=20, what="the first publisher held")
        wait_for(lambda: after.status()["refusedPublishers"] == 1, timeout=20, what="refused after the bound")
        refused_after = time.monotonic() - began
        assert refused_after >= ADMIT_HOLD_SECONDS, refused_after
        assert "refused RTMP publisher" in after.logs() and "the stream is inactive" in after.logs()
        wait_for(lambda: stray.returncode is not None, timeout=20, what="the refused publisher gone")
        assert before.status()["live"], "the predecessor kept its encoder"

        # The encoder's reconnect reaches the successor before its predecessor is released (the
        # Services route to both once it caught up): held, then taken once the successor read
        # `released` — on its first try.
        publish(after)
        wait_for(lambda: held(after) == 2, timeout=20, what="the reconnect held")
        released_at = time.monotonic()
        assert post(before.internal + HANDOVER_RELEASE_PATH) == 202
        wait_for(lambda: handover(after).get("phase") == "on-air", timeout=30, what="the successor's own media")
        on_air = time.monotonic() - released_at
        assert len(ACCEPTED.findall(after.logs())) == 1, after.logs()[-3000:]
        assert after.status()["refusedPublishers"] == 1, "the reconnect was not refused"
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"MEASURED held admission: refused after {refused_after:.2f} s (bound {ADMIT_HOLD_SECONDS:g} s); "
            f"release to the held publisher on air {on_air:.2f} s (load {load})"
        )
    finally:
        for publisher in publishers:
            publisher.stop()
