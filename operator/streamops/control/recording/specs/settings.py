"""A Recording's effective settings: its own, else its stream's `recording` defaults."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import LiveStream, Recording


@dataclass(frozen=True)
class RecordingSettings:
    """A Recording's effective settings: its own, else its stream's `recording` defaults."""

    type: str
    reconnect_window_seconds: int
    max_segment_seconds: int
    min_duration_seconds: int


def recording_settings(recording: Recording, stream: LiveStream) -> RecordingSettings:
    spec, defaults = recording.spec, stream.spec.recording
    return RecordingSettings(
        type=spec.type or defaults.type,
        reconnect_window_seconds=(
            spec.reconnect_window_seconds
            if spec.reconnect_window_seconds is not None
            else defaults.reconnect_window_seconds
        ),
        max_segment_seconds=spec.max_segment_seconds or defaults.max_segment_seconds,
        min_duration_seconds=(
            spec.min_duration_seconds if spec.min_duration_seconds is not None else defaults.min_duration_seconds
        ),
    )
