"""The `streamops` command line's parser (cli/streamops_command.py): its verbs, the operator's and
leader election's defaults from the Pod's environment, a verb's expected failure as one line and exit
status 1. Each verb's own behaviour: its module's test (test_video.py, test_playback.py, test_stats.py,
test_worker.py)."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest
from streamops.cli import streamops_command
from streamops.cli.command_error import CommandError
from streamops.cli.streamops_command import main, on_cluster, parser
from streamops.kube.client import KubeApi


def verbs(top: argparse.ArgumentParser) -> set[str]:
    [sub] = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def test_the_verbs():
    assert verbs(parser()) == {"operator", "crds", "rbac", "worker", "video", "playback", "stats"}
    args = parser().parse_args(["playback", "url", "cam", "-n", "live", "--format", "hls"])
    assert (args.action, args.stream, args.namespace, args.format, args.broadcast) == (
        "url",
        "cam",
        "live",
        "hls",
        False,
    )
    assert parser().parse_args(["video", "page", "rec"]).func is streamops_command.video_url


def test_the_operators_defaults_come_from_the_pods_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("POD_NAME", "streamops-7d9f-abcde")
    monkeypatch.setenv("POD_NAMESPACE", "streamops-system")
    args = parser().parse_args(["operator", "--leader-election"])
    assert (args.identity, args.lease_namespace, args.lease_name) == (
        "streamops-7d9f-abcde",
        "streamops-system",
        "streamops",
    )
    assert (args.lease_duration, args.renew_deadline, args.retry_period) == (15, 10.0, 2.0)
    assert (args.metrics_port, args.metrics_address, args.namespace) == (8080, "0.0.0.0", None)
    monkeypatch.delenv("POD_NAME")
    monkeypatch.delenv("POD_NAMESPACE")
    first, second = (parser().parse_args(["operator"]) for _ in range(2))
    assert first.identity != second.identity, "a random suffix per replica without $POD_NAME"
    assert first.lease_namespace is None


def test_an_unknown_verb_or_a_missing_one_is_refused(capsys: pytest.CaptureFixture[str]):
    for argv in ([], ["nonsense"], ["video"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
    assert "usage: streamops" in capsys.readouterr().err


def test_rbac_prints_the_cluster_role(capsys: pytest.CaptureFixture[str]):
    assert main(["rbac", "--name", "ops"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n") and "name: ops" in out


def test_a_verbs_expected_failure_is_one_line_and_status_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    api = SimpleNamespace(info=SimpleNamespace(default_namespace="team"))
    monkeypatch.setattr(KubeApi, "from_environment", classmethod(lambda cls: api))
    asked: list[str] = []

    def refuse(_: object, namespace: str) -> None:
        asked.append(namespace)
        raise CommandError("recording rec not found in namespace team")

    args = argparse.Namespace(command="video", action="url", namespace=None)
    assert on_cluster(args, refuse) == 1 and asked == ["team"]
    assert capsys.readouterr().err == "streamops video url: recording rec not found in namespace team\n"
    assert on_cluster(argparse.Namespace(command="stats", namespace="live"), lambda a, n: asked.append(n)) == 0
    assert asked[-1] == "live"
