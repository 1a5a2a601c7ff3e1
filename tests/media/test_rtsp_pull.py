"""RTSP cameras pulled by the ingest worker (source.pull with rtsp:// URLs), against an RTSP server
nobody here wrote: GStreamer 1.22's (devtools/media/rtsp_camera.py), with basic authentication.
The camera's password reaches FFmpeg inside the URL through an `-args_file` FIFO only: no command
line, log, /status or /metrics of the ingest shows it."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_get
from devtools.media.peers import ffprobe_json, ffprobe_streams
from devtools.media.rtsp_camera import RtspCamera, rtsp_camera_available
from devtools.media.workers import Ingest
from devtools.ports import free_port
from devtools.processes import command_line, environment, proc_tree
from devtools.waits import wait_for

pytestmark = pytest.mark.skipif(
    not rtsp_camera_available(), reason="needs GStreamer's RTSP server for python3 (hack/deps.sh)"
)

USER, PASSWORD = "operator", "Cam-Pass-7d41e9/@:x"  # what a URL must escape, to see the percent-encoding work


def credential_files(workdir: Path, password: str = PASSWORD) -> dict[str, str]:
    """The ingest's pullUsernameFile/pullPasswordFile, as the Pod's Secret volume has them."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "username").write_text(USER + "\n")
    (workdir / "password").write_text(password + "\n")
    return {"pullUsernameFile": str(workdir / "username"), "pullPasswordFile": str(workdir / "password")}


def exposed(ingest: Ingest) -> str:
    """Everything the ingest tells the outside world: its log (debug: every FFmpeg line), /status,
    /metrics, and the command lines and environments of its processes (the worker's and FFmpeg's)."""
    assert ingest.process is not None
    processes = "".join(command_line(pid) + environment(pid) for pid in proc_tree(ingest.process.pid))
    metrics = http_get(ingest.internal + "/metrics")[1].decode()
    return ingest.logs() + json.dumps(ingest.status()) + metrics + processes


def assert_no_credentials(text: str) -> None:
    for form in (PASSWORD, "Cam-Pass-7d41e9", "Cam-Pass-7d41e9%2F%40%3Ax"):
        assert form not in text


def ffmpeg_command_lines(ingest: Ingest) -> list[str]:
    assert ingest.process is not None
    return [command_line(pid) for pid in proc_tree(ingest.process.pid)[1:]]


def wait_hls(ingest: Ingest) -> str:
    """The CMAF playlist once it lists a segment that is served."""

    def served() -> str | None:
        code, body = http_get(f"{ingest.http}/hls/cmaf/index.m3u8")
        segments = re.findall(r"^seg-\d+\.m4s$", body.decode(), re.M) if code == 200 else []
        return body.decode() if segments and http_get(f"{ingest.http}/hls/cmaf/{segments[-1]}")[0] == 200 else None

    return wait_for(served, timeout=20, what="an HLS segment")


def audio_packets(ingest: Ingest, tmp_path: Path) -> int:
    """AAC packets in the newest MPEG-TS segment (FFmpeg 7.1's stream copy once dropped them all)."""
    playlist = http_get(f"{ingest.http}/hls/ts/index.m3u8")[1].decode()
    segment = re.findall(r"^seg-\d+\.ts$", playlist, re.M)[-1]
    path = tmp_path / segment
    path.write_bytes(http_get(f"{ingest.http}/hls/ts/{segment}")[1])
    packets = ffprobe_json(["-show_entries", "packet=codec_type"], path).get("packets", [])
    return sum(1 for p in packets if p.get("codec_type") == "audio")


def pulled(ingest_factory: Any, tmp_path: Path, urls: list[str], **pull: Any) -> Ingest:
    source = {"pull": {"urls": urls, **pull}}
    return ingest_factory(source=source, hls={"segmentSeconds": 1}, **credential_files(tmp_path / "secret"))


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_a_camera_goes_live_over_tcp_and_udp(ingest_factory, tmp_path, transport):
    with RtspCamera(tmp_path / "cam", user=USER, password=PASSWORD) as camera:
        started = time.monotonic()
        ingest = pulled(ingest_factory, tmp_path, [camera.url], rtsp={"transport": transport})
        status = ingest.wait_live(timeout=20)
        print(f"RTSP over {transport}: live {time.monotonic() - started:.2f} s after the ingest started")
        assert status["source"] == "pull-0" and status["pullFailure"] is None
        assert (status["videoCodec"], status["audioCodec"], status["videoWidth"]) == ("h264", "aac", 640)
        playlist = wait_hls(ingest)
        print(f"RTSP over {transport}: first HLS segment served {time.monotonic() - started:.2f} s after the start")
        assert "#EXT-X-MAP" in playlist
        streams = ffprobe_streams(f"{ingest.http}/hls/ts/index.m3u8")
        assert {s["codec_name"] for s in streams} == {"h264", "aac"}
        assert audio_packets(ingest, tmp_path) > 20, "the camera's AAC is in the segments, not only announced"
        (ffmpeg,) = [c for c in ffmpeg_command_lines(ingest) if "-rtsp_transport" in c]
        assert f"-rtsp_transport {transport}" in ffmpeg and "-args_file" in ffmpeg and camera.url not in ffmpeg
        whitelist = "tcp" if transport == "tcp" else "rtp,udp,tcp"
        assert f"-protocol_whitelist {whitelist} " in ffmpeg
        assert_no_credentials(exposed(ingest))
        assert f"rtsp://***@127.0.0.1:{camera.port}/cam" in ingest.logs(), "FFmpeg's dump of the URL, masked"


def test_a_camera_that_drops_and_comes_back_resumes(ingest_factory, tmp_path):
    with RtspCamera(tmp_path / "cam", user=USER, password=PASSWORD) as camera:
        ingest = pulled(ingest_factory, tmp_path, [camera.url])
        ingest.wait_live(timeout=20)
        camera.stop()
        wait_for(lambda: not ingest.status()["live"], timeout=15, what="offline once the camera is gone")
        failed = wait_for(
            lambda: (f := ingest.status()["pullFailure"]) and f["kind"] == "failed" and f,
            timeout=20,
            what="a failed attempt on the closed port in status.pullFailure",
        )
        assert failed["url"] == camera.url
        back = time.monotonic()
        camera.restart()  # the same port
        status = ingest.wait_live(timeout=20)
        print(f"camera back: live again {time.monotonic() - back:.2f} s after its server started")
        assert status["pullFailure"] is None and len(status["sessions"]) == 2
        wait_hls(ingest)
        assert_no_credentials(exposed(ingest))


def test_the_next_url_takes_over_round_robin(ingest_factory, tmp_path):
    dead = f"rtsp://127.0.0.1:{free_port()}/cam"  # nothing listens there
    with RtspCamera(tmp_path / "cam", user=USER, password=PASSWORD) as camera:
        ingest = pulled(ingest_factory, tmp_path, [dead, camera.url])
        assert ingest.wait_live(timeout=30)["source"] == "pull-1"


def test_a_camera_that_never_sends_deactivates_the_stream(ingest_factory, tmp_path):
    """Refused credentials give no data: after inactivityTimeoutSeconds the stream deactivates, as a
    dead origin of any other scheme does."""
    with RtspCamera(tmp_path / "cam", user=USER, password="not-what-the-ingest-has") as camera:
        ingest = pulled(ingest_factory, tmp_path, [camera.url], inactivityTimeoutSeconds=10)
        status = wait_for(lambda: (s := ingest.status())["active"] is False and s, timeout=25, what="deactivated")
        assert "no data for 10 s" in status["deactivatedReason"] and not status["live"]


def test_wrong_credentials_are_a_clear_failure_and_leak_nothing(ingest_factory, tmp_path):
    with RtspCamera(tmp_path / "cam", user=USER, password="the-right-one-5c2a") as camera:
        ingest = pulled(ingest_factory, tmp_path, [camera.url])

        def refused() -> dict[str, Any] | None:
            failed = ingest.status()["pullFailure"]
            return failed if failed and failed["kind"] == "credentials-refused" else None

        failed = wait_for(refused, timeout=15, what="the camera's 401 in status.pullFailure")
        assert failed["message"].startswith("the RTSP server refused the credentials") and failed["urlIndex"] == 0
        time.sleep(1)  # FFmpeg runs again and again meanwhile: catch one of them in /proc
        assert not ingest.status()["live"]
        assert "401 Unauthorized" in ingest.logs()
        assert_no_credentials(exposed(ingest))
        # The Secret fixed (the kubelet rewrites the mounted file): the next attempt goes live, no restart.
        (tmp_path / "secret" / "password").write_text("the-right-one-5c2a\n")
        ingest.wait_live(timeout=20)
        assert "the-right-one-5c2a" not in exposed(ingest)


def test_an_rtsps_camera_is_verified_before_it_gets_the_credentials(ingest_factory, tmp_path):
    """RTSPS: GStreamer's server with a certificate of the camera's own CA (GstRTSPAuth's TLS). FFmpeg
    7.1's rtsp demuxer opened its TLS with no options (verifying nothing: the API asked for
    insecureSkipVerify, and the credentials went to whoever answered). Our FFmpeg's rtsp patch takes
    tls_verify and ca_file: verified by default, the camera is refused before any RTSP request (no
    credentials sent) and the failure names it; given its CA (source.pull.tls.caSecretRef's file), it
    goes live (its IP SAN names the URL's host)."""
    with RtspCamera(tmp_path / "cam", user=USER, password=PASSWORD, tls=True) as camera:
        assert camera.ca is not None
        refused = pulled(ingest_factory, tmp_path / "untrusted", [camera.url])
        trusted = ingest_factory(
            "trusted",
            source={"pull": {"urls": [camera.url]}},
            hls={"segmentSeconds": 1},
            pullTlsCaFile=str(camera.ca),
            **credential_files(tmp_path / "trusted-secret"),
        )
        assert trusted.wait_live(timeout=20)["source"] == "pull-0"
        (ffmpeg,) = [c for c in ffmpeg_command_lines(trusted) if "-rtsp_transport" in c]
        assert "-protocol_whitelist tls,tcp " in ffmpeg and "-tls_verify 1 " in ffmpeg
        failed = wait_for(lambda: refused.status()["pullFailure"], timeout=15, what="the untrusted camera refused")
        assert failed["message"].startswith(f"the certificate of the origin 127.0.0.1:{camera.port} is not trusted")
        assert not refused.status()["live"]
        assert_no_credentials(exposed(refused) + exposed(trusted))


def test_the_recorder_records_a_camera(ingest_factory, record_workers, tmp_path):
    """The camera's H.264 and AAC reach the recorder through the ingest's feed, into one video."""
    with RtspCamera(tmp_path / "cam", user=USER, password=PASSWORD) as camera:
        ingest = pulled(ingest_factory, tmp_path, [camera.url])
        ingest.wait_live(timeout=20)
        recorder = record_workers("recorder", ingest.feed_url)
        wait_for(lambda: (recorder.status()["duration"] or 0) >= 4, timeout=30, what="4 s recorded")
    final = wait_for(lambda: (s := recorder.post_stop()) and s["videos"] and s, timeout=60, what="finalised")
    [video] = final["videos"]
    path = recorder.root / video["path"]
    assert {s["codec_name"] for s in ffprobe_streams(path)} == {"h264", "aac"}
    assert float(ffprobe_json(["-show_entries", "format=duration"], path)["format"]["duration"]) >= 4


# --- issue 52, finding 9: the egress guard and FFmpeg's RTSP redirects --------------------------------------


class RtspPeer:
    """A bare RTSP peer on `host` (a thread of this test): answers every request with `answer(head)`
    and keeps the heads it got. Enough of RTSP for FFmpeg's OPTIONS/DESCRIBE; stands in for a camera
    that redirects (GStreamer's server has no redirect to offer) and for where it redirects to."""

    def __init__(self, answer: Callable[[str], str], host: str = "127.0.0.1") -> None:
        self.answer, self.heads = answer, []  # type: list[str]
        self.server = socket.create_server((host, 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RtspPeer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()  # accept() fails: the thread ends
        self.thread.join(timeout=5)

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.server.accept()
                threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(10)
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
                while b"\r\n\r\n" in data:
                    head, _, data = data.partition(b"\r\n\r\n")
                    text = head.decode("latin-1")
                    self.heads.append(text)
                    cseq = re.search(r"^CSeq:\s*(\d+)", text, re.M | re.I)
                    conn.sendall(self.answer(text).replace("{cseq}", cseq.group(1) if cseq else "0").encode())


UNAUTHORIZED = 'RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Basic realm="cam"\r\n\r\n'


def test_a_redirect_to_another_origin_is_not_followed_and_gets_no_credentials(ingest_factory, tmp_path):
    """The camera at the URL asks for the credentials, then answers 302 to another host:port. FFmpeg
    7.1 followed it and kept the URL's user and password for the new host (measured on ec95e86: the
    second listener got `Authorization: Basic …` of the camera's account). Our FFmpeg follows no
    redirect to another origin: the other host gets nothing, not even a connection's request."""
    with RtspPeer(lambda head: UNAUTHORIZED) as elsewhere:

        def camera_answer(head: str) -> str:
            if not re.search(r"^Authorization:", head, re.M | re.I):
                return UNAUTHORIZED
            return f"RTSP/1.0 302 Found\r\nCSeq: {{cseq}}\r\nLocation: rtsp://127.0.0.1:{elsewhere.port}/cam\r\n\r\n"

        with RtspPeer(camera_answer) as camera:
            ingest = pulled(ingest_factory, tmp_path, [f"rtsp://127.0.0.1:{camera.port}/cam"])

            def redirected() -> bool:  # and that attempt over: FFmpeg had its chance to follow
                asked = [h for h in camera.heads if re.search(r"^Authorization:", h, re.M | re.I)]
                return bool(asked) and ingest.status()["pullFailure"] is not None

            wait_for(redirected, timeout=20, what="the camera's redirect answered")
            assert elsewhere.heads == [], "nothing reached the other origin, credentials least of all"
            assert "not following a redirect to another origin" in ingest.logs()
            assert not ingest.status()["live"]
            assert_no_credentials(exposed(ingest))
