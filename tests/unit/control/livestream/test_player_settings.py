"""spec.playback.projection to the running ingests (control/livestream/player_settings.py), pure: the
projection read from the stored object and which ingests are due a POST /player-settings. The sender
against a stand-in ingest: test_overlay_switching.py; the real ingest's route:
tests/unit/media/ingest/test_worker.py; through the operator: tests/cluster/test_projection.py; in
Chromium: tests/browser/test_player_projection.py."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from streamops.api.livestream import LiveStreamSpec
from streamops.contract.ingest import IngestStatus, PlayerSettings
from streamops.control.livestream.player_settings import settings_due, spec_projection


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


def report(projection: str | None) -> IngestStatus:
    return IngestStatus(projection=projection)  # type: ignore[arg-type]


def test_a_post_is_due_where_the_page_shows_another_projection():
    telemetry = {"primary": report("regular"), "backup": report("vr360")}
    assert settings_due("vr360", telemetry) == {"primary": PlayerSettings(projection="vr360")}
    assert settings_due("regular", telemetry) == {"backup": PlayerSettings(projection="regular")}
    assert settings_due("vr180", {}) == {}, "no ingest reporting: nothing to send"
    # A worker older than the setting reports none: it has no route for it (and shows regular).
    assert settings_due("vr360", {"primary": report(None)}) == {}
