"""A publish session's pure parts (media/ingest/session.py): the live values (frame rate, speed,
bitrate) from the deltas of FFmpeg's progress, not its averages, once the span means something."""

from __future__ import annotations

from streamops.media.ffmpeg import Progress
from streamops.media.ingest.session import LiveMeter, LiveRates


def test_live_values_come_from_deltas_not_averages():
    meter = LiveMeter()
    # A slow start (cumulative average would say 15 fps) followed by steady 30 fps.
    meter.add(0.0, Progress(frame=0, out_time_us=0), 0)
    meter.add(10.0, Progress(frame=150, out_time_us=10_000_000), 1_000_000)
    meter.add(11.0, Progress(frame=180, out_time_us=11_000_000), 1_375_000)
    meter.add(12.0, Progress(frame=210, out_time_us=12_000_000), 1_750_000)
    rates = meter.rates()
    assert rates == LiveRates(frame_rate=30.0, transcoding_speed=1.0, bitrate=3_000_000)


def test_live_values_wait_for_a_meaningful_span():
    meter = LiveMeter()
    meter.add(0.0, Progress(frame=0, out_time_us=0), 0)
    meter.add(0.5, Progress(frame=40, out_time_us=500_000), 200_000)  # a start-up burst
    assert meter.rates().frame_rate is None, "half a second of start-up burst says nothing"
    meter.add(2.0, Progress(frame=85, out_time_us=2_000_000), 600_000)
    assert meter.rates().frame_rate == 42.5
