"""The live feed (media/ingest/feed.py): the GOP cache a joining reader starts from (the last video
keyframe, or an audio frame without video; its bounds), the keyframe interval, silences, and the
readers (queues and sinks) cut off when they fall behind."""

from __future__ import annotations

import asyncio

from devtools.media.ts_packets import (
    AAC,
    AUDIO,
    H264,
    PMT_A,
    PRIVATE,
    VIDEO,
    keyframe_at,
    packet,
    pat_of,
    pmt_of,
    video,
)
from streamops.media import mpegts
from streamops.media.ingest.feed import RESUME_SECONDS, FeedHub


def test_feed_gop_cache_starts_at_the_last_keyframe():
    hub = FeedHub()
    hub.start_session()
    pat, pmt = pat_of((1, PMT_A)), pmt_of(PMT_A, (AAC, AUDIO), (H264, VIDEO))
    first_gop = video(keyframe=True, fill=b"\x01") + video(keyframe=False, fill=b"\x02")
    hub.publish(pat + pmt + first_gop)
    stray = video(keyframe=True, start=False, fill=b"\x03")  # random access without a payload start
    second_gop = video(keyframe=True, fill=b"\x04") + video(keyframe=False, fill=b"\x05")
    chunk = video(keyframe=False, fill=b"\x06") + stray + second_gop
    hub.publish(chunk[:100])  # in pieces that are no whole packets
    hub.publish(chunk[100:] + packet(AUDIO, b"\x07" * 8)[:50])

    async def first_chunk() -> bytes:
        async for data in hub.subscribe():
            return data
        return b""

    assert asyncio.run(first_chunk()) == pat + pmt + second_gop
    assert hub.bytes_in == len(pat + pmt + first_gop + chunk) + 50


def test_an_av1_feed_joins_at_its_keyframe_not_at_any_of_its_frames():
    """AV1 in the workers' feed is PES private data (`SAV1`): it is the video, whose keyframes are
    the join points, not an audio stream every frame of which would be one (a joiner then started
    mid-GOP: the recorder, pushers and screenshots decoded nothing until the next keyframe)."""
    hub = FeedHub()
    hub.start_session()
    pat, pmt = pat_of((1, PMT_A)), pmt_of(PMT_A, (PRIVATE, VIDEO, b"\x05\x04SAV1"), (AAC, AUDIO))
    gop = video(keyframe=True, fill=b"\x01") + video(keyframe=False, fill=b"\x02")
    hub.publish(pat + pmt + gop)
    hub.publish(video(keyframe=False, fill=b"\x03"))

    async def first_chunk() -> bytes:
        async for data in hub.subscribe():
            return data
        return b""

    assert asyncio.run(first_chunk()) == pat + pmt + gop + video(keyframe=False, fill=b"\x03")
    assert mpegts.stream_roles(pmt) == (VIDEO, frozenset({AUDIO}))
    opus = pmt_of(PMT_A, (PRIVATE, AUDIO, b"\x05\x04Opus"), (H264, VIDEO))
    assert mpegts.stream_roles(opus) == (VIDEO, frozenset({AUDIO})), "other private data may be audio"
    assert mpegts.video_pid(pmt) == VIDEO and mpegts.stream_roles(pat) is None


def test_the_keyframe_interval_is_the_pts_difference_of_the_last_two_keyframes():
    hub = FeedHub()
    hub.start_session()
    hub.publish(pat_of((1, PMT_A)) + pmt_of(PMT_A, (AAC, AUDIO), (H264, VIDEO)))
    hub.publish(keyframe_at(1_000_000))
    assert hub.keyframe_interval == 0, "one keyframe: no interval yet"
    hub.publish(video(keyframe=False) + keyframe_at(1_000_000 + 180_000))
    assert hub.keyframe_interval == 2.0
    hub.publish(keyframe_at(mpegts.PTS_WRAP - 45_000))  # far ahead: a jump, not an interval
    hub.publish(keyframe_at(45_000))  # across the 33-bit wrap
    assert hub.keyframe_interval == 1.0
    hub.publish(keyframe_at(0))  # backwards (an encoder restarted): no interval
    assert hub.keyframe_interval == 1.0
    hub.end_session()
    assert hub.keyframe_interval == 0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def audio(fill: bytes = b"\x00", *, start: bool = True) -> bytes:
    return packet(AUDIO, fill * 8, start=start)


def joined(hub: FeedHub) -> bytes:
    async def first_chunk() -> bytes:
        async for data in hub.subscribe():
            return data
        return b""

    return asyncio.run(first_chunk())


def audio_only_hub(**bounds) -> tuple[FeedHub, Clock, bytes]:
    clock = Clock()
    hub = FeedHub(clock=clock, **bounds)
    hub.start_session()
    head = pat_of((1, PMT_A)) + pmt_of(PMT_A, (AAC, AUDIO))
    hub.publish(head)
    return hub, clock, head


def test_audio_only_feed_joins_at_the_newest_audio_frame_and_never_grows():
    hub, clock, head = audio_only_hub()
    for i in range(2000):  # ≈40 s of one-frame PES packets, 10 ms apart
        clock.now += 0.01
        hub.publish(audio(bytes([i % 250])) + audio(b"\xfe", start=False))
    assert hub.cache_bytes == 2 * mpegts.TS_PACKET, "the last frame only, whatever the stream's length"
    assert joined(hub) == head + audio(bytes([1999 % 250])) + audio(b"\xfe", start=False)


def test_a_gop_past_the_byte_bound_gives_way_to_the_newest_audio_frame():
    clock = Clock()
    hub = FeedHub(clock=clock, max_cache_bytes=20 * mpegts.TS_PACKET)
    hub.start_session()
    head = pat_of((1, PMT_A)) + pmt_of(PMT_A, (AAC, AUDIO), (H264, VIDEO))
    hub.publish(head + video(keyframe=True, fill=b"\x01"))
    for _ in range(5):  # a GOP of 1 + 15 packets with audio: within 20
        hub.publish(video(keyframe=False) * 2 + audio(b"\x02"))
    assert joined(hub).startswith(head + video(keyframe=True, fill=b"\x01")), "the GOP while it fits"
    hub.publish(video(keyframe=False) * 3 + audio(b"\x03") + video(keyframe=False, fill=b"\x04"))
    assert joined(hub) == head + audio(b"\x03") + video(keyframe=False, fill=b"\x04")
    assert hub.cache_bytes <= 20 * mpegts.TS_PACKET
    hub.publish(video(keyframe=True, fill=b"\x05"))
    assert joined(hub) == head + video(keyframe=True, fill=b"\x05"), "the next keyframe is the join point again"


def test_a_gop_past_the_age_bound_without_audio_leaves_no_cache_until_the_next_keyframe():
    clock = Clock()
    hub = FeedHub(clock=clock, max_cache_seconds=10)
    hub.start_session()
    head = pat_of((1, PMT_A)) + pmt_of(PMT_A, (H264, VIDEO))
    hub.publish(head + video(keyframe=True))
    for _ in range(10):
        clock.now += 1.0
        hub.publish(video(keyframe=False))
    assert hub.cache_bytes == 11 * mpegts.TS_PACKET, "10 s of GOP are kept"
    clock.now += 1.0
    hub.publish(video(keyframe=False))
    assert hub.cache_bytes == 0 and joined(hub) == head, "PAT/PMT, then live packets from the next keyframe"
    hub.publish(video(keyframe=False))
    assert hub.cache_bytes == 0
    hub.publish(video(keyframe=True, fill=b"\x07"))
    assert joined(hub) == head + video(keyframe=True, fill=b"\x07")


def test_media_after_a_silence_never_brings_back_what_was_cached_before_it():
    clock = Clock()
    hub = FeedHub(clock=clock)
    hub.start_session()
    head = pat_of((1, PMT_A)) + pmt_of(PMT_A, (AAC, AUDIO), (H264, VIDEO))
    hub.publish(head + video(keyframe=True, fill=b"\x01") + video(keyframe=False, fill=b"\x02"))
    assert hub.sending
    clock.now += 1.9
    assert hub.sending, "under 2 s of nothing is no silence"
    clock.now += 0.2
    assert not hub.sending and hub.live, "silent: the session is on, its media is not flowing"
    hub.publish(video(keyframe=False, fill=b"\x03"))  # the publisher is back, mid-GOP
    assert joined(hub) == head, "the GOP from before the silence is not served again"
    clock.now += RESUME_SECONDS
    hub.publish(audio(b"\x04"))
    assert hub.sending, "media flowed again for RESUME_SECONDS"
    assert joined(hub) == head + audio(b"\x04")


def test_a_burst_after_a_silence_is_not_sending_until_media_keeps_flowing():
    """A frozen publisher's session, released at its timeout, flushes what FFmpeg still held (its
    muxer's queue) in one burst before its EOF: measured here 40 ms of `live` in the ingest's
    /status, 5.1 s after the freeze. That burst is no publisher coming back."""
    clock = Clock()
    hub = FeedHub(clock=clock)
    hub.start_session()
    head = pat_of((1, PMT_A)) + pmt_of(PMT_A, (AAC, AUDIO), (H264, VIDEO))
    hub.publish(head + video(keyframe=True, fill=b"\x01"))
    assert hub.sending, "a session's first media is sending at once"
    clock.now += 5.0
    for fill in (b"\x02", b"\x03", b"\x04"):  # the dying session's last flush
        hub.publish(video(keyframe=False, fill=fill))
        clock.now += 0.01
    assert hub.live and not hub.sending
    clock.now += RESUME_SECONDS
    assert not hub.sending, "nothing came after the burst"
    for _ in range(round(RESUME_SECONDS / 0.02) + 1):  # a publisher really back: media every 20 ms
        clock.now += 0.02
        hub.publish(audio(b"\x06"))
    assert hub.sending


def test_an_ended_session_drops_the_cache_and_ends_every_consumer():
    hub, _, head = audio_only_hub()
    hub.publish(audio(b"\x01"))

    async def read_all() -> list[bytes]:
        chunks = []
        async for data in hub.subscribe():
            chunks.append(data)
            hub.end_session()
        return chunks

    assert asyncio.run(read_all()) == [head + audio(b"\x01")]
    assert not hub.live and not hub.sending and hub.cache_bytes == 0 and hub.head() == b""


class Sink:
    """A FeedSink that keeps what it is sent; `backlog` is set by the test (a reader that lags)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.lag, self.gone, self.ended = 0, False, False

    def send(self, chunk: bytes) -> None:
        self.sent.append(chunk)

    def backlog(self) -> int:
        return self.lag

    def closed(self) -> bool:
        return self.gone

    def end(self) -> None:
        self.ended = True


def test_sinks_get_the_head_then_every_chunk_until_the_session_ends():
    hub, _, head = audio_only_hub()
    hub.publish(audio(b"\x01"))
    sink = Sink()
    hub.attach(sink)
    assert hub.consumers == 1 and sink.sent == [head + audio(b"\x01")]
    hub.publish(audio(b"\x02"))
    assert sink.sent[1:] == [audio(b"\x02")] and not sink.ended
    hub.end_session()
    assert sink.ended and hub.consumers == 0


def test_a_sink_that_falls_behind_or_goes_away_is_cut_off_and_the_others_go_on():
    hub, _, _ = audio_only_hub()
    slow, gone, fine = Sink(), Sink(), Sink()
    for sink in (slow, gone, fine):
        hub.attach(sink)
    slow.lag = hub.max_sink_backlog - len(audio()) + 1  # one more chunk would pass the bound
    gone.gone = True
    hub.publish(audio(b"\x03"))
    assert slow.ended and gone.ended and not fine.ended
    assert hub.consumers == 1 and hub.consumers_dropped == 1, "a reader that went away is no drop"
    assert fine.sent[-1] == audio(b"\x03") and audio(b"\x03") not in slow.sent + gone.sent
    hub.detach(fine)
    hub.publish(audio(b"\x04"))
    assert hub.consumers == 0 and fine.sent[-1] == audio(b"\x03")
