"""CEA-608 captions for the media tests: a clip whose H.264 carries known caption text the way a
broadcast encoder sends it (ATSC A/53 cc_data in SEI, one byte pair per frame), pushed by a
Publisher; and the text read back from any media file by Debian's FFmpeg (`movie` + `subcc`),
which nothing of streamops wrote.

Made here rather than by a caption tool: GStreamer 1.22's closedcaption plugin has no .scc reader
(sccparse is in gst-plugins-rs, not in Debian bookworm), and FFmpeg has no 608 encoder. So x264
encodes the picture with an access unit delimiter before every frame (no B-frames: decode order is
display order, as caption bytes must be), and an SEI NAL with that frame's cc_data goes right after
each delimiter. Measured: FFmpeg 5.1's dump of the clip says "Closed Captions" and `subcc` reads
every caption back at its second.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devtools.media.peers import Publisher

# Debian's FFmpeg (a full build: the movie filter, the subcc output and the ccaption decoder), not
# the workers' minimal one: the independent reader and the clip's maker.
DEBIAN_FFMPEG = "/usr/bin/ffmpeg"
CLIP_RATE = 30
_AUD = 9  # nal_unit_type of an access unit delimiter
_SEI = 6
_T35_USER_DATA = 4  # SEI payloadType user_data_registered_itu_t_t35


def _odd_parity(byte: int) -> int:
    """A 608 byte: 7 bits and an odd parity bit on top."""
    return byte | 0x80 if bin(byte).count("1") % 2 == 0 else byte


def _control(first: int, second: int) -> list[tuple[int, int]]:
    pair = (_odd_parity(first), _odd_parity(second))
    return [pair, pair]  # control codes are sent twice: a decoder acts on one, skips the repeat


def pop_on_caption(text: str) -> list[tuple[int, int]]:
    """The CC1 byte pairs of one pop-on caption on row 15: load (RCL), clear the hidden buffer (ENM),
    row 15 (PAC), the text, clear the screen (EDM), show (EOC). Basic characters only (ASCII)."""
    pairs = _control(0x14, 0x20) + _control(0x14, 0x2E) + _control(0x14, 0x70)
    chars = text.encode("ascii")
    for i in range(0, len(chars), 2):
        second = _odd_parity(chars[i + 1]) if i + 1 < len(chars) else 0x80  # 0x80: a null with parity
        pairs.append((_odd_parity(chars[i]), second))
    return pairs + _control(0x14, 0x2C) + _control(0x14, 0x2F)


def _emulation_prevented(rbsp: bytes) -> bytes:
    out = bytearray()
    zeros = 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def a53_sei(pair: tuple[int, int] | None) -> bytes:
    """One SEI NAL (Annex B) with one frame's cc_data: a CC1 pair (field 1) or padding."""
    first, second = pair or (0x80, 0x80)
    cc_data = bytes([0x40 | 1, 0xFF, 0xFC, first, second, 0xFF])  # process_cc_data, cc_count 1; marker
    payload = b"\xb5\x00\x31GA94\x03" + cc_data  # USA, ATSC, "GA94", cc_data()
    sei = bytes([_T35_USER_DATA, len(payload)]) + payload + b"\x80"  # rbsp trailing bits
    return b"\x00\x00\x00\x01" + bytes([_SEI]) + _emulation_prevented(sei)


def with_captions(annex_b: bytes, captions: dict[int, str], first_frame: int = 0) -> bytes:
    """`annex_b` (every frame led by an access unit delimiter) with an SEI after each delimiter from
    frame `first_frame` on: caption `captions[n]` starts at frame n, padding elsewhere."""
    schedule: dict[int, tuple[int, int]] = {}
    for start, text in captions.items():
        for offset, pair in enumerate(pop_on_caption(text)):
            schedule[start + offset] = pair
    starts = [m.start() for m in re.finditer(b"\x00\x00\x01", annex_b)]
    out = bytearray()
    frame = 0
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(annex_b)
        nal = annex_b[start:end]
        if i + 1 < len(starts) and nal.endswith(b"\x00"):
            nal = nal[:-1]  # the next NAL's 4-byte start code
        out += b"\x00" + nal
        if nal[3] & 0x1F == _AUD:
            if frame >= first_frame:
                out += a53_sei(schedule.get(frame))
            frame += 1
    return bytes(out)


def caption_text(second: int) -> str:
    return f"CAPTION {second}"


def captioned_clip(
    directory: Path, seconds: int = 10, size: str = "640x360", gop_seconds: int = 2, captions_from: int = 0
) -> Path:
    """A Matroska clip (H.264 + AAC) whose CC1 shows caption_text(s) from second s on, for each s;
    before second `captions_from` the video carries no caption data at all (a captioner joining late)."""
    directory.mkdir(parents=True, exist_ok=True)
    raw, clip = directory / "picture.h264", directory / f"captioned-from-{captions_from}.mkv"
    run = [DEBIAN_FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    gop = str(gop_seconds * CLIP_RATE)
    subprocess.run(
        [*run, "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={CLIP_RATE}", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-bf", "0", "-g", gop,
         "-keyint_min", gop, "-sc_threshold", "0", "-x264-params", "aud=1", "-f", "h264", str(raw)],
        check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    captioned = directory / "captioned.h264"
    captions = {s * CLIP_RATE: caption_text(s) for s in range(captions_from, seconds)}
    captioned.write_bytes(with_captions(raw.read_bytes(), captions, first_frame=captions_from * CLIP_RATE))
    subprocess.run(
        [*run, "-framerate", str(CLIP_RATE), "-i", str(captioned), "-f", "lavfi",
         "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds), "-c:v", "copy", "-c:a", "aac",
         "-b:a", "128k", str(clip)],
        check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    return clip


def read_captions(media: Path) -> list[str]:
    """The CC1 captions in `media`'s video, in order, as Debian's FFmpeg decodes them (`subcc`:
    the h264 decoder's A53 side data into FFmpeg's 608 decoder), each as its plain text."""
    # The movie filter's argument is parsed twice (filter graph, then option): a path of plain
    # characters needs no escaping, which the tests' paths are.
    assert re.fullmatch(r"[\w/.+-]+", str(media)), media
    out = subprocess.run(
        [DEBIAN_FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi",
         "-i", f"movie={media}[out0+subcc]", "-map", "0:s", "-f", "srt", "pipe:1"],
        check=True, timeout=60, capture_output=True, text=True,
    ).stdout  # fmt: skip
    texts = []
    for block in out.strip().split("\n\n"):
        lines = block.splitlines()[2:]  # index, times, then the text
        texts.append(re.sub(r"<[^>]*>|\{[^}]*\}", "", " ".join(lines)).strip())
    return [t for t in texts if t]


class CaptionedPublisher(Publisher):
    """A Publisher pushing `clip` (captioned_clip) in a loop by stream copy, in real time."""

    def __init__(self, url: str, clip: Path, *, duration: float | None = None, **options: Any) -> None:
        super().__init__(url, duration=duration, **options)
        self.clip = clip

    def command(self) -> list[str]:
        cmd: Sequence[str] = [DEBIAN_FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-re",
                              "-stream_loop", "-1", "-i", str(self.clip), "-c", "copy"]  # fmt: skip
        if self.duration is not None:
            cmd = [*cmd, "-t", f"{self.duration:g}"]
        return [*cmd, *(["-f", self.fmt] if self.fmt else []), self.url]
