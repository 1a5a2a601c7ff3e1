"""The one redaction (redaction.py): secrets as they are and percent-encoded, and any URL's userinfo."""

from __future__ import annotations

import pytest
from streamops.redaction import Redactor


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (
            "Error opening input file rtsp://cam:pw@127.0.0.1:8554/cam.",
            "Error opening input file rtsp://***@127.0.0.1:8554/cam.",
        ),
        (
            "Input #0, rtsp, from 'rtsps://u@cam.lan/s':",
            "Input #0, rtsp, from 'rtsps://***@cam.lan/s':",
        ),
        ("rtmp://h/live/a@b and srt://h:1?passphrase=x", "rtmp://h/live/a@b and srt://h:1?passphrase=x"),  # @ in a path
        ("two: http://a:b@h/x https://c@h/y", "two: http://***@h/x https://***@h/y"),
    ],
)
def test_url_userinfo_is_masked_wherever_it_appears(text, redacted):
    assert Redactor()(text) == redacted


def test_secrets_are_masked_as_they_are_and_percent_encoded():
    redact = Redactor(["k/ey 1"])
    assert redact("a k/ey 1 b k%2Fey%201 c") == "a *** b *** c"
