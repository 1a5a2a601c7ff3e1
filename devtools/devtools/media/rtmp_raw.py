"""A hand-written RTMP client that does what an outsider would: any command in any order, any chunk
size, media without a `publish`, one byte at a time. The attacks of the ingest's front-door tests
(tests/media/test_rtmp_front.py, tests/multinode/test_rtmp_outsider.py) are built from it; a
well-behaved publisher is FFmpeg (peers.Publisher), never this.

    with RawRtmp("127.0.0.1", port) as c:
        c.handshake(); c.connect(); c.create_stream(); c.play("anything")
        c.send_flv(attacker_flv(tmp), seconds=5)   # media after `play`
    assert attacker_frames(segment) == 0           # none of its red downstream

    with KeylessFlood("127.0.0.1", port):          # issue 52: past `connect` and bare, from one address
        ...                                        # the encoder with the key must still go live

Stdlib only; a socket with a timeout, blocking sends. `closed()` tells whether the server hung up.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

AMF0_NUMBER, AMF0_BOOL, AMF0_STRING, AMF0_OBJECT, AMF0_NULL, AMF0_OBJECT_END = 0, 1, 2, 3, 5, 9
TYPE_SET_CHUNK_SIZE, TYPE_AUDIO, TYPE_VIDEO, TYPE_DATA, TYPE_COMMAND = 1, 8, 9, 18, 20
AmfValue = float | int | bool | str | dict[str, "AmfValue"] | None


def amf0(value: AmfValue) -> bytes:
    if value is None:
        return bytes([AMF0_NULL])
    if isinstance(value, bool):
        return bytes([AMF0_BOOL, int(value)])
    if isinstance(value, int | float):
        return bytes([AMF0_NUMBER]) + struct.pack(">d", float(value))
    if isinstance(value, str):
        raw = value.encode()
        return bytes([AMF0_STRING]) + struct.pack(">H", len(raw)) + raw
    body = b"".join(struct.pack(">H", len(k.encode())) + k.encode() + amf0(v) for k, v in value.items())
    return bytes([AMF0_OBJECT]) + body + b"\x00\x00" + bytes([AMF0_OBJECT_END])


def chunks(csid: int, type_id: int, stream_id: int, timestamp: int, body: bytes, chunk_size: int) -> bytes:
    """One message as a type-0 chunk and its type-3 continuations (csid 2..63)."""
    header = bytes([csid]) + min(timestamp, 0xFFFFFF).to_bytes(3, "big") + len(body).to_bytes(3, "big")
    header += bytes([type_id]) + struct.pack("<I", stream_id)
    extended = struct.pack(">I", timestamp) if timestamp >= 0xFFFFFF else b""
    out = bytearray(header + extended + body[:chunk_size])
    for start in range(chunk_size, len(body), chunk_size):
        out += bytes([0xC0 | csid]) + extended + body[start : start + chunk_size]
    return bytes(out)


def flv_tags(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(tag type, timestamp ms, body) of each tag of an FLV file."""
    data = path.read_bytes()
    pos = int.from_bytes(data[5:9], "big") + 4
    while pos + 11 <= len(data):
        tag_type, size = data[pos], int.from_bytes(data[pos + 1 : pos + 4], "big")
        timestamp = int.from_bytes(data[pos + 4 : pos + 7], "big") | data[pos + 7] << 24
        body = data[pos + 11 : pos + 11 + size]
        if len(body) < size:
            return
        yield tag_type & 0x1F, timestamp, body
        pos += 11 + size + 4


def attacker_flv(directory: Path, seconds: float = 8, size: str = "640x360") -> Path:
    """An FLV of solid red H.264 + AAC: a frame of it anywhere downstream is the attacker's."""
    path = directory / f"attacker-{size}.flv"
    if not path.exists():
        cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        cmd += ["-f", "lavfi", "-i", f"color=c=red:size={size}:rate=30", "-f", "lavfi", "-i", "sine=frequency=1000"]
        cmd += ["-t", f"{seconds:g}", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p"]
        cmd += ["-c:a", "aac", "-f", "flv", str(path)]
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, timeout=60)
    return path


def attacker_frames(media: Path) -> int:
    """Frames of a media file (an HLS segment, a recording, a restream's output) whose picture is
    mostly the attacker's red: mean R high, G and B low, on a 16x9 downscale."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(media), "-vf", "scale=16:9,format=rgb24", "-f", "rawvideo", "-"],
        capture_output=True,
        check=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    ).stdout
    frame, count = 16 * 9 * 3, 0
    for start in range(0, len(out) - frame + 1, frame):
        pixels = out[start : start + frame]
        r, g, b = (sum(pixels[i::3]) / (16 * 9) for i in range(3))
        count += r > 180 and g < 80 and b < 80
    return count


class RawRtmp:
    def __init__(self, host: str, port: int, timeout: float = 5.0, source: str | None = None) -> None:
        """`source`: the local address to connect from (e.g. 127.0.0.7: another "client address")."""
        bind = (source, 0) if source else None
        # The worker answers /healthz before its RTMP front listens (a loaded machine: ≈1 s): a refused
        # connect is tried again until `timeout`, as an encoder does.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection((host, port), timeout=timeout, source_address=bind)
                break
            except ConnectionRefusedError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)
        self.chunk_size = 128
        self.transaction = 1
        self.sent = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)
        self.sent += len(data)

    def closed(self, wait: float = 0.0) -> bool:
        """Whether the server closed the connection (EOF or reset), waiting up to `wait` s for it;
        what it sent meanwhile is read and dropped."""
        deadline = time.monotonic() + wait
        while True:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if self.sock.recv(65536) == b"":
                    return True
                continue
            except (TimeoutError, BlockingIOError):
                if time.monotonic() >= deadline:
                    return False
            except OSError:
                return True

    # --- the protocol ------------------------------------------------------------------------------
    def handshake(self) -> None:
        c1 = struct.pack(">II", 0, 0) + os.urandom(1528)
        self.send(b"\x03" + c1)
        s0s1s2 = self._read_exactly(1 + 1536 + 1536)
        self.send(s0s1s2[1 : 1 + 1536])  # C2 echoes S1

    def _read_exactly(self, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            got = self.sock.recv(n - len(data))
            if not got:
                raise ConnectionError("the server closed the connection")
            data += got
        return bytes(data)

    def message(self, type_id: int, body: bytes, *, csid: int = 3, stream_id: int = 0, timestamp: int = 0) -> None:
        self.send(chunks(csid, type_id, stream_id, timestamp, body, self.chunk_size))

    def set_chunk_size(self, size: int) -> None:
        self.message(TYPE_SET_CHUNK_SIZE, struct.pack(">I", size), csid=2)
        self.chunk_size = size

    def command(self, name: str, *args: AmfValue, stream_id: int = 0) -> None:
        self.transaction += 1
        body = amf0(name) + amf0(self.transaction) + b"".join(amf0(a) for a in args)
        self.message(TYPE_COMMAND, body, csid=3 if stream_id == 0 else 8, stream_id=stream_id)

    def connect(self, app: str = "live") -> None:
        self.command("connect", {"app": app, "type": "nonprivate", "flashVer": "FMLE/3.0", "tcUrl": f"rtmp://x/{app}"})

    def create_stream(self) -> None:
        self.command("createStream", None)

    def publish(self, name: str) -> None:
        self.command("releaseStream", None, name)
        self.command("FCPublish", None, name)
        self.create_stream()
        self.command("publish", None, name, "live", stream_id=1)

    def obs_publish(self, name: str, width: int, height: int) -> None:
        """What OBS Studio sends (librtmp's sequence): Set Chunk Size 4096, `connect` with its
        fields, releaseStream, FCPublish, createStream, publish, then `@setDataFrame onMetaData`."""
        self.set_chunk_size(4096)
        self.command(
            "connect",
            {"app": "live", "type": "nonprivate", "flashVer": "FMLE/3.0 (compatible; FMSc/1.0)",
             "swfUrl": "rtmp://x/live", "tcUrl": "rtmp://x/live"},
        )  # fmt: skip
        self.publish(name)
        metadata: dict[str, AmfValue] = {
            "width": width, "height": height, "videocodecid": 7, "audiocodecid": 10, "framerate": 30,
            "videodatarate": 2500, "audiodatarate": 128, "audiosamplerate": 48000, "encoder": "obs-output module",
        }  # fmt: skip
        body = amf0("@setDataFrame") + amf0("onMetaData") + amf0(metadata)
        self.message(TYPE_DATA, body, csid=4, stream_id=1)

    def play(self, name: str) -> None:
        self.command("play", None, name, stream_id=1)

    def send_flv(self, path: Path, seconds: float, stop: threading.Event | None = None) -> int:
        """The FLV's tags as RTMP media messages on stream 1, in real time, for up to `seconds` or
        until `stop` is set; how many were sent before the server hung up (a send then fails)."""
        started, sent = time.monotonic(), 0
        stop = stop or threading.Event()
        with contextlib.suppress(OSError):
            for tag_type, timestamp, body in flv_tags(path):
                if timestamp / 1000 > seconds:
                    break
                if (wait := started + timestamp / 1000 - time.monotonic()) > 0 and stop.wait(wait):
                    break
                csid = {TYPE_AUDIO: 4, TYPE_VIDEO: 6}.get(tag_type, 5)
                self.message(tag_type, body, csid=csid, stream_id=1, timestamp=timestamp)
                sent += 1
        return sent


def blind_connect() -> bytes:
    """C0, C1, C2 and `connect` in one piece: past `connect` without reading the server's handshake
    (a server that does not check C2's echo, as none must, takes it)."""
    body = amf0("connect") + amf0(1) + amf0({"app": "live", "type": "nonprivate", "tcUrl": "rtmp://x/live"})
    return b"\x03" + bytes(2 * 1536) + chunks(3, TYPE_COMMAND, 0, 0, body, 128)


# A quarter more than the front's pre-auth cap per source and stage (components/rtmp, 1,024): the
# flood's own stage churns (each newcomer closes the stage's oldest), which is what threatens an
# encoder sharing its address; at or under the cap nothing is ever closed.
FLOOD_KEEPS = 1280


class KeylessFlood:
    """The key-less client of issue 52, from one address: one process opens connections that send
    the handshake and `connect` (blind_connect) and keeps the last `holders` open, another opens bare
    TCP connections and keeps the last `bare` open, each as fast as it can until stop() (processes,
    so the two do not share one interpreter's lock). Closed with a reset (SO_LINGER 0), so no
    TIME_WAIT piles up on the client's ports. The processes are started inside `where` (e.g. a
    network namespace: they inherit it). After stop(), `past_connect` and `opened` count the
    connections each made."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        holders: int = FLOOD_KEEPS,
        bare: int = FLOOD_KEEPS,
        where: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
    ) -> None:
        self.args = {"connect": (host, port, holders), "bare": (host, port, bare)}
        self.where = where
        self.processes: dict[str, subprocess.Popen[str]] = {}
        self.past_connect = 0
        self.opened = 0

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def start(self) -> Self:
        with self.where():
            for role, (host, port, keep) in self.args.items():
                argv = [sys.executable, "-m", "devtools.media.rtmp_raw", role, host, str(port), str(keep)]
                self.processes[role] = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        return self

    def stop(self) -> None:
        counts = {}
        for role, process in self.processes.items():
            process.send_signal(signal.SIGTERM)
            try:
                out, _ = process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                out, _ = process.communicate()
            counts[role] = int(out.strip() or 0)
        self.processes = {}
        self.past_connect, self.opened = counts.get("connect", 0), counts.get("bare", 0)


def _flood(host: str, port: int, keep: int, hello: bytes) -> int:
    """Open connections (sending `hello` on each) as fast as possible until SIGTERM, keeping the
    last `keep` open; how many were made."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    kept: collections.deque[socket.socket] = collections.deque()
    reset = struct.pack("ii", 1, 0)
    made = 0
    while not stopping:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, reset)
        try:
            sock.connect((host, port))
            if hello:
                sock.send(hello)
        except OSError:
            sock.close()
            time.sleep(0.001)  # refused or reset: the server is not there (yet, or any more)
            continue
        made += 1
        kept.append(sock)
        if len(kept) > keep:
            kept.popleft().close()
    for sock in kept:
        sock.close()
    return made


if __name__ == "__main__":
    # python -m devtools.media.rtmp_raw connect|bare HOST PORT KEEP: one role of KeylessFlood.
    role, host, port, keep = sys.argv[1:5]
    print(_flood(host, int(port), int(keep), blind_connect() if role == "connect" else b""), flush=True)
