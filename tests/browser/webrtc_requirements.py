"""What every WebRTC browser test needs: Debian's Chromium, and root with nsenter, since Chromium and
the media run in a network namespace whose only interface is `lo` (devtools.media.webrtc_browser)."""

from __future__ import annotations

import os
import shutil

import pytest
from devtools.media.browser import CHROMIUM


def webrtc_marks(what: str, timeout: float) -> list[pytest.MarkDecorator]:
    """The module's pytestmark: `what` names what runs in the namespace beside Chromium."""
    return [
        pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs {CHROMIUM} (Debian's chromium)"),
        pytest.mark.skipif(
            os.geteuid() != 0 or shutil.which("nsenter") is None,
            reason=f"needs root and nsenter: Chromium and {what} run in a network namespace with only lo",
        ),
        pytest.mark.timeout(timeout),
    ]
