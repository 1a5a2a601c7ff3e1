"""SRT and RTSP for readers (components/readers, docs/design/readers.md) on a real ingest worker with a
real publisher: readers nobody here wrote (Debian's ffprobe and ffmpeg, srt-live-transmit) read a
signed stream over SRT (the token in the stream id, or its signature as passphrase) and RTSP (Digest
credentials, ?token=) and get video and audio of the right codecs and size; a missing or wrong token
is refused and counted by reason; viewer counts go up and down; no token reaches the worker's log."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from devtools.media.peers import Publisher
from devtools.media.playback_keys import write_playback_keys
from devtools.ports import free_port
from devtools.processes import stop_tree
from devtools.waits import wait_for
from streamops.contract.playback_token import sign

NAMESPACE = "media"
STREAM = f"{NAMESPACE}/cam"  # the Ingest harness names its stream "cam"
FFPROBE = shutil.which("ffprobe") or "ffprobe"  # Debian's, with libsrt: a reader nobody here wrote
FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
NULL_OUT = ("-c", "copy", "-f", "null", "-")


def probe(url: str, *extra: str) -> dict[str, Any] | None:
    """ffprobe's streams at `url`, None when it is refused or reads nothing."""
    argv = [FFPROBE, "-v", "error", "-analyzeduration", "1000000", *extra]
    argv += ["-show_entries", "stream=codec_name,width,height", "-of", "json", url]
    done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def streams(found: dict[str, Any] | None) -> list[tuple[str, int | None, int | None]]:
    assert found is not None, "the reader was refused or read nothing"
    return [(s["codec_name"], s.get("width"), s.get("height")) for s in found["streams"]]


AV = [("h264", 640, 360), ("aac", None, None)]


def metric(ingest: Any, name: str, **labels: str) -> float:
    from devtools.http_client import http_get

    total = 0.0
    for line in http_get(ingest.control + "/metrics")[1].decode().splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def readers_ingest(ingest_factory: Any, tmp_path: Path) -> tuple[Any, bytes]:
    key = os.urandom(32)
    keys = write_playback_keys(tmp_path / "keys" / "playback-keys", key, None)
    ports = {
        "rtmp": free_port("tcp"),
        "srt": free_port("udp"),
        "http": free_port("tcp"),
        "internal": free_port("tcp"),
        "srtRead": free_port("udp"),
        "rtsp": free_port("tcp"),
    }
    ingest = ingest_factory(
        ports=ports,
        playback={"namespace": NAMESPACE, "access": "signed", "keysDir": str(keys)},
        readers={"srt": True, "rtsp": True},
    )
    return ingest, key


def test_readers_read_a_signed_stream_over_srt_and_rtsp(readers_ingest):
    ingest, key = readers_ingest
    srt = f"srt://127.0.0.1:{ingest.ports['srtRead']}?mode=caller"
    rtsp = f"127.0.0.1:{ingest.ports['rtsp']}/live"
    token = sign(key, STREAM, int(time.time()) + 600)
    public, signature = token.rsplit("~", 1)
    with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1):
        ingest.wait_live()
        # The token in the stream id; its public part as stream id with the signature as passphrase.
        assert streams(wait_for(lambda: probe(f"{srt}&streamid={token}"), timeout=20, what="an SRT read")) == AV
        assert streams(probe(f"{srt}&streamid={public}&passphrase={signature}&pbkeylen=16")) == AV
        # RTSP: Digest (user: the public part, password: the signature), and ?token=.
        assert streams(probe(f"rtsp://{public}:{signature}@{rtsp}", "-rtsp_transport", "tcp")) == AV
        assert streams(probe(f"rtsp://{rtsp}?token={token}")) == AV  # FFmpeg falls back from UDP to TCP

        # Refused: no token, another stream's, a wrong signature; counted by reason.
        other = sign(key, f"{NAMESPACE}/other", int(time.time()) + 600)
        assert probe(srt) is None
        assert probe(f"{srt}&streamid={other}") is None
        assert probe(f"{srt}&streamid={public}&passphrase={'x' * 43}") is None
        assert probe(f"rtsp://{rtsp}", "-rtsp_transport", "tcp") is None
        assert probe(f"rtsp://{public}:{'x' * 43}@{rtsp}", "-rtsp_transport", "tcp") is None
        wait_for(
            lambda: (
                metric(ingest, "streamops_ingest_reader_refusals_total", protocol="srt", reason="missing") >= 1
                and metric(ingest, "streamops_ingest_reader_refusals_total", protocol="rtsp", reason="invalid") >= 1
            ),
            timeout=10,
            what="the refusals counted",
        )

        # Viewers: one SRT caller and one RTSP session while they read, none after.
        readers = [
            subprocess.Popen(
                [FFMPEG, "-v", "error", "-i", f"{srt}&streamid={token}", *NULL_OUT],
                stdin=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # a reader joining an RTSP stream between keyframes says so
                start_new_session=True,
            ),
            subprocess.Popen(
                [FFMPEG, "-v", "error", "-rtsp_transport", "tcp", "-i", f"rtsp://{rtsp}?token={token}", *NULL_OUT],
                stdin=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # a reader joining an RTSP stream between keyframes says so
                start_new_session=True,
            ),
        ]
        try:
            counts = wait_for(
                lambda: (c := ingest.status()["viewers"]["counts"])["srt"] == 1 and c["rtsp"] == 1 and c,
                timeout=20,
                what="an SRT and an RTSP viewer",
            )
            assert counts["hls"] == 0
            assert metric(ingest, "streamops_viewers", protocol="srt") == 1
        finally:
            for reader in readers:
                stop_tree(reader, timeout=5)
        wait_for(
            lambda: (c := ingest.status()["viewers"]["counts"])["srt"] == 0 and c["rtsp"] == 0,
            timeout=20,
            what="the viewers gone",
        )

        if transmit := shutil.which("srt-live-transmit"):
            # libsrt's own caller, to stdout: MPEG-TS packets (sync byte 0x47 every 188 bytes) arrive.
            argv = [transmit, "-q", f"{srt}&streamid={token}", "file://con"]
            tool = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True)
            try:
                assert tool.stdout is not None
                data = tool.stdout.read(188 * 200)  # returns once that much came, or at its end
            finally:
                stop_tree(tool, timeout=5)
            assert len(data) == 188 * 200, len(data)
            start = data.index(b"\x47")
            assert all(data[start + i * 188] == 0x47 for i in range(100))
    assert token not in ingest.logs() and signature not in ingest.logs()


def write_rules(path: Path, rules: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(rules))
    tmp.replace(path)  # a new inode, as kubelet's symlink swap gives


def test_readers_are_behind_the_stream_s_playback_rules(ingest_factory: Any, tmp_path: Path) -> None:
    """The readers' component asks the worker's rules about each caller's address before its token: a
    denied address reads nothing over SRT or RTSP (counted by the rule's reason), an edit of the rules
    file reaches the live worker, and a referrer rule (a browser's fact) does not apply to readers."""
    rules = tmp_path / "rules" / "rules.json"
    rules.parent.mkdir()
    write_rules(rules, {"deniedCIDRs": ["127.0.0.0/8"]})
    ports = {"rtmp": free_port("tcp"), "srt": free_port("udp"), "http": free_port("tcp")}
    ports |= {"internal": free_port("tcp"), "srtRead": free_port("udp"), "rtsp": free_port("tcp")}
    ingest = ingest_factory(
        ports=ports, playback={"namespace": NAMESPACE, "rulesFile": str(rules)}, readers={"srt": True, "rtsp": True}
    )
    srt = f"srt://127.0.0.1:{ingest.ports['srtRead']}?mode=caller"
    rtsp = f"rtsp://127.0.0.1:{ingest.ports['rtsp']}/live"
    with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1):
        ingest.wait_live()
        assert probe(srt) is None
        assert probe(rtsp, "-rtsp_transport", "tcp") is None
        wait_for(
            lambda: (
                metric(ingest, "streamops_ingest_reader_refusals_total", protocol="srt", reason="address") >= 1
                and metric(ingest, "streamops_ingest_reader_refusals_total", protocol="rtsp", reason="address") >= 1
            ),
            timeout=10,
            what="the refusals counted by the rule",
        )
        write_rules(
            rules, {"allowedCIDRs": ["127.0.0.0/8"], "allowedReferrers": ["example.com"], "allowNoReferrer": False}
        )
        assert streams(wait_for(lambda: probe(srt), timeout=20, what="the edit read by the live worker")) == AV
        assert streams(probe(rtsp, "-rtsp_transport", "tcp")) == AV
