"""The RTMP gate's inspector: forwards as it goes, holds only key-carrying commands, refuses a
wrong key, masks the right one in place (same length, so chunk headers stay valid)."""

from __future__ import annotations

import os
import struct

import pytest
from streamops.media.ingest.rtmp_gate import HANDSHAKE_BYTES, PublishInspector, Verdict, stream_name

KEY = b"live-key-0123456789"


def amf_string(s: bytes) -> bytes:
    return b"\x02" + struct.pack(">H", len(s)) + s


def amf_number(n: float) -> bytes:
    return b"\x00" + struct.pack(">d", n)


def command(name: bytes, txn: float, *args: bytes) -> bytes:
    return amf_string(name) + amf_number(txn) + b"\x05" + b"".join(args)


def message(csid: int, type_id: int, payload: bytes, chunk_size: int = 128, stream_id: int = 0) -> bytes:
    header = bytes([csid]) + b"\x00\x00\x00" + len(payload).to_bytes(3, "big") + bytes([type_id])
    out = header + struct.pack("<I", stream_id) + payload[:chunk_size]
    for i in range(chunk_size, len(payload), chunk_size):
        out += bytes([0xC0 | csid]) + payload[i : i + chunk_size]  # fmt 3 continuation
    return out


def session(key: bytes, chunk_size: int = 128, amf3: bool = False) -> tuple[bytes, bytes]:
    handshake = b"\x03" + os.urandom(HANDSHAKE_BYTES - 1)
    set_chunk = message(2, 1, struct.pack(">I", chunk_size))
    connect = message(3, 20, command(b"connect", 1, b"\x03\x00\x00\x09"), chunk_size)
    prefix = b"\x00" if amf3 else b""
    publish = message(
        8, 17 if amf3 else 20, prefix + command(b"publish", 5, amf_string(key), amf_string(b"live")), chunk_size
    )
    return handshake + set_chunk + connect, publish


def key_matches(name: bytes) -> bool:
    return name == KEY


def test_connect_passes_before_publish_arrives():
    inspector = PublishInspector(key_matches)
    head, _ = session(KEY)
    out, verdict = inspector.feed(head)
    assert out == head and verdict is Verdict.PENDING


@pytest.mark.parametrize("amf3", [False, True])
def test_right_key_is_masked_in_place(amf3):
    inspector = PublishInspector(key_matches)
    head, publish = session(KEY, amf3=amf3)
    media = os.urandom(5000)
    out = b""
    for i in range(0, len(head + publish + media), 7):  # byte dribbles: parsing survives any split
        piece, verdict = inspector.feed((head + publish + media)[i : i + 7])
        out += piece
    assert verdict is Verdict.PUBLISH
    assert len(out) == len(head + publish + media)
    assert KEY not in out and b"*" * len(KEY) in out
    assert out.endswith(media)


def test_key_split_across_chunks_is_masked():
    long_key = b"k" * 40 + b"-" + b"z" * 120
    inspector = PublishInspector(lambda n: n == long_key)
    head, publish = session(long_key, chunk_size=128)
    out, verdict = inspector.feed(head + publish)
    assert verdict is Verdict.PUBLISH
    assert b"k" * 40 not in out and b"z" * 60 not in out
    assert len(out) == len(head + publish)


def test_wrong_key_is_refused_and_not_forwarded():
    inspector = PublishInspector(key_matches)
    head, publish = session(b"guess")
    inspector.feed(head)
    rest, verdict = inspector.feed(publish)
    assert verdict is Verdict.REFUSE and rest == b""
    assert inspector.feed(b"more")[0] == b""


def test_key_query_is_ignored_for_matching():
    inspector = PublishInspector(key_matches)
    head, publish = session(KEY + b"?token=abc")
    _, verdict = inspector.feed(head + publish)
    assert verdict is Verdict.PUBLISH


def test_stream_name_of_other_commands_is_none():
    assert stream_name(command(b"connect", 1, b"\x05")) is None
    assert stream_name(command(b"FCPublish", 3, amf_string(b"abc")))[1] == b"abc"
