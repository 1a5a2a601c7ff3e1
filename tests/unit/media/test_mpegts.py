"""The one MPEG-TS parser (streamops.media.mpegts) and the feed's GOP cache that runs on it."""

from __future__ import annotations

import asyncio
import struct

from streamops.media import mpegts
from streamops.media.ingest.feed import RESUME_SECONDS, FeedHub

PMT_A, PMT_B, VIDEO, AUDIO = 0x1000, 0x1001, 0x100, 0x101
H264, HEVC, AAC, PRIVATE = 0x1B, 0x24, 0x0F, 0x06


def packet(pid: int, payload: bytes, *, start: bool = True, adaptation: bytes | None = None) -> bytes:
    """One 188-byte packet; `adaptation` is the adaptation field's body (flags first)."""
    control = 0x10 | (0x20 if adaptation is not None else 0)
    head = struct.pack(">BHB", mpegts.SYNC, (0x4000 if start else 0) | pid, control)
    if adaptation is not None:
        head += bytes([len(adaptation)]) + adaptation
    return (head + payload).ljust(mpegts.TS_PACKET, b"\xff")


def psi(pid: int, table_id: int, body: bytes, *, pointer: bytes = b"", adaptation: bytes | None = None) -> bytes:
    section = struct.pack(">BH", table_id, 0xB000 | (len(body) + 4)) + body + b"\x00\x00\x00\x00"  # CRC unread
    return packet(pid, bytes([len(pointer)]) + pointer + section, adaptation=adaptation)


def pat_of(*programs: tuple[int, int]) -> bytes:
    body = struct.pack(">HBBB", 1, 0xC1, 0, 0)
    for number, pid in programs:
        body += struct.pack(">HH", number, 0xE000 | pid)
    return psi(mpegts.PAT_PID, mpegts.PAT_TABLE_ID, body)


def pmt_of(
    pid: int, *streams: tuple[int, int] | tuple[int, int, bytes], program_info: bytes = b"", es_info: bytes = b""
) -> bytes:
    """A PMT packet; a stream's third item is its own descriptor loop (else `es_info`)."""
    body = struct.pack(">HBBBHH", 1, 0xC1, 0, 0, 0xE000 | VIDEO, 0xF000 | len(program_info)) + program_info
    for stream_type, es_pid, *own in streams:
        info = own[0] if own else es_info
        body += struct.pack(">BHH", stream_type, 0xE000 | es_pid, 0xF000 | len(info)) + info
    return psi(pid, mpegts.PMT_TABLE_ID, body)


def video(*, keyframe: bool, start: bool = True, fill: bytes = b"\x00") -> bytes:
    adaptation = b"\x40" if keyframe else None  # random_access_indicator
    return packet(VIDEO, fill * 8, start=start, adaptation=adaptation)


def test_packet_header_fields():
    p = packet(0x1ABC, b"data", adaptation=b"\x40\x00")
    assert mpegts.packet_pid(p) == 0x1ABC and mpegts.payload_start(p) and mpegts.random_access(p)
    assert mpegts.payload_offset(p) == 4 + 1 + 2 and mpegts.payload(p).startswith(b"data")
    plain = packet(VIDEO, b"data", start=False)
    assert not mpegts.payload_start(plain) and not mpegts.random_access(plain)
    assert mpegts.payload_offset(plain) == 4 and mpegts.payload(plain).startswith(b"data")
    assert not mpegts.random_access(packet(VIDEO, b"", adaptation=b""))  # an empty adaptation field
    assert not mpegts.random_access(packet(VIDEO, b"", adaptation=b"\x00"))
    no_payload = bytearray(p)
    no_payload[3] &= ~0x10
    assert mpegts.payload(bytes(no_payload)) == b""
    view = memoryview(p * 2)[mpegts.TS_PACKET :]  # what the feed hands over: a slice, not a copy
    assert mpegts.packet_pid(view) == 0x1ABC and mpegts.random_access(view)


def test_psi_section_after_pointer_field_and_adaptation_field():
    pat = psi(0, mpegts.PAT_TABLE_ID, struct.pack(">HBBBHH", 1, 0xC1, 0, 0, 1, 0xE000 | PMT_A), pointer=b"\xaa" * 3)
    assert mpegts.pmt_pids(pat) == [PMT_A]
    stuffed = psi(0, 0, struct.pack(">HBBBHH", 1, 0xC1, 0, 0, 1, 0xE000 | PMT_B), adaptation=b"\x00" + b"\xff" * 20)
    assert mpegts.pmt_pids(stuffed) == [PMT_B]
    section = mpegts.psi_section(pat, mpegts.PAT_TABLE_ID)
    assert section is not None and section[0] == mpegts.PAT_TABLE_ID
    assert mpegts.psi_section(pat, mpegts.PMT_TABLE_ID) is None  # another table
    assert mpegts.psi_section(pat[:100], mpegts.PAT_TABLE_ID) is None  # not a whole packet
    assert mpegts.psi_section(b"\x00" + pat[1:], mpegts.PAT_TABLE_ID) is None  # no sync byte
    continuation = packet(0, pat[4:], start=False)
    assert mpegts.psi_section(continuation, mpegts.PAT_TABLE_ID) is None and mpegts.pmt_pids(continuation) == []
    past_the_end = packet(0, b"\xff" * 184)  # a pointer field that points out of the packet
    assert mpegts.psi_section(past_the_end, mpegts.PAT_TABLE_ID) is None


def test_pat_lists_every_program_but_the_network_pid():
    assert mpegts.pmt_pids(pat_of((0, 0x10), (1, PMT_A), (2, PMT_B))) == [PMT_A, PMT_B]
    assert mpegts.pmt_pids(pat_of((0, 0x10))) == []
    assert mpegts.pmt_pids(pmt_of(0, (H264, VIDEO))) == [], "a PMT on PID 0 is not a PAT"


def test_pmt_elementary_streams_skip_descriptors():
    descriptor = b"\x0a\x04eng\x00"  # ISO 639 language
    pmt = pmt_of(PMT_A, (AAC, AUDIO), (H264, VIDEO), program_info=b"\x05\x04CUEI", es_info=descriptor)
    assert mpegts.elementary_streams(pmt) == [(AAC, AUDIO), (H264, VIDEO)]
    assert mpegts.elementary_streams(pmt)[1].pid == VIDEO
    assert mpegts.video_pid(pmt) == VIDEO, "the first video stream, wherever it stands"
    assert mpegts.video_pid(pmt_of(PMT_A, (HEVC, 0x200), (H264, VIDEO))) == 0x200
    assert mpegts.video_pid(pmt_of(PMT_A, (AAC, AUDIO), (PRIVATE, 0x102))) is None
    assert mpegts.elementary_streams(pat_of((1, PMT_A))) is None and mpegts.video_pid(pat_of((1, PMT_A))) is None
    assert mpegts.elementary_streams(pmt_of(PMT_A)) == []


def test_program_streams_of_a_byte_stream_are_the_first_programs():
    two = pat_of((1, PMT_A), (2, PMT_B)) + pmt_of(PMT_B, (AAC, AUDIO)) + pmt_of(PMT_A, (H264, VIDEO))
    assert mpegts.program_streams(two) == [(H264, VIDEO)]
    assert mpegts.program_stream_types(b"\x00" * 5 + two) == [H264]
    assert mpegts.program_streams(two[: 2 * mpegts.TS_PACKET]) is None
    assert {AAC, PRIVATE} <= mpegts.AUDIO_STREAM_TYPES and {H264, HEVC} <= mpegts.VIDEO_STREAM_TYPES


# The PMT packets the workers' FFmpeg 7.1 (hack/build-ffmpeg.sh, its patches) writes into the feed for
# the media tier's AV1 and HEVC publisher clips (`-c copy -f mpegts`), PAT and CRC included as written.
FFMPEG_PMT_AV1 = "47500010 00 02b01d0001c10000e100f00006e100f0060504534156310fe101f000043de213"
FFMPEG_PMT_HEVC = "47500010 00 02b01d0001c10000e100f00024e100f0060504484556430fe101f0006c37cf8a"


def ffmpeg_pmt(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text).ljust(mpegts.TS_PACKET, b"\xff")


def test_the_video_codec_of_what_the_workers_ffmpeg_writes():
    av1, hevc = ffmpeg_pmt(FFMPEG_PMT_AV1), ffmpeg_pmt(FFMPEG_PMT_HEVC)
    assert mpegts.elementary_streams(av1) == [(PRIVATE, 0x100), (AAC, 0x101)]  # AV1: private data, `SAV1`
    assert (mpegts.video_codec(av1), mpegts.video_codec(hevc)) == ("av1", "hevc")
    assert mpegts.video_codec(pmt_of(PMT_A, (AAC, AUDIO), (H264, VIDEO))) == "h264"


LANGUAGE = b"\x0a\x04und\x00"  # ISO 639 language: a descriptor before the one that counts


def test_av1_is_private_data_registered_as_sav1_or_av01_anywhere_in_its_descriptor_loop():
    def codec(*streams: tuple[int, int] | tuple[int, int, bytes], **kw: bytes) -> str | None:
        return mpegts.video_codec(pmt_of(PMT_A, *streams, **kw))

    assert codec((PRIVATE, VIDEO, LANGUAGE + b"\x05\x04SAV1")) == "av1"
    # AOM's carriage: `AV01` then its own AV1 video descriptor (tag 0x80).
    assert codec((PRIVATE, VIDEO, b"\x05\x04AV01\x80\x04\x81\x00\x0c\x00")) == "av1"
    assert codec((PRIVATE, AUDIO, b"\x05\x04Opus"), (PRIVATE, VIDEO, b"\x05\x04SAV1")) == "av1", "Opus is audio"
    assert codec((AAC, AUDIO), (PRIVATE, 0x102)) is None, "private data without a registration: not video"
    assert codec((PRIVATE, VIDEO), program_info=b"\x05\x04SAV1") is None, "a program's descriptor names no stream"
    assert codec((PRIVATE, VIDEO, b"\x05\x02SA")) is None, "a registration too short to hold an identifier"
    assert codec((PRIVATE, VIDEO, LANGUAGE + b"\x05\x08SAV1")) is None, "one that runs past its loop"
    assert codec((0x02, VIDEO), (HEVC, 0x200)) == "hevc", "the first video that names a codec (MPEG-2 does not)"
    assert codec((0x02, VIDEO)) is None and codec((AAC, AUDIO)) is None and codec() is None
    assert mpegts.video_codec(pat_of((1, PMT_A))) is None, "not a PMT"


def test_an_es_info_length_past_the_section_ends_the_loop():
    pmt = bytearray(pmt_of(PMT_A, (HEVC, VIDEO, LANGUAGE), (H264, 0x200)))
    offset = mpegts.payload_offset(pmt) + 1 + 12 + 3  # the first stream's ES_info_length
    pmt[offset : offset + 2] = b"\xf0\xff"
    assert mpegts.elementary_streams(bytes(pmt)) == [(HEVC, VIDEO)] and mpegts.video_codec(bytes(pmt)) == "hevc"


def test_program_map_is_the_first_programs_pmt_packet():
    pmt = pmt_of(PMT_A, (HEVC, VIDEO), (AAC, AUDIO))
    stream = pat_of((1, PMT_A), (2, PMT_B)) + pmt_of(PMT_B, (H264, 0x200)) + pmt
    assert mpegts.program_map(b"\x00" * 3 + stream) == pmt
    assert mpegts.program_map(pmt + pat_of((1, PMT_A))) is None, "a PMT before its PAT"
    assert mpegts.program_map(stream[: 2 * mpegts.TS_PACKET]) is None


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


def pes(pts: int | None) -> bytes:
    """A PES header (stream 0xE0) with `pts` (90 kHz), or without one."""
    if pts is None:
        return b"\x00\x00\x01\xe0\x00\x00\x80\x00\x00"
    b = bytes(
        [
            0x21 | ((pts >> 29) & 0x0E),
            (pts >> 22) & 0xFF,
            0x01 | ((pts >> 14) & 0xFE),
            (pts >> 7) & 0xFF,
            0x01 | ((pts << 1) & 0xFE),
        ]
    )
    return b"\x00\x00\x01\xe0\x00\x00\x80\x80\x05" + b


def keyframe_at(pts: int | None) -> bytes:
    return packet(VIDEO, pes(pts), adaptation=b"\x40")


def test_pes_pts_reads_the_33_bit_timestamp_of_a_pes_start():
    for pts in (0, 1, 90_000, 2**32 + 12345, 2**33 - 1):
        assert mpegts.pes_pts(keyframe_at(pts)) == pts
    assert mpegts.pes_pts(keyframe_at(None)) is None, "no PTS"
    assert mpegts.pes_pts(packet(VIDEO, pes(90_000), start=False)) is None, "no PES starts here"
    assert mpegts.pes_pts(packet(VIDEO, b"\x47" * 20)) is None, "not a PES"


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
