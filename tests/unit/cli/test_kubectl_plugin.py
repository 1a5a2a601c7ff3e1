"""`kubectl streamops`'s command line without a cluster (cli/kubectl_plugin.py): the entry point,
argument parsing (the player's options after --, `video url` as `streamops video url` takes it), the
errors' one line, the verbs it shares with `streamops` answering alike. Against a real API server
and kubectl: tests/cluster/test_kubectl_plugin.py."""

from __future__ import annotations

import json
import sys
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from devtools.fake_kube import FakeKubeApi
from devtools.versions import REPO
from streamops.cli import kube_connection
from streamops.cli.command_error import CommandError
from streamops.cli.kubectl_plugin import failure, main, parser
from streamops.cli.streamops_command import main as streamops_main
from streamops.kube.client import ApiError, KubeApi

from devtools import catalog


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


def test_both_command_lines_run_one_playback_url_and_say_the_same_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`streamops playback url` and `kubectl streamops url` are one verb (cli/playback.py)."""
    api = FakeKubeApi()
    stream = catalog.livestream("cam", playback={"access": "public"})
    stream["metadata"]["namespace"] = "live"
    stream["status"] = {"playback": {"hlsCmafUrl": "https://cdn.example/live/cam/hls/cmaf/index.m3u8"}}
    api.add(stream)
    monkeypatch.setattr(KubeApi, "from_environment", classmethod(lambda cls: api))
    monkeypatch.setattr(kube_connection, "connect", lambda kubeconfig=None: api)
    said = []
    for command, words in ((streamops_main, ["playback", "url"]), (main, ["url"])):
        assert command([*words, "cam", "-n", "live", "--format", "hls"]) == 0
        assert command([*words, "gone", "-n", "live"]) == 1
        said.append(capsys.readouterr())
    ours, theirs = said
    assert ours.out == theirs.out == "https://cdn.example/live/cam/hls/cmaf/index.m3u8\n"
    assert ours.err.replace("streamops playback url:", "kubectl streamops url:") == theirs.err
    assert "livestream gone not found in namespace live" in ours.err and "is public" in ours.err
