"""HTML overlays without running anything: the API's rules, the ingest's FFmpeg argv, the renderer's
configuration, the Pod's sidecar and the status mapping (tests/media/test_overlays.py runs them)."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from devtools.catalog import stored_livestream
from pydantic import ValidationError
from streamops.api import LIVESTREAM
from streamops.api.crd import crd_manifest
from streamops.contract.ingest import IngestConfig, IngestStatus
from streamops.contract.overlay import OverlayRendererConfig, OverlayReport, OverlaySwitch, box_pixels
from streamops.control.livestream.overlays import overlay_switch
from streamops.control.livestream.specs.overlay_sidecar import overlay_renderer_config
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.specs.worker_config import ingest_worker_config
from streamops.control.livestream.status import (
    EndpointObservation,
    IngestObservation,
    PodObservation,
    livestream_events,
    livestream_status,
)
from streamops.control.shared.settings import OperatorSettings, WorkerSettings
from streamops.media.ingest.commands import session_command
from streamops.media.overlay.png import transparent_png
from streamops.media.overlay.renderer import allowed_hosts, shown_url

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
LADDER = {
    "renditions": [
        {"name": "720p", "height": 720, "videoBitrateKbps": 2500},
        {"name": "360p", "height": 360, "videoBitrateKbps": 800},
    ]
}
SCORE = {
    "name": "score",
    "url": "https://widgets.example.com/score?token=t0k3n",
    "left": 5,
    "top": 5,
    "width": 40,
    "height": 20,
}
LOGO = {
    "name": "logo",
    "url": "http://logo.example.org/",
    "left": 80,
    "top": 0,
    "width": 20,
    "height": 10,
    "zIndex": -1,
    "allowedHosts": ["cdn.example.org"],
}


stream = stored_livestream


# --- the API ------------------------------------------------------------------------------------------


def test_overlays_need_renditions_and_a_box_inside_the_frame():
    stream(transcoding=LADDER, overlays=[SCORE, LOGO])
    with pytest.raises(ValidationError, match="overlays need at least one transcoding rendition"):
        stream(overlays=[SCORE])
    with pytest.raises(ValidationError, match="left \\+ width must be at most 100"):
        stream(transcoding=LADDER, overlays=[{**SCORE, "left": 70}])
    with pytest.raises(ValidationError, match="top \\+ height must be at most 100"):
        stream(transcoding=LADDER, overlays=[{**SCORE, "top": 90}])
    with pytest.raises(ValidationError, match="credentials"):
        stream(transcoding=LADDER, overlays=[{**SCORE, "url": "https://user:pw@widgets.example.com/"}])
    with pytest.raises(ValidationError, match="http://, https://"):
        stream(transcoding=LADDER, overlays=[{**SCORE, "url": "file:///etc/passwd"}])


def test_the_crd_carries_the_same_rules_for_the_api_server():
    schema = crd_manifest(LIVESTREAM)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert any("self.overlays" in r["rule"] for r in schema["x-kubernetes-validations"])
    overlays = schema["properties"]["overlays"]
    assert overlays["maxItems"] == 8 and overlays["x-kubernetes-list-map-keys"] == ["name"]
    item = overlays["items"]
    assert {r["rule"] for r in item["x-kubernetes-validations"]} == {
        "self.left + self.width <= 100.0",
        "self.top + self.height <= 100.0",
    }
    url_rules = " ".join(r["rule"] for r in item["properties"]["url"]["x-kubernetes-validations"])
    assert "https?" in url_rules or "http|https" in url_rules
    assert "@" in url_rules, "no credentials in the URL"
    assert item["properties"]["allowedHosts"]["items"]["maxLength"] == 253


# --- the ingest's FFmpeg --------------------------------------------------------------------------------


def test_overlays_are_composited_before_the_split_in_zindex_order_never_into_the_copy():
    config = ingest_worker_config(stream(transcoding=LADDER, overlays=[SCORE, LOGO]), "primary")
    assert [o.name for o in config.overlays or []] == ["logo", "score"], "bottom (lowest zIndex) first"
    argv = session_command(config, "rtmp://127.0.0.1:1935/live/feed", {"listen": 1}, Path("/media/s"))
    graph = argv[argv.index("-filter_complex") + 1]
    inputs = [argv[i + 1] for i, a in enumerate(argv) if a == "-i"]
    assert inputs[0].startswith("rtmp://") and sorted(inputs[1:]) == [
        "/var/lib/streamops-overlays/logo.png",
        "/var/lib/streamops-overlays/score.png",
    ]
    for png in inputs[1:]:
        before = argv[: argv.index(png)][-9:]
        assert before[:6] == ["-f", "image2", "-framerate", "10", "-loop", "1"], before
    # Each overlay: scaled to a fraction of the source (5.1's scale2ref: iw/ih are the source's), laid on
    # it, the logo under the score; then one split into the two renditions.
    chain = graph.split(";")
    assert "scale2ref=h=ih*0.1:w=iw*0.2" in chain[0]
    assert "overlay=eof_action=pass:format=auto:x=main_w*0.8:y=main_h*0" in chain[1]
    assert "scale2ref=h=ih*0.2:w=iw*0.4" in chain[2]
    assert "overlay=eof_action=pass:format=auto:x=main_w*0.05:y=main_h*0.05" in chain[3]
    assert "split=2" in chain[4] and graph.count("split") == 1
    copy = argv.index("pipe:1")
    assert argv[copy - 6 : copy] == ["-f", "mpegts", "-c", "copy", "-pes_payload_size", "0"]
    assert "-map" not in argv[copy - 6 : copy], "the copied feed maps the input, not the filter graph"


def test_streams_without_overlays_keep_their_configuration_and_disabled_ones_are_composited():
    plain = ingest_worker_config(stream(transcoding=LADDER), "primary")
    assert "overlays" not in json.loads(plain.to_json()), "older ingests' Pod hash stays what it was"
    disabled = ingest_worker_config(stream(transcoding=LADDER, overlays=[{**SCORE, "enabled": False}]), "primary")
    assert [o.name for o in disabled.overlays or []] == ["score"], "a transparent PNG until switched on"
    assert "enabled" not in json.dumps(json.loads(disabled.to_json())["overlays"])
    with pytest.raises(ValidationError, match="overlays need transcoding renditions"):
        IngestConfig.model_validate({**json.loads(plain.to_json()), "transcoding": None, "overlays": [
            {"name": "a", "x": 0, "y": 0, "width": 1, "height": 1}], "overlayDir": "/o"})  # fmt: skip


@pytest.mark.parametrize("role", ["primary", "backup"])
def test_switching_enabled_leaves_the_ingest_pod_as_it_is(role):
    settings = OperatorSettings()
    on = ingest_pod(
        stream(source={"push": {"backup": True}}, transcoding=LADDER, overlays=[SCORE, LOGO]), role, settings
    )
    off = ingest_pod(
        stream(source={"push": {"backup": True}}, transcoding=LADDER, overlays=[{**SCORE, "enabled": False}, LOGO]),
        role,
        settings,
    )
    assert off == on, "enabled reaches the ingest by POST /overlays, never through the Pod (a restart)"
    none_on = ingest_pod(
        stream(source={"push": {"backup": True}}, transcoding=LADDER, overlays=[{**SCORE, "enabled": False}]),
        role,
        settings,
    )
    assert [c["name"] for c in none_on["spec"]["containers"]] == ["ingest", "overlay"], "the sidecar stays"
    moved = ingest_pod(
        stream(source={"push": {"backup": True}}, transcoding=LADDER, overlays=[{**SCORE, "left": 6}, LOGO]),
        role,
        settings,
    )
    assert moved != on, "the box is the ingest's configuration: changing it restarts the Pod"


def test_the_switch_goes_to_an_ingest_whose_overlays_differ_from_the_spec():
    s = stream(transcoding=LADDER, overlays=[SCORE, {**LOGO, "enabled": False}, {**SCORE, "name": "ad", "zIndex": 2}])
    fresh = IngestStatus(live=True, overlays=[])  # a Pod that just started: no switch received yet
    assert overlay_switch(s, fresh) == OverlaySwitch(enabled=["score", "ad"]), "bottom first, enabled ones"
    assert overlay_switch(s, IngestStatus(live=True, overlays=[], overlays_enabled=["ad", "score"])) is None
    assert overlay_switch(s, IngestStatus(live=True, overlays=[], overlays_enabled=["score", "ad", "logo"])) == (
        OverlaySwitch(enabled=["score", "ad"])
    )
    off = stream(transcoding=LADDER, overlays=[{**SCORE, "enabled": False}])
    assert overlay_switch(off, fresh) == OverlaySwitch(enabled=[]), "every overlay off is a switch too"
    assert overlay_switch(off, IngestStatus(live=True, overlays=[], overlays_enabled=[])) is None
    assert overlay_switch(s, None) is None, "no ingest read"
    assert overlay_switch(s, IngestStatus(live=True)) is None, (
        "an ingest without overlays (an older Pod) has no /overlays"
    )
    assert overlay_switch(stream(transcoding=LADDER), IngestStatus(live=True, overlays=[])) is None
    assert OverlaySwitch(enabled=["a"]).wire() == {"enabled": ["a"]}


# --- the renderer ---------------------------------------------------------------------------------------


def test_renderer_viewports_are_the_box_on_the_tallest_rendition():
    config = overlay_renderer_config(stream(transcoding=LADDER, overlays=[SCORE, LOGO]))
    assert config is not None
    assert [(o.name, o.width, o.height) for o in config.overlays] == [("logo", 256, 72), ("score", 512, 144)]
    off = overlay_renderer_config(stream(transcoding=LADDER, overlays=[SCORE, {**LOGO, "enabled": False}]))
    assert off == config, "a disabled page is the switch's business, not the sidecar's configuration"
    assert box_pixels(33.3, 7, 1080) == (640, 76)
    assert allowed_hosts(config) == ["logo.example.org", "cdn.example.org", "widgets.example.com"]


def test_messages_never_show_a_query_and_placeholders_are_transparent():
    assert shown_url("https://widgets.example.com:8443/score?token=t0k3n#x") == "https://widgets.example.com:8443/score"
    png = transparent_png(3, 2)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    idat = png[png.index(b"IDAT") + 4 : png.index(b"IEND") - 8]
    assert zlib.decompress(idat) == (b"\x00" + bytes(12)) * 2, "every pixel RGBA 0,0,0,0"
    with pytest.raises(ValidationError):
        OverlayRendererConfig.model_validate({"stream": "s", "overlays": [
            {"name": "a", "url": "https://u:p@example.com/", "width": 2, "height": 2}]})  # fmt: skip


# --- the Pod ----------------------------------------------------------------------------------------------


def test_pod_runs_the_renderer_beside_the_ingest_sharing_one_volume():
    settings = OperatorSettings(worker=WorkerSettings(overlay_image="registry.example/streamops-overlay:1.2.3"))
    pod = ingest_pod(stream(transcoding=LADDER, overlays=[SCORE]), "primary", settings)
    ingest, renderer = pod["spec"]["containers"]
    assert renderer["name"] == "overlay" and renderer["image"] == "registry.example/streamops-overlay:1.2.3"
    assert renderer["args"] == ["worker", "overlay"]
    assert renderer["securityContext"] == ingest["securityContext"]
    assert renderer["securityContext"]["readOnlyRootFilesystem"] is True
    assert renderer["resources"]["limits"]["memory"]
    config = json.loads(renderer["env"][0]["value"])
    assert config["overlays"][0]["url"] == SCORE["url"] and config["directory"] == "/var/lib/streamops-overlays"
    mounts = {m["name"]: m for m in renderer["volumeMounts"]}
    assert mounts["overlays"]["mountPath"] == "/var/lib/streamops-overlays" and "readOnly" not in mounts["overlays"]
    assert mounts["overlay-tmp"]["mountPath"] == "/tmp", "Chromium's profile on a read-only root"
    ingest_mounts = {m["name"]: m for m in ingest["volumeMounts"]}
    # Writable in the ingest too: its transparent placeholders go there before FFmpeg opens them.
    assert ingest_mounts["overlays"] == {"name": "overlays", "mountPath": "/var/lib/streamops-overlays"}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["overlays"] == {"name": "overlays", "emptyDir": {}}
    plain = ingest_pod(stream(transcoding=LADDER), "primary", settings)
    assert [c["name"] for c in plain["spec"]["containers"]] == ["ingest"]
    assert "overlays" not in {v["name"] for v in plain["spec"]["volumes"]}


# --- status -----------------------------------------------------------------------------------------------


def running(reports, overlays=(SCORE, LOGO), status=None):
    s = stream(status=status, transcoding=LADDER, overlays=list(overlays))
    pod = {"metadata": {"name": "cam-ingest"}, "spec": {"nodeName": "n1"},
           "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}  # fmt: skip
    observed = IngestObservation(
        {"primary": PodObservation.of("cam-ingest", pod)},
        telemetry={"primary": IngestStatus(live=True, overlays=reports)},
        endpoints={"primary": EndpointObservation("cam-ingest", served=True)},  # its Service routes to it
    )
    return s, livestream_status(s, observed, T0)


def condition(status):
    return next(((c.status, c.reason, c.message) for c in status.conditions if c.type == "Overlays"), None)


def test_status_reports_each_overlay_and_one_condition():
    _, status = running([OverlayReport(name="score", state="rendering"), OverlayReport(name="logo", state="rendering")])
    assert [(o.name, o.state) for o in status.overlays or []] == [("score", "rendering"), ("logo", "rendering")]
    assert condition(status) == ("True", "OverlaysRendering", "2 overlay(s) drawn into the renditions")

    _, status = running([OverlayReport(name="score", state="rendering")])
    assert condition(status)[:2] == ("Unknown", "OverlaysStarting") and "logo" in condition(status)[2]

    _, status = running([OverlayReport(name="score", state="rendering")], overlays=(SCORE, {**LOGO, "enabled": False}))
    assert [(o.name, o.state) for o in status.overlays or []] == [("score", "rendering"), ("logo", "disabled")]
    assert condition(status)[0] == "True"

    # Switched on in the spec, still off in the renderer (the switch not applied yet): starting.
    _, status = running([OverlayReport(name="score", state="rendering"), OverlayReport(name="logo", state="disabled")])
    assert [(o.name, o.state) for o in status.overlays or []] == [("score", "rendering")]
    assert condition(status)[:2] == ("Unknown", "OverlaysStarting")

    _, status = running(None, overlays=())
    assert status.overlays is None and condition(status) is None


def test_a_failing_overlay_keeps_the_stream_ready_and_posts_one_warning():
    ok = [OverlayReport(name="score", state="rendering"), OverlayReport(name="logo", state="rendering")]
    _, before = running(ok)
    failing = [OverlayReport(name="score", state="failing", message="HTTP 503 from https://widgets.example.com/score"),
               OverlayReport(name="logo", state="rendering")]  # fmt: skip
    _, now = running(failing, status=before.wire())
    ready = {c.type: c.status for c in now.conditions}
    assert ready["Ready"] == "True" and ready["Live"] == "True", "the stream goes on without it"
    status, reason, message = condition(now)
    assert (status, reason) == ("False", "OverlayFailing")
    assert message.startswith("overlay score is not drawn: HTTP 503 from https://widgets.example.com/score")
    assert "t0k3n" not in json.dumps(now.wire())
    events = [e for e in livestream_events(before, now) if e.reason == "OverlayFailing"]
    assert [e.type for e in events] == ["Warning"]
    _, again = running(failing, status=now.wire())
    assert not [e for e in livestream_events(now, again) if e.reason == "OverlayFailing"], "once, not every write"
    _, back = running(ok, status=now.wire())
    assert [(e.type, e.reason) for e in livestream_events(now, back) if "Overlay" in e.reason] == [
        ("Normal", "OverlaysRendering")
    ]


def test_the_ingest_reads_the_renderers_status_file(tmp_path):
    from streamops.contract.overlay import OverlayRendererStatus
    from streamops.media.overlay.reports import overlay_reports, write_placeholders

    config = IngestConfig.model_validate(
        {
            "stream": "cam",
            "source": {"push": {}},
            "transcoding": LADDER,
            "overlayDir": str(tmp_path),
            "overlays": [{"name": "score", "x": 0, "y": 0, "width": 10, "height": 10}],
        }
    )
    write_placeholders(config)
    assert (tmp_path / "score.png").read_bytes() == transparent_png(2, 2)
    assert overlay_reports(config, T0, started=T0) == [], "not listed until the renderer reports"
    late = overlay_reports(config, T0 + timedelta(seconds=31), started=T0)
    assert late and late[0].state == "failing" and late[0].message == "no renderer reports"
    written = OverlayRendererStatus(written_at=T0, overlays=[OverlayReport(name="score", state="rendering")])
    (tmp_path / "status.json").write_text(written.model_dump_json(by_alias=True))
    assert [r.state for r in overlay_reports(config, T0 + timedelta(seconds=5), started=T0) or []] == ["rendering"]
    stale = overlay_reports(config, T0 + timedelta(seconds=60), started=T0)
    assert stale and stale[0].state == "failing" and "has not reported since" in stale[0].message
