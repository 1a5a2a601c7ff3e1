"""The port-forward child of `kubectl streamops play` (cli/port_forward.py): which URLs are
cluster-internal, how they are rewritten through the forward, the child stopped by its PID."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamops.cli.command_error import CommandError
from streamops.cli.port_forward import PortForward, cluster_service, resolves, through


@pytest.mark.parametrize(
    ("url", "service"),
    [
        ("http://cam-ingest.live.svc.cluster.local:8080/hls/cmaf/index.m3u8", ("cam-ingest", "live", 8080)),
        ("http://cam-ingest.live.svc:8080/player", ("cam-ingest", "live", 8080)),
        ("http://cam-ingest.live.svc.corp.internal/t/v1~x/hls/ts/index.m3u8", ("cam-ingest", "live", 80)),
        ("rtmp://cam-ingest.live.svc.cluster.local/live", ("cam-ingest", "live", 1935)),
        ("https://live.example.com/streams/live/cam/player", None),
        ("http://127.0.0.1:20001/hls/cmaf/index.m3u8", None),
        ("http://10.96.0.12:8080/player", None),
    ],
)
def test_cluster_internal_urls_name_their_service(url, service):
    assert cluster_service(url) == service


def test_a_url_through_the_port_forward_keeps_its_path_and_token():
    url = "http://cam-ingest.live.svc.cluster.local:8080/t/v1~abc~1~~sig/hls/cmaf/index.m3u8?x=1"
    assert through(url, 40123) == "http://127.0.0.1:40123/t/v1~abc~1~~sig/hls/cmaf/index.m3u8?x=1"
    assert resolves("localhost")


def test_the_port_forward_child_is_stopped_by_pid(tmp_path: Path):
    """kubectl's side of the contract, played by a script: the line it prints, then it runs until stopped."""
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(
        f"#!{sys.executable}\nimport sys, time\nprint('Forwarding from 127.0.0.1:40555 -> 8080', flush=True)\n"
        "print('Handling connection for 40555', flush=True)\ntime.sleep(60)\n"
    )
    kubectl.chmod(0o755)
    forward = PortForward(str(kubectl), "live", "cam-ingest", 8080)
    assert forward.argv[1:] == ["port-forward", "-n", "live", "svc/cam-ingest", ":8080", "--address", "127.0.0.1"]
    with forward:
        assert forward.local_port == 40555
        assert forward.process is not None and forward.process.poll() is None
    assert forward.process.returncode is not None

    failing = tmp_path / "failing"
    failing.write_text(f"#!{sys.executable}\nimport sys\nsys.exit('error: services \"cam-ingest\" not found')\n")
    failing.chmod(0o755)
    with pytest.raises(
        CommandError, match=r'port-forward to svc/cam-ingest port 8080 .*services "cam-ingest" not found'
    ):
        PortForward(str(failing), "live", "cam-ingest", 8080).start(timeout=10)
