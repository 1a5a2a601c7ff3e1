"""The handover state a successor reads from its predecessor (contract/ingest.py HandoverState):
bounded, versioned, unknown fields and other versions refused, numbers that go on one by one, URIs
and dates that cannot smuggle a line into a served playlist. Fuzzed: any JSON either parses into
such a state or is refused with a ValidationError, never anything else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from streamops.contract.ingest import (
    HANDOVER_PLAYLISTS_MAX,
    HANDOVER_SEGMENTS_MAX,
    HandoverPlaylist,
    HandoverState,
)


def segment(number: int, **fields: object) -> dict[str, object]:
    return {"number": number, "duration": 1.0, "uri": f"seg-{number}.ts", "discontinuitySequence": 0, **fields}


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
    ],
)
def test_what_a_successor_must_not_mirror_is_refused(bad):
    with pytest.raises(ValidationError):
        HandoverState.model_validate_json(json.dumps(bad))


def test_bounds():
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
    st.sampled_from(["version", "playlists", "multivariant", "live", "release", "dash"]),
    json_values,
)


@given(near_states | json_values)
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
