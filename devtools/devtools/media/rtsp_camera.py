"""An IP camera on 127.0.0.1 for the RTSP pull tests: GStreamer's RTSP server (Debian's
libgstrtspserver 1.22 through PyGObject: rtsp_camera_server.py, run by the system's python3 since
python3-gi is not in the venv) serving a live 640x360 25 fps H.264 test pattern with AAC audio at
rtsp://127.0.0.1:<port>/cam, with basic authentication when a user is given, over TLS (rtsps://)
when `tls` is. Nobody here wrote its RTSP stack. On the local cluster's LAN: `address` the LAN
host's (network.OUTSIDE_IP) and `netns` its namespace, as the other LAN peers.

Started and stopped by PID (the _Peer base: its process group, even when the test fails);
`restart()` brings it back on the same port (a camera that drops and comes back). The password is
in a 0600 file of the workdir, never on its command line.

    with RtspCamera(tmp_path / "cam", user="cam", password="s3cret") as camera:
        camera.url  # rtsp://127.0.0.1:<port>/cam (no credentials: they go in the stream's Secret)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devtools.media.peers import _Peer
from devtools.pki import new_ca, sign_server
from devtools.ports import LOOPBACK, free_port, tcp_accepts
from devtools.waits import wait_for

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with python3-gi and gir1.2-gst-rtsp-server-1.0
SERVER_SCRIPT = Path(__file__).with_name("rtsp_camera_server.py")
PATH = "cam"


def rtsp_camera_available() -> bool:
    """The system python3 can load GStreamer's RTSP server library (hack/deps.sh installs it)."""
    if not os.access(SYSTEM_PYTHON, os.X_OK) or shutil.which("gst-inspect-1.0") is None:
        return False
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30).returncode == 0


class RtspCamera(_Peer):
    """GStreamer's RTSP server on 127.0.0.1:`port` (a free one unless given), one mount (/cam)."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        user: str | None = None,
        password: str = "",
        tls: bool = False,
        port: int | None = None,
        address: str = LOOPBACK,
        netns: str | None = None,
    ) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        super().__init__(self.dir / "rtsp-camera.log", netns=netns)
        self.user, self.password, self.tls, self.address = user, password, tls, address
        with self._where():  # a port free where it runs
            self.port = port or free_port()
        self.password_file = self.dir / "password"
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        self.ca: Path | None = None
        self.cert_and_key: Path | None = None
        if tls:  # GstRTSPAuth takes one PEM with the certificate and its key
            self.ca = new_ca(self.dir / "pki", "rtsp camera test CA")
            now = datetime.now(UTC)
            valid = (now - timedelta(hours=1), now + timedelta(days=1))
            crt, key = sign_server(self.dir / "pki", "camera", (address,), *valid)
            self.cert_and_key = self.dir / "pki" / "camera.pem"
            self.cert_and_key.write_bytes(crt.read_bytes() + key.read_bytes())

    @property
    def url(self) -> str:
        """The stream's URL as a LiveStream lists it: no userinfo."""
        return f"{'rtsps' if self.tls else 'rtsp'}://{self.address}:{self.port}/{PATH}"

    def command(self) -> list[str]:
        argv = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--address", self.address, "--port", str(self.port), "--path", PATH]
        if self.user is not None:
            argv += ["--user", self.user, "--password-file", str(self.password_file)]
        if self.cert_and_key is not None:
            argv += ["--cert", str(self.cert_and_key)]
        return argv

    def _ready(self) -> None:
        def up() -> bool:
            self._check_alive()
            with self._where():
                return tcp_accepts(self.port, self.address)

        wait_for(up, timeout=20, interval=0.1, what=f"RTSP camera on {self.address}:{self.port}")
