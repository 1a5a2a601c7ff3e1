"""What ffprobe's answers mean for a sidecar, without ffprobe."""

from __future__ import annotations

from streamops.media.videos.probe import codecs_of


def test_codecs_come_from_the_first_video_and_audio_streams() -> None:
    streams = [
        {"codec_type": "video", "codec_name": "h264", "profile": "High", "width": 1280, "height": 720},
        {"codec_type": "audio", "codec_name": "aac", "sample_rate": "48000"},
        {"codec_type": "video", "codec_name": "mjpeg", "width": 1, "height": 1},
    ]
    assert codecs_of(streams) == {
        "video": {"codec": "h264", "profile": "High", "width": 1280, "height": 720},
        "audio": {"codec": "aac", "sampleRate": 48000},
    }
    assert codecs_of([]) == {}
