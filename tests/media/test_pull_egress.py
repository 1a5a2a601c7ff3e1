"""Issue 52, finding 9: pull URLs through the egress guard (media/ingest/pull_egress.py,
docs/design/egress.md "Media URLs"), with real FFmpeg and real peers on 127.0.0.1 (the test's
allow-list: devtools.media.workers.LOOPBACK_PEERS) and 127.0.0.2 (outside it, as the cluster's Pods,
nodes and the metadata address are outside an admin's). RTSP's redirects and rtsps:// verification:
tests/media/test_rtsp_pull.py; restream targets: tests/media/test_pusher.py."""

from __future__ import annotations

import http.server
import re
import socket
import threading
from typing import Any

import pytest
from devtools.http_client import http_get
from devtools.media.peers import Publisher
from devtools.processes import command_line, proc_tree
from devtools.waits import wait_for


def test_an_hls_origin_is_pulled_through_the_guards_proxy(ingest_factory):
    """An http(s) pull goes through the ingest's GuardProxy (`-http_proxy`), which checks every
    request (the playlist, its reloads, each segment) and connects to the checked address: an allowed
    HLS origin (another ingest's MPEG-TS HLS) is pulled and on air as before."""
    origin = ingest_factory("origin", hls={"segmentSeconds": 1})
    with Publisher(origin.rtmp_url(), size="640x360"):
        origin.wait_live()
        playlist = f"{origin.http}/hls/ts/index.m3u8"
        wait_for(lambda: b"#EXTINF" in http_get(playlist)[1], timeout=15, what="the origin's first segment")
        ingest = ingest_factory("puller", source={"pull": {"urls": [playlist]}})
        assert ingest.wait_live(timeout=20)["source"] == "pull-0"
        assert "refused by policy" not in ingest.logs()
        assert ingest.process is not None
        ffmpeg = [command_line(pid) for pid in proc_tree(ingest.process.pid)[1:] if "-http_proxy" in command_line(pid)]
        assert ffmpeg and "-http_proxy http://127.0.0.1:" in ffmpeg[0]


def test_pull_urls_at_refused_addresses_connect_nowhere_and_say_only_refused(ingest_factory, tmp_path):
    """Issue 52, finding 9: a tenant's pull URL at an internal address (127.0.0.2 here: outside the
    test's allow-list, as a cluster's Pods, nodes and the metadata address are outside an admin's) was
    opened, and `status.pullFailure` told a closed port from an open one. Now each scheme is refused
    before FFmpeg runs — and an http origin's redirect to such an address by the guard's proxy — and
    the one message is "refused by policy". The listener there sees no connection at all."""
    inside = socket.create_server(("127.0.0.2", 0))
    inside.setblocking(False)
    port = inside.getsockname()[1]
    redirect = f"http://127.0.0.2:{port}/live.m3u8"

    class Redirecting(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    urls = [f"rtsp://127.0.0.2:{port}/cam", f"rtmp://127.0.0.2:{port}/live/s", f"srt://127.0.0.2:{port}?mode=caller",
            redirect, f"http://127.0.0.1:{origin.server_address[1]}/live.m3u8"]  # fmt: skip
    try:
        ingest = ingest_factory(source={"pull": {"urls": urls}})
        # /status keeps the last attempt's failure (the refusals follow each other within a
        # millisecond); the worker's log says each one's as it set it.
        said: dict[int, set[str]] = {}

        def every_url_said() -> bool:
            pattern = r"pull URL #(\d+) (?:not tried|gave no media): (.*)$"
            for index, message in re.findall(pattern, ingest.logs(), re.M):
                said.setdefault(int(index), set()).add(message)
            return len(said) == len(urls)

        wait_for(every_url_said, timeout=20, what="a pullFailure for every URL")
        assert said == {i: {"refused by policy"} for i in range(len(urls))}, said
        assert ingest.status()["pullFailure"]["message"] == "refused by policy"
        with pytest.raises(BlockingIOError):
            inside.accept()  # nobody connected
        assert not ingest.status()["live"]
    finally:
        origin.shutdown()
        origin.server_close()
        inside.close()
