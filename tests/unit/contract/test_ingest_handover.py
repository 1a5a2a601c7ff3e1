"""The handover state a successor reads from its predecessor (contract/ingest.py HandoverState):
bounded, versioned, unknown fields and other versions refused, numbers that go on one by one, URIs
and dates that cannot smuggle a line into a served playlist, content keys of 16 bytes in order,
apart, one per id. Fuzzed: any JSON (and any key ring near a valid one) either parses into such a
state or is refused with a ValidationError, never anything else."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from streamops.contract.ingest import (
    HANDOVER_KEYS_MAX,
    HANDOVER_PLAYLISTS_MAX,
    HANDOVER_SEGMENTS_MAX,
    HandoverPlaylist,
    HandoverState,
)


def segment(number: int, **fields: object) -> dict[str, object]:
    return {"number": number, "duration": 1.0, "uri": f"seg-{number}.ts", "discontinuitySequence": 0, **fields}


def key(first: int, **fields: object) -> dict[str, object]:
    return {"kid": f"0a1b2c3d-{first // 10}", "key": "ab" * 16, "iv": "cd" * 16, "firstSegment": first,
            "segments": 10, **fields}  # fmt: skip


def state(**fields: object) -> dict[str, object]:
    playlist = {"variant": "ts", "segments": [segment(7), segment(8)], "nextNumber": 9}
    return {"version": 1, "playlists": [playlist], **fields}


def test_a_state_round_trips_through_its_json():
    parsed = HandoverState.model_validate(state(release="released", live=True))
    assert HandoverState.model_validate_json(parsed.to_json()) == parsed
    assert [s.number for s in parsed.playlists[0].segments] == [7, 8]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(state(version=2), id="another version"),
        pytest.param({k: v for k, v in state().items() if k != "version"} | {"extra": 1}, id="an unknown field"),
        pytest.param(state(playlists=[{"variant": "ts", "segments": [segment(7), segment(9)]}]), id="a gap"),
        pytest.param(state(playlists=[{"variant": "ts", "segments": [segment(7)], "nextNumber": 7}]), id="next behind"),
        pytest.param(state(playlists=[{"variant": "ts", "segments": [segment(7, uri="../x.ts")]}]), id="a path"),
        pytest.param(state(playlists=[{"variant": "ts", "segments": [segment(7, uri="seg-7.ts\n#X")]}]), id="a line"),
        pytest.param(
            state(playlists=[{"variant": "cmaf", "segments": [segment(7, programDateTime="2026\n#EXT-X-ENDLIST")]}]),
            id="a line in a date",
        ),
        pytest.param(state(playlists=[{"variant": "dash"}]), id="an unknown variant"),
        pytest.param(state(playlists=[{"variant": "ts", "rendition": "../720p"}]), id="a rendition path"),
        pytest.param(state(release="gone"), id="an unknown release phase"),
        pytest.param(state(keys=[key(0, kid="0A1B2C3D-0")]), id="a key id in capitals"),
        pytest.param(state(keys=[key(0, kid="0a1b2c3d-0/../1")]), id="a path in a key id"),
        pytest.param(state(keys=[key(0, kid="0a1b2c3d-" + "9" * 20)]), id="an epoch of 20 digits"),
        pytest.param(state(keys=[key(0, key="ab" * 15)]), id="a short key"),
        pytest.param(state(keys=[key(0, key="ab" * 17)]), id="a long key"),
        pytest.param(state(keys=[key(0, iv="zz" * 16)]), id="an IV not hex"),
        pytest.param(state(keys=[key(0, key="AB" * 16)]), id="a key in capitals"),
        pytest.param(state(keys=[key(0, key="ab" * 16 + "\n")]), id="a line after a key"),
        pytest.param(state(keys=[key(0, segments=0)]), id="a key of no segment"),
        pytest.param(state(keys=[key(0, segments=86401)]), id="a key of too many segments"),
        pytest.param(state(keys=[key(-10)]), id="a negative segment"),
        pytest.param(state(keys=[key(10), key(0)]), id="keys out of order"),
        pytest.param(state(keys=[key(0), key(5)]), id="keys that overlap"),
        pytest.param(state(keys=[key(0), key(10, kid="0a1b2c3d-0", key="ef" * 16)]), id="one id, two keys"),
        pytest.param(state(keys=[key(0, extra=1)]), id="an unknown field in a key"),
        pytest.param(state(keys={"kid": "0a1b2c3d-0"}), id="keys not a list"),
    ],
)
def test_what_a_successor_must_not_mirror_is_refused(bad):
    with pytest.raises(ValidationError):
        HandoverState.model_validate_json(json.dumps(bad))


def test_a_key_ring_round_trips_and_its_keys_are_never_in_a_repr():
    parsed = HandoverState.model_validate(state(keys=[key(0), key(10, kid="0a1b2c3d-0"), key(30)]))
    assert HandoverState.model_validate_json(parsed.to_json()) == parsed
    assert parsed.keys is not None and [k.first_segment for k in parsed.keys] == [0, 10, 30]
    assert "ab" * 16 not in repr(parsed) and "cd" * 16 not in str(parsed)
    assert "keys" not in HandoverState.model_validate(state()).to_json(), "a clear stream's state is as it was"


def test_bounds():
    with pytest.raises(ValidationError):
        HandoverState.model_validate(state(keys=[key(10 * n) for n in range(HANDOVER_KEYS_MAX + 1)]))
    assert HandoverState.model_validate(state(keys=[key(10 * n) for n in range(HANDOVER_KEYS_MAX)])).keys
    many = [{"variant": "ts"}] * (HANDOVER_PLAYLISTS_MAX + 1)
    with pytest.raises(ValidationError):
        HandoverState.model_validate({"playlists": many})
    with pytest.raises(ValidationError):
        HandoverPlaylist.model_validate(
            {"variant": "ts", "segments": [segment(n) for n in range(HANDOVER_SEGMENTS_MAX + 1)]}
        )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
near_states = st.builds(
    lambda base, key, value: {**base, key: value},
    st.just(state()),
    st.sampled_from(["version", "playlists", "multivariant", "live", "release", "dash", "keys"]),
    json_values,
)

# Key rings near valid ones: each key with one field swapped for any JSON value or a near-miss.
near_keys = st.builds(
    lambda first, field, value: {**key(first), field: value} if field else key(first),
    st.integers(min_value=-5, max_value=60),
    st.sampled_from([None, "kid", "key", "iv", "firstSegment", "segments"]),
    json_values | st.sampled_from(["ab" * 16, "AB" * 16, "ab" * 16 + "0", "0a1b2c3d-1", "0a1b2c3d-01", 1, 0]),
)
near_key_rings = st.builds(lambda keys: state(keys=keys), st.lists(near_keys, max_size=6))


@given(near_states | near_key_rings | json_values)
def test_any_json_parses_into_a_valid_state_or_is_refused(document):
    try:
        parsed = HandoverState.model_validate_json(json.dumps(document))
    except ValidationError:
        return
    assert parsed.version == 1
    for playlist in parsed.playlists:
        numbers = [s.number for s in playlist.segments]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))) if numbers else True
        assert all("\n" not in s.uri and "/" not in s.uri for s in playlist.segments)
    ends = [(k.first_segment, k.first_segment + k.segments) for k in parsed.keys or ()]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ends))
    assert all(len(bytes.fromhex(k.key)) == len(bytes.fromhex(k.iv)) == 16 for k in parsed.keys or ())
