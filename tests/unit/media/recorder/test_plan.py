"""The recorder's decisions (recorder/plan.py), without processes (see tests/media/test_recorder.py
for the real thing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from devtools.catalog import recorded_video
from streamops.api.recording import Video
from streamops.media.recorder.plan import (
    IN_FLIGHT_SECONDS,
    FrameGrid,
    PartTimeline,
    after_gap,
    concat_list,
    discard_reason,
    frame_grid,
    grid_spans,
    live_start,
    part_gaps,
    part_name,
    part_outcome,
    part_outpoints,
    part_time_limit,
    reconnect_deadline,
    recorded_seconds,
    room_to_join,
    room_to_record,
    says_no_space,
    space_short,
    stored_bytes,
    video_is_full,
    video_name,
    video_title,
)
from streamops.media.recorder.state import PartState, VideoState

T0 = datetime(2026, 11, 22, 8, 15, 3, tzinfo=UTC)
# --- source gaps ---


@pytest.mark.parametrize(
    ("gap", "window", "decision"),
    [
        (3, 10, "continue"),
        (9.9, 10, "continue"),
        (10, 10, "new"),  # "shorter than the window" continues; the window itself does not
        (15, 10, "new"),
        (0.5, 0, "new"),  # no window: every drop closes the video
        (6, 4, "new"),
    ],
)
def test_gap_continues_or_starts_a_new_video(gap: float, window: float, decision: str) -> None:
    assert after_gap(gap, window) == decision


def test_reconnect_deadline_is_counted_from_the_last_media() -> None:
    assert reconnect_deadline(T0, 10) == T0 + timedelta(seconds=10)


# --- splitting at maxSegmentSeconds ---


def test_part_limit_is_the_time_left_in_the_video() -> None:
    assert part_time_limit(0, 14400) == 14400
    assert part_time_limit(14000, 14400) == 400
    assert part_time_limit(12.5, 20) == 7.5  # after a drop, the next part only fills the video up
    assert part_time_limit(21, 20) == 0


def test_a_20_second_limit_over_50_seconds_gives_three_videos() -> None:
    """Play the recorder's split rule over a 50 s broadcast with no drops."""
    videos, left = [], 50.0
    while left > 0:
        part = min(part_time_limit(0, 20), left)
        assert part_outcome(part, part_time_limit(0, 20), stop_requested=False) == ("split" if part == 20 else "drop")
        videos.append(part)
        left -= part
    assert videos == [20, 20, 10]


def test_video_is_full_within_the_split_tolerance() -> None:
    assert not video_is_full(19, 20)
    assert video_is_full(19.8, 20)
    assert video_is_full(20, 20)


@pytest.mark.parametrize(
    ("seconds", "limit", "stop", "outcome"),
    [
        (20.0, 20.0, False, "split"),
        (19.97, 20.0, False, "split"),  # -t stops on the last packet before the limit
        (12.0, 20.0, False, "drop"),  # FFmpeg exits 0 on input EOF: still a drop
        (0.0, 20.0, False, "drop"),
        (12.0, 20.0, True, "stopped"),
        (20.0, 20.0, True, "stopped"),
    ],
)
def test_why_a_part_ended(seconds: float, limit: float, stop: bool, outcome: str) -> None:
    assert part_outcome(seconds, limit, stop) == outcome


# --- discarding ---


def test_short_video_is_discarded_with_a_reason() -> None:
    reason = discard_reason(5.2, 10)
    assert reason is not None and "5.2 s" in reason and "minDurationSeconds (10 s)" in reason
    assert discard_reason(10, 10) is None
    assert discard_reason(0.4, 0) is None


# --- names and titles ---


def test_title_pattern_uses_the_end_time_in_utc() -> None:
    assert video_title("Camera 1", T0) == "Stream Record: Camera 1, 2026-11-22 08:15:03 UTC"
    berlin = T0.astimezone(timezone(timedelta(hours=1)))
    assert video_title("x", berlin) == "Stream Record: x, 2026-11-22 08:15:03 UTC"


def test_video_names_are_unique() -> None:
    assert video_name(T0, []) == "record-20261122T081503Z"
    assert video_name(T0, ["record-20261122T081503Z"]) == "record-20261122T081503Z-2"
    assert video_name(T0, ["record-20261122T081503Z", "record-20261122T081503Z-2"]) == "record-20261122T081503Z-3"


def test_part_names_count_on_from_the_highest() -> None:
    assert part_name("v", []) == "v.001.mp4"
    assert part_name("v", ["v.001.mp4", "v.003.mp4"]) == "v.004.mp4"


def test_concat_list_takes_only_plain_names() -> None:
    assert concat_list(["v.001.mp4", "v.002.mp4"]) == "ffconcat version 1.0\nfile 'v.001.mp4'\nfile 'v.002.mp4'\n"
    for bad in ["../v.mp4", "/etc/passwd", "a'b.mp4", ".hidden.mp4", ""]:
        with pytest.raises(ValueError):
            concat_list([bad])


def test_concat_list_cuts_a_part_at_its_outpoint() -> None:
    assert concat_list(["v.001.mp4", "v.002.mp4"], [8.25, None]) == (
        "ffconcat version 1.0\nfile 'v.001.mp4'\noutpoint 8.250000\nfile 'v.002.mp4'\n"
    )


def test_concat_list_spans_a_part_over_the_gap_after_it() -> None:
    assert concat_list(["v.001.mp4", "v.002.mp4", "v.003.mp4"], [8.25, None, None], [9.0, 6.5, None]) == (
        "ffconcat version 1.0\nfile 'v.001.mp4'\noutpoint 8.250000\n"  # a cut part has no gap after it
        "file 'v.002.mp4'\nduration 6.500000\nfile 'v.003.mp4'\n"
    )


def live(wall_start: float | None, seconds: float) -> PartTimeline:
    return PartTimeline(None, seconds, closed=True, wall_start=wall_start)


def test_a_parts_live_start_is_its_least_lagging_progress_report() -> None:
    # The GOP cache's burst: 1.8 s written 0.3 s after the cached keyframe was live (at 1000.0 + delay).
    start = live_start(None, 1001.8 + 0.05, 1.8)
    assert start == pytest.approx(1000.05)
    assert live_start(start, 1003.5, 3.4) == pytest.approx(1000.05), "a late report says it later: not kept"
    assert live_start(start, 1004.0, 3.99) == pytest.approx(1000.01), "one that lags less is"


def test_a_reconnects_gap_is_the_wall_clocks_between_two_parts() -> None:
    # A handover: the predecessor's part was live from 1000.0 for 12.0 s; the successor's begins at
    # 1013.6 (the encoder's reconnect, the successor's first keyframe): 1.6 s the video keeps.
    parts = [live(1000.0, 12.0), live(1013.6, 5.0), live(1019.0, 3.0)]
    assert part_gaps(parts, [None, None, None]) == [pytest.approx(1.6), pytest.approx(0.4), 0.0]
    assert part_gaps([live(1000.0, 12.0), live(1012.05, 5.0)], [None, None]) == [0.0, 0.0], "noise, not a gap"
    assert part_gaps([live(1000.0, 12.0), live(1010.0, 5.0)], [None, None]) == [0.0, 0.0], "a replay: no gap"
    assert part_gaps([live(1000.0, 12.0), live(1013.6, 5.0)], [11.0, None]) == [0.0, 0.0], "cut: the replay's"
    assert part_gaps([live(None, 12.0), live(1013.6, 5.0)], [None, None]) == [0.0, 0.0], "unknown (an old state)"


def killed(start: float | None, seconds: float, read_at: float | None) -> PartTimeline:
    return PartTimeline(start, seconds, closed=False, read_at=read_at)


def test_a_part_replayed_from_the_gop_cache_cuts_the_one_before_where_it_starts() -> None:
    # Killed 9.3 s into a part that began at feed time 1.4 (wall 1000.0); started again 2 s later,
    # the next part begins on the cached keyframe at 9.4 (wall 1010.0): the first keeps 8.0 s.
    assert part_outpoints([killed(1.4, 9.3, 1000.0), killed(9.4, 5.0, 1010.0)]) == [8.0, None]
    # A chain of restarts: each cut where its successor begins.
    chain = [killed(1.4, 9.3, 1000.0), killed(9.4, 5.0, 1010.0), killed(13.4, 2.0, 1014.5)]
    assert part_outpoints(chain) == [8.0, 4.0, None]


def test_parts_that_do_not_replay_are_kept_whole() -> None:
    def two(first: PartTimeline, second: PartTimeline) -> list[float | None]:
        return part_outpoints([first, second])

    after = killed(9.4, 5.0, 1010.0)
    assert two(PartTimeline(1.4, 9.3, closed=True, read_at=1000.0), after) == [None, None]  # its session ended
    assert two(killed(1.4, 9.3, 1000.0), killed(12.0, 5.0, 1012.0)) == [None, None]  # a gap: the feed went on
    assert two(killed(5.0, 9.3, 1000.0), killed(5.5, 5.0, 1010.0)) == [None, None]  # not a second after its start
    assert two(killed(1.4, 60.0, 1000.0), killed(20.0, 5.0, 1060.0)) == [None, None]  # 41 s back: no GOP is that long
    assert two(killed(None, 9.3, 1000.0), after) == [None, None]  # unknown (a state from before)
    assert two(killed(1.4, 9.3, None), after) == [None, None]
    # Inside the killed part's span, but the feed's clock did not move with the wall clock: the
    # publisher reconnected meanwhile and its new session's timestamps fell there by chance.
    assert two(killed(1.4, 9.3, 1000.0), killed(7.4, 5.0, 1030.0)) == [None, None]
    assert part_outpoints([killed(1.4, 9.3, 1000.0)]) == [None]
    assert part_outpoints([]) == []


def test_a_failback_to_a_new_publisher_session_is_never_cut() -> None:
    """Measured in the failover media test: the backup's relayed media (part 2) ended when the
    primary's new publisher took back; the new session's timestamps fell 6.02 s into part 2."""
    backup = PartTimeline(30.0, 12.87, closed=True, read_at=1000.0)
    primary = PartTimeline(36.02, 3.0, closed=True, read_at=1013.0)
    assert part_outpoints([backup, primary]) == [None, None]


# --- what was recorded ---


def video_info(seconds: float, size: int = 1) -> Video:
    return recorded_video(seconds, size, at=T0, title=video_title("c", T0))


def test_recorded_seconds_count_finished_and_open_videos() -> None:
    open_video = VideoState(name="v", started_at=T0, parts=[PartState(file="v.001.mp4", seconds=4.25)])
    assert recorded_seconds([video_info(20), video_info(20)], [open_video]) == 44.25
    assert recorded_seconds([], []) == 0


# --- disk space ---


def test_the_open_video_closes_while_its_join_still_fits() -> None:
    mib = 1024 * 1024
    assert not space_short(free_bytes=100 * mib, unjoined_bytes=30 * mib, min_free_bytes=64 * mib)
    assert space_short(free_bytes=90 * mib, unjoined_bytes=30 * mib, min_free_bytes=64 * mib)
    assert space_short(free_bytes=0, unjoined_bytes=0, min_free_bytes=1)


def test_what_ffmpeg_writes_after_the_check_counts_twice() -> None:
    """It grows the part the join copies and takes the room of the copy (seen at load 18: a 4 MiB
    reserve overrun by 1.2 s of a 14 Mbit/s part, whose join then never fitted)."""
    mib = 1024 * 1024
    rate = 1.75 * mib  # 14 Mbit/s
    assert not space_short(free_bytes=14 * mib, unjoined_bytes=10 * mib, min_free_bytes=4 * mib)
    assert space_short(free_bytes=14 * mib, unjoined_bytes=10 * mib, min_free_bytes=4 * mib, bytes_per_second=rate)
    in_flight = 2 * int(rate * IN_FLIGHT_SECONDS)
    free = 10 * mib + in_flight + 4 * mib
    assert not space_short(free_bytes=free, unjoined_bytes=10 * mib, min_free_bytes=4 * mib, bytes_per_second=rate)


def test_a_new_video_waits_for_room_for_one_as_large_as_the_last() -> None:
    mib = 1024 * 1024
    assert room_to_record(free_bytes=8 * mib, unjoined_bytes=0, min_free_bytes=4 * mib, last_full_bytes=0)
    assert not room_to_record(free_bytes=7 * mib, unjoined_bytes=0, min_free_bytes=4 * mib, last_full_bytes=0)
    # A 24 MiB disk, 4 MiB reserve: the video was closed at 10 MiB of parts and joined: 14 MiB are
    # free. A new video would be closed at 5 MiB, the next at 2.5 ...: it waits instead.
    full = {"min_free_bytes": 4 * mib, "last_full_bytes": 10 * mib}
    assert not room_to_record(14 * mib, unjoined_bytes=0, **full)
    assert room_to_record(24 * mib, unjoined_bytes=0, **full), "the video was uploaded or deleted"
    assert not room_to_record(24 * mib, unjoined_bytes=11 * mib, **full)
    assert room_to_join(free_bytes=12 * mib, parts_bytes=10 * mib) and not room_to_join(10 * mib, 10 * mib)


def test_no_space_is_its_own_part_outcome_and_ffmpegs_words_for_it_are_known() -> None:
    assert part_outcome(5, 100, stop_requested=False, no_space=True) == "no_space"
    assert part_outcome(5, 100, stop_requested=True, no_space=True) == "stopped"
    assert says_no_space("[mp4 @ 0x55] Error writing trailer: No space left on device")
    assert not says_no_space("Connection refused")


def test_stored_bytes_count_videos_not_expired_and_parts() -> None:
    kept = video_info(3, size=100)
    gone = video_info(3, size=1000)
    gone.expired_at = T0
    assert stored_bytes([kept, gone], part_bytes=7) == 107


# --- the frame grid across a join ---

FRAME = 1 / 30


def rtmp_part(seconds: float) -> FrameGrid:
    """A part of an RTMP feed at 30 fps: millisecond timestamps, its first frame moved back to 0."""
    return FrameGrid(FRAME, first=0.0, on_grid=0.054, last=round(seconds - 0.054, 3))


def test_a_freeze_ends_on_the_frame_grid_of_the_part_before() -> None:
    # 6.0 s and a gap of 0.3 s, 0.0167 s more: the next part's frames would sit half a frame off.
    wanted = 6.0 + 0.3 + FRAME / 2
    [span, last] = grid_spans([wanted, 5.0], [rtmp_part(6.0), rtmp_part(5.0)], [6.0, 5.0])
    assert last is None
    assert span is not None and abs(span - wanted) <= FRAME / 2 + 1e-6, "the gap kept, within half a frame"
    frames_apart = (span + 0.054 - 0.054) / FRAME  # the two parts' reference frames
    assert frames_apart == pytest.approx(round(frames_apart), abs=1e-3)


def test_the_next_part_never_starts_before_the_end_of_the_one_before() -> None:
    # No gap (a replay cut elsewhere, or under the noise): it would start where the part ends, at
    # 6.021 s, where its audio ends; the grid's nearest start is earlier: the next one is taken.
    [span, _] = grid_spans([6.021, 5.0], [rtmp_part(6.0), rtmp_part(5.0)], [6.021, 5.0])
    assert span is not None and 6.021 <= span < 6.021 + FRAME
    assert round(span / FRAME, 3) == round(span / FRAME)
    # Nor on the last frame: the next part's first frame is a frame after it at least.
    late_first = FrameGrid(FRAME, first=0.0, on_grid=0.021, last=5.0)
    [span, _] = grid_spans([4.9, 5.0], [FrameGrid(FRAME, 0.0, 0.033, 5.0), late_first], [4.9, 5.0])
    assert span is not None and span >= 5.0 + FRAME / 2


def test_no_grid_is_kept_without_video_on_both_sides_or_at_another_frame_rate() -> None:
    wanted, seconds = [6.3, 5.0], [6.0, 5.0]
    assert grid_spans(wanted, [None, rtmp_part(5.0)], seconds) == [None, None], "audio only"
    assert grid_spans(wanted, [rtmp_part(6.0), FrameGrid(1 / 25, 0.0, 0.04, 4.96)], seconds) == [None, None]


def test_a_parts_frame_grid_is_read_from_ffprobe() -> None:
    probe = {
        "format": {"start_time": "0.000000"},
        "streams": [{"r_frame_rate": "30/1"}],
        "packets": [{"pts_time": t} for t in ("0.000000", "0.054000", "0.088000", "4.021000", "5.988000")],
    }
    assert frame_grid(probe) == FrameGrid(pytest.approx(FRAME), 0.0, 0.054, 5.988)
    assert frame_grid({**probe, "streams": [{"r_frame_rate": "90000/1"}]}) is None, "a time base, not a rate"
    assert frame_grid({**probe, "streams": [{"r_frame_rate": "0/0"}]}) is None
    assert frame_grid({**probe, "packets": probe["packets"][:1]}) is None, "one frame: no grid"
    assert frame_grid({}) is None
