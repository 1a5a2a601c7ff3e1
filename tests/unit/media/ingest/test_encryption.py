"""An encrypted stream's keys (media/ingest/encryption.py): one per epoch of media sequence numbers,
random, rotated, forgotten once old, never answered for another run's id, never in a repr."""

from __future__ import annotations

import pytest
from streamops.media.ingest.encryption import KeyRing, segments_per_key


def test_one_key_per_epoch_of_segments_and_a_new_one_at_each_rotation():
    ring = KeyRing(segments_per_key=5, kept=10)
    first = [ring.for_segment(msn) for msn in range(1000, 1005)]
    assert all(k is not None and k == first[0] for k in first)
    second = ring.for_segment(1005)
    assert second is not None and first[0] is not None
    assert second.kid != first[0].kid and second.key != first[0].key and second.iv != first[0].iv
    assert len(second.key) == len(second.iv) == 16
    assert first[0].kid == f"{ring.run}-200" and second.kid == f"{ring.run}-201"


def test_keys_are_found_by_id_of_this_run_only():
    ring, other = KeyRing(3, 10), KeyRing(3, 10)
    key = ring.for_segment(30)
    assert key is not None and ring.by_id(key.kid) == key
    assert other.by_id(key.kid) is None, "another run (a restart) never answers an id it did not make"
    assert ring.by_id(f"{ring.run}-11") is None, "an epoch never made"
    for bad in ("", "x", f"{ring.run}-", f"{ring.run}--1", f"{ring.run}-1/../2", "GGGGGGGG-10", "0" * 40):
        assert ring.by_id(bad) is None, bad


def test_old_epochs_are_forgotten_and_never_made_again():
    ring = KeyRing(segments_per_key=1, kept=3)
    keys = [ring.for_segment(msn) for msn in range(10)]
    assert keys[0] is not None and ring.by_id(keys[0].kid) is None
    assert [ring.by_id(k.kid) for k in keys[-3:] if k is not None] == keys[-3:]
    assert ring.for_segment(0) is None, "a forgotten epoch: its segments are 404, no new key for them"


def test_two_runs_make_different_keys():
    a, b = KeyRing(1, 3).for_segment(1), KeyRing(1, 3).for_segment(1)
    assert a is not None and b is not None and a.key != b.key and a.kid != b.kid


def test_the_key_is_never_in_a_repr():
    key = KeyRing(1, 3).for_segment(1)
    assert key is not None
    assert key.key.hex() not in repr(key) and repr(key.key) not in repr(key) and key.iv.hex() not in repr(key)


@pytest.mark.parametrize(
    ("rotate", "segment", "per_key"), [(60, 2, 30), (10, 2, 5), (10, 1, 10), (10, 30, 1), (25, 2, 12), (3, 6, 1)]
)
def test_rotation_is_rounded_to_whole_segments(rotate: int, segment: int, per_key: int):
    assert segments_per_key(rotate, segment) == per_key


STREAM = "media/cam"
MASTER, NEXT = b"m" * 32, b"n" * 32


def test_a_signed_stream_s_keys_are_the_same_in_every_ingest_of_it():
    """A restarted ingest or a handover's successor makes the same key under the same id, and
    answers an id the other one listed before making it itself."""
    a = KeyRing(5, 10, STREAM, lambda: [MASTER], clock=lambda: 2000.0)
    b = KeyRing(5, 10, STREAM, lambda: [MASTER], clock=lambda: 2000.0)
    key = a.for_segment(1500)
    assert key is not None and b.by_id(key.kid) == key, "derived on request: the successor has not listed it yet"
    assert b.for_segment(1501) == key
    other_stream = KeyRing(5, 10, "media/other", lambda: [MASTER]).for_segment(1500)
    assert other_stream is not None and other_stream.key != key.key and other_stream.iv != key.iv
    random = KeyRing(5, 10).for_segment(1500)
    assert random is not None and random.key != key.key and random.kid != key.kid


def test_derived_keys_follow_the_signing_key_s_rotation_and_never_run_ahead_of_the_clock():
    masters = [MASTER]
    ring = KeyRing(1, 10, STREAM, lambda: masters, clock=lambda: 100.0)
    old = ring.for_segment(90)
    masters[:] = [NEXT, MASTER]  # rotated: current is new, previous still mounted
    new = ring.for_segment(91)
    assert old is not None and new is not None and old.kid.split("-")[0] != new.kid.split("-")[0]
    assert ring.by_id(old.kid) == old and ring.by_id(new.kid) == new
    fresh = KeyRing(1, 10, STREAM, lambda: masters, clock=lambda: 100.0)
    assert fresh.by_id(old.kid) == old, "the previous key still derives its epochs"
    future = f"{new.kid.split('-')[0]}-102"
    assert fresh.by_id(future) is None, "no key for an epoch the clock has not reached"
    masters[:] = [NEXT]
    assert KeyRing(1, 10, STREAM, lambda: masters, clock=lambda: 100.0).by_id(old.kid) is None
