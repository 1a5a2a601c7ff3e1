"""The chart's WHEP caps (playback.webrtc.maxViewers*, OperatorSettings.playback.webrtc_max_viewers*) reach the
ingest's configuration (issue 52, finding 4), and at their defaults leave it, and the Pod's hash, as it
was before they existed (an upgrade restarts no ingest for them)."""

from __future__ import annotations

from functools import partial
from typing import Any

from devtools.catalog import stored_livestream
from streamops.contract.ingest import IngestConfig
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.shared.settings import OperatorSettings, PlaybackSettings
from streamops.kube.naming import SPEC_HASH_ANNOTATION

stream = partial(stored_livestream, uid="uid-1", generation=1)


def config(pod: dict[str, Any]) -> IngestConfig:
    return IngestConfig.model_validate_json(pod["spec"]["containers"][0]["env"][0]["value"])


def test_the_caps_reach_the_component_and_the_defaults_change_nothing():
    default = ingest_pod(stream(), "primary", OperatorSettings())
    webrtc = config(default).webrtc
    assert webrtc is not None
    assert (webrtc.whep_max_viewers, webrtc.whep_max_viewers_per_address, webrtc.whep_max_viewers_per_token) == (
        None,
        None,
        None,
    )
    assert "whepMax" not in default["spec"]["containers"][0]["env"][0]["value"]
    same = OperatorSettings(
        playback=PlaybackSettings(
            webrtc_max_viewers=500, webrtc_max_viewers_per_address=100, webrtc_max_viewers_per_token=5
        )
    )
    assert (
        ingest_pod(stream(), "primary", same)["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
        == default["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    )
    own = OperatorSettings(
        playback=PlaybackSettings(
            webrtc_max_viewers=200, webrtc_max_viewers_per_address=0, webrtc_max_viewers_per_token=2
        )
    )
    webrtc = config(ingest_pod(stream(), "primary", own)).webrtc
    assert webrtc is not None
    assert (webrtc.whep_max_viewers, webrtc.whep_max_viewers_per_address, webrtc.whep_max_viewers_per_token) == (
        200,
        0,
        2,
    )
