"""What `kubectl streamops` prints, without a cluster (streamops/cli/render.py): the status table and
screen from statuses as the operator writes them, the conditions counted as not OK, restream and
recording states, push URLs with the key where each protocol takes it (or masked), OBS's fields.
Against a real API server: tests/cluster/test_kubectl_plugin.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from devtools.catalog import stored_livestream, stored_recording, stored_restream
from devtools.operator_status import live_stream_status, restream_status
from streamops.api.common import Condition
from streamops.api.kinds import LiveStream, Recording, Restream
from streamops.cli.render import (
    MASK,
    Unreadable,
    bitrate,
    duration,
    not_ok,
    obs_service,
    push_lines,
    push_url,
    recording_state,
    restream_state,
    size,
    status_screen,
    status_table,
)

NOW = datetime(2026, 11, 25, 4, 22, 30, tzinfo=UTC)
KEY = "k3y/with+odd=chars&more-0123"


# Objects as `kubectl get` lists them: by name, in a namespace, no uid or generation needed.
def stream(name: str = "cam", ns: str = "live", status: dict[str, Any] | None = None, **spec: Any) -> LiveStream:
    return stored_livestream(status, None, None, name=name, namespace=ns, **spec)


def target(name: str, status: dict[str, Any] | None, ns: str = "live", **spec: Any) -> Restream:
    return stored_restream(status, None, None, name=name, namespace=ns, **spec)


def take(name: str, status: dict[str, Any] | None, **spec: Any) -> Recording:
    return stored_recording(status, None, None, name=name, namespace="live", **spec)


def condition(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": NOW}


def test_numbers_read_as_people_say_them():
    assert [bitrate(None), bitrate(850_000), bitrate(4_520_000)] == ["-", "850 kb/s", "4.52 Mb/s"]
    assert [size(None), size(512), size(1_234_567_890)] == ["-", "512 B", "1.2 GB"]
    assert [duration(None), duration(42), duration(312.4), duration(7322), duration(90000)] == [
        "-", "42s", "5m12s", "2h02m", "1d1h",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("conditions", "bad"),
    [
        ([condition("Ready", "True", "IngestRunning")], []),
        ([condition("Ready", "False", "IngestPending")], ["Ready"]),
        ([condition("Ready", "Unknown", "Starting")], ["Ready"]),
        # Live, BackupLive and Recording are what happens, not health; Unknown playability is "not live yet".
        ([condition("Live", "False", "NoMedia"), condition("Recording", "False", "NotRecording")], []),
        ([condition("BrowserPlayable", "Unknown", "NotLive")], []),
        ([condition("BrowserPlayable", "False", "Hevc")], ["BrowserPlayable"]),
        (
            [condition("Stalled", "True", "TLSSecretNotFound"), condition("Reconciling", "True", "X")],
            ["Stalled", "Reconciling"],
        ),
        ([condition("NoSpace", "True", "NoSpace"), condition("StorageAlmostFull", "False", "Below")], ["NoSpace"]),
    ],
)
def test_not_ok_conditions(conditions, bad):
    assert [c.type for c in not_ok(Condition.model_validate(c) for c in conditions)] == bad


def test_restream_states():
    assert restream_state(target("a", restream_status(True, 10))) == "live"
    assert restream_state(target("b", restream_status(False, 0, 3, "refused"))) == "backoff"
    assert restream_state(target("c", None)) == "?"
    assert restream_state(target("d", None, active=False)) == "off"
    waiting = {"conditions": [condition("Ready", "False", "StreamNotLive")], "live": False}
    assert restream_state(target("e", waiting)) == "waiting"
    refused = {"conditions": [condition("Ready", "False", "CodecNotAccepted")], "live": False}
    assert restream_state(target("g", refused)) == "codec not taken"
    odd = {"conditions": [condition("Ready", "False", "PusherFailed")], "live": False}
    assert restream_state(target("f", odd)) == "PusherFailed"


def test_recording_states():
    running = {"recording": True, "conditions": [condition("Ready", "True", "Recording")]}
    assert recording_state(take("a", running)) == "recording"
    done = {"conditions": [condition("Ready", "True", "Finished"), condition("Succeeded", "True", "Finished")]}
    assert recording_state(take("b", done, stopped=True)) == "finished"
    assert recording_state(take("c", {"conditions": []}, stopped=True)) == "stopping"
    waiting = {
        "conditions": [condition("Ready", "False", "StreamNotLive"), condition("Recording", "False", "StreamNotLive")]
    }
    assert recording_state(take("d", waiting)) == "waiting (stream not live)"
    full = {"conditions": [condition("NoSpace", "True", "NoSpace", "no space for recording the stream")]}
    assert recording_state(take("e", full)) == "no space"


def test_status_table_one_line_per_stream_sorted_by_namespace_and_name():
    live = stream("cam", "b", live_stream_status("b", "cam", recording=True))
    idle = live_stream_status("a", "studio", live=False)
    idle["conditions"][0] = condition("Ready", "False", "IngestPending", "ingest Pod studio-ingest is Pending")
    idle["conditions"].append(condition("Reconciling", "True", "IngestPending"))
    studio = stream("studio", "a", idle)
    pulled = stream("lobby", "a", None, source={"pull": {"urls": ["rtmp://origin.example.com/live/a"]}})
    off = stream("night", "a", live_stream_status("a", "night", live=False), active=False)
    broken = Unreadable("b", "odd", "status.videoWidth: Input should be a valid integer")
    restreams = {("b", "cam"): [target("yt", restream_status(True, 5)), target("tw", restream_status(False))]}
    text = status_table([live, studio, pulled, off, broken], restreams, all_namespaces=True)
    rows = [line.split() for line in text.splitlines()]
    assert rows[0] == [
        "NAMESPACE", "NAME", "LIVE", "ON-AIR", "SOURCE", "BITRATE", "FPS", "RESOLUTION", "VIEWERS", "REC",
        "RESTREAMS", "NOT", "OK",
    ]  # fmt: skip
    assert [r[:2] for r in rows[1:]] == [["a", "lobby"], ["a", "night"], ["a", "studio"], ["b", "cam"], ["b", "odd"]]
    assert rows[1][2:] == ["?", "-", "pull", "-", "-", "-", "-", "-", "-", "no", "status", "yet"]
    assert rows[2][2] == "off"
    assert rows[3][2:5] == ["no", "-", "rtmp,srt"] and rows[3][-2:] == ["Ready=False:IngestPending", "+1"]
    assert rows[4] == [
        "b",
        "cam",
        "yes",
        "primary",
        "rtmp",  # the protocol on air (the stream accepts rtmp and srt)
        "4.52",
        "Mb/s",
        "30",
        "1280x720",
        "12",
        "yes",
        "1/2",
        "live",
        "-",
    ]
    assert rows[5][2] == "?" and "unreadable: status.videoWidth" in text.splitlines()[5]
    # The columns line up: every cell of a column starts where its header does.
    header = text.splitlines()[0]
    assert all(line[header.index("LIVE") - 1] == " " for line in text.splitlines())
    assert status_table([live], {}, all_namespaces=False).split()[0] == "NAME"
    assert status_table([], {}, all_namespaces=True) == ""


def test_status_screen_of_a_live_stream_with_backup_recordings_and_restreams():
    status = live_stream_status("live", "cam", recording=True)
    status |= {"backupLive": True, "startedAtBackup": "2026-11-25T04:11:00Z"}
    status["viewers"] = {"total": 7, "hls": 2, "llhls": 4, "dash": 0, "webrtc": 1, "windowSeconds": 30}
    status["conditions"].append(condition("Stalled", "True", "TLSSecretNotFound", "Secret tls is missing"))
    status["transcodedQualities"] = ["720p", "360p"]
    session = {
        "ingest": "primary",
        "protocol": "rtmp",
        "videoCodec": "h264",
        "audioCodec": "aac",
        "width": 1280,
        "height": 720,
        "frameRate": 30.0,
        "averageBitrate": 4_400_000,
        "peakBitrate": 6_100_000,
    }
    status["sessions"] = [
        {**session, "startedAt": "2026-11-24T10:00:00Z", "endedAt": "2026-11-24T11:00:00Z", "protocol": "srt"},
        {**session, "startedAt": "2026-11-25T03:00:00Z", "endedAt": "2026-11-25T03:30:00Z"},
        {**session, "startedAt": "2026-11-25T04:00:00Z", "endedAt": "2026-11-25T04:05:00Z", "ingest": "backup"},
        {**session, "startedAt": "2026-11-25T04:10:00Z"},
    ]  # fmt: skip
    cam = stream("cam", "live", status, source={"push": {"protocols": ["rtmp", "srt"], "backup": True}})
    recordings = [
        take("old", {"conditions": [condition("Succeeded", "True", "Finished")], "startedAt": "2026-11-24T10:00:00Z",
                     "duration": 3600.0, "videos": []}, stopped=True),
        take("now", {"recording": True, "startedAt": "2026-11-25T04:12:00Z", "duration": 312.4, "conditions": [
            condition("Ready", "True", "Recording"), condition("StorageAlmostFull", "True", "Quota", "81 % used")]}),
    ]  # fmt: skip
    restreams = [
        target("yt", restream_status(True, 1_234_567_890), uri="rtmp://a.rtmp.youtube.com/live2"),
        target("tw", restream_status(False, 0, 7, "rtmps://live.twitch.tv/app/***: refused"), uri="rtmps://live.twitch.tv/app"),
    ]  # fmt: skip
    screen = status_screen(cam, recordings, restreams, NOW).splitlines()
    arrived = "1280x720 h264/aac 30 fps, avg 4.40 Mb/s, peak 6.10 Mb/s"  # the newest 3 sessions, newest first
    assert screen == [
        'livestream live/cam  "Camera"',
        "  Live:       yes, on air: primary since 2026-11-25 04:10:00 UTC (12m30s)",
        "  Backup:     live since 2026-11-25 04:11:00 UTC (11m30s)",
        "  Ingest:     push, accepts rtmp, srt, live over rtmp",
        "  Video:      1280x720 h264 High, 30 fps, yuv420p",
        "  Audio:      aac",
        "  Bitrate:    4.52 Mb/s (speed 1.00x)",
        "  Qualities:  720p, 360p",
        f"  Sessions:   2026-11-25 04:10:00 12m30s, on air, primary rtmp, {arrived}",
        f"              2026-11-25 04:00:00 5m00s, backup rtmp, {arrived}",
        f"              2026-11-25 03:00:00 30m00s, primary rtmp, {arrived}",
        "  Viewers:    7 (hls 2, llhls 4, webrtc 1)",
        "  Recordings: now recording 5m12s, 0 videos",
        "              old finished 1h00m, 0 videos",
        "  Restreams:  tw   backoff   0 B sent      7 reconnects   rtmps://live.twitch.tv/app",
        "                last error: rtmps://live.twitch.tv/app/***: refused",
        "              yt   live      1.2 GB sent   0 reconnects   rtmp://a.rtmp.youtube.com/live2",
        "  Not OK:     Stalled=True TLSSecretNotFound: Secret tls is missing",
        "              recording now: StorageAlmostFull=True Quota: 81 % used",
    ]


def test_status_screen_of_streams_not_live():
    idle = stream("cam", "live", live_stream_status("live", "cam", live=False))
    screen = status_screen(idle, [], [], NOW)
    assert "  Live:       no, last ended 2026-11-25 03:00:00 UTC" in screen
    assert "Video:" not in screen and "  Recordings: none\n  Restreams:  none\n  Not OK:     nothing" in screen
    fresh = stream("cam", "live", None, recording={"auto": True})
    assert "  Live:       ? (the operator has not reported the stream yet)" in status_screen(fresh, [], [], NOW)
    assert "one starts when the stream goes live" in status_screen(fresh, [], [], NOW)
    assert "Not OK" not in status_screen(fresh, [], [], NOW)
    off = stream("cam", "live", live_stream_status("live", "cam", live=False), active=False)
    assert "  Live:       off (spec.active false)" in status_screen(off, [], [], NOW)


@pytest.mark.parametrize(
    ("protocol", "server", "with_key", "masked"),
    [
        ("rtmp", "rtmp://10.0.0.5:1935/live", f"rtmp://10.0.0.5:1935/live/{KEY}", f"rtmp://10.0.0.5:1935/live/{MASK}"),
        ("rtmps", "rtmps://live.example.com:1936/live/", f"rtmps://live.example.com:1936/live/{KEY}",
         f"rtmps://live.example.com:1936/live/{MASK}"),
        # SRT: the key is the passphrase, escaped in the query (FFmpeg and OBS decode it); caller mode.
        ("srt", "srt://10.0.0.5:9998", "srt://10.0.0.5:9998?mode=caller&passphrase=k3y%2Fwith%2Bodd%3Dchars%26more-0123",
         f"srt://10.0.0.5:9998?mode=caller&passphrase={MASK}"),
        ("srt", "srt://10.0.0.5:9998?latency=2000000", "srt://10.0.0.5:9998?latency=2000000&mode=caller&passphrase=",
         f"srt://10.0.0.5:9998?latency=2000000&mode=caller&passphrase={MASK}"),
        # WHIP: the key is the bearer token, never in the URL.
        ("whip", "http://10.0.0.5:8080/whip", "http://10.0.0.5:8080/whip", "http://10.0.0.5:8080/whip"),
    ],
)  # fmt: skip
def test_push_url_puts_the_key_where_the_ingest_takes_it(protocol, server, with_key, masked):
    assert push_url(server, protocol, KEY).startswith(with_key)
    assert push_url(server, protocol, None) == masked
    assert KEY not in push_url(server, protocol, None)


def test_push_lines_and_obs_fields():
    rtmp = "rtmp://10.0.0.5:1935/live"
    assert push_lines(rtmp, "rtmp", None, obs=False) == [f"{rtmp}/{MASK}"]
    assert push_lines(rtmp, "rtmp", KEY, obs=True) == [f"Server: {rtmp}", f"Stream Key: {KEY}"]
    assert push_lines(rtmp, "rtmps", None, obs=True) == [f"Server: {rtmp}", f"Stream Key: {MASK}"]
    assert obs_service("rtmp") == "OBS: Settings → Stream → Service: Custom..., then these fields"
    srt = push_lines("srt://h:9998", "srt", None, obs=True)
    assert srt == [f"Server: srt://h:9998?mode=caller&passphrase={MASK}", "Stream Key:"]
    whip = "http://h:8080/whip"
    assert push_lines(whip, "whip", KEY, obs=False) == [whip, f"Authorization: Bearer {KEY}"]
    assert push_lines(whip, "whip", None, obs=True) == [f"Server: {whip}", f"Bearer Token: {MASK}"]
    assert "Service: WHIP" in obs_service("whip")
