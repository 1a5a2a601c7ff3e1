"""The recorder's FFmpeg command lines and what it reads from FFmpeg's input dump, without FFmpeg."""

from __future__ import annotations

from streamops.media.recorder.commands import input_start, join_command, part_command, repair_command

FEED = "http://cam-ingest.streams.svc:8080/feed"


def test_input_start_is_read_from_ffmpegs_input_dump() -> None:
    assert input_start("  Duration: N/A, start: 6.654511, bitrate: N/A") == 6.654511
    assert input_start("  Duration: 00:00:10.02, start: 1.400000, bitrate: 803 kb/s") == 1.4
    assert input_start("Input #0, mpegts, from 'http://feed/':") is None
    assert input_start("  Stream #0:0[0x100]: Video: h264, start: 3.0,") is None


# --- command lines ---


def test_part_command_copies_the_feed_into_fragmented_mp4() -> None:
    argv = part_command(FEED, "/rec/.parts/v.001.mp4", 7.5)
    i = argv.index("-i")
    inputs, outputs = argv[:i], argv[i + 2 :]
    assert argv[i + 1] == FEED
    assert inputs[inputs.index("-protocol_whitelist") + 1] == "http,tcp"
    assert "-rw_timeout" in inputs  # a frozen feed fails the part instead of hanging it
    assert int(inputs[inputs.index("-analyzeduration") + 1]) <= 1_000_000  # no 5 s default probing
    assert outputs[outputs.index("-c") + 1] == "copy"
    assert outputs[outputs.index("-t") + 1] == "7.500"
    assert outputs[outputs.index("-movflags") + 1] == "frag_keyframe+empty_moov+default_base_moof"
    assert outputs[outputs.index("-bsf:a") + 1] == "aac_adtstoasc"
    assert outputs[-1] == "/rec/.parts/v.001.mp4"


def test_join_and_repair_commands_copy_and_read_local_files_only() -> None:
    join = join_command("/rec/.parts/v.ffconcat", "/rec/.v.joining.mp4")
    i = join.index("-i")
    assert join[join.index("-f") + 1] == "concat" and join.index("-f") < i
    assert join[join.index("-safe") + 1] == "1"
    assert join[join.index("-protocol_whitelist") + 1] == "file"
    assert join[join.index("-movflags") + 1] == "+faststart"
    assert join[join.index("-c") + 1] == "copy"

    repair = repair_command("/rec/.parts/v.001.mp4", "/rec/.parts/v.001.fixed.mp4")
    assert repair[repair.index("-fflags") + 1] == "+discardcorrupt" and repair.index("-fflags") < repair.index("-i")
    assert repair[repair.index("-c") + 1] == "copy"
