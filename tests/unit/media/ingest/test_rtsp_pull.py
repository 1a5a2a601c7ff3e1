"""RTSP pulls, pure: the rtsp demuxer's options and protocol allow-list, the camera's credentials in
the URL only the `-args_file` FIFO carries, and what a failed attempt tells (rtsp_pull.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamops.api.livestream import PullRtsp
from streamops.contract.ingest import IngestConfig, PullFailure
from streamops.egress.media_destinations import PinnedMedia
from streamops.media.ffmpeg import ARGS_FILE_OPTION, UnsafeUri, args_file_text
from streamops.media.ingest.commands import pull_input, session_command
from streamops.media.ingest.rtsp_pull import (
    USERINFO_MAX,
    CredentialsUnreadable,
    PullCredentials,
    credentialed_url,
    failure,
    input_through_args_file,
    read_credentials,
    rtsp_input_options,
)
from streamops.media.ingest.worker import IngestWorker
from streamops.redaction import Redactor

CAMERA = "rtsp://cam.lan:554/Streaming/Channels/101"
CREDENTIALS = PullCredentials("ad:min", "p@ss/w rd'\"")


def pull_config(**overrides) -> IngestConfig:
    return IngestConfig.model_validate({"stream": "cam", "source": {"pull": {"urls": [CAMERA]}}, **overrides})


@pytest.mark.parametrize(
    ("url", "transport", "whitelist"),
    [
        (CAMERA, "tcp", "tcp"),  # interleaved: the RTSP connection alone (measured on FFmpeg 7.1)
        (CAMERA, "udp", "rtp,udp,tcp"),  # RTP/RTCP sockets beside it
        ("rtsps://cam.lan:322/s", "tcp", "tls,tcp"),
        ("rtsps://cam.lan:322/s", "udp", "tls,tcp"),  # FFmpeg interleaves rtsps whatever is asked
    ],
)
def test_the_allow_list_is_what_the_transport_needs(url, transport, whitelist):
    options = rtsp_input_options(url, PullRtsp(transport=transport))
    assert options["protocol_whitelist"] == whitelist
    assert options["rtsp_transport"] == transport
    assert "file" not in options["protocol_whitelist"].split(",")


def test_rtsp_pull_input_has_the_demuxer_timeout_not_rw_timeout():
    """rw_timeout is a protocol option: FFmpeg 7.1's rtsp demuxer refuses it ("Option rw_timeout not
    found") and would never open the camera; its own `timeout` bounds every socket read."""
    url, options = pull_input(CAMERA)
    assert url == CAMERA
    assert options["timeout"] == 5_000_000 and "rw_timeout" not in options
    assert options["rtsp_transport"] == "tcp", "the default transport"
    assert options["analyzeduration"] == 100_000, "probing as short as the other pulls"
    assert pull_input("rtmp://h/live/a")[1]["rw_timeout"] == 5_000_000, "other schemes unchanged"


@pytest.mark.parametrize("url", ["rtsp://admin:12345@cam.lan/1", "rtsps://admin@cam.lan/1", "rtspu://cam.lan/1"])
def test_rtsp_urls_with_userinfo_or_another_scheme_are_refused(url):
    with pytest.raises(UnsafeUri):
        pull_input(url)


def test_credentials_are_percent_encoded_into_rtsp_urls_only():
    url = credentialed_url(CAMERA, CREDENTIALS)
    assert url == "rtsp://ad%3Amin:p%40ss%2Fw%20rd%27%22@cam.lan:554/Streaming/Channels/101"
    assert credentialed_url("rtmp://origin/live/a", CREDENTIALS) == "rtmp://origin/live/a", "never to other origins"
    assert credentialed_url(CAMERA, None) == CAMERA


def test_the_credentialed_url_reaches_ffmpeg_through_the_args_file_only(tmp_path):
    url, options = pull_input(CAMERA)
    secret_url = credentialed_url(url, CREDENTIALS)
    argv = session_command(pull_config(), secret_url, options, tmp_path / "s")
    fifo = tmp_path / "pull.args"
    shown, hidden = input_through_args_file(argv, secret_url, fifo)
    text = " ".join(shown)
    assert CREDENTIALS.password not in text and "p%40ss" not in text and "ad%3Amin" not in text
    assert "@cam.lan" not in text and "cam.lan" not in text, "the whole URL is in the FIFO"
    assert hidden == ["-i", secret_url]
    at = shown.index(ARGS_FILE_OPTION)
    assert shown[at + 1] == str(fifo) and "-i" not in shown[:at], "it stands where -i stood"
    assert shown[shown.index("-protocol_whitelist") + 1] == "tcp", "the input's options stay in sight"
    assert shown.index("-rtsp_transport") < at
    assert args_file_text(hidden) == b"-i\0" + secret_url.encode() + b"\0"
    assert shown[:at] + hidden + shown[at + 2 :] == argv, "FFmpeg splices back the same command line"


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_credentials_are_read_from_the_mounted_files(tmp_path):
    config = pull_config(
        pullUsernameFile=write(tmp_path / "username", "cam\n"),
        pullPasswordFile=write(tmp_path / "password", "s3cret pass\n"),
    )
    assert read_credentials(config) == PullCredentials("cam", "s3cret pass")
    assert read_credentials(pull_config()) is None, "no credentials configured"


@pytest.mark.parametrize(
    ("username", "password", "says"),
    [
        (None, "pw", "missing"),
        ("", "pw", "empty"),
        ("cam", "two\nlines", "line break"),
        ("cam", "x" * USERINFO_MAX, "too long"),
    ],
)
def test_unusable_credentials_say_why_without_the_values(tmp_path, username, password, says):
    user_file = tmp_path / "username"
    if username is not None:
        user_file.write_text(username)
    config = pull_config(pullUsernameFile=str(user_file), pullPasswordFile=write(tmp_path / "password", password))
    with pytest.raises(CredentialsUnreadable) as e:
        read_credentials(config)
    assert says in str(e.value) and password not in str(e.value)


FFMPEG_401 = [  # FFmpeg 7.1.3 against GStreamer's RTSP server with a wrong password, redacted
    "[rtsp @ 0x55a9b559f940] method DESCRIBE failed: 401 Unauthorized",
    "[in#0 @ 0x55a9b559f640] Error opening input: Server returned 401 Unauthorized (authorization failed)",
    "Error opening input file rtsp://***@127.0.0.1:18555/cam.",
    "Error opening input files: Server returned 401 Unauthorized (authorization failed)",
]


def test_a_401_says_the_server_refused_the_credentials():
    failed = failure(0, CAMERA, FFMPEG_401, FFMPEG_401[-1], credentialed=True)
    assert failed.kind == "credentials-refused" and failed.url == CAMERA and failed.url_index == 0
    assert failed.message.startswith("the RTSP server refused the credentials")


def test_a_401_without_credentials_asks_for_them():
    failed = failure(1, CAMERA, FFMPEG_401, FFMPEG_401[-1], credentialed=False)
    assert failed.kind == "credentials-refused" and "set source.pull.credentialsSecretRef" in failed.message


def test_other_failures_keep_ffmpegs_line():
    line = "[tcp @ 0x1] Connection to tcp://127.0.0.1:18599?timeout=5000000 failed: Connection refused"
    failed = failure(2, CAMERA, [line], line, credentialed=True)
    assert failed.kind == "failed" and failed.message == line


def test_a_refused_origin_certificate_says_so_naming_host_and_port():
    for url, host in (
        ("rtmps://10.0.0.5:1936/live/secret-name", "10.0.0.5:1936"),
        ("https://o.example/a.m3u8", "o.example:443"),
    ):
        for line, why in (
            ("[tls @ 0x55d0] Peer certificate failed verification", "no trusted CA signed it"),
            ("[tls @ 0x55d0] The certificate's owner does not match hostname 10.0.0.5", "it does not name the host"),
        ):
            last = "Error opening input: Input/output error"
            failed = failure(0, url, [line, last], last, credentialed=False)
            assert failed.kind == "failed" and failed.message.startswith(
                f"the certificate of the origin {host} is not trusted ({why}): nothing was sent to it"
            ), failed.message
            assert "source.pull.tls.caSecretRef" in failed.message and "secret-name" not in failed.message


def test_a_missing_ca_file_fails_closed_before_ffmpeg_runs(tmp_path):
    config = IngestConfig.model_validate(
        {
            "stream": "cam",
            "source": {"pull": {"urls": ["rtmps://10.0.0.5:1936/live/s"]}},
            "mediaDir": str(tmp_path / "media"),
            "pullTlsCaFile": str(tmp_path / "absent" / "ca.crt"),
        }
    )
    url = "rtmps://10.0.0.5:1936/live/s"
    attempt = IngestWorker(config).pull.session(0, url, None, PinnedMedia(url))
    assert isinstance(attempt, PullFailure) and attempt.kind == "failed"
    assert attempt.message.startswith("the CA file of source.pull.tls.caSecretRef is missing in the ingest Pod")


def test_the_redactor_masks_every_form_of_the_credentials():
    redact = Redactor(CREDENTIALS.secrets())
    dumped = f"Input #0, rtsp, from '{credentialed_url(CAMERA, CREDENTIALS)}':"
    assert redact(dumped) == "Input #0, rtsp, from 'rtsp://***@cam.lan:554/Streaming/Channels/101':"
    basic = "Authorization: Basic YWQ6bWluOnBAc3MvdyByZCci"
    assert "YWQ6bWlu" not in redact(basic), "the Basic header FFmpeg logs at debug level"
    assert redact("password p@ss/w rd'\" again") == "password *** again"


def test_every_copied_output_keeps_the_cameras_audio(tmp_path):
    """FFmpeg 7.1's stream copy dropped an RTSP camera's AAC (its packets lack the key flag): each
    copying output of an RTSP session copies audio from the first packet; other sources do not."""
    argv = session_command(pull_config(), *pull_input(CAMERA), tmp_path / "s")
    assert argv.count("-copyinkf:a") == argv.count("copy") == 1, "on the one output of every copy (a tee)"
    assert "-copyinkf:a" not in session_command(pull_config(), *pull_input("rtmp://h/live/a"), tmp_path / "s")


@pytest.mark.parametrize("insecure", [False, True])
def test_a_pinned_rtsps_camera_is_verified_against_its_name(tmp_path, insecure):
    """The egress guard hands the session the checked address, the name in `verifyhost` (our FFmpeg's
    rtsp patch takes it with tls_verify); unverified (insecureSkipVerify), the demuxer gets no
    verifyhost, which only verification uses."""
    url = "rtsps://cam.example:322/s"
    tls = {"tls": {"insecureSkipVerify": True}} if insecure else {}
    config = IngestConfig.model_validate(
        {"stream": "cam", "source": {"pull": {"urls": [url], **tls}}, "mediaDir": str(tmp_path / "media")}
    )
    worker = IngestWorker(config)
    pinned = PinnedMedia("rtsps://93.184.216.34:322/s", {"verifyhost": "cam.example"})
    session = worker.pull.session(0, url, None, pinned)
    assert not isinstance(session, PullFailure)
    try:
        argv = session.process.argv
        assert argv[argv.index("-i") + 1] == "rtsps://93.184.216.34:322/s", "the checked address, not the name"
        if insecure:
            assert "-verifyhost" not in argv and "-tls_verify" not in argv
        else:
            assert argv[argv.index("-verifyhost") + 1] == "cam.example" and "-tls_verify" in argv
    finally:
        for fd in session.feed_pipe:
            os.close(fd)
