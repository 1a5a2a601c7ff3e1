"""The pusher's FFmpeg command (media/pusher/commands.py) without running it: the stream key appended
to the target (read from its file, checked, never quoted), the target verified for rtmps, neither the
key, the target URL nor the feed's credential on the command line (all in the -args_file FIFO), a
silent track only for a feed known to have no audio."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from streamops.contract.pusher import PusherConfig
from streamops.media.ffmpeg import ARGS_FILE_OPTION, RW_TIMEOUT_US, UnsafeUri, args_file_text
from streamops.media.pusher.commands import (
    PushCommand,
    PushTarget,
    StreamKeyError,
    needs_silence,
    push_command,
    push_target,
    read_stream_key,
)
from streamops.media.pusher.plan import (
    telling_error,
    untrusted_certificate,
)

FEED = "http://10.0.0.7:8080/feed"


def value(argv: list[str], flag: str, after: int = 0) -> str:
    """The value of the first `flag` at or after index `after`."""
    return argv[argv.index(flag, after) + 1]


@pytest.mark.parametrize("feed", ["https://x/feed", "file:///feed.ts", "rtmp://x/live", "http://u:p@x/feed"])
def test_feed_must_be_plain_http(feed):
    with pytest.raises(ValidationError, match=r"feedUrl|credentials"):
        PusherConfig.model_validate({"stream": "cam", "feedUrl": feed, "uri": "rtmp://x/live", "noAudioMode": "drop"})
    with pytest.raises(UnsafeUri):
        push_command(feed, push_target("rtmp://x/live", None), add_silence=False, args_file=ARGS)


# --- the key ----------------------------------------------------------------------------------------


def test_rtmp_key_is_the_stream_name():
    t = push_target("rtmp://a.rtmp.youtube.com/live2", "abcd-efgh-ijkl-mnop")
    assert (t.url, t.options, t.format, t.whitelist) == (
        "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop",
        {},
        "flv",
        "rtmp,tcp",
    )
    assert push_target("rtmp://h/app/", "k").url == "rtmp://h/app/k"  # no double slash
    assert push_target("rtmp://h/app?token=t", "k").url == "rtmp://h/app/k?token=t"


def test_rtmps_key_keeps_platform_query_as_is():
    # Facebook-style keys carry their own query: the stream name is sent exactly as handed out.
    key = "FB-1234567890-0-AbCdEf?s_bl=1&s_psm=1&a=Zz9"
    t = push_target("rtmps://live-api-s.facebook.com:443/rtmp/", key)
    assert t.url == f"rtmps://live-api-s.facebook.com:443/rtmp/{key}"
    assert (t.format, t.whitelist) == ("flv", "rtmps,rtmp,tls,tcp")


def test_srt_key_is_the_stream_id_byte_for_byte():
    # FFmpeg 5.1 does not percent-decode `streamid=` (it would send "%23"), so the key travels in
    # the -srt_streamid option instead, special characters and all; the URL stays the user's.
    key = "sk#1&x=y/ü+%41?"
    t = push_target("srt://push.example.com:9000?mode=caller", key)
    assert t.url == "srt://push.example.com:9000?mode=caller"
    assert t.options == {"srt_streamid": key}
    assert (t.format, t.whitelist) == ("mpegts", "srt,udp")
    argv = expanded(push_command(FEED, t, add_silence=False, args_file=ARGS), t)
    assert value(argv, "-srt_streamid") == key
    assert argv[-1] == "srt://push.example.com:9000?mode=caller"


def test_an_rtmps_target_is_verified_unless_told_not_to():
    """FFmpeg's tls protocol verifies nothing by default (tls_verify 0): the pusher asks for it, against
    the system's trust or the CA file, before the key (in the URL that follows) is sent."""
    key = "yt-key-1234"
    t = push_target("rtmps://a.rtmp.youtube.com/live2", key)
    assert t.options == {"tls_verify": "1"}, "the system's trust store"
    argv = expanded(push_command(FEED, t, add_silence=False, args_file=ARGS), t)
    assert value(argv, "-tls_verify") == "1" and argv.index("-tls_verify") < argv.index(t.url), "an output option"
    ca = push_target("rtmps://10.0.0.5:1936/live", key, ca_file="/ca/ca.crt")
    assert ca.options == {"tls_verify": "1", "ca_file": "/ca/ca.crt"}
    assert push_target("rtmps://10.0.0.5:1936/live", key, insecure_skip_verify=True).options == {}
    assert push_target("rtmp://h/live", key, ca_file="/ca/ca.crt").options == {}, "no TLS, nothing to verify"
    assert push_target("srt://h:1?mode=caller", key, ca_file="/ca/ca.crt").options == {"srt_streamid": key}


def test_a_refused_certificate_says_so_naming_the_host_not_the_key():
    for line, why in [
        ("[tls @ 0x55d0] Peer certificate failed verification", "no trusted CA signed it"),
        ("[tls @ 0x55d0] The certificate's owner does not match hostname 10.0.0.5", "it does not name the host"),
    ]:
        lines = [line, "[out#0/flv @ 0x1] Error opening output rtmps://10.0.0.5:1936/live/***: I/O error"]
        message = telling_error(lines, "rtmps://10.0.0.5:1936/live", 1)
        assert message == untrusted_certificate(lines, "rtmps://10.0.0.5:1936/live")
        assert message.startswith(f"the certificate of the target 10.0.0.5:1936 is not trusted ({why}): nothing")
        assert "tls.caSecretRef" in message and "***" not in message
    assert untrusted_certificate(["Connection refused"], "rtmps://h/live") is None


def test_no_key_leaves_the_target_alone():
    assert push_target("rtmp://h/app/stream", None).url == "rtmp://h/app/stream"
    assert push_target("srt://h:1?mode=caller", None).options == {}


@pytest.mark.parametrize("key", ["with space", "tab\there", "nl\nx", "nul\x00", "del\x7f"])
def test_keys_with_whitespace_or_control_characters_are_refused_without_quoting_them(key):
    for uri in ("rtmp://h/app", "srt://h:1"):
        with pytest.raises(StreamKeyError) as err:
            push_target(uri, key)
        assert key not in str(err.value)


def test_key_length_limits():
    push_target("srt://h:1", "k" * 512)
    with pytest.raises(StreamKeyError, match="longer than 512"):
        push_target("srt://h:1", "k" * 513)
    with pytest.raises(StreamKeyError, match="longer than 1024"):
        push_target("rtmp://h/app", "k" * 1025)


def test_read_stream_key(tmp_path):
    path = tmp_path / "key"
    path.write_text("s3cret-value\n")  # Secrets written by hand often end with a newline
    assert read_stream_key(str(path)) == "s3cret-value"
    path.write_text("\n")
    with pytest.raises(StreamKeyError, match="empty"):
        read_stream_key(str(path))
    with pytest.raises(StreamKeyError, match="cannot read") as err:
        read_stream_key(str(tmp_path / "missing"))
    assert "s3cret" not in str(err.value)


# --- the FFmpeg command -------------------------------------------------------------------------------

ARGS = Path("/run/streamops/private/target.args")


def expanded(command: PushCommand, target: PushTarget) -> list[str]:
    """The command line our FFmpeg acts on: `-args_file` (last) replaced by what the worker writes."""
    argv = command.argv
    i = argv.index(ARGS_FILE_OPTION)
    assert argv[i + 1 :] == [str(ARGS)], "-args_file ends the command line: the feed's -i on is in the file"
    assert command.file_args[-len(target.secret_args()) :] == target.secret_args(), "the target ends it"
    return argv[:i] + command.file_args


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("rtmp://a.rtmp.youtube.com/live2", "yt-key-abcd-efgh"),
        ("rtmps://live-api-s.facebook.com:443/rtmp/", "FB-123-0-AbC?s_bl=1&a=Zz9"),
        ("srt://push.example.com:9000?mode=caller", "srt-key#1"),
    ],
)
def test_the_key_and_the_target_url_are_never_on_the_command_line(uri, key):
    """Any process on the node reads /proc/<pid>/cmdline: the key reaches FFmpeg through the FIFO."""
    target = push_target(uri, key)
    for silence in (False, True):
        argv = push_command(FEED, target, add_silence=silence, args_file=ARGS).argv
        assert not any(key in a for a in argv) and target.url not in argv
        assert key in "".join(target.secret_args())
    assert args_file_text(["-srt_streamid", "a b", "srt://h:1"]) == b"-srt_streamid\0a b\0srt://h:1\0"
    with pytest.raises(ValueError, match="NUL"):
        args_file_text(["bad\0arg"])


def test_command_copies_to_rtmp_with_allow_lists_and_timeouts():
    target = push_target("rtmp://h:1935/live", "k")
    argv = expanded(push_command(FEED, target, add_silence=False, args_file=ARGS), target)
    i = argv.index("-i")
    assert argv[i + 1] == FEED
    # input options (before -i): MPEG-TS over plain HTTP only, a frozen feed ends the run
    assert value(argv, "-f") == "mpegts" and argv.index("-f") < i
    assert value(argv, "-protocol_whitelist") == "http,tcp"
    assert value(argv, "-rw_timeout") == str(RW_TIMEOUT_US)
    # output options (after -i): copy, FLV, the target's own allow-list and timeout
    assert value(argv, "-c", i) == "copy"
    assert value(argv, "-f", i) == "flv"
    assert value(argv, "-protocol_whitelist", i) == "rtmp,tcp"
    assert value(argv, "-rw_timeout", i) == str(RW_TIMEOUT_US)
    assert [argv[j + 1] for j, a in enumerate(argv) if a == "-map"] == ["0:v:0?", "0:a:0?"]
    assert argv[-1] == "rtmp://h:1935/live/k"
    assert "-progress" in argv and "libx264" not in argv and "-c:v" not in argv  # never a transcode


def test_command_to_srt_is_mpegts():
    target = push_target("srt://h:9000?mode=caller", None)
    argv = expanded(push_command(FEED, target, add_silence=False, args_file=ARGS), target)
    i = argv.index("-i")
    assert (value(argv, "-f", i), value(argv, "-protocol_whitelist", i)) == ("mpegts", "srt,udp")


def test_silence_adds_an_encoded_silent_track_and_copies_video():
    target = push_target("rtmp://h/live", "k")
    argv = expanded(push_command(FEED, target, add_silence=True, args_file=ARGS), target)
    assert argv.count("-i") == 2 and value(argv, "-i", argv.index("-i") + 1).startswith("anullsrc")
    assert [argv[j + 1] for j, a in enumerate(argv) if a == "-map"] == ["0:v:0", "1:a:0"]
    assert (value(argv, "-c:v"), value(argv, "-c:a")) == ("copy", "aac")
    assert "-shortest" in argv  # the silent source never ends: the feed decides


def test_silence_only_when_the_feed_is_known_to_have_no_audio():
    assert needs_silence("silence", [0x1B])
    assert not needs_silence("silence", [0x1B, 0x0F])
    assert not needs_silence("silence", [0x1B, 0x06])  # private data may be Opus/AC-3: keep it
    assert not needs_silence("silence", None)
    assert not needs_silence("drop", [0x1B])


def test_the_feeds_credential_is_in_the_args_file_before_the_feeds_input():
    """The stream's worker credential reaches FFmpeg as the feed input's `-headers`, through the
    same FIFO as the target (our FFmpeg splices one `-args_file`), never on its command line."""
    target = push_target("rtmp://h/live", "k")
    header = ["-headers", "Authorization: Bearer cred-xyz\r\n"]
    for silence in (False, True):
        command = push_command(FEED, target, add_silence=silence, args_file=ARGS, header_args=header)
        assert not any("cred-xyz" in a for a in command.argv) and FEED not in command.argv
        argv = expanded(command, target)
        i = argv.index("-i")
        assert argv[i + 1] == FEED and value(argv, "-headers") == header[1] and argv.index("-headers") < i
        assert value(argv, "-rw_timeout") == str(RW_TIMEOUT_US) and argv.index("-rw_timeout") < i, "as before"
