"""An encrypted stream's keys (media/ingest/encryption.py): one per epoch of media sequence numbers,
random, rotated, forgotten once old, never answered for another run's id, never in a repr; a
handover's successor takes its predecessor's (the same key for every segment listed, the current
one to the end of its rotation, its own apart after), bounded, and leaves out any that would
change what it listed."""

from __future__ import annotations

import pytest
from streamops.media.ingest.encryption import ContentKey, KeyRing, KeySpan, segments_per_key


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


# --- a handover: the successor takes the predecessor's keys (docs/design/protection.md) ---


def handed_over(before: KeyRing, after: KeyRing) -> int:
    """What handover.py does across the wire (the spans as they are): the keys left out."""
    return after.adopt(before.spans())


def test_a_successor_serves_the_predecessor_s_segments_under_its_keys_and_makes_its_own_apart():
    before, after = KeyRing(5, 10, clock=lambda: 2000.0), KeyRing(5, 10, clock=lambda: 2000.0)
    before.cover(1000, 1012)  # the window listed: epochs 200..202, the last one current
    listed = {msn: before.for_segment(msn) for msn in range(1000, 1013)}
    assert handed_over(before, after) == 0
    assert all(after.for_segment(msn) == key for msn, key in listed.items())
    assert all(after.by_id(key.kid) == key for key in listed.values() if key is not None)
    # The current key goes on for the rest of its rotation; the next one is the successor's own.
    assert after.for_segment(1014) == listed[1012]
    new = after.for_segment(1015)
    assert new is not None and new.kid == f"{after.run}-203" and new.kid not in {k.kid for k in listed.values() if k}
    assert before.by_id(new.kid) is None, "a new key's id is the successor's: never one the predecessor made"
    assert handed_over(before, after) == 0 and after.spans()[-1].key == new, "the next poll: nothing changes"


def test_a_chain_of_handovers_and_a_changed_rotation_keep_every_listed_key():
    a = KeyRing(5, 10, clock=lambda: 2000.0)
    a.cover(1000, 1009)
    b = KeyRing(3, 20, clock=lambda: 2000.0)  # rotateSeconds changed with the handover
    handed_over(a, b)
    b.cover(1010, 1012)
    c = KeyRing(7, 20, clock=lambda: 2000.0)
    handed_over(b, c)
    for msn in range(1000, 1013):
        assert c.for_segment(msn) == (a if msn < 1010 else b).for_segment(msn), msn
    assert c.for_segment(1013) is not None and c.for_segment(1013) == b.for_segment(1013), "b's epoch 337 goes on"


def test_a_predecessor_s_longer_rotation_is_kept_whole_while_its_segments_are_listed():
    """Rotated every 30 segments before, every 2 after (a window of 17 + 2 kept: 12 keys of 2): the
    predecessor's current key reaches 29 segments past what it listed, which is no reason to forget
    the keys of what is listed."""
    before, after = KeyRing(30, 4, clock=lambda: 2000.0), KeyRing(2, 12, clock=lambda: 2000.0)
    before.cover(1184, 1200)  # epoch 39 (1170..1199) and the first segment of epoch 40 (1200..1229)
    after.adopt(before.spans())
    for msn in range(1184, 1201):
        assert after.for_segment(msn) == before.for_segment(msn), msn
    assert after.for_segment(1229) == before.for_segment(1200)
    new = after.for_segment(1230)
    assert new is not None and new.kid == f"{after.run}-615"


def test_what_a_successor_takes_is_bounded_and_forgotten_like_its_own():
    before = KeyRing(1, 5, clock=lambda: 2000.0)
    before.cover(1000, 1099)
    assert len(before.spans()) == 5, "the predecessor hands over what it keeps, no more"
    after = KeyRing(1, 3, clock=lambda: 2000.0)
    handed_over(before, after)
    assert [s.first for s in after.spans()] == [1097, 1098, 1099]
    assert after.for_segment(1096) is None, "older than what it keeps: forgotten, never made"


def test_keys_that_would_change_what_the_successor_listed_are_left_out():
    after = KeyRing(5, 10, clock=lambda: 2000.0)
    own = after.for_segment(1000)
    assert own is not None
    other = ContentKey("0badc0de-200", b"k" * 16, b"i" * 16)
    spans = [
        KeySpan(1003, 1008, other),  # overlaps a key this ring listed
        KeySpan(1010, 1010, other),  # empty
        KeySpan(1010, 1015, ContentKey(own.kid, b"x" * 16, b"y" * 16)),  # its id, another key
        KeySpan(1010, 1015, ContentKey("0badc0de-202", b"k" * 15, b"i" * 16)),  # a short key
        KeySpan(2000 + 86400 + 1, 2000 + 86402, other),  # a day past the clock
    ]
    assert after.adopt(spans) == len(spans)
    assert after.spans() == [s for s in after.spans() if s.key == own] and after.for_segment(1004) == own
    assert after.by_id("0badc0de-200") is None
