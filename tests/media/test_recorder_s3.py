"""The recorder with object storage, all real: a synthetic publisher (FFmpeg) pushing RTMP to the
ingest worker, the recorder worker recording the ingest's feed, and the real S3 server (versitygw,
devtools.media.s3_server) over HTTPS with its private CA. Faults are real too: wrong keys, a missing
bucket, nothing listening, the recorder SIGKILLed mid-upload, the server stopped past the upload
backoff's cap, and a recordings volume that fills up (a small tmpfs).

A throttling TCP relay (in this test process, on 127.0.0.1) sits between the recorder and the
server where a test must act *during* an upload: at full speed a 20 MiB video goes up in a fraction
of a second. It also counts the bytes the recorder sends, which shows what a resumed upload re-sent.

Every process is stopped by PID, also on failure; the tmpfs is unmounted in a finally.
"""

from __future__ import annotations

import contextlib
import email.header
import hashlib
import itertools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_get
from devtools.media.peers import Publisher, ffprobe_duration, ffprobe_streams
from devtools.media.s3_server import S3Server
from devtools.media.workers import WORKER_AUTH, Ingest, Worker
from devtools.ports import free_port
from devtools.processes import child_env, proc_tree
from devtools.versions import worker_ffmpeg_env
from devtools.waits import wait_for
from streamops.contract.recorder import SINGLE_PUT_MAX_BYTES
from streamops.media.recorder.plan import JoinCuts

pytestmark = pytest.mark.timeout(300)

BUCKET = "recordings"
PREFIX = "streamops/media/cam/{year}/{month}/{day}/{hour}/{minute}/rec-0123abcd"
PART = 8 * 1024 * 1024  # the recorder's part size
# The relay's tests are about parts (resumed, paused): their 18 MB video goes in parts, not in the one
# PUT a video up to 32 MiB gets by default.
IN_PARTS = {"singlePutMaxBytes": 0}
POLL = 0.05
BODY_BYTES = 256 * 1024  # a request that sent more than this towards the server carries a part
BACKOFF_CAP = 2.0  # the upload backoff cap the outage test sets (uploadBackoffMaxSeconds; built in: 30 s)
# Pauses at the cap the outage lasts for: 1, 2, 2 s. The second at the cap is the one that would
# have doubled (to 4 s) without it: the doubling stopped.
CAPPED = 2
RELAY_WINDOW = 1  # reconnectWindowSeconds of the recorders behind the relay: the video closes 1 s after the broadcast


def cbr(kbit_s: int) -> list[str]:
    """The publisher's options for a constant bit rate of `kbit_s` (filler NALs): a known number of
    bytes per second of video whatever the picture (the filler goes through the publisher's stream
    copy of its cached clip: encode_args). Encoded live, testsrc2 at 720p with x264 veryfast cost
    ≈35 % of a core at 8 Mbit/s."""
    rate = f"{kbit_s}k"
    return ["-minrate", rate, "-maxrate", rate, "-bufsize", f"{kbit_s // 4}k", "-x264-params", "nal-hrd=cbr"]


CBR_8M = cbr(8000)  # ≈1 MB of video per second
CBR_14M = cbr(14000)  # ≈1.75 MB of video per second
# ≈2 MB of video per second: a 10 s broadcast is a 3-part upload (≈20 MB, as 20 s at 8 Mbit/s
# were), in half the time.
CBR_16M = cbr(16000)


# --- the recorder process ------------------------------------------------------------------------------------


class RecorderWorker(Worker):
    """`streamops worker record` with the S3 keys in its environment (as the Pod's secretKeyRef gives them)."""

    def __init__(self, workdir: Path, config: dict[str, Any], env: dict[str, str]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        super().__init__("record", {**config, "httpHost": "127.0.0.1", "httpPort": port}, workdir, port)
        self.env = env
        self.started_at = 0.0  # time.monotonic() of the last start

    def start(self) -> RecorderWorker:
        self.started_at = time.monotonic()
        self.write_config()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamops", "worker", "record", "--config", str(self.config_path), "-v"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**child_env(), **worker_ffmpeg_env(), **self.env},  # the image's FFmpeg (-args_file)
            )
        wait_for(self._healthy, timeout=15)
        return self

    def post_stop(self, timeout: float = 120) -> dict[str, Any]:
        request = urllib.request.Request(self.http + "/stop", method="POST", headers=WORKER_AUTH)
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return json.loads(r.read())

    def state_file(self) -> dict[str, Any]:
        out_dir = Path(self.config["recordingsRoot"]) / self.config["directory"]
        try:
            return json.loads((out_dir / ".recorder-state.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def texts(self) -> str:
        """Everything the recorder tells the outside world."""
        return self.logs() + json.dumps(self.status()) + http_get(self.control + "/metrics")[1].decode()


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    with S3Server(tmp_path / "s3") as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture(scope="module")
def _module_ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    worker = Ingest(
        tmp_path_factory.mktemp("ingest"), source={"push": {"protocols": ["rtmp"]}}, screenshots={"enabled": False}
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def ingest(_module_ingest: Ingest) -> Ingest:
    """The module's one ingest worker (its start took seconds a test), offline: each test publishes
    into it with a publisher of its own, stopped at its end (the recorders too: they read its feed)."""
    wait_for(lambda: not _module_ingest.status()["live"], 15, POLL, "the ingest offline (no publisher left)")
    return _module_ingest


@pytest.fixture
def publishers(tmp_path: Path) -> Iterator[Callable[..., Publisher]]:
    started: list[Publisher] = []

    def publish(ingest: Ingest, **kwargs: Any) -> Publisher:
        publisher = Publisher(ingest.rtmp_url(), log_path=tmp_path / f"publisher-{len(started) + 1}.log", **kwargs)
        started.append(publisher.start())
        return publisher

    yield publish
    for publisher in started:
        publisher.stop()


RecorderFactory = Callable[..., RecorderWorker]


def environment_of(pid: int) -> str:
    """A process's environment as /proc shows it ("" once it has exited)."""
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


@pytest.fixture
def recorders(tmp_path: Path, ingest: Ingest, s3: S3Server) -> Iterator[RecorderFactory]:
    """Start recorders on the ingest's feed uploading to `s3` (or `upload=None`: local videos only);
    several at once from threads too."""
    started: list[RecorderWorker] = []
    numbers = itertools.count(1)  # thread-safe: each recorder its own directory

    def start(
        directory: str = "rec",
        root: Path | None = None,
        endpoint: str | None = None,
        keys: tuple[str, str] | None = None,
        upload: dict[str, Any] | bool | None = True,
        **settings: Any,
    ) -> RecorderWorker:
        target = {
            "endpoint": endpoint or s3.endpoint,
            "bucket": BUCKET,
            "keyPrefix": PREFIX,
            "caFile": str(s3.ca_file),
            "stream": "cam",
            "recording": "rec",
        }
        if isinstance(upload, dict):
            target.update(upload)
        config = {
            "feedUrl": ingest.feed_url,
            "recordingsRoot": str(root or tmp_path / "scratch"),
            "directory": directory,
            "title": "Caméra 1",
            "reconnectWindowSeconds": 2,
            "maxSegmentSeconds": 14400,
            "minDurationSeconds": 2,
            **({"upload": target} if upload is not None else {}),
            **settings,
        }
        access, secret = keys or (s3.access_key, s3.secret_key)
        env = {"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret}
        recorder = RecorderWorker(tmp_path / f"recorder-{next(numbers)}", config, env)
        started.append(recorder)
        return recorder.start()

    try:
        yield start
    finally:  # side by side: each may spend its exit grace on uploads that cannot go through
        with ThreadPoolExecutor(max_workers=max(1, len(started))) as pool:
            list(pool.map(lambda r: r.stop(timeout=30), started))


# --- a throttling relay -------------------------------------------------------------------------------------


class ThrottledRelay:
    """127.0.0.1:<port> → 127.0.0.1:<upstream>, at most `rate` bytes/s towards the server (all
    connections together), counting them. TLS passes through untouched (the certificate names 127.0.0.1)."""

    def __init__(self, upstream_port: int, rate: float) -> None:
        self.upstream_port, self.rate = upstream_port, rate
        self.sent = 0
        self._lock = threading.Lock()
        self._next_send = time.monotonic()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._forwarding = 0  # connections still forwarding towards the server
        # Connections carrying a body (more than BODY_BYTES towards the server) at once: the server
        # closes each connection after one answer, so one connection is one request.
        self.bodies_now = self.bodies_most = 0

    def wait_drained(self, timeout: float) -> None:
        """Until every connection has forwarded what its client wrote: a client killed mid-upload
        leaves bytes in the relay's receive buffer, forwarded (and counted) at the throttled rate."""
        wait_for(lambda: self._forwarding == 0, timeout, 0.05, "the relay drained")

    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> ThrottledRelay:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        for s in list(self._sockets):
            with contextlib.suppress(OSError):
                s.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()  # the server is down: the recorder sees a closed connection
                continue
            server.settimeout(None)
            self._sockets += [client, server]
            with self._lock:
                self._forwarding += 1
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        forwarded, body = 0, False
        try:
            while chunk := src.recv(16384):
                if upstream:
                    with self._lock:
                        self.sent += len(chunk)
                        forwarded += len(chunk)
                        if not body and forwarded > BODY_BYTES:
                            body = True
                            self.bodies_now += 1
                            self.bodies_most = max(self.bodies_most, self.bodies_now)
                        self._next_send = max(self._next_send, time.monotonic()) + len(chunk) / self.rate
                        pause = self._next_send - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            if upstream:
                with self._lock:
                    self._forwarding -= 1
                    self.bodies_now -= body


@pytest.fixture
def relay(s3: S3Server) -> Iterator[ThrottledRelay]:
    r = ThrottledRelay(s3.port, rate=3 * 1024 * 1024).start()
    try:
        yield r
    finally:
        r.close()


# --- helpers ----------------------------------------------------------------------------------------------------


def broadcast(publish: Callable[..., Publisher], ingest: Ingest, recorder: RecorderWorker, seconds: float) -> None:
    """Publish at 16 Mbit/s for `seconds` of recording, then stop: the recorder closes the video."""
    publisher = publish(ingest, video_bitrate="16000k", encode_args=CBR_16M)
    wait_for(lambda: recorder.status()["state"] == "recording", 20, POLL, "recording")
    wait_for(lambda: (recorder.status()["duration"] or 0) >= seconds, seconds + 30, 0.2, f"{seconds} s recorded")
    publisher.stop()


def mid_upload(publish: Callable[..., Publisher], ingest: Ingest, recorder: RecorderWorker) -> dict[str, Any]:
    """Record 9 s at 16 Mbit/s (≈18 MB: 3 parts, the last of 1 to 4 MB by when the publisher stops);
    the video is closed 1 s later (the recorder's reconnect window: RELAY_WINDOW) and goes up through
    the 3 MiB/s relay: return the state file once the server acknowledged its first part (the small
    last one: the others are then some MB short, more than a killed recorder's socket still sends)."""
    broadcast(publish, ingest, recorder, 9)
    return wait_for(
        lambda: (s := recorder.state_file()).get("uploads") and s["uploads"][0]["parts"] and s, 30, POLL, "a part sent"
    )


def multipart_etag(data: bytes, part: int = PART) -> str:
    digests = [hashlib.md5(data[i : i + part]).digest() for i in range(0, len(data), part)]
    if len(digests) == 1:
        return digests[0].hex()
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def held_whole(held: list[dict[str, Any]], data: bytes) -> set[int]:
    """The numbers of the parts a ListParts answer shows whole: their ETag is the MD5 of that part of
    `data` (the file). A part cut by a kill may be held short, with another ETag."""
    return {
        p["PartNumber"]
        for p in held
        if p["ETag"].strip('"') == hashlib.md5(data[(p["PartNumber"] - 1) * PART : p["PartNumber"] * PART]).hexdigest()
    }


def download(s3: S3Server, key: str, dst: Path) -> bytes:
    """The object through a presigned URL, as a user outside the cluster fetches it."""
    url = s3.client().generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=300)
    ctx = ssl.create_default_context(cafile=str(s3.ca_file))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))
    with opener.open(url, timeout=30) as r:
        data: bytes = r.read()
    dst.write_bytes(data)
    return data


def key_of(video: dict[str, Any]) -> str:
    assert video["url"].startswith(f"s3://{BUCKET}/"), video
    return video["url"][len(f"s3://{BUCKET}/") :]


def logged_upload(recorder: RecorderWorker) -> str:
    lines = [line for line in recorder.logs().splitlines() if " uploaded s3://" in line]
    assert lines, recorder.logs()[-3000:]
    return lines[-1]


def check_uploaded(
    s3: S3Server, status: dict[str, Any], out_dir: Path, tmp_path: Path, single_put_max: int = SINGLE_PUT_MAX_BYTES
) -> list[float]:
    """Every video is in the bucket, verified (size, ETag: of one PUT up to `single_put_max`, the
    recorder's singlePutMaxBytes, else of its parts), playable from a presigned URL, with its sidecar
    and title metadata; no local copy is left. Returns the downloaded videos' durations."""
    durations = []
    for n, video in enumerate(status["videos"]):
        assert video["upload"] == "uploaded" and video["path"] is None, video
        key = key_of(video)
        assert key.startswith("streamops/media/cam/20") and key.endswith(".mp4"), key
        data = download(s3, key, tmp_path / f"download-{n}.mp4")
        head = s3.client().head_object(Bucket=BUCKET, Key=key)
        assert len(data) == head["ContentLength"] == video["sizeBytes"]
        expected = hashlib.md5(data).hexdigest() if len(data) <= single_put_max else multipart_etag(data)
        assert head["ETag"].strip('"') == expected, "the ETag is the parts' MD5s (or the PUT's), as verified"
        title, charset = email.header.decode_header(head["Metadata"]["title"])[0]
        assert isinstance(title, bytes) and title.decode(charset or "ascii") == video["title"], head["Metadata"]
        duration = ffprobe_duration(tmp_path / f"download-{n}.mp4")
        assert duration == pytest.approx(video["durationSeconds"], abs=0.05)
        kinds = {s["codec_type"]: s for s in ffprobe_streams(tmp_path / f"download-{n}.mp4")}
        sidecar = json.loads(s3.client().get_object(Bucket=BUCKET, Key=key[: -len(".mp4")] + ".json")["Body"].read())
        assert sidecar == {
            "title": video["title"],
            "stream": "cam",
            "recording": "rec",
            "url": video["url"],
            "startedAt": video["startedAt"],
            "endedAt": video["endedAt"],
            "durationSeconds": video["durationSeconds"],
            "sizeBytes": video["sizeBytes"],
            "codecs": {
                "video": {"codec": "h264", "profile": kinds["video"]["profile"], "width": 1280, "height": 720},
                "audio": {"codec": "aac", "sampleRate": 48000},
            },
        }
        durations.append(duration)
    left = [p.name for p in out_dir.iterdir() if p.suffix in (".mp4", ".json") and not p.name.startswith(".")]
    assert not left, "local copies are deleted once uploaded"
    assert not list((out_dir / ".parts").glob("*.mp4"))
    assert not s3.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads"), "no upload left open"
    return durations


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


# --- tests -----------------------------------------------------------------------------------------------------


def test_video_is_uploaded_verified_and_playable_from_a_presigned_url(
    s3: S3Server, ingest: Ingest, publishers: Callable[..., Publisher], recorders: RecorderFactory, tmp_path: Path
) -> None:
    publisher = publishers(ingest, video_bitrate="16000k", encode_args=CBR_16M)
    ingest.wait_live()
    time.sleep(1)  # a keyframe in the feed's GOP cache
    recorder = recorders(reconnectWindowSeconds=10)
    parts = tmp_path / "scratch" / "rec" / ".parts"
    wait_for(lambda: any(p.stat().st_size > 0 for p in parts.glob("*.mp4")), 10, 0.01, "first bytes on disk")
    first_bytes = time.monotonic() - recorder.started_at
    wait_for(lambda: (recorder.status()["duration"] or 0) >= 10, 60, 0.2, "10 s recorded (≈20 MB)")
    assert recorder.process is not None
    held = environment_of(recorder.process.pid)
    assert s3.secret_key in held and s3.access_key in held, "the recorder itself holds the keys (for boto3)"
    children = proc_tree(recorder.process.pid)[1:]
    assert children, "the recorder's FFmpeg is running"
    for child in children:  # issue 25: FFmpeg never needs them, and root on the node reads environ
        seen = environment_of(child) + Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
        assert s3.secret_key not in seen and s3.access_key not in seen, f"the S3 keys reached child {child}"
    publisher.stop()
    wait_for(lambda: recorder.status()["state"] == "reconnecting", 10, POLL, "the source gone")
    stop_pressed = time.monotonic()
    final = recorder.post_stop()
    stop_to_verified = time.monotonic() - stop_pressed

    assert final["state"] == "stopped" and final["storageProblem"] is None, final
    [video] = final["videos"]
    assert video["title"].startswith("Stream Record: Caméra 1, ")
    # Three parts' worth, under 32 MiB: one streaming PUT (the relay's tests below go in parts).
    assert 2 * PART < video["sizeBytes"] <= SINGLE_PUT_MAX_BYTES, video["sizeBytes"]
    assert final["storedBytes"] == video["sizeBytes"]
    [duration] = check_uploaded(s3, final, tmp_path / "scratch" / "rec", tmp_path)
    assert duration >= 9
    stem = key_of(video)[: -len(".mp4")]
    assert set(s3.objects(BUCKET)) == {key_of(video), f"{stem}.json", f"{stem}.html"}, "video, sidecar, VOD page"
    line = logged_upload(recorder)
    print(f"\nMEASURED recorder start -> first bytes on disk with upload set: {first_bytes:.2f} s (boto3 later)")
    print(f"MEASURED stop -> object verified (POST /stop answered): {stop_to_verified:.2f} s ({load()})")
    print(f"MEASURED upload of {video['sizeBytes'] / 2**20:.1f} MiB: {line.split('uploaded ', 1)[1]}")
    assert s3.secret_key not in recorder.texts() and s3.access_key not in recorder.texts()


def test_upload_resumes_after_sigkill_without_resending_acknowledged_parts(
    s3: S3Server,
    ingest: Ingest,
    publishers: Callable[..., Publisher],
    recorders: RecorderFactory,
    relay: ThrottledRelay,
    tmp_path: Path,
) -> None:
    recorder = recorders(endpoint=relay.endpoint(), upload=IN_PARTS, reconnectWindowSeconds=RELAY_WINDOW)
    state = mid_upload(publishers, ingest, recorder)
    recorder.stop(signal.SIGKILL)
    # Nothing more to do during an upload: the rest (and what the killed recorder left in the relay)
    # goes at up to 32 MiB/s, counted all the same.
    relay.rate = 32 * 1024 * 1024
    [upload] = state["uploads"]
    relay.wait_drained(30)  # what the killed recorder wrote is not counted as sent after the restart
    sent_before_kill = relay.sent
    held = s3.client().list_parts(Bucket=BUCKET, Key=upload["key"], UploadId=upload["uploadId"])["Parts"]
    assert 1 <= len(held) <= 3, held

    relay.sent = 0
    restarted = time.monotonic()
    again = recorders(endpoint=relay.endpoint(), upload=IN_PARTS, reconnectWindowSeconds=RELAY_WINDOW)
    status = wait_for(lambda: (s := again.status())["videos"] and s["videos"][0]["upload"] == "uploaded" and s, 60)
    resumed = time.monotonic() - restarted
    final = again.post_stop()
    [video] = final["videos"]
    assert key_of(video) == upload["key"] and status["videos"] == final["videos"]
    check_uploaded(s3, final, tmp_path / "scratch" / "rec", tmp_path, single_put_max=0)

    # The three parts go up at once: when the kill comes the others are half sent, and the server may
    # keep what arrived of them (versitygw does), short: those go again, the whole ones never.
    whole = held_whole(held, download(s3, upload["key"], tmp_path / "object.mp4"))
    assert {p["number"] for p in upload["parts"]} <= whole and 1 <= len(whole) < 3, (upload["parts"], held)
    held_bytes = sum(p["Size"] for p in held if p["PartNumber"] in whole)
    assert f"the server holds {len(held)} of 3 parts" in again.logs()
    resent = [
        int(line.split("sent part ")[1].split("/")[0]) for line in again.logs().splitlines() if "sent part" in line
    ]
    assert sorted(resent) == sorted({1, 2, 3} - whole), resent
    # Requests, headers and TLS add a little; a re-sent part would add 8 MiB.
    assert relay.sent < video["sizeBytes"] - held_bytes + 1024 * 1024, (relay.sent, video["sizeBytes"], held_bytes)
    print(
        f"\nMEASURED resume after SIGKILL: {len(whole)} of 3 parts kept whole ({held_bytes} bytes), "
        f"{len(held) - len(whole)} cut short, {relay.sent} bytes sent after the restart (before the kill "
        f"{sent_before_kill}); restart -> uploaded {resumed:.2f} s at 32 MiB/s ({load()})"
    )


class RssWatch:
    """The resident memory of a process, sampled every 10 ms in a thread: its value when `mark()` is
    called and the most seen after it."""

    def __init__(self, pid: int) -> None:
        self.pid, self.marked, self.most = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def rss(self) -> int:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def mark(self) -> None:
        self.marked = self.most = self.rss()

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            self.most = max(self.most, self.rss())

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_parts_go_up_in_parallel_in_bounded_memory_and_a_kill_mid_upload_resends_no_acknowledged_part(
    s3: S3Server, tmp_path: Path
) -> None:
    """A 72 MiB video (9 parts) left for upload by a stopped recording, as a recorder killed after
    its join leaves it, goes up through a 12 MiB/s relay: 4 parts at once (the relay sees 4 bodies
    in flight, never 5) while the recorder's memory grows by less than one part. SIGKILLed once
    the first parts are acknowledged and others are half sent, a new recorder sends only the parts
    the server does not hold, and the object is the file, byte for byte."""
    from streamops.api.recording import Video
    from streamops.contract.recorder import object_key
    from streamops.media.recorder.state import STATE_FILE, RecorderState
    from streamops.media.videos.upload_plan import PARTS_IN_FLIGHT
    from streamops.media.videos.upload_state import UploadState
    from streamops.storage.s3_client import s3_url

    parts = 9
    relay = ThrottledRelay(s3.port, rate=12 * 1024 * 1024).start()
    try:
        out_dir = tmp_path / "scratch" / "rec"
        out_dir.mkdir(parents=True)
        name = "record-20261128T080000Z.mp4"
        data = os.urandom(parts * PART - 12345)
        (out_dir / name).write_bytes(data)
        started = datetime(2026, 11, 28, 8, 0, 0, tzinfo=UTC)
        key = object_key(PREFIX, started, name)
        video = Video(
            title="Stream Record: Caméra 1, 2026-11-28 08:01:12 UTC",
            path=f"rec/{name}",
            url=s3_url(BUCKET, key),
            upload="pending",
            duration_seconds=72.0,
            size_bytes=len(data),
            started_at=started,
            ended_at=started + timedelta(seconds=72),
        )
        state = RecorderState(stopped=True, videos=[video], uploads=[UploadState(file=name, key=key, part_size=PART)])
        (out_dir / STATE_FILE).write_text(state.model_dump_json(by_alias=True))
        config = {
            "feedUrl": f"http://127.0.0.1:{free_port()}/feed",  # never read: the recording is stopped
            "recordingsRoot": str(tmp_path / "scratch"),
            "directory": "rec",
            "title": "Caméra 1",
            "reconnectWindowSeconds": 2,
            "maxSegmentSeconds": 14400,
            "minDurationSeconds": 2,
            "upload": {"endpoint": relay.endpoint(), "bucket": BUCKET, "keyPrefix": PREFIX,
                       "caFile": str(s3.ca_file), "stream": "cam", "recording": "rec"},
        }  # fmt: skip
        env = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
        first = RecorderWorker(tmp_path / "recorder-1", config, env)
        try:
            first.start()
            assert first.process is not None
            with RssWatch(first.process.pid) as memory:
                wait_for(lambda: relay.sent > 0, 15, 0.005, "the bucket checked")  # boto3 imported, client made
                memory.mark()
                acknowledged = wait_for(
                    lambda: len(p := ((first.state_file().get("uploads") or [{}])[0].get("parts") or [])) >= 1 and p,
                    30,
                    0.01,
                    "the first parts acknowledged",
                )
                time.sleep(0.4)  # the next parts on their way
                first.stop(signal.SIGKILL)
            grew = memory.most - memory.marked
        finally:
            first.stop(signal.SIGKILL)
        relay.wait_drained(30)
        most_at_once = relay.bodies_most
        assert most_at_once == PARTS_IN_FLIGHT, f"{most_at_once} parts went up at once"
        assert grew < PART, f"the recorder's memory grew by {grew} bytes while uploading, as much as a part"
        [upload] = json.loads((out_dir / STATE_FILE).read_text())["uploads"]
        held = s3.client().list_parts(Bucket=BUCKET, Key=key, UploadId=upload["uploadId"])["Parts"]
        whole = held_whole(held, data)  # a part cut by the kill may be held short: it must go again
        assert {a["number"] for a in acknowledged} <= whole and len(whole) < parts, (acknowledged, held)

        relay.sent, relay.bodies_most = 0, 0
        restarted = time.monotonic()
        again = RecorderWorker(tmp_path / "recorder-2", config, env)
        try:
            relay.rate = 64 * 1024 * 1024  # nothing more to do during the upload: only its bytes are counted
            again.start()
            final = wait_for(lambda: (s := again.status())["videos"][0]["upload"] == "uploaded" and s, 60, POLL)
            resumed = time.monotonic() - restarted
            logs = again.logs()
        finally:
            again.stop()
        assert f"the server holds {len(held)} of {parts} parts" in logs
        resent = sorted(
            int(line.split("sent part ")[1].split("/")[0]) for line in logs.splitlines() if "sent part" in line
        )
        assert resent == sorted(set(range(1, parts + 1)) - whole), "every part the server holds whole, never again"
        held_bytes = sum(p["Size"] for p in held if p["PartNumber"] in whole)
        assert relay.sent < len(data) - held_bytes + 1024 * 1024, (relay.sent, len(data), held_bytes)
        assert relay.bodies_most <= PARTS_IN_FLIGHT
        assert final["videos"][0]["sizeBytes"] == len(data) and not (out_dir / name).exists()
        got = s3.client().get_object(Bucket=BUCKET, Key=key)
        assert got["Body"].read() == data, "the object is the file"
        assert got["ETag"].strip('"') == multipart_etag(data)
        assert not s3.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads"), "no upload left open"
        print(
            f"\nMEASURED {parts}-part upload at 12 MiB/s: {most_at_once} parts at once, the recorder's RSS grew "
            f"{grew / 2**20:.1f} MiB (a part is {PART / 2**20:.0f} MiB); killed with {len(acknowledged)} parts "
            f"acknowledged, {len(whole)} held whole, {len(held) - len(whole)} cut short; "
            f"{len(resent)} sent after the restart ({relay.sent} bytes), uploaded {resumed:.1f} s after it ({load()})"
        )
    finally:
        relay.close()


def test_server_stopped_past_the_backoff_cap_mid_upload_loses_nothing(
    s3: S3Server,
    ingest: Ingest,
    publishers: Callable[..., Publisher],
    recorders: RecorderFactory,
    relay: ThrottledRelay,
    tmp_path: Path,
) -> None:
    # A 2 s cap instead of the built-in 30 s: 1 s doubling to 2 s, and then no further (4 s, 8 s):
    # the outage lasts until the recorder has paused CAPPED times at the cap, as 30 s pauses would.
    recorder = recorders(
        endpoint=relay.endpoint(),
        upload=IN_PARTS,
        reconnectWindowSeconds=RELAY_WINDOW,
        uploadBackoffMaxSeconds=BACKOFF_CAP,
    )
    mid_upload(publishers, ingest, recorder)
    s3.stop()
    down_at = time.monotonic()
    down = wait_for(lambda: (s := recorder.status())["storageProblem"] and s, 30, POLL, "the outage reported")
    assert down["storageProblem"] == "StorageUnreachable", down
    assert down["videos"][0]["upload"] == "pending" and down["videos"][0]["path"], down
    assert Path(tmp_path / "scratch" / down["videos"][0]["path"]).exists(), "the local copy stays"
    at_cap = f"(retrying in {BACKOFF_CAP:g} s)"
    wait_for(lambda: recorder.logs().count(at_cap) >= CAPPED, 30, POLL, f"{CAPPED} pauses at the cap")
    pauses = [line.rsplit("(retrying in ", 1)[1] for line in recorder.logs().splitlines() if "(retrying in " in line]
    assert pauses[:2] == ["1 s)", f"{BACKOFF_CAP:g} s)"], f"1 s doubling to the cap: {pauses}"
    assert all(p == f"{BACKOFF_CAP:g} s)" for p in pauses[1:]), f"never past the cap: {pauses}"
    capped = len(pauses) - 1
    outage = time.monotonic() - down_at
    relay.sent = 0  # nothing reaches the relay's upstream while the server is down
    s3.start()
    back_at = time.monotonic()
    wait_for(lambda: relay.sent > 0, BACKOFF_CAP + 5, POLL, "the upload resumed")
    resumed = time.monotonic() - back_at
    status = wait_for(lambda: (s := recorder.status())["videos"][0]["upload"] == "uploaded" and s, 60, 0.2)
    print(
        f"\nMEASURED server back -> upload resumed: {resumed:.1f} s, uploaded: {time.monotonic() - back_at:.1f} s "
        f"(backoff at most {BACKOFF_CAP:g} s, reached {capped} times in a {outage:.1f} s outage; {load()})"
    )
    assert status["storageProblem"] is None and status["storageError"] is None
    final = recorder.post_stop()
    [duration] = check_uploaded(s3, final, tmp_path / "scratch" / "rec", tmp_path, single_put_max=0)
    assert duration >= 8


def test_wrong_keys_missing_bucket_and_no_server_are_reported_in_seconds_and_fixed_later(
    s3: S3Server, ingest: Ingest, publishers: Callable[..., Publisher], recorders: RecorderFactory, tmp_path: Path
) -> None:
    wrong_secret = "wrong-" + s3.secret_key[6:]
    wrong_key = "SOWRONG" + s3.access_key[7:]
    nothing_there = f"https://127.0.0.1:{free_port()}"
    publishers(ingest, size="640x360")
    ingest.wait_live()
    wrong = [
        ("StorageAccessDenied", {"directory": "secret", "keys": (s3.access_key, wrong_secret)}),
        ("StorageAccessDenied", {"directory": "key", "keys": (wrong_key, s3.secret_key)}),
        ("BucketNotFound", {"directory": "bucket", "upload": {"bucket": "no-such-bucket"}}),
        ("StorageUnreachable", {"directory": "endpoint", "endpoint": nothing_there}),
    ]

    def reported(case: tuple[str, dict[str, Any]]) -> tuple[RecorderWorker, dict[str, Any], float]:
        recorder = recorders(**case[1])
        status = wait_for(lambda: (s := recorder.status())["storageProblem"] and s, 15, 0.02, case[0])
        return recorder, status, time.monotonic() - recorder.started_at

    with ThreadPoolExecutor(max_workers=len(wrong)) as pool:  # side by side, each watched from its own start
        results = list(pool.map(reported, wrong))
    cases = []
    for (problem, settings), (recorder, status, after) in zip(wrong, results, strict=True):
        print(f"\nMEASURED {problem} ({settings['directory']}): reported {after:.2f} s after the recorder started")
        assert status["storageProblem"] == problem, status
        assert status["storageError"], status
        wait_for(lambda r=recorder: r.status()["recording"], 10, POLL, "recording all the same, locally")
        cases.append((problem, recorder))
    for _, recorder in cases:  # a retry failed and was reported too (1 s after the first: not a 4 s sleep)
        wait_for(lambda r=recorder: "(retrying in 2 s)" in r.logs(), 10, POLL, "a retry reported")
    # What the corrected recorder below uploads: a video, not a session under minDurationSeconds.
    wait_for(lambda: (cases[0][1].status()["duration"] or 0) >= 2, 15, POLL, "2 s recorded")
    for _, recorder in cases:
        texts = recorder.texts()
        for credential in (wrong_secret, wrong_key, s3.secret_key, s3.access_key):
            assert credential not in texts, f"a credential in what {recorder.config['directory']} says"

    # The secret is corrected (a new Pod in the cluster: here a new process on the same directory).
    bad = cases[0][1]
    bad.stop()
    pending = bad.state_file()
    assert [v["upload"] for v in pending["videos"]] == ["pending"] and pending["uploads"], pending
    fixed = recorders("secret")
    status = wait_for(lambda: (s := fixed.status())["videos"] and s["videos"][0]["upload"] == "uploaded" and s, 30)
    assert status["storageProblem"] is None
    assert s3.objects(BUCKET, "streamops/media/cam/")
    assert s3.secret_key not in fixed.texts() and s3.access_key not in fixed.texts()


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs as the recordings volume (root only); unmounted whatever happens."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m,mode=0755", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], check=False).returncode != 0:
            subprocess.run(["umount", "--lazy", str(mountpoint)], check=False)


def test_full_volume_closes_the_video_cleanly_and_recording_waits_for_space(
    small_volume: Path, ingest: Ingest, publishers: Callable[..., Publisher], recorders: RecorderFactory
) -> None:  # small_volume first: it is unmounted after the recorder has stopped
    recorder = recorders(root=small_volume, upload=None, minFreeBytes=4 * 1024 * 1024, minDurationSeconds=2)
    publishers(ingest, video_bitrate="14000k", encode_args=CBR_14M)  # closed at ≈6 s (plan.space_short)
    status = wait_for(lambda: (s := recorder.status())["noSpace"] and s["videos"] and s, 60, 0.2, "the disk full")
    assert status["lastError"] == "no space left on the recordings volume: the video was closed", status
    assert not status["recording"] and status["state"] == "waiting", "no new video on a full disk"
    [video] = status["videos"]
    path = small_volume / video["path"]
    assert ffprobe_duration(path) == pytest.approx(video["durationSeconds"], abs=0.05)
    assert video["durationSeconds"] >= 5 and video["sizeBytes"] > 5 * 1024 * 1024
    assert "No space left" not in recorder.logs(), "closed before the disk ran out"
    assert not list((small_volume / "rec" / ".parts").glob("*.mp4"))
    time.sleep(3)
    assert not recorder.status()["recording"], "still waiting for space"

    path.unlink()  # someone makes room
    wait_for(lambda: (s := recorder.status())["recording"] and not s["noSpace"] and s, 20, 0.2, "recording again")
    second_from = video["durationSeconds"] + 3  # a second video of 3 s (minDurationSeconds: 2)
    wait_for(lambda: (recorder.status()["duration"] or 0) >= second_from, 20, 0.2, "3 s recorded again")
    final = recorder.post_stop()
    assert len(final["videos"]) == 2 and final["state"] == "stopped"
    second = small_volume / final["videos"][1]["path"]
    assert ffprobe_duration(second) == pytest.approx(final["videos"][1]["durationSeconds"], abs=0.05)


def test_enospc_during_the_join_keeps_the_parts_and_joins_once_space_returns(
    small_volume: Path, ingest: Ingest, publishers: Callable[..., Publisher], recorders: RecorderFactory
) -> None:
    recorder = recorders(root=small_volume, upload=None, minFreeBytes=0, minDurationSeconds=2)
    publishers(ingest, video_bitrate="8000k", encode_args=CBR_8M)
    # 7 s by FFmpeg's progress: what is on disk lags it by up to a fragment (a 2 s GOP), more under
    # load, and a part under minDurationSeconds would rightly be discarded (seen in CI at load 6
    # when this waited for 4 s: no part left).
    wait_for(lambda: (recorder.status()["duration"] or 0) >= 7, 40, 0.2, "7 s recorded")
    # Take nearly all the rest: the part cannot grow much further, and its join cannot fit.
    filler = small_volume / "filler"
    with contextlib.suppress(OSError), open(filler, "wb") as f:
        while True:
            f.write(b"\0" * 1024 * 1024)
    status = wait_for(lambda: (s := recorder.status())["noSpace"] and not s["recording"] and s, 30, 0.2)
    time.sleep(2)
    # (The state file may be stale now: it cannot be saved on a full disk; the old one stands.)
    parts = sorted((small_volume / "rec" / ".parts").glob("*.mp4"))
    assert parts and all(p.stat().st_size > 0 for p in parts), f"the parts are kept: {recorder.status()}"
    name = parts[0].name.split(".")[0]
    assert recorder.status()["videos"] == [], "no video yet: its join does not fit"
    assert "parts kept" in recorder.status()["lastError"]
    filler.unlink()
    final = wait_for(lambda: (s := recorder.status())["videos"] and s, 30, 0.2, "the video joined")
    video = final["videos"][0]
    assert video["path"] == f"rec/{name}.mp4", "the video the disk stopped"
    assert ffprobe_duration(small_volume / video["path"]) == pytest.approx(video["durationSeconds"], abs=0.05)
    assert video["durationSeconds"] >= 4
    assert status["lastError"]


def test_full_scratch_space_closes_the_video_and_its_upload_makes_room_again(
    small_volume: Path, s3: S3Server, ingest: Ingest, publishers: Callable[..., Publisher], recorders: RecorderFactory
) -> None:
    """The emptyDir of an S3 recorder fills up: the video is closed cleanly, uploaded, its local copy
    deleted, and that room lets recording go on by itself."""
    recorder = recorders(root=small_volume, minFreeBytes=4 * 1024 * 1024)
    publishers(ingest, video_bitrate="14000k", encode_args=CBR_14M)  # closed at ≈6 s (plan.space_short)
    full = wait_for(lambda: (s := recorder.status())["noSpace"] and s, 60, 0.1, "the scratch space full")
    assert full["lastError"] == "no space left on the recordings volume: the video was closed", full
    again = wait_for(lambda: (s := recorder.status())["recording"] and len(s["videos"]) == 1 and s, 30, 0.2)
    assert again["videos"][0]["upload"] == "uploaded" and not again["noSpace"], again
    second_from = again["videos"][0]["durationSeconds"] + 3  # a second video of 3 s (minDurationSeconds: 2)
    wait_for(lambda: (recorder.status()["duration"] or 0) >= second_from, 20, 0.2, "3 s recorded again")
    final = recorder.post_stop()
    assert len(final["videos"]) == 2 and final["state"] == "stopped"
    durations = check_uploaded(s3, final, small_volume / "rec", small_volume.parent)
    assert durations[0] >= 5 and final["storedBytes"] == sum(v["sizeBytes"] for v in final["videos"])


def test_a_repair_or_join_cut_short_by_a_full_disk_never_replaces_a_part(small_volume: Path, tmp_path: Path) -> None:
    """FFmpeg 5.1 exits 0 when ENOSPC hits its last writes: a remux (repair) or join cut short by a
    full disk must say no space and leave the part as it was, never stand in for it (seen in CI:
    the recorded part was replaced by a truncated remux and then discarded as unreadable)."""
    import asyncio

    from streamops.contract.recorder import RecorderConfig
    from streamops.media.recorder.disk import OutOfSpace
    from streamops.media.recorder.recording import Recorder
    from streamops.media.recorder.state import PartState

    source = tmp_path / "source.mp4"  # one keyframe: its remux is one fragment, written at the end
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "6",
         "-c:v", "libx264", "-b:v", "4000k", "-g", "300",
         "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", str(source)],
        check=True,
    )  # fmt: skip
    config = RecorderConfig(
        feed_url="http://127.0.0.1:9/feed",
        recordings_root=str(small_volume),
        directory="rec",
        reconnect_window_seconds=10,
        max_segment_seconds=3600,
        min_duration_seconds=0,
    )
    recorder = Recorder(config)
    recorder.parts_dir.mkdir(parents=True, exist_ok=True)
    part_path = recorder.parts_dir / "v.001.mp4"
    shutil.copyfile(source, part_path)
    recorded = part_path.read_bytes()
    filler = small_volume / "filler"
    stat = os.statvfs(small_volume)
    with open(filler, "wb") as f:  # 256 KiB left: the part's remux starts, and cannot fit
        f.write(b"\0" * (stat.f_bavail * stat.f_frsize - 256 * 1024))
    part = PartState(file=part_path.name, closed=False)
    with pytest.raises(OutOfSpace):
        asyncio.run(recorder.finaliser.repair(part))
    assert part_path.read_bytes() == recorded and not part.closed, "the part stands as recorded"
    assert not list(recorder.parts_dir.glob("*.fixed.mp4")), "the cut-short remux is gone"
    with pytest.raises(OutOfSpace):
        asyncio.run(recorder.finaliser.join("v", [part], JoinCuts([None], [None])))
    assert part_path.read_bytes() == recorded
    assert not list(recorder.out_dir.glob(".*.joining.mp4"))

    filler.unlink()  # room again: the same part is repaired and joined whole
    asyncio.run(recorder.finaliser.repair(part))
    assert part.closed
    joined = asyncio.run(recorder.finaliser.join("v", [part], JoinCuts([None], [None])))
    assert ffprobe_duration(joined) == pytest.approx(6.0, abs=0.1)


def test_a_part_cut_inside_a_moof_is_cut_back_and_joined(tmp_path: Path) -> None:
    """FFmpeg stopped by a full disk can leave a part ending inside a moof, and FFmpeg 5.1 then reads
    none of it ("error reading header"; seen in CI: the part was discarded as "no readable media").
    The recorder cuts it back to its last whole fragment and makes a video of that."""
    import asyncio
    import struct

    from streamops.contract.recorder import RecorderConfig
    from streamops.media.recorder.recording import Recorder
    from streamops.media.recorder.state import PartState, VideoState

    config = RecorderConfig(
        feed_url="http://127.0.0.1:9/feed",
        recordings_root=str(tmp_path),
        directory="rec",
        reconnect_window_seconds=10,
        max_segment_seconds=3600,
        min_duration_seconds=0,
    )
    recorder = Recorder(config)
    recorder.parts_dir.mkdir(parents=True, exist_ok=True)
    part_path = recorder.parts_dir / "v.001.mp4"
    subprocess.run(  # as the recorder writes a part: 1 s fragments, H.264 and AAC
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine",
         "-t", "6", "-c:v", "libx264", "-g", "60", "-c:a", "aac", "-frag_duration", "1000000",
         "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", str(part_path)],
        check=True,
    )  # fmt: skip
    data, moofs, pos = part_path.read_bytes(), [], 0
    while pos < len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        moofs += [pos] if kind == b"moof" else []
        pos += size
    assert len(moofs) >= 5
    part_path.write_bytes(data[: moofs[3] + 40])  # as ENOSPC left it: 40 bytes into the 4th moof
    with pytest.raises(RuntimeError, match="Invalid data"):
        ffprobe_duration(part_path)  # FFmpeg reads none of it as it is

    video = VideoState(name="v", started_at=recorder.clock(), parts=[PartState(file=part_path.name, closed=True)])
    recorder.state.closing.append(video)
    asyncio.run(recorder.finaliser.finalise_video(video))
    assert not recorder.state.discarded, recorder.state.discarded
    [made] = recorder.state.videos
    assert made.duration_seconds == pytest.approx(3.0, abs=0.2), "its three whole fragments (audio runs a little past)"
    assert ffprobe_duration(tmp_path / made.path) == pytest.approx(made.duration_seconds, abs=0.05)
    assert not list(recorder.parts_dir.glob("*.mp4")), "the part is gone once joined"
