"""Real media peers for the media test tier and the benchmarks: no mocks, stdlib only.

Every peer is a context manager around one local process tree listening on 127.0.0.1 only, and is
stopped by PID on exit (TERM, then KILL for it and whatever it forked). Wrap them in fixtures:

    @pytest.fixture
    def nginx(tmp_path):
        with NginxRtmp(hls=True, workdir=tmp_path / "nginx") as server:
            yield server

Publisher (ffmpeg), NginxRtmp, SrtListener, TcpForwarder/TlsForwarder (a chosen receive buffer, a
freeze, rtmps), ffprobe helpers. How each behaves, measured: docs/design/test-harness.md, "The media peers".
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal, Self
from urllib.parse import quote, urlsplit

from devtools.cpu_weight import machine_nice, set_autogroup_nice
from devtools.media.push_urls import FORMAT_BY_SCHEME, with_srt_linger
from devtools.netns import entered, nsenter
from devtools.pki import self_signed
from devtools.ports import LOOPBACK, free_port, tcp_accepts, udp_bound
from devtools.processes import Lifecycle, alive, kill_group, proc_tree
from devtools.versions import cache_dir, worker_ffmpeg_dir, worker_ffmpeg_env
from devtools.waits import wait_for

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")


# --- ffprobe ----------------------------------------------------------------------------------------


def ffprobe_streams(
    path_or_url: str | os.PathLike[str],
    timeout: float = 20.0,
    headers: dict[str, str] | None = None,
    ffprobe: str | os.PathLike[str] = "ffprobe",
) -> list[dict[str, Any]]:
    """ffprobe's `streams` array (codec_type, codec_name, width, height, …) for a file or a URL
    (`headers`: sent with an HTTP URL's request, e.g. the ingest feed's worker credential)."""
    sent = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    out = ffprobe_json(["-show_streams", *(["-headers", sent] if sent else [])], path_or_url, timeout, ffprobe)
    return list(out.get("streams", []))


def ffprobe_duration(
    path: str | os.PathLike[str], timeout: float = 20.0, ffprobe: str | os.PathLike[str] = "ffprobe"
) -> float:
    """Container duration in seconds (format.duration)."""
    out = ffprobe_json(["-show_entries", "format=duration"], path, timeout, ffprobe)
    return float(out["format"]["duration"])


def ffprobe_json(
    args: Sequence[str],
    target: str | os.PathLike[str],
    timeout: float = 20.0,
    ffprobe: str | os.PathLike[str] = "ffprobe",
) -> dict[str, Any]:
    """ffprobe's JSON answer for `args` (e.g. ["-show_format", "-show_streams"]) about a file or a URL.

    `ffprobe`: Debian's unless told (a reader that shares no code with the workers' FFmpeg, whose
    output most checks read; and a `durationSeconds` the workers report is their own ffprobe's
    reading, so checking it with that ffprobe would prove nothing). worker_ffprobe() where neither
    matters: it starts in ≈0.01 CPU-s, Debian's in ≈0.10 (≈200 shared libraries bound at start)."""
    # subprocess.run kills ffprobe on timeout, so a URL that never delivers cannot leak a process.
    cmd = [os.fspath(ffprobe), "-v", "error", "-of", "json", *args, os.fspath(target)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"ffprobe {target} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return dict(json.loads(done.stdout or "{}"))


def worker_ffprobe() -> Path:
    """The workers' ffprobe (hack/build-ffmpeg.sh): for checks of what neither the workers' FFmpeg
    made nor its ffprobe measured (the peers' own output), where Debian's start-up is pure cost."""
    return worker_ffmpeg_dir() / "bin" / "ffprobe"


# --- process base -----------------------------------------------------------------------------------


class _Peer(Lifecycle):
    """One child process (tree) with a log file; stop() is idempotent and always runs on context exit."""

    stop_signal = signal.SIGTERM

    def __init__(
        self,
        log_path: str | os.PathLike[str] | None = None,
        *,
        netns: str | None = None,
        weighs_a_machine: bool = False,
    ) -> None:
        """`netns`: run in that network namespace (a client or server on the local cluster's LAN);
        `weighs_a_machine`: its session weighs the host's cores (devtools.cpu_weight), as each node of
        the local cluster does: a peer that stands for a machine of its own on the LAN (an encoder),
        whose start a loaded host would otherwise slow as no real one is."""
        self._log_path = Path(log_path) if log_path is not None else None
        self.netns = netns
        self.weighs_a_machine = weighs_a_machine
        self.started_at: float | None = None  # time.monotonic() right before launch
        self._proc: subprocess.Popen[bytes] | None = None
        self._files: list[IO[bytes]] = []
        self._log_offset = 0

    @property
    def log_path(self) -> Path:
        """stderr of the process; a temp file unless given (made on first use, kept for post-mortems)."""
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"streamops-{type(self).__name__.lower()}-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        return self._log_path

    # subclasses: the command line and (optionally) where stdout goes
    def command(self) -> list[str]:
        raise NotImplementedError

    def _stdout(self) -> IO[bytes] | int:
        return subprocess.DEVNULL

    def _ready(self) -> None:
        """Block until the peer serves (raise when it cannot); default: nothing to wait for."""

    def _where(self) -> contextlib.AbstractContextManager[None]:
        """Where to open sockets to the peer: its network namespace, if it has one."""
        return entered(self.netns) if self.netns else contextlib.nullcontext()

    def start(self) -> Self:
        if self._proc is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_offset = log.tell()  # a reused log (restart in the same workdir) keeps older runs' lines
        self._files.append(log)
        stdout = self._stdout()
        if not isinstance(stdout, int):
            self._files.append(stdout)
        self.started_at = time.monotonic()
        try:
            # A session of its own: stop() can then end the whole group, including processes the peer
            # forked after we looked at its tree (nginx workers were seen outliving their master).
            argv = nsenter(self.netns, self.command()) if self.netns else self.command()
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=log, start_new_session=True
            )
            if self.weighs_a_machine:
                set_autogroup_nice(machine_nice(), self._proc.pid)
            self._ready()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit on its own; subprocess.TimeoutExpired after timeout."""
        if self._proc is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        return self._proc.wait(timeout)

    def stop(self, grace: float = 5.0) -> int | None:
        """Signal the process, wait up to grace, then SIGKILL it and every descendant it left."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            tree = proc_tree(proc.pid)  # before signalling: orphans get reparented away from us
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(self.stop_signal)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                for pid in reversed(tree):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                proc.wait(grace)
            # a graceful exit normally takes the children along; make sure nothing of the tree survives
            for pid in tree[1:]:
                if alive(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            kill_group(proc.pid)  # whatever is left of its session's group
            deadline = time.monotonic() + 2  # SIGKILL is delivered asynchronously: see them gone
            while any(alive(pid) for pid in tree[1:]) and time.monotonic() < deadline:
                time.sleep(0.01)
        elif proc is not None:
            # It ended by itself (e.g. an nginx master that died): its children may live on in its
            # session's group, orphaned. (Its pid names the group: a session leader's group id.)
            kill_group(proc.pid)
        while self._files:
            self._files.pop().close()
        return proc.returncode if proc else None

    def restart(self) -> Self:
        """Stop it (if it still runs) and start it again: the same ports, the log appended to."""
        self.stop()
        self._proc = None
        return self.start()

    @contextlib.contextmanager
    def frozen(self) -> Iterator[float]:
        """SIGSTOP the peer's whole process tree for the `with` block, SIGCONT after: its sockets stay
        open and its kernel still acknowledges into the receive buffers, but nothing is read (a hung
        server). Yields time.monotonic() at the freeze."""
        if self._proc is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        tree = proc_tree(self._proc.pid)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        try:
            yield time.monotonic()
        finally:
            for pid in tree:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_since_start()[-chars:]

    def log_since_start(self) -> str:
        """What this run wrote to the log (stderr) so far."""
        if self._log_path is None:
            return ""  # never started: nothing logged
        try:
            with open(self._log_path, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(
                f"{type(self).__name__} exited with {self._proc.returncode}; log {self.log_path}:\n{self.log_tail()}"
            )


# --- synthetic publisher -----------------------------------------------------------------------------

# The publisher's clip: a multiple of the GOP (2 s by default) and of the period where video frames
# and AAC frames line up (16 frames at 30 fps = 25 AAC frames of 1024 samples at 48 kHz, 0.533 s), so
# a loop continues both streams' timestamps without a gap and keeps keyframes every GOP.
CLIP_SECONDS = 32
CLIP_FORMAT = 1  # bump when the clip's encoding changes: older clips in the cache are not reused


VideoCodec = Literal["h264", "hevc", "av1"]
# Debian's encoders for each codec, as an encoder would set them up for live: x264 and x265 without
# scene-cut keyframes (a fixed GOP keeps HLS fragment boundaries predictable), SVT-AV1 at its fastest
# preset in low-delay mode (no B-frames to reorder, as OBS's AV1 live presets).
_VIDEO_ENCODE: dict[str, list[str]] = {
    "h264": ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-sc_threshold", "0"],
    "hevc": ["-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency",
             "-x265-params", "scenecut=0:log-level=error"],
    "av1": ["-c:v", "libsvtav1", "-preset", "12", "-svtav1-params", "pred-struct=1:scd=0"],
}  # fmt: skip


def _publisher_encode_args(pub: Publisher) -> list[str]:
    """The synthetic source and its encoding: the same whether encoded live or into the clip."""
    cmd = ["-f", "lavfi", "-i", pub.video or f"testsrc2=size={pub.size}:rate={pub.rate}"]
    if pub.audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    cmd += [*_VIDEO_ENCODE[pub.codec], "-pix_fmt", "yuv420p"]
    cmd += ["-g", str(pub.gop), "-keyint_min", str(pub.gop), "-b:v", pub.video_bitrate]
    if pub.audio:
        cmd += ["-c:a", "aac", "-b:a", "128k"]
    return [*cmd, *pub.encode_args]  # last: they override the defaults above


@functools.cache
def _ffmpeg_version() -> str:
    out = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True, timeout=30).stdout
    return out.splitlines()[0] if out else ""


def publisher_clip(pub: Publisher) -> Path:
    """The publisher's feed encoded once (CLIP_SECONDS, Matroska) into the cache, keyed by its
    encoding and FFmpeg's version; made under a lock, so parallel test workers make it once."""
    encode = _publisher_encode_args(pub)
    key = hashlib.sha256(json.dumps([CLIP_FORMAT, CLIP_SECONDS, encode, _ffmpeg_version()]).encode())
    clips = cache_dir() / "publisher-clips"
    clips.mkdir(parents=True, exist_ok=True)
    clip = clips / f"{pub.size}-{pub.rate}-{key.hexdigest()[:12]}.mkv"
    if clip.exists():
        return clip
    with open(clips / f"{clip.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not clip.exists():
            partial = clip.with_suffix(f".{os.getpid()}.mkv")
            cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *encode]
            try:
                subprocess.run([*cmd, "-t", str(CLIP_SECONDS), str(partial)], check=True, timeout=600,
                               stdin=subprocess.DEVNULL, capture_output=True)  # fmt: skip
                os.replace(partial, clip)
            finally:  # interrupted (a demo's Ctrl-C) or failed: no half clip left in the cache
                partial.unlink(missing_ok=True)
    return clip


class Publisher(_Peer):
    """ffmpeg pushing a synthetic 720p30 H.264 (or `codec` HEVC, AV1) + AAC feed (testsrc2 + 440 Hz
    sine) in real time (-re). `video`: another lavfi source graph instead of testsrc2 (its own size and
    rate, which `size` and `rate` must then repeat: e.g. a still test pattern).

    The container comes from the URL scheme (rtmp → flv, srt/udp/tcp → mpegts) unless fmt is given.
    Without duration it runs until stop(); with it, it exits by itself (wait() then gives 0).
    srt:// URLs get `linger=3` unless they set linger, so the last second of a push is not dropped.

    The feed is encoded once into a cached clip (publisher_clip) and pushed in a loop by stream
    copy: the same H.264/AAC an encoder sends, at a twelfth of the CPU of encoding it live (x264 at
    720p30 took 0.32 of a core here, the copy 0.025), which the tests running beside it get
    instead. `encode_args` (encoder options such as a profile, a pixel format, B-frames or a
    constant bit rate, after the defaults so they win) are encoded into the clip too (a clip of
    their own); `output_args` (options of the output: TLS verification, -vn) go with the pushed
    copy (with an HEVC or AV1 `codec` too: its clip is Debian's encoders', pushed by the workers'
    FFmpeg).
    """

    def __init__(
        self,
        url: str,
        *,
        duration: float | None = None,
        size: str = "1280x720",
        rate: int = 30,
        gop_seconds: float = 2.0,
        video_bitrate: str = "2500k",
        audio: bool = True,
        fmt: str | None = None,
        encode_args: Sequence[str] = (),
        output_args: Sequence[str] = (),
        live: bool = False,
        log_path: str | os.PathLike[str] | None = None,
        netns: str | None = None,
        codec: VideoCodec = "h264",
        video: str | None = None,
    ) -> None:
        super().__init__(log_path, netns=netns)
        self.codec = codec
        self.video = video
        self.url = with_srt_linger(url)
        self.duration = duration
        self.size = size
        self.rate = rate
        self.gop = max(1, round(rate * gop_seconds))
        self.video_bitrate = video_bitrate
        self.audio = audio
        self.fmt = fmt or FORMAT_BY_SCHEME.get(urlsplit(url).scheme)
        self.encode_args = list(encode_args)
        self.output_args = list(output_args)
        # A clip whose length is not whole GOPs would put a keyframe off the GOP's grid at each loop.
        self.live = live or (CLIP_SECONDS * rate) % self.gop != 0
        if codec != "h264" and self.live:
            raise ValueError("an HEVC or AV1 publisher pushes its cached clip (whole GOPs): no live encoding")

    def command(self) -> list[str]:
        # HEVC and AV1 go out as Enhanced FLV (FourCC video tags), which Debian's FFmpeg 5.1 cannot
        # write: the workers' FFmpeg 7.1 pushes the clip that Debian's encoders made.
        ffmpeg = "ffmpeg" if self.codec == "h264" else worker_ffmpeg_env()["STREAMOPS_FFMPEG"]
        cmd = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-re"]
        if self.live:
            cmd += _publisher_encode_args(self)
        else:
            cmd += ["-stream_loop", "-1", "-i", str(publisher_clip(self)), "-c", "copy"]
        if self.duration is not None:
            cmd += ["-t", f"{self.duration:g}"]
        cmd += self.output_args
        if self.fmt:
            cmd += ["-f", self.fmt]
        return [*cmd, self.url]


# --- nginx with the RTMP module ------------------------------------------------------------------------


class NginxRtmp(_Peer):
    """nginx + ngx_rtmp_module from a private prefix dir: RTMP (and HTTP) on free 127.0.0.1 ports.

    `application <app> { live on; record off; }` takes publishes at rtmp_url(app, name). hls=True
    adds HLS (2 s fragments, 6 s playlist) into hls_dir, served at hls_url(name). push= relays every
    publish to other RTMP servers. The HTTP server (always on) also serves the rtmp_stat XML at
    /stat, behind publishing().
    """

    stop_signal = signal.SIGTERM  # nginx fast shutdown: QUIT would wait for live RTMP sessions to end

    def __init__(
        self,
        *,
        hls: bool = False,
        push: str | Iterable[str] | None = None,
        app: str = "live",
        workdir: str | os.PathLike[str] | None = None,
        rtmp_port: int | None = None,
        http_port: int | None = None,
        hls_fragment: float = 2.0,
        hls_playlist_length: float = 6.0,
        worker_processes: int = 1,
        module: str | os.PathLike[str] = RTMP_MODULE,
        start_timeout: float = 10.0,
        address: str = LOOPBACK,
        netns: str | None = None,
    ) -> None:
        """`address` + `netns`: listen there instead of the host's loopback (e.g. a restream
        target on the local cluster's LAN, reachable from its Pods)."""
        self._own_dir = workdir is None  # remove only what we created; a tmp_path stays for post-mortems
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="streamops-nginx-")).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        super().__init__(self.dir / "error.log", netns=netns)
        self.address = address
        self.hls = hls
        self.push = [push] if isinstance(push, str) else list(push or [])
        self.app = app
        self._pick_ports = rtmp_port is None and http_port is None
        self.rtmp_port = rtmp_port or free_port()
        self.http_port = http_port or free_port()
        self.hls_fragment = hls_fragment
        self.hls_playlist_length = hls_playlist_length
        self.worker_processes = worker_processes
        self.module = Path(module)
        self.start_timeout = start_timeout
        self.conf_path = self.dir / "nginx.conf"

    @property
    def hls_dir(self) -> Path:
        return self.dir / "hls"

    def rtmp_url(self, app: str | None = None, name: str = "stream") -> str:
        return f"{self.app_url(app)}/{name}"

    def app_url(self, app: str | None = None) -> str:
        """The application URL, e.g. for another server's push= (which keeps the stream name)."""
        return f"rtmp://{self.address}:{self.rtmp_port}/{app or self.app}"

    def hls_url(self, name: str = "stream") -> str:
        return f"http://{self.address}:{self.http_port}/hls/{quote(name)}.m3u8"

    def playlist(self, name: str = "stream") -> Path:
        return self.hls_dir / f"{name}.m3u8"

    def segments(self, name: str = "stream") -> list[Path]:
        """The MPEG-TS fragments of name on disk, oldest first (nginx-rtmp names them NAME-SEQ.ts)."""
        found = [p for p in self.hls_dir.glob(f"{name}-*.ts") if p.stem[len(name) + 1 :].isdigit()]
        return sorted(found, key=lambda p: int(p.stem[len(name) + 1 :]))

    def config(self) -> str:
        d = self.dir
        app_lines = ["live on;", "record off;"]
        if self.hls:
            app_lines += [
                "hls on;",
                f"hls_path {self.hls_dir};",
                f"hls_fragment {self.hls_fragment:g}s;",
                f"hls_playlist_length {self.hls_playlist_length:g}s;",
            ]
        app_lines += [f"push {url};" for url in self.push]
        app_block = "\n".join(f"            {line}" for line in app_lines)
        temp_paths = "\n".join(f"    {kind}_temp_path {d}/tmp/{kind};" for kind in _NGINX_TEMP_PATHS)
        # As root the workers would switch to `nobody` and could not write into our 0700 temp dir.
        user = "user root;\n" if os.geteuid() == 0 else ""
        return f"""load_module {self.module};
{user}worker_processes {self.worker_processes};
pid {d}/nginx.pid;
lock_file {d}/nginx.lock;
error_log {self.log_path} info;
events {{ worker_connections 1024; }}
rtmp {{
    server {{
        listen {self.address}:{self.rtmp_port};
        application {self.app} {{
{app_block}
        }}
    }}
}}
http {{
    access_log {d}/access.log;
{temp_paths}
    types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; text/xml xml; }}
    server {{
        listen {self.address}:{self.http_port};
        location /hls/ {{
            alias {self.hls_dir}/;
            add_header Cache-Control no-cache;
            add_header Access-Control-Allow-Origin *;  # a player page on another origin (bench-latency)
        }}
        location /stat {{ rtmp_stat all; }}
    }}
}}
"""

    def command(self) -> list[str]:
        return ["nginx", "-p", f"{self.dir}/", "-c", str(self.conf_path), "-g", "daemon off;"]

    def start(self) -> Self:
        for attempt in range(3):
            for sub in ("hls", "tmp"):
                (self.dir / sub).mkdir(parents=True, exist_ok=True)
            self.conf_path.write_text(self.config())
            try:
                return super().start()
            except RuntimeError as exc:
                # free_port() is racy: someone may have bound our pick meanwhile; pick again (ours only)
                if attempt == 2 or not self._pick_ports or "Address already in use" not in str(exc):
                    raise
                self._proc = None
                self.rtmp_port, self.http_port = free_port(), free_port()
        raise AssertionError("unreachable")

    def _ready(self) -> None:
        def up() -> bool:
            self._check_alive()  # a bad config or a taken port: fail now, with nginx's own words
            # Workers start only after every listen socket is bound; a bare connect could reach
            # whoever else holds the port while nginx is still retrying bind().
            with self._where():
                return (
                    "start worker process" in self.log_since_start()
                    and tcp_accepts(self.rtmp_port, self.address)
                    and tcp_accepts(self.http_port, self.address)
                )

        wait_for(up, self.start_timeout, 0.05, f"nginx-rtmp on {self.address}:{self.rtmp_port}")

    def stat(self, timeout: float = 5) -> ET.Element:
        """The rtmp_stat XML document."""
        url = f"http://{self.address}:{self.http_port}/stat"
        with self._where(), urllib.request.urlopen(url, timeout=timeout) as resp:
            return ET.fromstring(resp.read())

    def publishing(self, app: str | None = None) -> set[str]:
        """Names of the streams being published into app right now."""
        names = set()
        for application in self.stat().iter("application"):
            if application.findtext("name") != (app or self.app):
                continue
            for stream in application.iter("stream"):
                if stream.find("publishing") is not None:
                    names.add(stream.findtext("name") or "")
        return names

    def stop(self, grace: float = 5.0) -> int | None:
        try:
            return super().stop(grace)
        finally:
            if self._own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)


_NGINX_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


# --- SRT receiver --------------------------------------------------------------------------------------


class SrtListener(_Peer):
    """An SRT target in listener mode on 127.0.0.1:<udp port>; what it receives lands in `output`.

    tool="srt-live-transmit" (default): the bytes as received (MPEG-TS), appended across publisher
    reconnects, until stop(). tool="ffmpeg": `-c copy` remux of one publish; exits 0 when it ends.
    Push to `url` (caller mode). passphrase (10 to 79 chars) turns on encryption on both ends.
    """

    def __init__(
        self,
        output: str | os.PathLike[str] | None = None,
        *,
        tool: Literal["srt-live-transmit", "ffmpeg"] = "srt-live-transmit",
        port: int | None = None,
        passphrase: str | None = None,
        log_path: str | os.PathLike[str] | None = None,
        start_timeout: float = 5.0,
        address: str = LOOPBACK,
        netns: str | None = None,
    ) -> None:
        """`address` + `netns`: listen there instead of the host's loopback (e.g. a restream
        target on the local cluster's LAN, reachable from its Pods)."""
        super().__init__(log_path, netns=netns)
        self.address = address
        if output is None:
            fd, name = tempfile.mkstemp(prefix="streamops-srt-", suffix=".ts")
            os.close(fd)
            output = name
        self.output = Path(output)
        self.tool = tool
        self.port = port or free_port("udp")
        self.passphrase = passphrase
        self.start_timeout = start_timeout

    def _query(self, mode: str) -> str:
        query = f"mode={mode}"
        if self.passphrase:
            query += f"&passphrase={quote(self.passphrase, safe='')}"
        return query

    @property
    def url(self) -> str:
        """Where a publisher pushes to."""
        return f"srt://{self.address}:{self.port}?{self._query('caller')}"

    @property
    def listen_url(self) -> str:
        return f"srt://{self.address}:{self.port}?{self._query('listener')}"

    def command(self) -> list[str]:
        if self.tool == "srt-live-transmit":
            # file://con is stdout; `file:///path` targets are "Unsupported target type" in srt-tools 1.5.1
            return ["srt-live-transmit", "-q", self.listen_url, "file://con"]
        return [
            "ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-y",
            "-i", self.listen_url, "-map", "0", "-c", "copy", "-f", "mpegts", str(self.output),
        ]  # fmt: skip

    def _stdout(self) -> IO[bytes] | int:
        if self.tool == "srt-live-transmit":
            return open(self.output, "wb")  # closed in stop()
        return subprocess.DEVNULL

    def _ready(self) -> None:
        def up() -> bool:
            self._check_alive()
            with self._where():
                return udp_bound(self.port, self.address)

        wait_for(up, self.start_timeout, 0.05, f"SRT listener on udp {self.address}:{self.port}")

    def received_bytes(self) -> int:
        try:
            return self.output.stat().st_size
        except OSError:
            return 0


# --- relays in front of a plain TCP peer: a chosen receive buffer, a freeze, TLS ------------------------


class TcpForwarder(Lifecycle):
    """A target in front of a plain TCP server such as nginx-rtmp: bytes relayed both ways by an
    asyncio server in a thread of this process; `port` is where to push:
    rtmp://127.0.0.1:<port>/<app>. `receive_buffer` (bytes) is set on its listening socket, so each
    connection has that receive buffer (the kernel doubles it and caps the request at
    net.core.rmem_max): what a target's buffer looks like once autotuning grew it. `frozen()`
    stops reading what clients send: a hung server whose kernel still takes bytes."""

    scheme = "rtmp"

    def __init__(
        self,
        upstream_port: int,
        workdir: str | os.PathLike[str],
        upstream_host: str = LOOPBACK,
        receive_buffer: int | None = None,
        address: str = LOOPBACK,
        netns: str | None = None,
    ) -> None:
        """`address` + `netns`: listen there (e.g. a target on the local cluster's LAN, reachable from
        its Pods) while the upstream is still reached from this process's namespace (the host's
        loopback): the listening socket is made inside `netns`, the relay's thread stays outside."""
        self.upstream = (upstream_host, upstream_port)
        self.workdir = Path(workdir)
        self.receive_buffer = receive_buffer
        self.address = address
        self.netns = netns
        self.port = 0
        self.connections = 0  # connections accepted (with TLS: handshakes completed), one per push attempt
        self.bytes_in = 0  # bytes clients sent (with TLS: decrypted, after the handshake), all relayed upstream
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._reading: asyncio.Event | None = None

    def _ssl_context(self) -> ssl.SSLContext | None:
        return None

    def start(self) -> Self:
        context = self._ssl_context()
        with entered(self.netns) if self.netns else contextlib.nullcontext():
            listener = socket.socket()
        if self.receive_buffer is not None:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        listener.bind((self.address, 0))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-forwarder", daemon=True)
        self._thread.start()

        async def serve() -> asyncio.Server:
            self._reading = asyncio.Event()
            self._reading.set()
            return await asyncio.start_server(self._relay, sock=listener, ssl=context)

        self._server = asyncio.run_coroutine_threadsafe(serve(), self._loop).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, app: str = "live") -> str:
        return f"{self.scheme}://{self.address}:{self.port}/{app}"

    @contextlib.contextmanager
    def frozen(self) -> Iterator[float]:
        """Stop reading what clients send for the `with` block (what was read goes on upstream):
        their bytes pile up in this side's receive buffer, acknowledged by the kernel. Yields
        time.monotonic() at the freeze."""
        loop, reading = self._loop, self._reading
        if loop is None or reading is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        loop.call_soon_threadsafe(reading.clear)
        try:
            yield time.monotonic()
        finally:
            loop.call_soon_threadsafe(reading.set)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        reading = self._reading
        assert reading is not None

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, gate: asyncio.Event | None) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                # asyncio's reader buffers up to 2 x 64 KiB ahead of read() and then pauses the
                # socket: a closed gate stops the kernel's buffer draining within 128 KiB.
                while (gate is None or await gate.wait()) and (data := await r.read(65536)):
                    if gate is not None:
                        self.bytes_in += len(data)
                    w.write(data)
                    await w.drain()
            w.close()

        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, up_w, reading), pipe(up_r, client_w, None))

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None:
            return

        async def close() -> None:
            if server is not None:
                server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # let them finish before the loop stops

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        loop.close()
        self._loop = self._server = self._thread = None


class TlsForwarder(TcpForwarder):
    """An rtmps:// target: TLS terminated on its address with a throw-away self-signed certificate
    whose subjectAltName is that address (an IP SAN: hostname checks pass), bytes relayed both ways
    to a plain TCP server such as nginx-rtmp (whose RTMP module has no TLS); `port` is where to push:
    rtmps://<address>:<port>/<app>. The workers verify a target's certificate: hand them `cert` as
    the CA (it is its own), or it plays the attacker who answers at the target's address
    (`bytes_in`: what a client sent after the handshake)."""

    scheme = "rtmps"

    @property
    def cert(self) -> Path:
        return self.workdir / "tls.crt"

    @property
    def key(self) -> Path:
        return self.workdir / "tls.key"

    def _ssl_context(self) -> ssl.SSLContext:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self_signed(self.cert, self.key, self.address)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context
