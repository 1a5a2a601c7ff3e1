"""`kubectl streamops` without a cluster: the entry point, argument parsing (the player's options after
--, `video url` as `streamops video url` takes it), which URLs are cluster-internal and how they are
rewritten through a port-forward, the port-forward child stopped by PID, the errors' one line.
Against a real API server and kubectl: tests/cluster/test_kubectl_plugin.py."""

from __future__ import annotations

import json
import sys
import tomllib
from datetime import UTC, datetime
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from devtools.versions import REPO
from streamops.cli.command_error import CommandError
from streamops.cli.kubectl_plugin import failure, main, parser
from streamops.cli.port_forward import PortForward, cluster_service, resolves, through
from streamops.cli.record import default_name, unstopped
from streamops.cli.stream_key import chosen_protocol, cluster_only_hint
from streamops.cli.streamops_command import main as streamops_main
from streamops.kube.client import ApiError


def test_installed_as_a_kubectl_plugin():
    """krew's naming: an executable kubectl-streamops on PATH is what `kubectl streamops` runs. The
    entry points are read from pyproject.toml, not from the installed metadata: that is the
    installing checkout's, which may be older than this one."""
    scripts = tomllib.loads((REPO / "operator/pyproject.toml").read_text())["project"]["scripts"]
    assert EntryPoint("kubectl-streamops", scripts["kubectl-streamops"], "console_scripts").load() is main
    assert EntryPoint("streamops", scripts["streamops"], "console_scripts").load() is streamops_main
    assert Path(sys.executable).with_name("kubectl-streamops").is_file()


def test_player_options_follow_a_double_dash():
    top = parser()
    args = top.parse_args(["play", "cam", "-n", "live", "--format", "llhls"])
    assert (args.stream, args.namespace, args.format, args.forward) == ("cam", "live", "llhls", None)
    assert parser().parse_args(["play", "cam", "--no-port-forward"]).forward is False
    with pytest.raises(SystemExit):  # only play hands options on
        main(["status", "cam", "--", "-fs"])


def test_video_url_takes_what_streamops_video_url_takes(capsys: pytest.CaptureFixture[str]):
    words = ["video", "url", "rec", "2", "-n", "live", "--expires", "600"]
    args = parser().parse_args(words)
    assert (args.recording, args.number, args.namespace, args.expires) == ("rec", 2, "live", 600)
    for command in (main, streamops_main):
        with pytest.raises(SystemExit):
            command(["video", "url", "--help"])
    ours, theirs = capsys.readouterr().out.split("usage:")[1:]
    assert (
        ours.split("positional arguments:")[1].replace("kubectl streamops", "streamops").split("options:")[0]
        == (theirs.split("positional arguments:")[1].split("options:")[0])
    )


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


def test_the_protocol_asked_must_be_one_the_stream_takes():
    push = {"metadata": {"name": "cam"}, "spec": {"source": {"push": {"protocols": ["srt", "rtmps", "whip"]}}}}
    assert chosen_protocol(push, None) == "rtmps"  # rtmp first, then rtmps, srt, whip
    assert chosen_protocol(push, "whip") == "whip"
    with pytest.raises(CommandError, match=r"does not accept rtmp \(spec.source.push.protocols: srt, rtmps, whip\)"):
        chosen_protocol(push, "rtmp")
    with pytest.raises(CommandError, match="pulls from origins"):
        chosen_protocol({"metadata": {"name": "cam"}, "spec": {"source": {"pull": {"urls": ["rtmp://o/a"]}}}}, None)


def test_what_to_do_with_a_push_url_inside_the_cluster():
    server = "rtmp://cam-ingest.live.svc.cluster.local:1935/live"
    rtmp = cluster_only_hint(server, "rtmp", "inside the cluster only")
    assert rtmp == (
        "this URL works inside the cluster only; from here: kubectl port-forward -n live svc/cam-ingest 1935:1935, "
        "then push to rtmp://127.0.0.1:1935/live/<key>"
    )
    assert "SRT is UDP" in cluster_only_hint("srt://cam-ingest.live.svc.cluster.local:9998", "srt", None)
    assert "WebRTC media" in cluster_only_hint("http://cam-ingest.live.svc:8080/whip", "whip", None)


def test_recording_names_and_the_recordings_that_block_a_new_one():
    assert default_name("cam", datetime(2026, 11, 25, 4, 10, 5, tzinfo=UTC)) == "cam-20261125-041005"
    assert len(default_name("x" * 200, datetime(2026, 11, 25, tzinfo=UTC))) == 56

    def rec(name: str, stream: str, stopped: bool = False, deleting: bool = False) -> dict[str, object]:
        meta: dict[str, object] = {"name": name, **({"deletionTimestamp": "2026-11-25T04:00:00Z"} if deleting else {})}
        return {"metadata": meta, "spec": {"streamRef": {"name": stream}, "stopped": stopped}}

    recordings = [rec("a", "cam"), rec("b", "cam", stopped=True), rec("c", "other"), rec("d", "cam", deleting=True)]
    assert [r["metadata"]["name"] for r in unstopped(recordings, "cam")] == ["a"]  # type: ignore[index]


def test_failures_are_one_line_and_bugs_keep_their_traceback():
    body = json.dumps({"kind": "Status", "message": 'secrets "cam-stream-key" is forbidden: User "dev"\ncannot get'})
    assert failure(ApiError(403, body)) == (
        'the API server answered 403: secrets "cam-stream-key" is forbidden: User "dev" cannot get'
    )
    assert failure(ConnectionRefusedError(111, "Connection refused")) == (
        "cannot reach the API server: [Errno 111] Connection refused"
    )
    assert failure(CommandError("livestream x not found")) == "livestream x not found"
    assert failure(KeyError("bug")) is None
