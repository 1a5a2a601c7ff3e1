"""A Recording's effective settings: its own, else its stream's `recording` defaults."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import LiveStream, Recording
from streamops.api.recording import KeepOrigin, keeps_origin


@dataclass(frozen=True)
class RecordingSettings:
    """A Recording's effective settings: its own, else its stream's `recording` defaults."""

    type: str
    reconnect_window_seconds: int
    max_segment_seconds: int
    min_duration_seconds: int
    # The original kept beside each video: only a transcoded recording's (an origin recording's
    # video is the original already), its own keepOrigin else its stream's; None: not kept.
    keep_origin: KeepOrigin | None = None


def recording_settings(recording: Recording, stream: LiveStream) -> RecordingSettings:
    spec, defaults = recording.spec, stream.spec.recording
    type_ = spec.type or defaults.type
    keep_origin = spec.keep_origin if spec.keep_origin is not None else defaults.keep_origin
    return RecordingSettings(
        type=type_,
        reconnect_window_seconds=(
            spec.reconnect_window_seconds
            if spec.reconnect_window_seconds is not None
            else defaults.reconnect_window_seconds
        ),
        max_segment_seconds=spec.max_segment_seconds or defaults.max_segment_seconds,
        min_duration_seconds=(
            spec.min_duration_seconds if spec.min_duration_seconds is not None else defaults.min_duration_seconds
        ),
        keep_origin=keep_origin if keeps_origin(keep_origin) and type_ == "transcoded" else None,
    )
