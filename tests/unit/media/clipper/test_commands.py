"""The clipper's FFmpeg (media/clipper/commands.py): the keyframe at or before the start, the
copying cut and the exact (re-encoding) one."""

from __future__ import annotations

from streamops.media.clipper.commands import exact_cut, keyframe_cut, parse_keyframes


def test_keyframe_pick_and_the_cuts():
    keyframes = parse_keyframes("1.400000\n", "1.400000,K__\n1.440000,___\n2.400000,K__\n3.400000,K_\n")
    assert keyframes.start == 1.4 and keyframes.times == (1.4, 2.4, 3.4)
    assert keyframes.at_or_before(3.39) == 2.4 and keyframes.at_or_before(2.4) == 2.4
    assert keyframes.at_or_before(0.5) == 1.4
    copy = keyframe_cut("in.ts", "out.mp4", 1.0, 5.5)  # type: ignore[arg-type]
    assert copy[copy.index("-c") + 1] == "copy" and "+faststart" in copy
    assert copy.index("-ss") < copy.index("-i"), "an input seek: lands on the keyframe"
    exact = exact_cut("in.ts", "out.mp4", 1.25, 5.5)  # type: ignore[arg-type]
    assert "libx264" in exact and exact[exact.index("-t") + 1] == "5.500000" and "+faststart" in exact
