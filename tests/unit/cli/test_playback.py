"""`streamops playback url|rotate-key` without a cluster (cli/playback.py): where the token goes
in each kind of status URL, which key signs (previous until current has propagated), the rotation's
Secret, the arguments refused. Against a real API server: tests/cluster/test_playback_cli.py."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from streamops.cli.command_error import CommandError
from streamops.cli.playback import (
    Keys,
    broadcast_page_url,
    parse_expires,
    playback_url,
    rotated,
    signed_url,
    signing_key,
    too_soon,
    viewer_address,
    with_token,
)
from streamops.cli.streamops_command import main
from streamops.contract.playback_token import (
    KEY_PROPAGATION_SECONDS,
    ROTATED_AT_ANNOTATION,
    key_id,
    split_token_path,
    verify,
)

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
TOKEN = "v1~abcdefgh~1~~sig"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://live.example.com/streams/ns/cam/hls/cmaf/index.m3u8",
            "https://live.example.com/streams/ns/cam/t/{t}/hls/cmaf/index.m3u8",
        ),
        ("http://10.0.0.5:8080/hls/cmaf/index.m3u8", "http://10.0.0.5:8080/t/{t}/hls/cmaf/index.m3u8"),
        ("https://h/live/cam1/player", "https://h/live/cam1/t/{t}/player"),
        ("https://h/player?format=dash", "https://h/t/{t}/player?format=dash"),
        ("https://h/streams/ns/cam/whep", "https://h/streams/ns/cam/t/{t}/whep"),
        ("https://h/streams/ns/cam/dash/manifest.mpd", "https://h/streams/ns/cam/t/{t}/dash/manifest.mpd"),
        ("https://h/x/hls/ts/index.m3u8", "https://h/x/t/{t}/hls/ts/index.m3u8"),
    ],
)
def test_the_token_goes_after_the_path_prefix(url, expected):
    signed = with_token(url, TOKEN)
    assert signed == expected.format(t=TOKEN)
    path = signed.split("://", 1)[1].split("/", 1)[1].split("?")[0]
    prefix = "/" + path.split("/t/")[0] if not path.startswith("t/") else ""
    assert split_token_path("/" + path, prefix)[0] == TOKEN, "the verifiers find it where it was put"


def test_an_unknown_url_is_refused():
    with pytest.raises(CommandError, match="not a playback URL"):
        with_token("https://h/somewhere/else", TOKEN)


def stream(playback: dict[str, str], latency: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"hls": {"latencyMode": latency}} if latency else {}
    return {"metadata": {"name": "cam", "namespace": "ns"}, "spec": spec, "status": {"playback": playback}}


def test_formats_pick_their_status_url():
    urls = {
        "playerUrl": "https://h/p/player",
        "hlsMpegtsUrl": "https://h/p/hls/ts/index.m3u8",
        "dashUrl": "https://h/p/dash/manifest.mpd",
    }
    assert playback_url(stream(urls), "player") == urls["playerUrl"]
    assert playback_url(stream(urls), "hls") == urls["hlsMpegtsUrl"], "no CMAF: the MPEG-TS playlist"
    assert playback_url(stream(urls), "dash") == urls["dashUrl"]
    with pytest.raises(CommandError, match="no whep URL"):
        playback_url(stream(urls), "whep")
    with pytest.raises(CommandError, match="does not serve LL-HLS"):
        playback_url(stream(urls), "llhls")
    cmaf = {**urls, "hlsCmafUrl": "https://h/p/hls/cmaf/index.m3u8"}
    assert playback_url(stream(cmaf, "low"), "llhls") == cmaf["hlsCmafUrl"]
    assert playback_url(stream(cmaf), "hls") == cmaf["hlsCmafUrl"]


def test_previous_signs_until_current_has_propagated():
    old, new = os.urandom(32), os.urandom(32)
    fresh = Keys(new, old, NOW - timedelta(seconds=KEY_PROPAGATION_SECONDS - 1))
    assert signing_key(fresh, NOW) == old
    assert signing_key(Keys(new, old, NOW - timedelta(seconds=KEY_PROPAGATION_SECONDS)), NOW) == new
    assert signing_key(Keys(new, None, NOW), NOW) == new, "the first key: nothing else to sign with"
    assert signing_key(Keys(new, old, None), NOW) == new


def secret(current: bytes, previous: bytes | None = None, rotated_at: datetime | None = None) -> dict[str, Any]:
    data = {"current": base64.b64encode(current).decode()}
    if previous:
        data["previous"] = base64.b64encode(previous).decode()
    annotations = {ROTATED_AT_ANNOTATION: rotated_at.strftime("%Y-%m-%dT%H:%M:%SZ")} if rotated_at else {}
    return {"kind": "Secret", "metadata": {"name": "streamops-playback-keys", "annotations": annotations}, "data": data}


def test_a_signed_url_verifies_for_its_stream_and_viewer_only():
    key = os.urandom(32)
    urls = {"playerUrl": "https://h/streams/ns/cam/player"}
    url = signed_url(stream(urls), secret(key), "player", 3600, "10.1.2.3", NOW)
    token, rest = split_token_path(url.removeprefix("https://h"), "/streams/ns/cam")
    assert rest == "/streams/ns/cam/player"
    now = NOW.timestamp()
    assert verify(token, [key], "ns/cam", now + 3599, "10.1.2.3") is None
    assert verify(token, [key], "ns/cam", now + 3600 + 5, "10.1.2.3") is not None
    assert verify(token, [key], "ns/cam", now, "10.9.9.9") is not None
    assert verify(token, [key], "other/cam", now, "10.1.2.3") is not None


def test_rotation_moves_current_to_previous_and_stamps_the_time():
    old, new = os.urandom(32), os.urandom(32)
    before = secret(old, os.urandom(32), NOW - timedelta(days=3))
    before["metadata"]["resourceVersion"] = "42"
    after = rotated(before, NOW, new)
    assert base64.b64decode(after["data"]["previous"]) == old
    assert base64.b64decode(after["data"]["current"]) == new
    assert after["metadata"]["annotations"][ROTATED_AT_ANNOTATION] == "2026-11-30T12:00:00Z"
    assert after["metadata"]["resourceVersion"] == "42", "a replace that loses to a concurrent change fails"
    assert key_id(new) != key_id(old)
    assert too_soon(after, NOW + timedelta(seconds=10)) == KEY_PROPAGATION_SECONDS - 10
    assert too_soon(after, NOW + timedelta(seconds=KEY_PROPAGATION_SECONDS)) is None
    assert too_soon(secret(old), NOW) is None


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600), ("7d", 604800)])
def test_expires(text, seconds):
    assert parse_expires(text) == seconds


@pytest.mark.parametrize("text", ["0", "1y", "-5", "1.5h", "", "400d"])
def test_bad_expires(text):
    with pytest.raises(CommandError):
        parse_expires(text)


def test_viewer_addresses_are_checked_and_canonical():
    assert viewer_address(None) == ""
    assert viewer_address("2001:DB8:0:0::1") == "2001:db8::1"
    with pytest.raises(CommandError, match="not an IPv4 or IPv6 address"):
        viewer_address("example.com")


def test_the_command_refuses_bad_arguments_before_asking_the_cluster(capsys):
    assert main(["playback", "url", "cam", "--expires", "soon"]) == 1
    assert "streamops playback url: --expires 'soon'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["playback", "url", "cam", "--format", "rtmp"])


def member(name: str, access: str | None, host: str = "https://h") -> dict[str, Any]:
    playback = {"access": access} if access else {}
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"playback": playback},
        "status": {"playback": {"playerUrl": f"{host}/streams/ns/{name}/player"}},
    }


def test_a_broadcast_page_carries_its_own_stream_s_token_in_the_path_and_the_others_in_the_fragment():
    key = os.urandom(32)
    page = "https://h/streams/ns/main/broadcasts/keynote/player"
    broadcast = {
        "metadata": {"name": "keynote", "namespace": "ns"},
        "spec": {"streams": ["main", "backup", "open"]},
        "status": {"playerUrl": page},
    }
    streams = {"main": member("main", "signed"), "backup": member("backup", "signed"), "open": member("open", "public")}
    found = broadcast_page_url(broadcast, streams, secret(key), 600, "", NOW)
    parts = urlsplit(found.url)
    token, rest = split_token_path(parts.path, "/streams/ns/main")
    assert rest == "/streams/ns/main/broadcasts/keynote/player"
    pairs = dict(p.split(":", 1) for p in parts.fragment.removeprefix("t=").split(","))
    assert set(pairs) == {"main", "backup"}, "a public stream needs no token"
    assert pairs["main"] == token
    assert verify(pairs["backup"], [key], "ns/backup", NOW.timestamp() + 1, "") is None
    assert verify(pairs["backup"], [key], "ns/main", NOW.timestamp() + 1, "") is not None
    public = {name: member(name, "public") for name in streams}
    assert broadcast_page_url(broadcast, public, None, 600, "", NOW).url == page
    with pytest.raises(CommandError, match="no secret streamops-playback-keys"):
        broadcast_page_url(broadcast, streams, None, 600, "", NOW)
    with pytest.raises(CommandError, match=r"no status\.playerUrl yet"):
        broadcast_page_url({**broadcast, "status": {}}, streams, secret(key), 600, "", NOW)
    assert main(["playback", "url", "keynote", "--broadcast", "--format", "hls"]) == 1


def test_the_readers_urls_carry_the_token_where_the_readers_component_takes_it():
    key = os.urandom(32)
    urls = {"srtUrl": "srt://203.0.113.5:30890", "rtspUrl": "rtsp://203.0.113.5:30554/live"}
    srt = signed_url(stream(urls), secret(key), "srt", 3600, "", NOW)
    assert srt.startswith("srt://203.0.113.5:30890?mode=caller&streamid=v1~")
    rtsp = signed_url(stream(urls), secret(key), "rtsp", 3600, "", NOW)
    assert rtsp.startswith("rtsp://203.0.113.5:30554/live?token=v1~")
    for url, marker in ((srt, "streamid="), (rtsp, "token=")):
        token = urlsplit(url).query.split(marker, 1)[1]
        assert verify(token, [key], "ns/cam", NOW.timestamp(), "192.0.2.1") is None
