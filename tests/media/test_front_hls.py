"""HLS written by the RTMP front (IngestConfig.hlsWriter front; issue 53, docs/design/lean-ingest.md):
a real ingest worker, its real front (components/rtmp with mux/) and FFmpeg, published to by FFmpeg.
The session's FFmpeg writes only the feed; the front writes the TS and CMAF playlists and segments,
which ffprobe decodes, numbered from the epoch seconds across sessions, within the playlist window. A
codec the front's writers refuse (Enhanced RTMP HEVC, as OBS sends it) cuts that publisher once,
and its reconnect plays from FFmpeg's HLS."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from devtools.http_client import http_get
from devtools.media.peers import Publisher
from devtools.media.workers import Ingest
from devtools.processes import command_line, proc_tree
from devtools.waits import wait_for
from streamops.media.ingest.commands import NON_DVR_PLAYLIST_SEGMENTS

SEGMENT_SECONDS = 1  # one per keyframe of a 1 s GOP
# Segments listed without DVR (playlist_segments): the same list size the front is given as a DVR
# window's (front_hls, tests/unit/media/ingest), in 10 s of real-time media rather than the API's
# shortest DVR window's 34 (the suite's time budget).
WINDOW = NON_DVR_PLAYLIST_SEGMENTS
# Segments ffprobe decodes at the end of each flavour's window: the writer is the same for every
# one (the Go tests decode each of theirs), and a decode costs ≈ 0.1 CPU-s.
DECODED = 4
OBS_FOURCCS = ["-rtmp_enhanced_codecs", "hvc1,av01,vp09"]  # test_enhanced_rtmp's: OBS 30's connect


class Playlist:
    """One media playlist as written: its first number, its segments (name, EXTINF), ENDLIST."""

    def __init__(self, text: str) -> None:
        found = re.search(r"^#EXT-X-MEDIA-SEQUENCE:(\d+)$", text, re.M)
        self.sequence = int(found.group(1)) if found else 0
        # (name, EXTINF): a segment's URI is the next line not a tag (FFmpeg writes its
        # PROGRAM-DATE-TIME between the two).
        found = re.findall(r"^#EXTINF:([\d.]+),.*\n(?:#.*\n)*(\S+)$", text, re.M)
        self.segments = [(name, float(duration)) for duration, name in found]
        self.ended = "#EXT-X-ENDLIST" in text
        self.discontinuities = text.count("#EXT-X-DISCONTINUITY\n")

    @property
    def numbers(self) -> list[int]:
        return [self.sequence + i for i in range(len(self.segments))]


def session_dirs(ingest: Ingest) -> list[Path]:
    """The RTMP sessions' directories that have HLS, oldest first."""
    found = (ingest.workdir / "media" / "sessions").glob("*-rtmp")
    return sorted((d for d in found if (d / "ts" / "index.m3u8").exists()), key=lambda d: int(d.name.split("-")[0]))


def written(directory: Path, variant: str) -> Playlist:
    return Playlist((directory / variant / "index.m3u8").read_text())


def decoded_video_frames(path: Path) -> int:
    """Video frames ffprobe decodes from a segment (with its init segment before it for CMAF);
    any error line fails."""
    run = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0 and not run.stderr.strip(), (path, run.stderr)
    return int(run.stdout.split()[0].rstrip(","))  # the stream (TS lists it again under its program)


def assert_segments_decode(directory: Path, tmp_path: Path) -> None:
    """The window's last DECODED segments of both flavours decode, 30 frames a second of EXTINF."""
    ts, cmaf = written(directory, "ts"), written(directory, "cmaf")
    for name, duration in ts.segments[-DECODED:]:
        assert decoded_video_frames(directory / "ts" / name) == round(duration * 30), (name, duration)
    init = (directory / "cmaf" / "init.mp4").read_bytes()
    for name, duration in cmaf.segments[-DECODED:]:
        joined = tmp_path / f"{directory.name}-{name}.mp4"
        joined.write_bytes(init + (directory / "cmaf" / name).read_bytes())
        assert decoded_video_frames(joined) == round(duration * 30), (name, duration)


def ffmpeg_outputs(ingest: Ingest) -> list[str]:
    """The paths the RTMP session's FFmpeg (it reads the front's FIFO; the SRT listener's does not)
    writes to through its tee, from its command line."""
    assert ingest.process is not None
    lines = [command_line(pid) for pid in proc_tree(ingest.process.pid)[1:]]
    [session] = [line for line in lines if " -f tee " in line and re.search(r" -i \S*/rtmp-\d+\.flv ", line)]
    return [slave.rsplit("]", 1)[-1] for slave in session.split()[-1].split("|")]


def front_ingest(ingest_factory) -> Ingest:
    dvr = {"enabled": False}
    return ingest_factory(hlsWriter="front", hls={"segmentSeconds": SEGMENT_SECONDS}, dvr=dvr)


def test_the_front_writes_both_flavours_numbered_across_sessions_within_the_window(ingest_factory, tmp_path):
    ingest = front_ingest(ingest_factory)
    seconds = WINDOW + 4  # one-second segments: WINDOW listed, the oldest deleted past the threshold (2)
    publisher = Publisher(
        ingest.rtmp_url(), size="640x360", gop_seconds=1, duration=seconds, log_path=tmp_path / "1.log"
    )
    with publisher:
        status = ingest.wait_live()
        assert wait_for(lambda: ingest.status()["hlsWriter"], timeout=5) == "front", status
        assert ffmpeg_outputs(ingest) == ["pipe:1"], "the session's FFmpeg writes the feed alone"
        assert publisher.wait(timeout=seconds + 30) == 0
    wait_for(lambda: not ingest.status()["live"], timeout=15, what="the session's end")
    [first] = session_dirs(ingest)
    ts = wait_for(lambda: (p := written(first, "ts")).ended and p, timeout=10, what="the TS playlist's ENDLIST")
    cmaf = written(first, "cmaf")
    assert cmaf.ended and cmaf.numbers == ts.numbers and [d for _, d in cmaf.segments] == [d for _, d in ts.segments]
    assert len(ts.segments) == WINDOW, "the window"
    on_disk = sorted(p.name for p in (first / "ts").glob("seg-*.ts"))
    assert len(on_disk) <= WINDOW + 2 and on_disk[-WINDOW:] == [n for n, _ in ts.segments], on_disk
    assert ts.sequence >= 1_700_000_000 and ts.sequence > int(first.name.split("-")[0]) // 1000, "epoch numbers"
    assert_segments_decode(first, tmp_path)
    url = f"{ingest.http}/hls/cmaf/index.m3u8"
    served = wait_for(lambda: (p := Playlist(http_get(url)[1].decode())).ended and p, what="the served ENDLIST")
    assert abs(served.segments[-1][1] - cmaf.segments[-1][1]) < 0.001, "the served playlist ends with the front's"

    again = Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1, duration=3, log_path=tmp_path / "2.log")
    with again:
        ingest.wait_live()
        assert again.wait(timeout=30) == 0
    wait_for(lambda: len(session_dirs(ingest)) == 2 and written(session_dirs(ingest)[1], "ts").ended, timeout=15)
    second = written(session_dirs(ingest)[1], "ts")
    assert second.sequence > ts.numbers[-1], "a later session's numbers go on (the epoch seconds)"
    code, body = http_get(f"{ingest.http}/hls/ts/index.m3u8")
    joined = Playlist(body.decode())
    assert code == 200 and joined.discontinuities >= 1 and joined.segments[-1][0].endswith(".ts"), body
    assert_segments_decode(session_dirs(ingest)[1], tmp_path)


def test_a_codec_the_fronts_writers_refuse_falls_back_to_ffmpegs_hls(ingest_factory, tmp_path):
    """Enhanced RTMP HEVC: the front's `mux` event (unsupported) ends the session, its publisher is
    cut; the reconnect's session has FFmpeg's HLS outputs, which play."""
    ingest = front_ingest(ingest_factory)

    def hevc(name: str) -> Publisher:
        return Publisher(
            ingest.rtmp_url(), codec="hevc", size="640x360", gop_seconds=1, output_args=OBS_FOURCCS,
            log_path=tmp_path / f"{name}.log",
        )  # fmt: skip

    with hevc("refused") as refused:
        wait_for(lambda: refused.returncode is not None, timeout=30, what="the first publisher cut")
    assert session_dirs(ingest) == [], "no playlist from the front's writers"
    logs = ingest.logs()
    assert logs.count("HLS writers do not take this publisher's media") == 1, logs[-3000:]
    with hevc("reconnect"):
        ingest.wait_live()
        status = wait_for(lambda: (s := ingest.status())["hlsWriter"] and s, timeout=10)
        assert (status["hlsWriter"], status["videoCodec"]) == ("ffmpeg", "hevc"), status
        [newest] = wait_for(lambda: session_dirs(ingest), timeout=20, what="FFmpeg's playlist")
        wait_for(lambda: len(written(newest, "ts").segments) >= 2, timeout=20, what="two FFmpeg segments")
        name, duration = written(newest, "ts").segments[0]
        assert decoded_video_frames(newest / "ts" / name) == round(duration * 30)
