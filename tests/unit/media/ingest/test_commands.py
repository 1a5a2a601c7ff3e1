"""Pure parts of the ingest worker: FFmpeg command lines, playlists, what FFmpeg says of its source."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from streamops.contract.ingest import IngestConfig
from streamops.media.ffmpeg import SourceFacts, UnsafeUri, protocol_whitelist
from streamops.media.ingest.commands import (
    _tee_target,
    front_hls,
    front_hls_problem,
    front_writes_hls,
    hls_options,
    master_playlist,
    playlist_segments,
    pull_input,
    session_command,
    session_dirs,
    srt_listen_input,
    srt_listen_script,
)
from streamops.redaction import Redactor

BASE = {"stream": "cam", "source": {"push": {}}}


def config(**overrides) -> IngestConfig:
    return IngestConfig.model_validate({**BASE, **overrides})


def test_copy_session_writes_both_hls_flavours_and_the_feed():
    argv = session_command(config(), "rtmp://127.0.0.1:1/live/feed", {"listen": 1}, Path("/m/s"))
    text = " ".join(argv)
    assert argv.count("copy") == 1 and "libx264" not in text
    by_path = {path: options for options, path in tee_slaves(tee_argument(argv))}
    assert list(by_path) == ["pipe:1", "/m/s/cmaf/index.m3u8", "/m/s/ts/index.m3u8"]
    assert by_path["pipe:1"] == {"f": "mpegts", "pes_payload_size": "0", "onfail": "abort"}
    assert "-progress" in argv and argv.index("-progress") < argv.index("-i"), "global options come first"
    assert by_path["/m/s/cmaf/index.m3u8"]["bsfs/a"] == "aac_adtstoasc" and "bsfs/a" not in by_path["pipe:1"]


def test_the_feed_and_hls_are_one_tee_output_of_the_first_video_and_audio():
    """One muxer thread for the feed and both HLS flavours (FFmpeg 7 runs one per output: issue 53's
    profile). The tee selects no stream by itself, so the map names what FFmpeg's default selection
    took; a failing slave still ends the session; the LL-HLS pipe and DASH stay outputs of their own
    (their mp4 muxers refuse the codec tag a tee passes through from an MPEG-TS input)."""
    argv = session_command(config(dash=True), "x://", {}, Path("/s"), ll_fds={"": 5})
    pairs = list(itertools.pairwise(argv))
    tee = argv[argv.index("tee") + 3]
    assert [b for a, b in pairs if a == "-map"] == ["0:v:0?", "0:a:0?"]
    slaves = tee_slaves(tee)
    assert [path for _, path in slaves] == ["pipe:1", "/s/cmaf/index.m3u8", "/s/ts/index.m3u8"]
    assert all(options["onfail"] == "abort" for options, _ in slaves)
    assert "pipe:5" in argv and "/s/dash/manifest.mpd" in argv, "outputs of their own"
    assert argv.count("copy") == 3 and argv.count("aac_adtstoasc") == 2


def test_no_stats_line_on_stderr():
    """-progress reports the same; the stats line (ended by \\r, never \\n) only woke the stderr reader."""
    argv = session_command(config(), "rtmp://127.0.0.1:1/live/feed", {"listen": 1}, Path("/m/s"))
    assert "-nostats" in argv and argv.index("-nostats") < argv.index("-i")


def test_progress_comes_once_a_second():
    """Each -progress block wakes the supervisor; the rates it feeds (LiveMeter, over 3 s) and the
    status read when asked need no more (issue 53's quiet supervisor), in copy and ladder sessions."""
    ladder = {"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]}
    for cfg in (config(), config(transcoding=ladder)):
        argv = session_command(cfg, "rtmp://127.0.0.1:1/live/feed", {"listen": 1}, Path("/m/s"))
        assert argv[argv.index("-stats_period") + 1] == "1"


def test_hls_flags_follow_the_spec():
    text = " ".join(session_command(config(hls={"endListOnStop": False, "mpegts": False}), "x://", {}, Path("/s")))
    assert "omit_endlist" in text and "/s/ts/" not in text
    assert "omit_endlist" not in " ".join(session_command(config(), "x://", {}, Path("/s")))


LADDER = {"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]}


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({}, None),
        ({"dvr": {"enabled": True, "durationSeconds": 60}, "hls": {"mpegts": False}}, None),
        ({"transcoding": LADDER}, "transcoding renditions"),
        ({"hls": {"latencyMode": "low"}}, "LL-HLS parts"),
        ({"dash": True}, "DASH"),
    ],
)
def test_the_front_writes_hls_only_for_what_its_writers_do(overrides, problem):
    """hlsWriter front: the RTMP front's writers (TS, CMAF, a passthrough) write the HLS; a stream
    asking for more (a ladder, LL-HLS parts, DASH) keeps FFmpeg's, and says why. Off by default."""
    assert front_hls_problem(config(**overrides)) == problem
    assert front_writes_hls(config(hlsWriter="front", **overrides)) is (problem is None)
    assert not front_writes_hls(config(**overrides)) and config().hls_writer == "ffmpeg"


@pytest.mark.parametrize(
    ("dvr", "hls", "list_size"),
    [({"enabled": False}, {}, 6), ({"enabled": True, "durationSeconds": 60}, {"segmentSeconds": 4, "cmaf": False}, 15)],
)
def test_the_fronts_hls_is_what_ffmpegs_hls_muxer_is_given(dvr, hls, list_size):
    """Same directories and names, segment length, window, threshold and ENDLIST as hls_options;
    the epoch seconds as the first number (FFmpeg's hls_start_number_source epoch)."""
    c = config(dvr=dvr, hls={**hls, "endListOnStop": False}, hlsWriter="front")
    made = front_hls(c, Path("/m/s"), 1764554400)
    ffmpeg = hls_options(c, "mpegts", Path("/m/s/ts"))
    assert made == {
        "ts_dir": "/m/s/ts",
        "cmaf_dir": "/m/s/cmaf" if c.hls.cmaf else "",
        "segment_ms": ffmpeg["hls_time"] * 1000,
        "list_size": ffmpeg["hls_list_size"],
        "delete_threshold": ffmpeg["hls_delete_threshold"],
        "start_number": 1764554400,
        "end_list": False,
    }
    assert made["list_size"] == list_size and made["delete_threshold"] == 2
    assert ffmpeg["hls_segment_filename"] == "/m/s/ts/seg-%06d.ts" and ffmpeg["hls_start_number_source"] == "epoch"


def test_with_the_front_writing_hls_ffmpeg_writes_the_feed_alone():
    """hls False: the tee keeps the feed only (the front writes the playlists); DASH, where asked
    for, keeps FFmpeg writing everything (front_writes_hls is False then)."""
    argv = session_command(config(hlsWriter="front"), "/p/rtmp.flv", {"f": "flv"}, Path("/m/s"), hls=False)
    assert [path for _, path in tee_slaves(tee_argument(argv))] == ["pipe:1"]
    assert "index.m3u8" not in " ".join(argv) and "hls" not in argv
    with pytest.raises(AssertionError):
        session_command(config(transcoding=LADDER), "/p/rtmp.flv", {}, Path("/m/s"), hls=False)


@pytest.mark.parametrize(
    ("dvr", "segment", "expected"),
    [({"enabled": False}, 2, 6), ({"enabled": True, "durationSeconds": 60}, 2, 30), ({"enabled": True}, 4, 900)],
)
def test_playlist_length_is_the_dvr_window(dvr, segment, expected):
    c = config(dvr=dvr, hls={"segmentSeconds": segment})
    assert playlist_segments(c.dvr, c.hls) == expected


def av_get_token(text: str, term: str) -> tuple[str, str]:
    """FFmpeg's av_get_token (libavutil/avstring.c), which reads tee slaves and their option values:
    (token, rest). A backslash escapes one character, quotes quote; surrounding blanks are dropped."""
    blanks = " \n\t\r"
    i = 0
    while i < len(text) and text[i] in blanks:
        i += 1
    out, end = "", 0
    while i < len(text) and text[i] not in term:
        c, i = text[i], i + 1
        if c == "\\" and i < len(text):
            out, i = out + text[i], i + 1
            end = len(out)
        elif c == "'":
            while i < len(text) and text[i] != "'":
                out, i = out + text[i], i + 1
            if i < len(text):
                i += 1
                end = len(out)
        else:
            out += c
    while len(out) > end and out[-1] in blanks:
        out = out[:-1]
    return out, text[i:]


def tee_slaves(argument: str) -> list[tuple[dict[str, str], str]]:
    """The tee muxer's reading of its output argument: (options, path) of each slave."""
    slaves = []
    rest = argument
    while rest:
        slave, rest = av_get_token(rest, "|")
        rest = rest[1:]
        options: dict[str, str] = {}
        assert slave.startswith("["), slave
        body = slave[1:]
        while not body.startswith("]"):
            key, _, body = body.partition("=")
            value, body = av_get_token(body, ":]")
            options[key] = value
            body = body[1:] if body.startswith(":") else body
        slaves.append((options, body[1:]))
    return slaves


def tee_argument(argv: list[str]) -> str:
    assert "tee" in argv
    return argv[-1]  # the ladder's output comes last


def test_ladder_encodes_each_rendition_once_into_one_output_teed_to_its_slaves():
    c = config(
        transcoding={
            "renditions": [
                {"name": "360p", "height": 360, "videoBitrateKbps": 800, "audioBitrateKbps": 64},
                {"name": "720p", "height": 720, "videoBitrateKbps": 3000},
            ]
        }
    )
    argv = session_command(c, "x://", {}, Path("/s"), transcoded_fd=7)
    pairs = list(itertools.pairwise(argv))
    assert argv.count("libx264") == 2 and argv.count("tee") == 1 and argv.count("aac") == 2
    assert ("-c:v:0", "libx264") in pairs and ("-b:v:0", "3000k") in pairs, "the tallest is v:0"
    assert ("-b:v:1", "800k") in pairs and ("-b:a:0", "128k") in pairs and ("-b:a:1", "64k") in pairs
    assert [a for a in argv if a.startswith("0:a")] == ["0:a:0?", "0:a:0?"], "one AAC encode per audio bitrate"
    slaves = tee_slaves(tee_argument(argv))
    by_path = {path: options for options, path in slaves}
    assert by_path["/s/cmaf/720p/index.m3u8"]["select"] == "v:0,a:0"
    assert by_path["/s/ts/360p/index.m3u8"]["select"] == "v:1,a:1"
    assert by_path["pipe:7"] == {"select": "v:0,a:0", "f": "mpegts", "pes_payload_size": "0"}, "the transcoded feed"
    assert "split=2" in argv[argv.index("-filter_complex") + 1]
    assert [p.as_posix() for p in session_dirs(c, Path("/s"))] == [
        "/s/cmaf/720p",
        "/s/cmaf/360p",
        "/s/ts/720p",
        "/s/ts/360p",
    ]
    master = master_playlist(c, 1920, 1080, closed_captions=False)
    assert master.index("720p/index.m3u8") < master.index("360p/index.m3u8")
    assert "RESOLUTION=1280x720" in master and "BANDWIDTH=3128000" in master


def test_the_ladders_dash_takes_every_rendition_in_one_adaptation_set():
    c = config(transcoding=LADDER, dash=True)
    slaves = tee_slaves(tee_argument(session_command(c, "x://", {}, Path("/s"))))
    dash = next(options for options, path in slaves if path == "/s/dash/manifest.mpd")
    assert "select" not in dash, "every rendition's video and audio"
    assert dash["adaptation_sets"] == "id=0,streams=v id=1,streams=a"
    assert dash["bsfs/v"] == "extract_extradata", "codecs per Representation: x264 behind the tee has no extradata"
    assert dash["f"] == "dash" and dash["use_timeline"] == "1" and "streaming" not in dash
    assert dash["format_options"] == "movflags=cmaf"
    assert "/s/dash" in [p.as_posix() for p in session_dirs(c, Path("/s"))]


def test_low_latency_dash_writes_chunked_cmaf_announced_early():
    c = config(transcoding=LADDER, dash=True, dashLatencyMode="low", hls={"partMilliseconds": 250})
    dash = next(o for o, path in tee_slaves(tee_argument(session_command(c, "x://", {}, Path("/s")))) if "dash" in path)
    assert dash["streaming"] == "1" and dash["ldash"] == "1"
    assert dash["frag_type"] == "duration" and dash["frag_duration"] == "0.25", "a chunk per LL-HLS part length"
    assert dash["use_timeline"] == "0", "FFmpeg writes availabilityTimeOffset on a number template only"
    assert dash["utc_timing_url"] == "time" and dash["target_latency"] == "1.25", "5 chunks"
    passthrough = session_command(config(dash=True, dashLatencyMode="low"), "x://", {}, Path("/s"))
    assert list(itertools.pairwise(passthrough)).count(("-ldash", "1")) == 1, "the copied source's DASH too"
    assert "-ldash" not in session_command(config(dash=True), "x://", {}, Path("/s"))
    assert not config(dashLatencyMode="low").dash_low_latency, "no DASH, no low-latency DASH"


@pytest.mark.parametrize("path", ["/m/it's|here:now]/index.m3u8", "/plain/index.m3u8"])
def test_tee_slaves_survive_ffmpegs_two_readings(path):
    """Option values and paths with FFmpeg's separators reach the slave as written."""
    slave = _tee_target({"select": "v:0,a:0", "adaptation_sets": "id=0,streams=v id=1,streams=a"}, path)
    assert tee_slaves(slave) == [({"select": "v:0,a:0", "adaptation_sets": "id=0,streams=v id=1,streams=a"}, path)]


LADDER = {
    "renditions": [
        {"name": "360p", "height": 360, "videoBitrateKbps": 800},
        {"name": "720p", "height": 720, "videoBitrateKbps": 3000},
    ]
}


def test_master_playlist_declares_the_sources_captions_on_every_variant():
    master = master_playlist(config(transcoding=LADDER), 1920, 1080, closed_captions=True)
    lines = master.splitlines()
    media = '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="English",LANGUAGE="en",INSTREAM-ID="CC1"'
    assert lines.count(media) == 1
    variants = [line for line in lines if line.startswith("#EXT-X-STREAM-INF:")]
    assert len(variants) == 2 and lines.index(media) < lines.index(variants[0]), "the group before its users"
    assert all(v.endswith(',CLOSED-CAPTIONS="cc"') for v in variants), variants


def test_master_playlist_says_none_for_a_source_without_captions():
    master = master_playlist(config(transcoding=LADDER), 1920, 1080, closed_captions=False)
    assert "TYPE=CLOSED-CAPTIONS" not in master
    variants = [line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF:")]
    assert len(variants) == 2 and all(v.endswith(",CLOSED-CAPTIONS=NONE") for v in variants), variants


def test_ladder_keeps_the_captions_the_decoder_exports():
    """libx264 writes the decoder's A53 side data back as SEI with a53cc (its default, said
    explicitly); no filter of the ladder drops or repeats frames, and with them their caption bytes."""
    argv = session_command(config(transcoding=LADDER), "x://", {}, Path("/s"))
    pairs = list(itertools.pairwise(argv))
    assert [p for p in pairs if p[0].startswith("-a53cc")] == [("-a53cc:v:0", "1"), ("-a53cc:v:1", "1")], "each x264"
    graph = argv[argv.index("-filter_complex") + 1]
    assert "fps=" not in graph, "a frame dropped or doubled drops or repeats its caption bytes"


def test_srt_listener_uses_the_key_as_passphrase_off_the_command_line():
    script = srt_listen_script("127.0.0.1", 9998, "k3y-01234'56789", latency_ms=None, timeout=5)
    url, options = srt_listen_input(Path("/m/.private/srt.ffconcat"))
    argv = session_command(config(), url, options, Path("/m/s"))
    head = argv[: argv.index("-i") + 2]
    assert not any("k3y" in a for a in argv)
    pairs = set(itertools.pairwise(head))
    assert {("-f", "concat"), ("-safe", "0"), ("-protocol_whitelist", "file,srt,udp")} <= pairs
    assert ("-i", "/m/.private/srt.ffconcat") in pairs
    # The key travels in the script (read from a FIFO), quoted the way FFmpeg's tokenizer unquotes it.
    assert "option passphrase 'k3y-01234'\\''56789'\n" in script
    assert "file 'srt://127.0.0.1:9998?mode=listener&timeout=5000000'\n" in script
    redact = Redactor(["k3y-01234'56789"])
    assert "k3y" not in redact("option passphrase k3y-01234'56789")


def test_srt_listener_latency_is_in_microseconds():
    script = srt_listen_script("0.0.0.0", 9998, "k3y-0123456789", latency_ms=1500, timeout=2.5)
    assert "file 'srt://0.0.0.0:9998?mode=listener&timeout=2500000&latency=1500000'" in script


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "concat:a|b",
        "subfile:,,start,0,end,0,,:/x",
        "data:,x",
        "srt://h:1?mode=listener",
        "rtmp://u:p@h/app",
    ],
)
def test_pull_refuses_unsafe_urls_before_ffmpeg(url):
    with pytest.raises(UnsafeUri):
        pull_input(url)


def test_pull_whitelists_only_the_schemes_protocols():
    assert pull_input("rtmp://h/live/a")[1]["protocol_whitelist"] == "rtmp,tcp"
    assert "file" not in protocol_whitelist("https://h/a.m3u8", ["https"])


def test_an_rtmps_or_https_origin_is_verified_unless_told_not_to():
    """FFmpeg's tls protocol verifies nothing by default (tls_verify 0): the pull asks for it, against
    the system's trust store or the CA file (source.pull.tls.caSecretRef), before the URL's path is sent."""
    for url in ("rtmps://o.example/live/secret-name", "https://o.example/live/s.m3u8", "rtsps://cam/1"):
        options = pull_input(url)[1]
        assert options["tls_verify"] == "1" and "ca_file" not in options, "the system's trust store"
        options = pull_input(url, ca_file="/ca/ca.crt")[1]
        assert (options["tls_verify"], options["ca_file"]) == ("1", "/ca/ca.crt")
        assert "tls_verify" not in pull_input(url, insecure_skip_verify=True)[1]
    for url in ("rtmp://o/live/s", "http://o/s.m3u8", "srt://o:1?mode=caller", "rtsp://cam/1"):
        assert not {"tls_verify", "ca_file"} & set(pull_input(url, ca_file="/ca/ca.crt")[1]), "no TLS"
    # rtsps: our FFmpeg's rtsp demuxer takes tls_verify and ca_file (rtsp-tls-pinning.patch; 7.1 did not).


def test_source_facts_from_ffmpeg_dump():
    facts = SourceFacts()
    facts.read("  Stream #0:0: Video: h264 (High), yuv420p(progressive), 1280x720 [SAR 1:1 DAR 16:9], 30 fps, 30 tbr")
    facts.read("  Stream #0:1: Audio: aac (LC), 48000 Hz, stereo, fltp, 128 kb/s")
    assert (facts.video_codec, facts.width, facts.height, facts.audio_codec) == ("h264", 1280, 720, "aac")
