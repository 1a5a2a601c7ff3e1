"""PlaybackPolicy: its status loop (docs/design/playback-rules.md)."""
