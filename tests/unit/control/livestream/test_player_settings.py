"""spec.playback.projection and the stream's Broadcasts to the running ingests
(control/livestream/player_settings.py), pure: the projection read from the stored object, the
broadcasts as its pages show them, and which ingests are due a POST /player-settings. The sender
against a stand-in ingest: test_overlay_switching.py; the real ingest's route:
tests/unit/media/ingest/test_worker.py; through the operator: tests/cluster/test_projection.py; in
Chromium: tests/browser/test_player_projection.py."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from streamops.api.livestream import LiveStreamSpec
from streamops.contract.ingest import BroadcastMemberView, BroadcastView, IngestStatus, PlayerSettings
from streamops.control.livestream.player_settings import broadcast_views, settings_due, spec_projection
from streamops.control.runtime.indexes import BroadcastFacts, StreamFacts


def test_the_projection_is_read_from_the_stored_spec():
    assert spec_projection({}) == "regular"
    assert spec_projection({"playback": {"access": "signed"}}) == "regular"
    for projection in ("regular", "vr360", "vr180", "vr360tb"):
        assert spec_projection({"playback": {"projection": projection}}) == projection
    assert spec_projection({"playback": {"projection": "vr720"}}) == "regular", "not one the API takes"
    assert spec_projection({"playback": "nonsense"}) == "regular"


def test_the_api_takes_the_four_projections_and_defaults_to_regular():
    source = {"source": {"push": {"protocols": ["rtmp"]}}}
    assert LiveStreamSpec.model_validate(source).playback.projection == "regular"
    spec = LiveStreamSpec.model_validate(source | {"playback": {"projection": "vr360tb"}})
    assert spec.playback.projection == "vr360tb"
    with pytest.raises(ValidationError, match="projection"):
        LiveStreamSpec.model_validate(source | {"playback": {"projection": "360"}})
    with pytest.raises(ValidationError):
        PlayerSettings.model_validate({"projection": "vr360", "zoom": 2})  # the worker refuses what it does not know


def report(projection: str | None, digest: str | None = None) -> IngestStatus:
    return IngestStatus(projection=projection, player_settings=digest)  # type: ignore[arg-type]


def test_a_post_is_due_where_the_page_shows_other_settings():
    vr360, regular = PlayerSettings(projection="vr360"), PlayerSettings()
    telemetry = {"primary": report("regular", regular.digest()), "backup": report("vr360", vr360.digest())}
    assert settings_due(vr360, telemetry) == {"primary": vr360}
    assert settings_due(regular, telemetry) == {"backup": regular}
    assert settings_due(PlayerSettings(projection="vr180"), {}) == {}, "no ingest reporting: nothing to send"
    # A broadcast added: the same projection, other settings.
    with_broadcast = PlayerSettings(projection="vr360", broadcasts=[BroadcastView(name="keynote")])
    assert settings_due(with_broadcast, telemetry) == {"primary": with_broadcast, "backup": with_broadcast}
    # A worker older than broadcasts reports no digest: the projection alone, when it differs.
    assert settings_due(with_broadcast, {"primary": report("regular")}) == {"primary": vr360}
    assert settings_due(with_broadcast, {"primary": report("vr360")}) == {}
    assert "broadcasts" not in json.loads(vr360.to_json()), "what an older worker takes"
    # A worker older than the projection reports neither: it has no route for it (and shows regular).
    assert settings_due(vr360, {"primary": report(None)}) == {}


def facts(player: str | None = None, hls: str | None = None, signed: bool = False) -> StreamFacts:
    return StreamFacts(uid="u", live=False, backup_live=False, player_url=player, hls_url=hls, signed=signed)


def test_a_broadcast_is_shown_with_each_stream_s_playback_base_and_playlist():
    base = "https://watch.example/streams/ns/main"
    streams = {
        "main": facts(f"{base}/player", f"{base}/hls/cmaf/index.m3u8", signed=True),
        "backup": facts(),  # no playback URL yet
    }
    keynote = BroadcastFacts("keynote", "Keynote", "Soon", "Live", "main", ("main", "backup", "gone"))
    views = broadcast_views([keynote], streams.get)
    assert views == [
        BroadcastView(
            name="keynote", title="Keynote", phase="Live", on_air="main", message="Soon",
            members=[
                BroadcastMemberView(name="main", base=base, hls="hls/cmaf/index.m3u8", signed=True),
                BroadcastMemberView(name="backup"),
                BroadcastMemberView(name="gone"),
            ],
        )
    ]  # fmt: skip
    assert broadcast_views([], streams.get) is None, "no broadcast: the settings as before broadcasts"
    odd = BroadcastFacts("b", "", "", "Sideways", None, ("main",))
    assert broadcast_views([odd], streams.get)[0].phase == "Pending"  # type: ignore[index]
    many = [BroadcastFacts(f"b{i:02d}", "", "", "Pending", None, ("main",)) for i in range(12, 0, -1)]
    assert [v.name for v in broadcast_views(many, streams.get) or []] == [f"b{i:02d}" for i in range(1, 9)]
