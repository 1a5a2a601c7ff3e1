"""A shared pusher's set of targets, pure: what a new set starts, stops, restarts or only rekeys, and
the single-target configuration a target's supervisor runs with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamops.contract.pusher import PusherTarget, PusherTargets, SharedPusherConfig
from streamops.media.pusher.target_set import SetChange, TargetFiles, set_change, target_config


def target(ident: str, **fields: Any) -> PusherTarget:
    wire = {
        "id": ident,
        "name": f"to-{ident}",
        "version": "1",
        "feedUrl": "http://127.0.0.1:8081/feed",
        "uri": f"rtmp://198.51.100.7/{ident}",
        "streamKey": f"key-{ident}",
        "noAudioMode": "drop",
        **fields,
    }
    return PusherTarget.model_validate(wire)


def targets(*items: PusherTarget) -> PusherTargets:
    return PusherTargets(targets=list(items))


def running(*items: PusherTarget) -> dict[str, PusherTarget]:
    return {t.id: t for t in items}


def test_a_new_set_starts_every_target_and_the_same_set_again_changes_nothing():
    a, b = target("a"), target("b")
    assert set_change({}, targets(a, b)) == SetChange(start=(a, b))
    assert set_change(running(a, b), targets(b, a)).empty, "level-based: the order of the set does not matter"


def test_adding_and_removing_touch_only_those_targets():
    a, b, c = target("a"), target("b"), target("c")
    assert set_change(running(a, b), targets(a, b, c)) == SetChange(start=(c,))
    assert set_change(running(a, b, c), targets(a, c)) == SetChange(stop=("b",))
    assert set_change(running(a, b), targets()) == SetChange(stop=("a", "b"))


def test_a_changed_target_restarts_alone_and_a_new_key_or_version_restarts_nothing():
    a, b = target("a"), target("b")
    moved = target("b", uri="srt://198.51.100.8:9000?mode=caller")
    assert set_change(running(a, b), targets(a, moved)) == SetChange(restart=(moved,))
    for changed in (
        target("b", feedUrl="http://127.0.0.1:8081/feed/transcoded"),
        target("b", videoCodecs=["h264", "hevc"]),
        target("b", noAudioMode="silence"),
        target("b", uri="rtmps://198.51.100.7/b", tlsCa="-----BEGIN CERTIFICATE-----"),
    ):
        assert set_change(running(a, b), targets(a, changed)).restart == (changed,)
    rekeyed, bumped = target("b", streamKey="rotated"), target("b", version="2")
    assert set_change(running(a, b), targets(a, rekeyed)) == SetChange(update=(rekeyed,))
    assert set_change(running(a, b), targets(a, bumped)) == SetChange(update=(bumped,))


def test_a_targets_files_are_named_by_a_digest_of_its_id(tmp_path: Path):
    files = TargetFiles.of(tmp_path, "../../etc/passwd")
    assert files.key.parent == tmp_path / "keys" and files.ca.parent == tmp_path / "ca"
    assert "passwd" not in str(files.key) and files.key.name != TargetFiles.of(tmp_path, "other").key.name


def test_a_targets_supervisor_gets_its_own_fields_the_files_and_the_pods_shared_ones(tmp_path: Path):
    shared = SharedPusherConfig.model_validate(
        {
            "stream": "cam",
            "privateDir": str(tmp_path),
            "credentialFile": "/cred",
            "egress": {"allowCidrs": ["10.0.0.0/8"]},
            "backoff": {"initialSeconds": 1, "maxSeconds": 2},
        }
    )
    files = TargetFiles.of(tmp_path, "a")
    config = target_config(shared, target("a", videoCodecs=["h264", "av1"]), files)
    assert (config.name, config.stream, config.uri) == ("to-a", "cam", "rtmp://198.51.100.7/a")
    assert config.stream_key_file == str(files.key) and config.tls_ca_file is None
    assert (config.private_dir, config.credential_file) == (str(tmp_path), "/cred")
    assert config.egress == shared.egress and config.backoff == shared.backoff
    assert config.video_codecs == ["h264", "av1"]
    keyless = target_config(shared, target("b", streamKey=None, tlsCa="PEM"), TargetFiles.of(tmp_path, "b"))
    assert keyless.stream_key_file is None and keyless.tls_ca_file == str(TargetFiles.of(tmp_path, "b").ca)
