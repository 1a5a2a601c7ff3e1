"""readable_length: where a fragmented MP4 cut short mid-write (a full disk, a kill) must be cut back
to so that FFmpeg reads it (its media tier twin, with real FFmpeg parts, is in tests/media)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from streamops.media.fmp4 import readable_length


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def large_box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload


HEADER = box(b"ftyp", b"isom" * 4) + box(b"moov", box(b"mvhd", bytes(92)))
FRAGMENT = box(b"moof", box(b"mfhd", bytes(8)) + box(b"traf", bytes(40))) + box(b"mdat", bytes(500))
MOOF_LENGTH = 8 + 16 + 48


def length_of(tmp_path: Path, data: bytes) -> int:
    path = tmp_path / "part.mp4"
    path.write_bytes(data)
    return readable_length(path)


def test_a_whole_file_is_read_whole(tmp_path: Path):
    whole = HEADER + FRAGMENT * 3 + box(b"mfra", bytes(30))
    assert length_of(tmp_path, whole) == len(whole)


@pytest.mark.parametrize("into_moof", [1, 7, 8, 20, MOOF_LENGTH - 1, MOOF_LENGTH, MOOF_LENGTH + 4])
def test_a_cut_inside_a_moof_or_before_its_mdat_goes_back_to_the_last_whole_fragment(tmp_path: Path, into_moof: int):
    data = HEADER + FRAGMENT * 2 + FRAGMENT[:into_moof]
    assert length_of(tmp_path, data) == len(HEADER + FRAGMENT * 2)


@pytest.mark.parametrize("into_mdat", [8, 9, 300, 507])
def test_a_cut_inside_an_mdat_keeps_its_samples_up_to_the_cut(tmp_path: Path, into_mdat: int):
    data = HEADER + FRAGMENT + FRAGMENT[: MOOF_LENGTH + into_mdat]
    assert length_of(tmp_path, data) == len(data)


def test_a_cut_inside_the_header_leaves_what_was_whole(tmp_path: Path):
    assert length_of(tmp_path, HEADER[:40]) == len(box(b"ftyp", b"isom" * 4))
    assert length_of(tmp_path, b"") == 0
    assert length_of(tmp_path, HEADER[:5]) == 0


def test_64_bit_and_to_the_end_sizes_and_malformed_boxes(tmp_path: Path):
    big = HEADER + large_box(b"moof", bytes(40)) + large_box(b"mdat", bytes(100))
    assert length_of(tmp_path, big) == len(big)
    assert length_of(tmp_path, big[:-10]) == len(big) - 10  # inside the 64-bit mdat
    to_the_end = HEADER + FRAGMENT + struct.pack(">I4s", 0, b"mdat") + bytes(50)
    assert length_of(tmp_path, to_the_end) == len(to_the_end)
    malformed = HEADER + FRAGMENT + struct.pack(">I4s", 3, b"moof") + bytes(50)
    assert length_of(tmp_path, malformed) == len(HEADER + FRAGMENT)
