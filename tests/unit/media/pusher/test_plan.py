"""Pusher decisions without processes: config validation, backoff and the failure streak, reconnects,
how a run ended, the feed's tracks, the watchdog, what counts as delivered to the target. The FFmpeg
command and the stream key: test_commands.py."""

from __future__ import annotations

import random
import struct
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from streamops.contract.metrics import PUSHER_METRICS
from streamops.contract.pusher import CONFIG_ENV, PUSHER_STATES, STALL_SECONDS, BackoffPolicy, PusherConfig
from streamops.media.ffmpeg import UnsafeUri
from streamops.media.mpegts import program_stream_types, program_streams
from streamops.media.pusher.commands import (
    push_target,
)
from streamops.media.pusher.delivery import (
    CONNECT_SECONDS,
    Delivery,
    is_live,
    target_read,
    target_socket,
    watchdog,
)
from streamops.media.pusher.plan import (
    REJOIN_POLL_SECONDS,
    REJOIN_SECONDS,
    Backoff,
    Outcome,
    backoff_delay,
    classify_exit,
    codec_refusal,
    feed_poll_seconds,
    telling_error,
)
from streamops.media.pusher.tcp_info import TcpCounters
from streamops.media.pusher.worker import Pusher, pusher_metrics
from streamops.media.worker_process import ConfigError, load_config

FEED = "http://10.0.0.7:8080/feed"


def config(**overrides) -> PusherConfig:
    return PusherConfig.model_validate(
        {"stream": "cam", "feedUrl": FEED, "uri": "rtmp://a.rtmp.youtube.com/live2", "noAudioMode": "drop", **overrides}
    )


def value(argv: list[str], flag: str, after: int = 0) -> str:
    """The value of the first `flag` at or after index `after`."""
    return argv[argv.index(flag, after) + 1]


# --- configuration --------------------------------------------------------------------------------


def test_config_defaults_and_camel_case():
    c = config(streamKeyFile="/secrets/key")
    assert c.stream_key_file == "/secrets/key"
    assert (c.no_audio_mode, c.http_host, c.http_port) == ("drop", "0.0.0.0", 8080)
    assert (c.backoff.initial_seconds, c.backoff.max_seconds, c.backoff.reset_after_seconds) == (0.5, 10.0, 10.0)
    assert c.stall_seconds is None and "stallSeconds" not in c.wire(), "unset: the Pod's config stays"
    assert config(stallSeconds=3).stall_seconds == 3
    with pytest.raises(ValidationError):
        config(stallSeconds=0)
    assert config(uri="rtmps://live-api-s.facebook.com:443/rtmp/").uri.startswith("rtmps://")
    assert config(uri="srt://push.example.com:9000?mode=caller&latency=200000").uri
    assert config(uri="srt://push.example.com:9000").uri  # caller is FFmpeg's default


BAD_URIS = {
    "file:///etc/passwd": "must be a rtmp://, rtmps://, srt:// URL",
    "concat:/etc/passwd|/etc/hosts": "must be a rtmp://, rtmps://, srt:// URL",
    "subfile,,start,0,end,0,,:/etc/passwd": "must be a rtmp://, rtmps://, srt:// URL",
    "data:text/plain;base64,aGVsbG8=": "must be a rtmp://, rtmps://, srt:// URL",
    "http://example.com/live": "must be a rtmp://, rtmps://, srt:// URL",
    "rtmp://example.com/live x": "must be a rtmp://, rtmps://, srt:// URL",
    "srt://example.com:9000?mode=listener": "only mode=caller",
    "srt://example.com:9000?latency=1&mode=rendezvous": "only mode=caller",
    "rtmp://user:pass@example.com/live": "credentials in the URL are not allowed",
    "rtmps://key@example.com/live": "credentials in the URL are not allowed",
}


@pytest.mark.parametrize("uri", BAD_URIS)
def test_bad_target_uris_are_refused_by_the_config(uri):
    with pytest.raises(ValidationError, match=BAD_URIS[uri]):
        config(uri=uri)


@pytest.mark.parametrize("uri", BAD_URIS)
def test_bad_target_uris_are_refused_by_the_command_builder(uri):
    # The builder checks again: nothing reaches FFmpeg without passing the allow-list.
    with pytest.raises(UnsafeUri, match=BAD_URIS[uri]):
        push_target(uri, "k")


def test_config_rejects_a_second_key_place_and_unknown_fields():
    with pytest.raises(ValidationError, match="already has a streamid"):
        config(uri="srt://x:9000?streamid=abc", streamKeyFile="/k")
    assert config(uri="srt://x:9000?streamid=abc").uri  # a key-less target may carry its own id
    with pytest.raises(ValidationError, match="Extra inputs"):
        config(streamKey="inline-keys-are-not-a-thing")
    with pytest.raises(ValidationError, match="maxSeconds"):
        config(backoff={"initialSeconds": 5, "maxSeconds": 1})


def test_load_config_from_file_or_env(tmp_path, monkeypatch):
    def load(path: str | None) -> PusherConfig:
        return load_config(path, CONFIG_ENV, PusherConfig.model_validate_json)

    path = tmp_path / "c.json"
    path.write_text(f'{{"feedUrl": "{FEED}", "uri": "srt://x:1", "noAudioMode": "drop"}}')
    assert load(str(path)).uri == "srt://x:1"
    monkeypatch.setenv(CONFIG_ENV, f'{{"feedUrl": "{FEED}", "uri": "rtmp://x/app", "noAudioMode": "silence"}}')
    assert load(None).uri == "rtmp://x/app"
    monkeypatch.delenv(CONFIG_ENV)
    with pytest.raises(ConfigError, match="--config FILE or set STREAMOPS_PUSHER_CONFIG"):
        load(None)
    with pytest.raises(ConfigError, match=r"^cannot read /nonexistent: No such file or directory$"):
        load("/nonexistent")
    path.write_text(f'{{"feedUrl": "{FEED}", "noAudioMode": "loud"}}')
    with pytest.raises(ConfigError) as error:  # one line, field names as in the JSON
        load(str(path))
    assert "\n" not in str(error.value)
    assert "uri: Field required" in str(error.value) and "noAudioMode: Input should be" in str(error.value)


# --- backoff ----------------------------------------------------------------------------------------------


def test_backoff_ceiling_doubles_to_the_cap():
    ceilings = [backoff_delay(n, 0.5, 10.0, 1.0) for n in range(8)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert backoff_delay(10_000, 0.5, 10.0, 1.0) == 10.0  # no overflow however long it fails
    assert all(backoff_delay(n, 0.5, 10.0, 0.0) == 0.0 for n in range(8))


def test_backoff_full_jitter_stays_within_zero_and_the_ceiling():
    rng = random.Random(7)
    backoff = Backoff(BackoffPolicy(), rand=rng.random)
    delays = [backoff.next_delay() for _ in range(400)]
    assert all(0.0 <= d <= 10.0 for d in delays)
    assert all(d <= 0.5 * 2**n for n, d in enumerate(delays[:5]))
    late = delays[10:]
    assert min(late) < 2.0 and max(late) > 8.0  # jitter spreads over the whole [0, cap]


def test_backoff_resets_only_after_the_link_stayed_up_long_enough():
    backoff = Backoff(BackoffPolicy(), rand=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(4)] == [0.5, 1.0, 2.0, 4.0]
    backoff.link_was_up(9.9)
    assert backoff.next_delay() == 8.0
    backoff.link_was_up(10.0)
    assert backoff.next_delay() == 0.5
    custom = Backoff(BackoffPolicy(initialSeconds=1, maxSeconds=3, resetAfterSeconds=30), rand=lambda: 1.0)
    assert [custom.next_delay() for _ in range(4)] == [1.0, 2.0, 3.0, 3.0]


# --- how a run ended -----------------------------------------------------------------------------------


def test_exit_zero_is_the_source_ending():
    assert classify_exit(0, ["whatever"], FEED) is Outcome.SOURCE_ENDED


def test_feed_errors_are_the_source_not_the_target():
    lines = ["[http @ 0x1] HTTP error 503 Service Unavailable", f"{FEED}: Server returned 5XX Server Error reply"]
    assert classify_exit(1, lines, FEED) is Outcome.SOURCE_UNAVAILABLE
    assert classify_exit(1, [f"{FEED}: Connection refused"], FEED) is Outcome.SOURCE_UNAVAILABLE


def test_everything_else_is_the_target():
    refused = [
        "[tcp @ 0x1] Connection to tcp://h:1935 failed: Connection refused",
        "rtmp://h/live/***: Connection refused",
    ]
    assert classify_exit(1, refused, FEED) is Outcome.TARGET_FAILED
    assert classify_exit(255, [], FEED) is Outcome.TARGET_FAILED


def test_the_telling_error_is_the_cause_about_the_target():
    lines = [
        "Stream #0:1 -> #0:1 (copy)",
        "av_interleaved_write_frame(): Broken pipe",
        "    Last message repeated 2 times",
        "Error writing trailer of rtmp://h/live/***: Broken pipe",
        "Error closing file rtmp://h/live/***: Broken pipe",
        "Conversion failed!",
    ]
    assert telling_error(lines, "rtmp://h/live", 1) == "Error writing trailer of rtmp://h/live/***: Broken pipe"
    assert telling_error(lines[:3], "rtmp://h/live", 1) == "av_interleaved_write_frame(): Broken pipe"
    assert telling_error(["Conversion failed!"], "rtmp://h/live", 1) == "ffmpeg exited with code 1"


def test_watchdog():
    assert watchdog(started=0, first_byte=None, last_byte=None, now=CONNECT_SECONDS - 1) is None
    assert "within" in watchdog(started=0, first_byte=None, last_byte=None, now=CONNECT_SECONDS + 1)
    assert watchdog(started=0, first_byte=3, last_byte=50, now=50 + STALL_SECONDS - 1) is None
    assert "stopped taking data" in watchdog(started=0, first_byte=3, last_byte=50, now=50 + STALL_SECONDS + 1)
    # The config's stallSeconds, where set.
    assert watchdog(started=0, first_byte=3, last_byte=50, now=53.5, stall=4) is None
    stalled = watchdog(started=0, first_byte=3, last_byte=50, now=54.5, stall=4)
    assert stalled == "the target stopped taking data for 4 s"


def test_live_means_bytes_in_the_last_two_seconds():
    assert is_live(100.0, 101.9) and not is_live(100.0, 102.5) and not is_live(None, 1.0)


# --- the feed's tracks (PAT/PMT) -------------------------------------------------------------------------


def ts_packet(pid: int, section: bytes) -> bytes:
    header = struct.pack(">BHB", 0x47, 0x4000 | pid, 0x10) + b"\x00"  # PUSI, payload only, pointer 0
    return (header + section).ljust(188, b"\xff")


def pat(pmt_pid: int = 0x1000) -> bytes:
    body = struct.pack(">HBBB", 1, 0xC1, 0, 0) + struct.pack(">HH", 1, 0xE000 | pmt_pid)
    return ts_packet(0, struct.pack(">BH", 0x00, 0xB000 | (len(body) + 4)) + body + b"CRC!")


def pmt(*streams: tuple[int, int], pmt_pid: int = 0x1000) -> bytes:
    body = struct.pack(">HBBBHH", 1, 0xC1, 0, 0, 0xE100, 0xF000)
    for stream_type, pid in streams:
        body += struct.pack(">BHH", stream_type, 0xE000 | pid, 0xF000)
    return ts_packet(pmt_pid, struct.pack(">BH", 0x02, 0xB000 | (len(body) + 4)) + body + b"CRC!")


def test_ts_tracks_from_pat_and_pmt():
    av = pat() + pmt((0x1B, 0x100), (0x0F, 0x101))
    assert program_streams(av) == [(0x1B, 0x100), (0x0F, 0x101)]
    assert program_stream_types(b"\x00\x01" + av) == [0x1B, 0x0F]  # finds the sync byte
    assert program_stream_types(pat() + pmt((0x1B, 0x100))) == [0x1B]
    assert program_stream_types(pat()) is None  # PMT not seen yet
    assert program_stream_types(pmt((0x1B, 0x100)) + pat()) is None  # a PMT before its PAT is unknown
    assert program_stream_types(b"") is None and program_stream_types(b"\x47" * 400) is None


# --- the feed's video codec and the target's --------------------------------------------------------------


def test_the_video_codecs_default_to_h264_and_are_camel_case():
    assert config().video_codecs == ["h264"]
    assert config(videoCodecs=["h264", "av1"]).video_codecs == ["h264", "av1"]
    with pytest.raises(ValidationError):
        config(videoCodecs=[])
    with pytest.raises(ValidationError):
        config(videoCodecs=["vp9"])


RTMP, SRT = "rtmps://a.rtmps.youtube.com/live2", "srt://media.example.com:9000"


def test_a_codec_the_target_takes_or_one_unknown_is_pushed():
    assert codec_refusal("h264", ["h264"], RTMP) is None
    assert codec_refusal("hevc", ["h264", "hevc"], RTMP) is None
    assert codec_refusal(None, ["h264"], RTMP) is None, "no PMT seen, or a video codec the workers do not name"


def test_a_codec_the_target_does_not_take_says_what_to_change():
    assert codec_refusal("hevc", ["h264"], RTMP) == (
        "the source's video is hevc and the target takes h264 (spec.targetVideoCodecs): add hevc if the target "
        "takes HEVC over Enhanced RTMP, or set spec.source: transcoded to send the ladder's H.264"
    )
    assert codec_refusal("av1", ["h264", "hevc"], RTMP) == (
        "the source's video is av1 and the target takes h264, hevc (spec.targetVideoCodecs): add av1 if the "
        "target takes AV1 over Enhanced RTMP, or set spec.source: transcoded to send the ladder's H.264"
    )
    assert codec_refusal("hevc", ["h264"], SRT) == (
        "the source's video is hevc and the target takes h264 (spec.targetVideoCodecs): add hevc if the target "
        "takes HEVC in MPEG-TS, or set spec.source: transcoded to send the ladder's H.264"
    )
    # AV1 cannot be listed for SRT (admission refuses it): only the ladder helps.
    assert codec_refusal("av1", ["h264"], SRT) == (
        "the source's video is av1 and the target takes h264 (spec.targetVideoCodecs): an srt:// target cannot "
        "take the workers' AV1 in MPEG-TS; set spec.source: transcoded to send the ladder's H.264"
    )
    # The ladder's H.264 (or a source's) to a target listed without it.
    assert codec_refusal("h264", ["hevc"], RTMP) == (
        "the source's video is h264 and the target takes hevc (spec.targetVideoCodecs): add h264, which every "
        "RTMP and SRT server takes"
    )


# --- status ------------------------------------------------------------------------------------------------


def test_status_is_camel_case_and_errors_are_redacted():
    pusher = Pusher(config(streamKeyFile="/k"))
    pusher.redact.add("rk-SECRET/42")
    pusher._fail("rtmp://a.rtmp.youtube.com/live2/rk-SECRET/42: Connection refused")
    pusher._fail("rtmp://a.rtmp.youtube.com/live2/rk-SECRET%2F42: I/O error")
    status = pusher.status().to_json_dict()
    assert status == {
        "live": False,
        "state": "waiting-for-source",
        "startedAt": None,
        "bytesSent": 0,
        "reconnects": 0,
        "failures": 0,
        "failingSince": None,
        "lastError": "rtmp://a.rtmp.youtube.com/live2/***: I/O error",
        "target": "rtmp://a.rtmp.youtube.com/live2",
    }


# --- reconnects and the failure streak ------------------------------------------------------------------


FEED_LINE = "Input #0, mpegts, from 'http://127.0.0.1:8080/feed':"


def test_every_connection_after_the_first_is_a_reconnect_whatever_ended_the_last():
    pusher = Pusher(config())
    pusher._on_ffmpeg_line(FEED_LINE)  # first connection
    assert pusher.status().reconnects == 0
    for line in ("  Stream #0:0[0x100]: Video: h264", "Input #1, lavfi, from 'anullsrc':", "Output #0, flv"):
        pusher._on_ffmpeg_line(line)  # not a new connection
    assert pusher.status().reconnects == 0
    pusher._on_ffmpeg_line(FEED_LINE)  # after the ingest restarted (no failure at all)
    pusher._on_ffmpeg_line(FEED_LINE)  # after a target failure
    assert pusher.status().reconnects == 2 and pusher.status().failures == 0
    assert 'streamops_pusher_reconnects_total{stream="cam",target="restream"} 2.0' in metrics_text(pusher)


def metrics_text(pusher: Pusher) -> str:
    return pusher.metrics().body.decode()


def test_the_failure_streak_counts_failures_until_the_link_stays_up():
    backoff = Backoff(BackoffPolicy(resetAfterSeconds=10), rand=lambda: 0.5)
    t0, t1 = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC), datetime(2026, 11, 22, 8, 0, 7, tzinfo=UTC)
    backoff.next_delay(t0)
    backoff.link_was_up(3)  # a short success does not end the streak
    backoff.next_delay(t1)
    assert (backoff.attempt, backoff.failing_since) == (2, t0)
    backoff.link_was_up(10)
    assert (backoff.attempt, backoff.failing_since) == (0, None)
    backoff.next_delay(t1)
    assert (backoff.attempt, backoff.failing_since) == (1, t1), "a new streak"


def test_status_reports_the_streak():
    pusher = Pusher(config())
    pusher.backoff.next_delay(datetime(2026, 11, 22, 8, 0, 0, 400000, tzinfo=UTC))
    pusher.backoff.next_delay(datetime(2026, 11, 22, 8, 0, 5, tzinfo=UTC))
    status = pusher.status().to_json_dict()
    assert (status["failures"], status["failingSince"]) == (2, "2026-11-22T08:00:00Z")


# --- delivery: what reached the target ---------------------------------------------------------------------


def counters(*acked: int | None) -> list[TcpCounters]:
    return [TcpCounters(inode=i, peer=("127.0.0.1", 1935), bytes_acked=a, notsent=0) for i, a in enumerate(acked)]


def sample(acked: int, window: int | None = None, inode: int = 1) -> TcpCounters:
    return TcpCounters(inode=inode, peer=("127.0.0.1", 1935), bytes_acked=acked, notsent=0, snd_wnd=window)


def test_the_target_socket_is_the_one_that_acknowledged_the_most():
    found = target_socket(counters(180, 3_100_000))  # the feed's GET vs the media
    assert found is not None and found.bytes_acked == 3_100_000
    assert target_socket(counters(None)) is None and target_socket([]) is None


def test_the_target_read_when_its_window_edge_kept_up_with_its_acknowledgements():
    assert target_read(245_000, 245_000)  # reading as it comes: the edge moves with the acks
    assert target_read(245_000, 933_000)  # a backlog read at once
    assert target_read(0, 64_000)  # a full window reopened: read, nothing new acknowledged yet
    # SIGSTOPped behind an 8 MiB buffer (measured, 0.5 s samples): acknowledged, the edge crept 3 %
    assert not target_read(245_000, 7_800)
    assert not target_read(0, 0) and not target_read(245_000, 0)
    assert target_read(1, None) and not target_read(0, None)  # no window reported: the acks alone


def test_delivery_by_what_ffmpeg_wrote_until_the_kernel_tells_acknowledgements():
    d = Delivery()
    d.written(1.0)
    assert (d.first_at, d.last_at, d.by_acks) == (1.0, 1.0, False)
    d.sampled(None, 1.5, wrote_media=True)  # no TCP socket seen (yet): still by writes
    d.written(2.0)
    assert d.last_at == 2.0
    d.sampled(sample(500_000), 2.5, wrote_media=True)
    assert d.by_acks and d.last_at == 2.5
    d.written(3.0)  # FFmpeg still writes (into its send buffer) ...
    d.sampled(sample(500_000), 3.5, wrote_media=True)  # ... but the target took nothing more
    assert d.last_at == 2.5 and not is_live(d.last_at, 5.0) and is_live(d.last_at, 4.0)
    d.sampled(sample(900_000), 6.0, wrote_media=True)
    assert d.last_at == 6.0 and d.uptime() == 5.0


def test_a_target_acknowledging_into_its_buffer_without_reading_is_not_delivery():
    """The case acknowledgements alone miss: a big receive buffer still taking bytes, its window
    closing because nothing reads it."""
    d = Delivery()
    d.sampled(sample(1_000_000, 8_000_000), 1.0, wrote_media=True)
    d.sampled(sample(1_245_000, 8_000_000), 1.5, wrote_media=True)  # read as it came
    assert d.last_at == 1.5
    acked, window = 1_245_000, 8_000_000
    for t in (2.0, 2.5, 3.0, 3.5, 4.0):  # stopped reading: the window closes by what is acknowledged
        acked, window = acked + 245_000, window - 245_000 + 7_800
        d.sampled(sample(acked, window), t, wrote_media=True)
    assert d.last_at == 1.5 and not is_live(d.last_at, 4.0)
    assert watchdog(0.0, d.first_at, d.last_at, 1.5 + STALL_SECONDS + 0.5) is not None
    d.sampled(sample(acked, 8_000_000), 4.5, wrote_media=True)  # read again: the window reopens
    assert d.last_at == 4.5


def test_another_socket_s_window_is_no_baseline():
    d = Delivery()
    d.sampled(sample(200, 6_000_000, inode=1), 0.5, wrote_media=False)  # the feed's socket, big window
    d.sampled(sample(70_000, 64_000, inode=2), 1.0, wrote_media=True)  # the target's, once media flows
    assert d.first_at == 1.0


def test_the_handshake_alone_is_not_delivery():
    d = Delivery()
    d.sampled(sample(3_073), 0.5, wrote_media=False)  # RTMP handshake acknowledged, no media yet
    assert d.first_at is None
    d.sampled(sample(3_073), 1.0, wrote_media=True)  # media written, nothing new acknowledged
    assert d.first_at is None
    d.sampled(sample(70_000), 1.5, wrote_media=True)
    assert d.first_at == 1.5


def test_the_watchdog_stall_follows_delivery_not_writes():
    d = Delivery()
    d.sampled(sample(100_000), 1.0, wrote_media=True)
    for t in (2.0, 3.0, 9.0):
        d.written(t)
        d.sampled(sample(100_000), t, wrote_media=True)
    assert watchdog(0.0, d.first_at, d.last_at, 1.0 + STALL_SECONDS + 0.5) is not None


def test_metrics_are_what_prometheus_client_writes_for_the_same_values():
    """The pusher writes its metrics itself (no prometheus-client in its process): the text is
    prometheus-client's for the same catalogue entries and values (without `_created` samples)."""
    from prometheus_client import generate_latest
    from streamops.media.worker_metrics import counter, gauge, worker_registry

    reg, labels = worker_registry(), {"stream": "cam", "target": 'we"ird\\name\nx'}
    state = gauge("streamops_pusher_state", "pusher", reg)
    for s in PUSHER_STATES:
        state.labels(**labels, state=s).set(1 if s == "backoff" else 0)
    counter("streamops_pusher_sent_bytes_total", "pusher", reg).labels(**labels).inc(123456)
    counter("streamops_pusher_reconnects_total", "pusher", reg).labels(**labels).inc(2)
    counter("streamops_pusher_target_failures_total", "pusher", reg).labels(**labels).inc(3)
    ours = pusher_metrics("cam", labels["target"], 123456, 2, 3, "backoff").decode()
    assert ours.splitlines() == generate_latest(reg).decode().splitlines()
    assert {line.split()[2] for line in ours.splitlines() if line.startswith("# TYPE")} == {
        m.name for m in PUSHER_METRICS
    }


def test_the_feed_is_asked_again_often_for_a_few_seconds_after_its_session_ended() -> None:
    assert feed_poll_seconds(None, 100.0, 1.0) == 1.0, "nothing ended: the idle pace"
    assert feed_poll_seconds(99.0, 100.0, 1.0) == REJOIN_POLL_SECONDS, "a reconnect or a handover: soon"
    assert feed_poll_seconds(100.0 - REJOIN_SECONDS, 100.0, 1.0) == 1.0, "long gone: the idle pace again"
    assert feed_poll_seconds(99.0, 100.0, 0.01) == 0.01, "never slower than the idle pace"
