"""An IP camera for the tests: GStreamer 1.22's RTSP server (libgstrtspserver, through PyGObject)
serving a live test pattern as H.264 + AAC (MPEG4-GENERIC, as cameras send it) at /<path>, with
basic authentication when a user is given, and RTSPS when a certificate is.

Run by the system's python3 (python3-gi is Debian's, not the venv's) from rtsp_camera.py, which
starts and stops it by PID. Listens on the address given (127.0.0.1 in the tests) only. The
password is read from a file (never this process's command line). Prints "ready <port>" on stdout
once it listens.

    /usr/bin/python3 rtsp_camera_server.py --address 127.0.0.1 --port 8554 --path cam --user cam \
        --password-file pw [--cert cert-and-key.pem]
"""
# mypy: ignore-errors
# (PyGObject has no stubs in the venv that type-checks the harness; this file is run by /usr/bin/python3)

from __future__ import annotations

import argparse
import signal
import sys

import gi  # type: ignore[import-not-found]

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gio, GLib, Gst, GstRtspServer  # type: ignore[import-not-found]  # noqa: E402

# One keyframe a second (25 fps): a pull goes live within a GOP. zerolatency: no B-frames, no lookahead.
PIPELINE = (
    "( videotestsrc is-live=true pattern=smpte ! video/x-raw,width=640,height=360,framerate=25/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bitrate=600 "
    "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 "
    "audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate=48000,channels=2 ! audioconvert "
    "! avenc_aac bitrate=96000 ! aacparse ! rtpmp4gpay name=pay1 pt=97 )"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="cam")
    parser.add_argument("--user", help="basic authentication with this user")
    parser.add_argument("--password-file", help="the user's password (the file's first line)")
    parser.add_argument("--cert", help="PEM file with the certificate and its key: serve RTSPS (rtsps://)")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)  # one encoder for every client, as a camera has
    if args.user or args.cert:
        auth = GstRtspServer.RTSPAuth()
        if args.cert:
            auth.set_tls_certificate(Gio.TlsCertificate.new_from_file(args.cert))
        role = "user"
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", role)
        if args.user:
            with open(args.password_file, encoding="utf-8") as f:
                password = f.readline().rstrip("\n")
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, password), token)
        else:  # TLS without a user: everyone may play
            auth.set_default_token(token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role(role, "media.factory.access", True)
        permissions.add_permission_for_role(role, "media.factory.construct", True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(f"/{args.path}", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {args.address}:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print(f"ready {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
