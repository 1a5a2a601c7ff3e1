"""Pure parts of the ingest's WebRTC (media/ingest/webrtc): the component's and the WHEP feeder's
command lines, a WHIP session's FFmpeg and who may publish over WHIP; what the feed probe decides is
test_whep_feed.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamops.contract.ingest import IngestConfig
from streamops.contract.worker_credential import CredentialCheck
from streamops.media.feed_access import FeedAccess
from streamops.media.ingest.commands import session_command
from streamops.media.ingest.webrtc.admission import (
    BUSY,
    NOT_WHIP,
    NOT_WHIP_MESSAGE,
    UNAUTHORIZED,
    bearer_token,
    whip_refusal,
)
from streamops.media.ingest.webrtc.commands import (
    FEED_PROBE_OPTIONS,
    ComponentPorts,
    WhepTranscode,
    component_command,
    feed_probe_command,
    whep_feed_command,
    whip_input,
)

KEY = b"test-key-0123456789abcdef"
SDP_PATH = Path("/m/.private/whip.sdp")
SOCKET = Path("/m/.private/webrtc.sock")
PORTS = ComponentPorts(control=SOCKET, whip_out=(40010, 40012), rtp_in=(40020, 40022))


def config(protocols: list[str] | None = None, webrtc: dict[str, Any] | None = None, **overrides: Any) -> IngestConfig:
    base: dict[str, Any] = {
        "stream": "cam",
        "source": {"push": {"protocols": protocols or ["rtmp", "whip"]}},
        "ports": {"webrtcUdp": 8189, "webrtcTcp": 8190},
        "webrtc": {} if webrtc is None else webrtc,
    }
    return IngestConfig.model_validate({**base, **overrides})


def flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


# --- the component's command line --------------------------------------------------------------------------


def test_component_on_a_pod_binds_every_address_and_gathers_on_the_pods_ip_only():
    argv = component_command(config(), PORTS, SDP_PATH, [], pod_ip="10.1.2.3")
    # A unix socket in the private directory: with the host network a loopback port is the node's.
    assert flag(argv, "--control") == "unix:/m/.private/webrtc.sock"
    assert flag(argv, "--ice-udp") == ":8189" and flag(argv, "--ice-tcp") == ":8190"
    assert flag(argv, "--ice-allow-ip") == "10.1.2.3/32"
    assert "--advertise-ip" not in argv and "--advertise-udp-port" not in argv


def test_component_on_one_address_binds_and_gathers_there_only():
    argv = component_command(config(bindAddress="127.0.0.1"), PORTS, SDP_PATH, [], pod_ip=None)
    assert flag(argv, "--ice-udp") == "127.0.0.1:8189" and flag(argv, "--ice-tcp") == "127.0.0.1:8190"
    assert flag(argv, "--ice-allow-ip") == "127.0.0.1/32"


def test_configured_ice_ranges_win_and_no_range_means_every_non_loopback_address():
    ranges = config(webrtc={"iceAllow": ["192.0.2.0/24", "198.51.100.0/24"]})
    assert flag(component_command(ranges, PORTS, SDP_PATH, [], "10.1.2.3"), "--ice-allow-ip") == (
        "192.0.2.0/24,198.51.100.0/24"
    )
    assert "--ice-allow-ip" not in component_command(config(), PORTS, SDP_PATH, [], pod_ip=None)


def test_component_advertises_the_resolved_addresses_and_the_node_ports():
    c = config(webrtc={"advertiseHosts": ["node.example"], "advertiseUdpPort": 30189, "advertiseTcpPort": 30190})
    argv = component_command(c, PORTS, SDP_PATH, ["203.0.113.7", "203.0.113.8"], pod_ip=None)
    assert flag(argv, "--advertise-ip") == "203.0.113.7,203.0.113.8"
    assert flag(argv, "--advertise-udp-port") == "30189" and flag(argv, "--advertise-tcp-port") == "30190"


def test_ice_tcp_off_is_an_empty_listener():
    argv = component_command(config(webrtc={"iceTcp": False}), PORTS, SDP_PATH, [], pod_ip=None)
    assert flag(argv, "--ice-tcp") == ""


def test_whip_ports_only_with_whip_and_rtp_input_only_with_whep():
    argv = component_command(config(), PORTS, SDP_PATH, [], None)
    assert flag(argv, "--whip-out-video-port") == "40010" and flag(argv, "--whip-out-audio-port") == "40012"
    assert flag(argv, "--whip-out-sdp") == str(SDP_PATH)
    assert flag(argv, "--rtp-in-video-port") == "40020" and flag(argv, "--rtp-in-audio-port") == "40022"
    whep_only = ComponentPorts(control=SOCKET, whip_out=None, rtp_in=(40020, 40022))
    argv = component_command(config(["rtmp"]), whep_only, SDP_PATH, [], None)
    assert "--whip-out-video-port" not in argv and "--whip-out-sdp" not in argv
    whip_only = ComponentPorts(control=SOCKET, whip_out=(40010, 40012), rtp_in=None)
    argv = component_command(config(webrtc={"whep": False}), whip_only, SDP_PATH, [], None)
    assert "--rtp-in-video-port" not in argv


def test_whep_caps_are_the_configured_ones_or_the_defaults():
    argv = component_command(config(), PORTS, SDP_PATH, [], None)
    assert flag(argv, "--max-viewers") == "500"
    assert flag(argv, "--max-viewers-per-address") == "100" and flag(argv, "--max-viewers-per-token") == "5"
    caps = {"whepMaxViewers": 50, "whepMaxViewersPerAddress": 0, "whepMaxViewersPerToken": 2}
    argv = component_command(config(webrtc=caps), PORTS, SDP_PATH, [], None)
    assert flag(argv, "--max-viewers") == "50"
    assert flag(argv, "--max-viewers-per-address") == "0" and flag(argv, "--max-viewers-per-token") == "2"


# --- FFmpeg: a WHIP session, the WHEP feeder ----------------------------------------------------------------


def test_a_whip_session_reads_the_sdp_on_loopback_and_makes_aac_of_the_opus():
    url, options = whip_input(SDP_PATH)
    argv = session_command(config(), url, options, Path("/m/s"), audio_codec="aac")
    assert flag(argv, "-protocol_whitelist") == "file,udp,rtp" and flag(argv, "-localaddr") == "127.0.0.1"
    assert flag(argv, "-i") == str(SDP_PATH)
    # Long enough for the first keyframe on a loaded machine; no frame-rate guessing after it.
    assert flag(argv, "-analyzeduration") == "5000000" and flag(argv, "-fpsprobesize") == "0"
    tee = argv[-1]
    assert all(path in tee for path in ("pipe:1", "/m/s/cmaf/index.m3u8", "/m/s/ts/index.m3u8"))
    # One output (a tee) for every copy: the Opus becomes AAC once, for the feed and both HLS flavours.
    assert argv.count("-c:v") == 1 and argv.count("-c:a") == 1 and "aac" in argv
    assert all(argv[i + 1] == "copy" for i, a in enumerate(argv) if a == "-c:v")
    assert all(argv[i + 1] == "aac" for i, a in enumerate(argv) if a == "-c:a")
    assert "aac_adtstoasc" not in " ".join(argv), "the AAC encoder writes raw AAC already"


def test_other_sessions_still_copy_everything():
    argv = session_command(config(), "rtmp://127.0.0.1:1/live/feed", {"listen": 1}, Path("/m/s"))
    assert "-c:a" not in argv and argv.count("copy") == 1 and "aac_adtstoasc" in " ".join(argv)


def test_whep_feeder_copies_the_video_with_parameter_sets_in_band_and_makes_opus():
    argv = whep_feed_command("http://127.0.0.1:8080/feed", (40020, 40022), audio=True, transcode=None)
    assert flag(argv, "-i") == "http://127.0.0.1:8080/feed" and flag(argv, "-protocol_whitelist") == "http,tcp"
    assert flag(argv, "-c:v") == "copy" and flag(argv, "-bsf:v") == "h264_mp4toannexb"
    assert flag(argv, "-c:a") == "libopus" and flag(argv, "-ar") == "48000" and flag(argv, "-ac") == "2"
    rtp = [a for a in argv if a.startswith("rtp://")]
    assert rtp == [
        "rtp://127.0.0.1:40020?pkt_size=1200&localaddr=127.0.0.1",
        "rtp://127.0.0.1:40022?pkt_size=1200&localaddr=127.0.0.1",
    ]


def test_whep_feeder_encodes_without_b_frames_when_asked_and_skips_missing_audio():
    argv = whep_feed_command("http://127.0.0.1:8080/feed", (40020, 40022), audio=False, transcode=WhepTranscode(2400))
    assert flag(argv, "-c:v") == "libx264" and flag(argv, "-bf") == "0" and flag(argv, "-tune") == "zerolatency"
    assert flag(argv, "-b:v") == "2400k" and flag(argv, "-force_key_frames") == "expr:gte(t,n_forced*1)"
    assert "-c:a" not in argv and len([a for a in argv if a.startswith("rtp://")]) == 1


def test_the_feed_probe_reads_b_frames_from_the_feed_on_loopback(tmp_path):
    feed = "http://127.0.0.1:8080/feed"
    argv = feed_probe_command(FeedAccess(CredentialCheck(None)).ffconcat_input(feed, FEED_PROBE_OPTIONS))
    assert "stream=codec_type,codec_name,has_b_frames,bit_rate,width,height" in argv
    assert flag(argv, "-protocol_whitelist") == "http,tcp" and flag(argv, "-i") == feed


def test_the_feed_probe_presents_the_credential_from_an_ffconcat_script(tmp_path):
    """ffprobe has no -args_file: the header goes in a 0600 ffconcat script, never in its argv."""
    credential = tmp_path / "credential"
    credential.write_text("cred-xyz")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    feed = "http://127.0.0.1:8080/feed"
    argv = feed_probe_command(
        FeedAccess(CredentialCheck(str(credential)), private).ffconcat_input(feed, FEED_PROBE_OPTIONS)
    )
    assert not any("cred-xyz" in a for a in argv) and feed not in argv
    script = Path(flag(argv, "-i"))
    assert flag(argv, "-f") == "concat" and script.parent == private and script.stat().st_mode & 0o777 == 0o600
    lines = script.read_text().splitlines()
    assert lines[:3] == ["ffconcat version 1.0", f"file '{feed}'", "option headers 'Authorization: Bearer cred-xyz'"]
    assert "option rw_timeout '5000000'" in lines


# --- who may publish over WHIP -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Basic abc", None),
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
    ],
)
def test_bearer_token(header, token):
    assert bearer_token(header) == token


def test_the_stream_key_is_the_bearer_token():
    assert whip_refusal(config(), "Bearer " + KEY.decode(), KEY, live_kind=None) is None
    for header in (None, "Bearer nope", "Basic " + KEY.decode()):
        refusal = whip_refusal(config(), header, KEY, live_kind=None)
        assert refusal is not None and refusal.status == 401 and refusal.reason == UNAUTHORIZED
        assert refusal.headers["WWW-Authenticate"].startswith("Bearer")
        assert KEY.decode() not in refusal.message and "nope" not in refusal.message
    no_key_mounted = whip_refusal(config(), "Bearer " + KEY.decode(), None, live_kind=None)
    assert no_key_mounted is not None and no_key_mounted.status == 401


def test_a_stream_without_whip_refuses_before_looking_at_the_token():
    without = whip_refusal(config(["rtmp", "srt"]), None, KEY, live_kind=None)
    assert without is not None
    assert (without.status, without.reason, without.message) == (403, NOT_WHIP, NOT_WHIP_MESSAGE)
    pull = config(source={"pull": {"urls": ["rtmp://origin.example/live/a"]}})
    backup = config(role="backup")
    for c in (pull, backup):
        refusal = whip_refusal(c, "Bearer " + KEY.decode(), KEY, live_kind=None)
        assert refusal is not None and refusal.status == 403


def test_one_publisher_at_a_time_whatever_the_protocol():
    for kind in ("rtmp", "srt", "whip"):
        refusal = whip_refusal(config(), "Bearer " + KEY.decode(), KEY, live_kind=kind)
        assert refusal is not None and (refusal.status, refusal.reason) == (409, BUSY)
        assert refusal.message == f"another publisher ({kind}) is live on this stream key: one publisher at a time"
    wrong_key_while_live = whip_refusal(config(), "Bearer nope", KEY, live_kind="rtmp")
    assert wrong_key_while_live is not None and wrong_key_while_live.status == 401, "who is live is not told"
