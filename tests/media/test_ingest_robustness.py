"""The ingest with the encoders a user may have (issue 12), real FFmpeg publishers on 127.0.0.1: a
frozen publisher (SIGSTOP) and its successor, a recorder across the freeze, an audio-only stream,
stream key rotation, SRT latency, what the encoder sends (profile, pixel format), HEVC as hvc1.

Durations measured here (release of a frozen session, memory of an audio-only stream) are printed
with "MEASURED" (pytest -s shows them); they are never asserted against a clock."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_get
from devtools.media.peers import Publisher, ffprobe_duration, ffprobe_streams
from devtools.media.workers import WORKER_AUTH, Worker, credential_file
from devtools.ports import free_port
from devtools.processes import proc_tree, stop_tree
from devtools.versions import worker_ffmpeg_env
from devtools.waits import wait_for

# The audio-only test runs this long (STREAMOPS_AUDIO_ONLY_SECONDS=600 gives the 10-minute figure).
# 5 s is enough to fail on the old cache: it held its whole history, 32 kB a second (≈0.3 MB by the
# first chunk read after 5 + 5 s; 32 kB at the first sample), against the ≤1.5 kB cache sampled every
# second and the ≤64 KiB first chunk asserted (the 10-minute run: RSS +0.6 MiB, cache 564 B). The RSS
# bound (2 MiB) is a leak's, not the cache's: the old cache's ≈0.9 MB in 30 s passed it too.
AUDIO_ONLY_SECONDS = float(os.environ.get("STREAMOPS_AUDIO_ONLY_SECONDS", "5"))

pytestmark = pytest.mark.timeout(max(300, AUDIO_ONLY_SECONDS + 120))

NEW_KEY = "rotated-key-9876543210"


def measured(what: str, value: float, unit: str) -> None:
    print(f"MEASURED {what}: {value:.2f} {unit}", file=sys.stderr)


def freeze(publisher: Publisher) -> float:
    assert publisher.pid is not None
    os.kill(publisher.pid, signal.SIGSTOP)  # its connection stays open, nothing is sent
    return time.monotonic()


def thaw(publisher: Publisher) -> None:
    if publisher.pid is not None:
        os.kill(publisher.pid, signal.SIGCONT)


def session_ended(ingest: Any) -> bool:
    return bool(ingest.status().get("finishedAt"))


def feed_code(ingest: Any) -> int:
    """The feed's answer; a 200 is not read (it streams), only its status is."""
    try:
        with urllib.request.urlopen(feed_request(ingest.feed_url), timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def feed_request(url: str) -> urllib.request.Request:
    """A GET of the ingest's feed, presenting the stream's worker credential as a recorder does."""
    return urllib.request.Request(url, headers=WORKER_AUTH)


def read_feed(url: str, seconds: float) -> bytes:
    out = b""
    with urllib.request.urlopen(feed_request(url), timeout=5) as response:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and (chunk := response.read1(65536)):
            out += chunk
    return out


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert match, status
    return int(match[1])


# --- its own listener's port -----------------------------------------------------------------------


def rtmp_session_ffmpeg(ingest: Any) -> tuple[int, Path] | None:
    """(pid, FIFO) of the ingest's idle FFmpeg for RTMP publishers, if one runs."""
    for pid in proc_tree(ingest.process.pid)[1:]:
        for line in _cmdlines([pid]):
            if found := re.search(r"-i (\S+/\.private/rtmp-\d+\.flv)", line):
                return pid, Path(found.group(1))
    return None


def test_ffmpeg_listens_on_nothing_and_a_killed_idle_one_is_replaced(ingest):
    """FFmpeg never listens for RTMP (its listener took `play`, any name, and one client only): it
    reads FLV from a FIFO in the worker's private directory, which only the RTMP front writes into,
    after the key matched. An idle FFmpeg killed is replaced, and the next publisher goes live."""
    pid, fifo = wait_for(lambda: rtmp_session_ffmpeg(ingest), timeout=10, what="the idle RTMP session")
    assert stat.S_ISFIFO(fifo.stat().st_mode) and stat.S_IMODE(fifo.parent.stat().st_mode) == 0o700
    cmdline = " ".join(_cmdlines([pid]))
    assert "rtmp://" not in cmdline and "-listen" not in cmdline and "-protocol_whitelist file " in cmdline
    assert ingest.KEY not in " ".join(_cmdlines(proc_tree(ingest.process.pid)))
    os.kill(pid, signal.SIGKILL)
    with Publisher(ingest.rtmp_url(), duration=30):
        ingest.wait_live(timeout=20)


# --- a frozen publisher ----------------------------------------------------------------------------


def test_frozen_rtmp_publisher_is_displaced_at_once_by_a_new_one(ingest):
    first = Publisher(ingest.rtmp_url()).start()
    try:
        ingest.wait_live()
        frozen_at = freeze(first)
        wait_for(lambda: not ingest.status()["live"], timeout=10)
        assert feed_code(ingest) == 503, "the feed of a silent session is not served as new"
        silent_at = time.monotonic()
        with Publisher(ingest.rtmp_url(), duration=30):
            status = ingest.wait_live(timeout=15)
            measured("RTMP successor live after the old session went silent", time.monotonic() - silent_at, "s")
            assert status["source"] == "rtmp" and status["refusedPublishers"] == 0
            # It took the stream from the silent session, which had not timed out yet.
            assert "rtmp publisher displaces the silent rtmp session" in ingest.logs()
            assert "sent nothing for" not in ingest.logs() and "nothing received for" not in ingest.logs()
            assert feed_code(ingest) == 200
            time.sleep(3)
            assert ingest.status()["live"], "the successor stays on"
        measured("freeze to successor's end", time.monotonic() - frozen_at, "s")
    finally:
        thaw(first)
    assert first.wait(timeout=20) != 0, "the frozen publisher's connection was closed under it"


def test_a_live_publisher_is_never_displaced(ingest):
    with Publisher(ingest.rtmp_url(), duration=30):
        ingest.wait_live()
        second = Publisher(ingest.rtmp_url(), duration=5).start()
        assert second.wait(timeout=20) != 0
        assert ingest.status()["refusedPublishers"] == 1 and ingest.status()["live"]
        assert "displaces" not in ingest.logs()


def test_frozen_rtmp_publisher_is_released_after_the_timeout(ingest_factory):
    ingest = ingest_factory(publisherTimeoutSeconds=3)  # the default, 10 s, only made the test wait longer
    first = Publisher(ingest.rtmp_url()).start()
    try:
        ingest.wait_live()
        frozen_at = freeze(first)
        wait_for(lambda: session_ended(ingest), timeout=30)
        measured("frozen RTMP publisher released after (timeout 3 s)", time.monotonic() - frozen_at, "s")
        assert re.search(r"closed RTMP publisher .*: nothing received for 3 s", ingest.logs()), ingest.logs()[-3000:]
        assert feed_code(ingest) == 503
        with Publisher(ingest.srt_url(), duration=30):  # the listeners are back, for either protocol
            assert ingest.wait_live()["source"] == "srt"
    finally:
        thaw(first)
    assert first.wait(timeout=20) != 0


def test_frozen_srt_publisher_is_released_after_the_timeout(ingest_factory):
    ingest = ingest_factory(publisherTimeoutSeconds=3)
    first = Publisher(ingest.srt_url()).start()
    try:
        ingest.wait_live()
        frozen_at = freeze(first)
        wait_for(lambda: session_ended(ingest), timeout=30)
        measured("frozen SRT publisher released after (timeout 3 s)", time.monotonic() - frozen_at, "s")
        assert feed_code(ingest) == 503
        with Publisher(ingest.srt_url(), duration=30):
            assert ingest.wait_live()["source"] == "srt"
    finally:
        thaw(first)
        first.stop()


def test_an_srt_successor_of_a_frozen_srt_session_waits_for_its_timeout(ingest_factory):
    """SRT cannot match RTMP's displacement (docs/design/ingest-robustness.md): the frozen
    session's FFmpeg holds the UDP port and libsrt answers the newcomer's handshake only once that
    session is released. The newcomer, retrying as encoders do, is live right after the timeout."""
    ingest = ingest_factory(publisherTimeoutSeconds=3)  # the default, 10 s, only made the test wait longer
    first = Publisher(ingest.srt_url()).start()
    try:
        frozen_started = ingest.wait_live()["startedAt"]
        frozen_at = freeze(first)
        wait_for(lambda: not ingest.status()["live"], timeout=10)
        silent_at = time.monotonic()
        attempts: list[Publisher] = []
        status = ingest.status()
        try:
            # Live again, from a session of its own: the frozen one never reads as live again
            # (its last flush at its timeout is no resumption: feed.RESUME_SECONDS).
            while not status["live"] and time.monotonic() - silent_at < 30:
                if not attempts or not attempts[-1].running:
                    attempts.append(Publisher(ingest.srt_url(), duration=30).start())  # an encoder retrying
                time.sleep(0.1)
                status = ingest.status()
            measured("SRT successor live after the freeze (timeout 3 s)", time.monotonic() - frozen_at, "s")
            measured("SRT successor's connection attempts", len(attempts), "")
            assert status["live"] and status["source"] == "srt" and status["startedAt"] != frozen_started, status
            assert time.monotonic() - frozen_at > 3, "not before the frozen session's timeout"
            assert "displaces" not in ingest.logs(), "not displaced: its timeout released the frozen session"
        finally:
            for attempt in attempts:
                attempt.stop()
    finally:
        thaw(first)
        first.stop()


# --- a recorder across a freeze --------------------------------------------------------------------


def recorder_config(feed_url: str, root: Path, port: int) -> dict[str, Any]:
    """A recorder of `feed_url` into `root`/videos, serving /status on 127.0.0.1:`port`."""
    return {
        "feedUrl": feed_url,
        "recordingsRoot": str(root),
        "directory": "videos",
        "title": "Camera 1",
        "reconnectWindowSeconds": 10,
        "minDurationSeconds": 2,
        "maxSegmentSeconds": 14400,
        "httpHost": "127.0.0.1",
        "httpPort": port,
        "credentialFile": credential_file(root),
    }


@pytest.fixture
def recorder_of(tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start(feed_url: str) -> str:
        port = free_port()
        config = recorder_config(feed_url, tmp_path, port)
        (tmp_path / "recorder.json").write_text(json.dumps(config))
        with open(tmp_path / "recorder.log", "wb") as log:
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "streamops.media.recorder", "--config", str(tmp_path / "recorder.json")],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **worker_ffmpeg_env()},  # the image's FFmpeg (-args_file)
                )
            )
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_get(url + "/status", timeout=1, headers=WORKER_AUTH)[0] == 200, timeout=15)
        return url

    yield start
    for process in started:
        stop_tree(process, signal.SIGTERM, timeout=30, group=False)


def recorder_status(url: str) -> dict[str, Any]:
    return dict(json.loads(http_get(url + "/status", headers=WORKER_AUTH)[1]))


# What each publisher sends around the freeze: two 2 s GOPs. The freeze's length, not theirs, is what
# the bug needed (a cached GOP, 2 s, recorded again per 5 s frozen), and the bound has 0.5 s of slack.
SENT_SECONDS = 4.0


def test_a_recording_across_a_frozen_publisher_holds_no_media_twice(ingest, recorder_of, tmp_path):
    recorder = recorder_of(ingest.feed_url)
    first = Publisher(ingest.rtmp_url()).start()
    try:
        ingest.wait_live()
        started_at = time.monotonic()
        wait_for(lambda: recorder_status(recorder)["recording"], timeout=20)
        time.sleep(SENT_SECONDS)
        frozen_at = freeze(first)
        first_sent = frozen_at - started_at + 1.0  # at most: it was live (sending) a moment before started_at
        # Frozen for longer than the recorder's FFmpeg waits for data (5 s): the bug rejoined the
        # cached GOP every ≈5 s and recorded it again each time.
        time.sleep(9)
        with Publisher(ingest.rtmp_url(), duration=SENT_SECONDS) as second:
            ingest.wait_live()
            assert second.wait(timeout=30) == 0
        second_sent = SENT_SECONDS
        wall = time.monotonic() - started_at + 1.0  # at most what the video can cover, the freeze included
    finally:
        thaw(first)
        first.stop()
    wait_for(lambda: not ingest.status()["live"], timeout=10)
    code, body = 0, b""
    for _ in range(3):
        request = urllib.request.Request(recorder + "/stop", data=b"", method="POST", headers=WORKER_AUTH)
        with urllib.request.urlopen(request, timeout=90) as response:
            code, body = response.status, response.read()
        if code == 200:
            break
    final = json.loads(body)
    videos = final["videos"]
    assert len(videos) == 1, f"the freeze ({9 + 3} s in all, window 10 s) continues the same video: {videos}"
    path = tmp_path / "videos" / Path(videos[0]["path"]).name
    duration = ffprobe_duration(path)
    measured(
        "recorded vs at most published", duration, f"s of {first_sent + second_sent:.2f} s sent, {wall:.2f} s wall"
    )
    # The gap is kept as a freeze of its length (docs/design/recorder.md): the video may cover the wall
    # time, never more (the bug recorded a cached GOP again per 5 s frozen, on top of it).
    assert duration <= wall + 0.5, "no second of media recorded twice"
    assert duration >= second_sent, "the successor's media is in the video"


# --- a publisher whose timestamps restart -------------------------------------------------------------


def video_timestamps(path: Path) -> list[float]:
    """The video packets' DTS of a file, in file order (seconds)."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=dts_time", "-of", "csv=p=0",
         str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [float(line.split(",")[0]) for line in done.stdout.split() if line.split(",")[0] not in ("", "N/A")]


def decode_errors(path: Path, stream: str) -> str:
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", f"0:{stream}", "-f", "null", "-"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.stderr.strip() if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()}"


def hls_across(ingest: Any, into: Path, half: float) -> None:
    """The session's CMAF playlist holds both halves, and its segments play as one timeline."""
    code, body = http_get(f"{ingest.http}/hls/cmaf/index.m3u8")
    assert code == 200, code
    playlist = body.decode()
    durations = [float(d) for d in re.findall(r"^#EXTINF:([\d.]+),", playlist, re.M)]
    segments = re.findall(r"^(\S+\.m4s)$", playlist, re.M)
    measured("HLS across the reset", sum(durations), f"s in {len(durations)} segments, longest {max(durations):.2f} s")
    # Both halves, 0.8 of each (the last segment may still be open).
    assert sum(durations) >= 1.6 * half and max(durations) <= 2.5, playlist
    with into.open("wb") as out:
        out.write(http_get(f"{ingest.http}/hls/cmaf/init.mp4")[1])
        for name in segments:
            out.write(http_get(f"{ingest.http}/hls/cmaf/{name}")[1])
    dts = video_timestamps(into)
    assert all(b > a for a, b in itertools.pairwise(dts)), "the segments' timestamps go forward"
    assert dts[-1] - dts[0] >= sum(durations) - 0.1, f"{dts[-1] - dts[0]:.2f} s of timeline in the segments"


# How long the encoder runs before its restart, and after: the regression recorded the second half
# over the first (2 × HALF_SECONDS published, ≈HALF_SECONDS recorded), whatever its length. A whole
# number of the publisher's 2 s GOPs, as 10 s was: a restart mid-GOP makes a 3 s HLS segment, over
# hls_across's 2.5 s bound. Over RTMP 4, not 6 (s11): the regression's ≈4 s recorded of 8 is as far
# below the 1.8 × 4 = 7.2 s bound (8.63 s recorded of 8, load 14). Behind the gateway 6: its session
# is still open at hls_across, its last 2 s segment not listed, and 1.6 × 4 = 6.4 s is more than the
# 6.0 s of three segments listed of 8 s published.
HALF_SECONDS = {"srt-gateway": 6, "rtmp": 4}


@pytest.mark.parametrize("path", ["srt-gateway", "rtmp"])
def test_an_encoder_restarted_mid_stream_is_recorded_as_one_clean_video(ingest_factory, tmp_path, path):
    """An encoder restarted after HALF_SECONDS[path]: its timestamps start again at 0. Over RTMP that is a new
    connection (a new session). Behind an SRT gateway (srt-live-transmit, which keeps its caller
    connection to the ingest up) the restart happens inside one SRT connection: the ingest's session
    sees its input's timestamps jump back. Either way the recorder must write one video of what
    was published, its timestamps going forward, its audio decodable (the regression: 20 s
    recorded as 10.02 s, the second half over the first)."""
    ingest = ingest_factory(dvr={"enabled": True, "durationSeconds": 60})  # the playlist keeps both halves
    half = HALF_SECONDS[path]
    port = free_port()
    recorder = Worker("record", recorder_config(ingest.feed_url, tmp_path, port), tmp_path, port)
    gateway: subprocess.Popen[bytes] | None = None
    try:
        recorder.start()
        if path == "srt-gateway":
            udp = free_port("udp")
            url = f"udp://127.0.0.1:{udp}?pkt_size=1316"
            # 0.5 s of SRT latency, not libsrt's 120 ms: on a loaded machine a packet later than the
            # latency is dropped (too-late packet drop), and the ingest's input then has a hole
            # (ci71: "Packet corrupt" in its SRT input, one macroblock undecodable in the video). Not
            # more: what is in flight when the gateway stops is not recorded (1 s: 11.33 s of 12).
            gateway = subprocess.Popen(
                ["srt-live-transmit", "-q", f"udp://127.0.0.1:{udp}", f"{ingest.srt_url()}&latency=500"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        else:
            url = ingest.rtmp_url()
        with Publisher(url, size="640x360", duration=half) as first:
            session = ingest.wait_live()["startedAt"] if path == "srt-gateway" else None
            wait_for(lambda: recorder.status()["recording"], timeout=20)
            assert first.wait(timeout=30) == 0
        with Publisher(url, size="640x360", duration=half) as second:
            assert second.wait(timeout=30) == 0
        if session is not None:
            assert ingest.status()["startedAt"] == session, "the gateway's one SRT connection: one session"
            hls_across(ingest, tmp_path / "hls.mp4", half)
        if gateway is not None:
            stop_tree(gateway, signal.SIGTERM, timeout=10)
        wait_for(lambda: not ingest.status()["live"], timeout=15)
        request = urllib.request.Request(recorder.http + "/stop", data=b"", method="POST", headers=WORKER_AUTH)
        with urllib.request.urlopen(request, timeout=90) as response:
            final = json.loads(response.read())
    finally:
        if gateway is not None:
            stop_tree(gateway, signal.SIGTERM, timeout=10)
        recorder.stop()
    videos = final["videos"]
    assert len(videos) == 1, videos
    video = tmp_path / "videos" / Path(videos[0]["path"]).name
    duration = ffprobe_duration(video)
    dts = video_timestamps(video)
    measured(f"{path}: recorded of {2 * half} s published", duration, f"s ({len(dts)} video frames)")
    backwards = [(a, b) for a, b in itertools.pairwise(dts) if b <= a]
    assert not backwards, f"video DTS go back {len(backwards)} times, first {backwards[:3]}"
    assert duration >= 1.8 * half, f"{duration:.2f} s recorded of {2 * half} s published"
    assert len(dts) >= 1.8 * half * 30
    assert decode_errors(video, "a:0") == "", "the audio decodes"
    assert decode_errors(video, "v:0") == "", "the video decodes"


# --- audio only ------------------------------------------------------------------------------------


def test_audio_only_stream_keeps_the_feed_small(ingest):
    assert ingest.process is not None
    pid = ingest.process.pid
    with Publisher(ingest.rtmp_url(), encode_args=["-b:a", "256k"], output_args=["-vn"]) as publisher:
        status = ingest.wait_live()
        assert status["videoCodec"] is None and status["audioCodec"] == "aac"
        time.sleep(5)
        start_rss, started = rss_kb(pid), time.monotonic()
        samples = []
        while time.monotonic() - started < AUDIO_ONLY_SECONDS:
            time.sleep(1)
            assert publisher.running
            samples.append((rss_kb(pid), ingest.status()["feedCacheBytes"]))
        end_rss = rss_kb(pid)
        measured("load average (1 min) at the end", os.getloadavg()[0], "")
        with urllib.request.urlopen(feed_request(ingest.feed_url), timeout=5) as response:
            head = response.read1(1 << 20)  # the first HTTP chunk: what the feed sends a joiner first
        measured("audio-only ingest RSS start", start_rss / 1024, "MiB")
        measured(f"audio-only ingest RSS after {AUDIO_ONLY_SECONDS:g} s", end_rss / 1024, "MiB")
        measured("audio-only largest feed cache", max(c for _, c in samples), "bytes")
        measured("audio-only joining consumer's first chunk", len(head), "bytes")
        assert max(c for _, c in samples) <= 8 * 188, "the cache is the newest audio frame, not the history"
        # A leak's bound (an unbounded cache grows 32 kB/s: the cache samples and the first chunk catch it).
        assert end_rss - start_rss < 2048, samples
        # PAT, PMT and the newest audio frame (or a burst of FFmpeg's output, ≤ 64 KiB); the history
        # would be megabytes.
        assert len(head) <= 64 * 1024
        # The feed still starts where a decoder can: its first audio frames decode.
        path = ingest.workdir / "audio-join.ts"
        path.write_bytes(read_feed(ingest.feed_url, 2))
        [audio] = ffprobe_streams(path)
        assert audio["codec_name"] == "aac" and float(audio.get("duration", 0)) > 1.0, audio


# --- stream key rotation ------------------------------------------------------------------------------


def rotate_key(ingest: Any, key: str) -> None:
    Path(ingest.config["streamKeyFile"]).write_text(key + "\n")


def frames_flow(ingest: Any, seconds: float) -> None:
    """The live publisher keeps being live (and its frames counted) for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert ingest.status()["live"]
        time.sleep(0.5)


@pytest.mark.parametrize("protocol", ["rtmp", "srt"])
def test_key_rotation_takes_effect_for_the_next_publisher_and_never_cuts_the_live_one(ingest, protocol):
    url = ingest.rtmp_url if protocol == "rtmp" else ingest.srt_url
    with Publisher(url()) as live:
        started = ingest.wait_live()["startedAt"]
        rotate_key(ingest, NEW_KEY)
        frames_flow(ingest, 6)  # the SRT listener is restarted only while nobody publishes
        assert live.running and ingest.status()["startedAt"] == started, "the same session, never cut"
    wait_for(lambda: not ingest.status()["live"], timeout=10)
    old = Publisher(url(), duration=4).start()
    assert old.wait(timeout=20) != 0, "the old key is refused"
    assert not ingest.status()["live"]
    with Publisher(url(NEW_KEY), duration=30):
        assert ingest.wait_live()["source"] == protocol
    assert NEW_KEY not in ingest.logs() and ingest.KEY not in ingest.logs()


# --- SRT options ------------------------------------------------------------------------------------


def test_srt_latency_is_applied_on_the_listener_and_the_passphrase_is_off_its_command_line(ingest_factory):
    ingest = ingest_factory(source={"push": {"protocols": ["srt"], "srt": {"latencyMs": 1500}}})
    stats = ingest.workdir / "srt-stats.json"
    encoder = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-f", "lavfi", "-i",
         "testsrc2=size=640x360:rate=30", "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-t", "8",
         "-f", "mpegts", "pipe:1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    # srt-live-transmit calls with libsrt's default latency (120 ms) and reports what was agreed.
    caller = subprocess.Popen(
        ["srt-live-transmit", "-s:50", "-pf:json", f"-statsout:{stats}", "file://con",
         f"srt://127.0.0.1:{ingest.ports['srt']}?passphrase={ingest.KEY}"],
        stdin=encoder.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    assert encoder.stdout is not None
    encoder.stdout.close()
    try:
        ingest.wait_live()
        assert ingest.process is not None
        argvs = _cmdlines(proc_tree(ingest.process.pid))
        assert not any(ingest.KEY in argv for argv in argvs), "no process of the ingest shows the key"
        assert any("-f concat" in argv and ".ffconcat" in argv for argv in argvs), argvs
        wait_for(lambda: stats.exists() and "msTsbPdDelay" in stats.read_text(), timeout=15)
        delays = {int(d) for d in re.findall(r'"msTsbPdDelay":(\d+)', stats.read_text())}
        assert delays == {1500}, delays
    finally:
        for process in (caller, encoder):
            stop_tree(process, signal.SIGTERM, timeout=10)


def _cmdlines(pids: list[int]) -> list[str]:
    lines = []
    for pid in pids:
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue  # gone meanwhile
    return lines


# --- what the encoder sends -----------------------------------------------------------------------------


def test_high_10_publish_reports_profile_pixel_format_and_bit_depth(ingest):
    with Publisher(ingest.srt_url(), size="640x360", encode_args=["-pix_fmt", "yuv420p10le", "-profile:v", "high10"]):
        status = wait_for(lambda: (s := ingest.status())["live"] and s.get("videoProfile") and s, timeout=15)
        assert (status["videoCodec"], status["videoProfile"]) == ("h264", "High 10")
        assert (status["pixelFormat"], status["bitDepth"]) == ("yuv420p10le", 10)


def test_422_rtmp_publish_reports_its_pixel_format(ingest):
    with Publisher(ingest.rtmp_url(), size="640x360", encode_args=["-pix_fmt", "yuv422p", "-profile:v", "high422"]):
        status = wait_for(lambda: (s := ingest.status())["live"] and s.get("videoProfile") and s, timeout=15)
        assert (status["videoProfile"], status["pixelFormat"], status["bitDepth"]) == ("High 4:2:2", "yuv422p", 8)


def test_hevc_over_srt_is_served_in_cmaf_as_hvc1(ingest):
    hevc = ["-c:v", "libx265", "-x265-params", "log-level=error:keyint=60:min-keyint=60:scenecut=0"]
    with Publisher(ingest.srt_url(), size="640x360", video_bitrate="800k", encode_args=hevc):
        status = ingest.wait_live(timeout=20)
        assert (status["videoCodec"], status["videoProfile"], status["pixelFormat"]) == ("hevc", "Main", "yuv420p")
        playlist = wait_for(
            lambda: re.findall(r"^(\S+\.m4s)$", http_get(f"{ingest.http}/hls/cmaf/index.m3u8")[1].decode(), re.M),
            timeout=20,
        )
        code, init = http_get(f"{ingest.http}/hls/cmaf/init.mp4")
        assert code == 200 and b"hvc1" in init and b"hev1" not in init
        on_disk = next((ingest.workdir / "media" / "sessions").glob("*/cmaf/init.mp4")).read_bytes()
        assert on_disk == init, "the workers' FFmpeg writes hvc1 itself (hack/ffmpeg/patches/hevc-hvc1.patch)"
        segment = http_get(f"{ingest.http}/hls/cmaf/{playlist[-1]}")[1]
        path = ingest.workdir / "hevc.mp4"
        path.write_bytes(init + segment)
        [video] = [s for s in ffprobe_streams(path) if s["codec_type"] == "video"]
        assert (video["codec_name"], video["codec_tag_string"], video["width"]) == ("hevc", "hvc1", 640)
        decoded = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True, timeout=60
        )
        assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr[-2000:]
