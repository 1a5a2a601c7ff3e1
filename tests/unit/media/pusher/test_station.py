"""A shared pusher's set applied to running supervisors, without FFmpeg: the feed is a closed
loopback port, so every target waits for its source. What it proves: a new set touches only the
targets it changes (the others' tasks are the same objects), keys are files of 0600 that go with
their target, and the route asks for the stream's worker credential."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
from pathlib import Path
from typing import Any

import pytest
from streamops.contract.pusher import TARGETS_PATH, PusherTargets, SharedPusherConfig
from streamops.contract.worker_credential import CredentialCheck, bearer
from streamops.media.pusher import worker
from streamops.media.pusher.station import SharedPusher
from streamops.media.pusher.target_set import TargetFiles
from streamops.media.small_http import Request, answer

CREDENTIAL = b"worker-credential-for-the-test"


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "FEED_POLL_SECONDS", 0.01)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wire(*names: str, **changes: dict[str, Any]) -> dict[str, Any]:
    feed = f"http://127.0.0.1:{FEED_PORT}/feed"
    items = []
    for name in names:
        item = {"id": f"uid-{name}", "name": name, "version": "1", "feedUrl": feed, "noAudioMode": "drop"}
        item |= {"uri": f"rtmp://127.0.0.1:9/{name}", "streamKey": f"KEY-{name}-SECRET", **changes.get(name, {})}
        items.append(item)
    return {"targets": items}


FEED_PORT = closed_port()


def station(tmp_path: Path) -> SharedPusher:
    (tmp_path / "credential").write_bytes(CREDENTIAL)
    config = {"stream": "cam", "privateDir": str(tmp_path / "private"), "credentialFile": str(tmp_path / "credential")}
    pusher = SharedPusher(SharedPusherConfig.model_validate(config))
    pusher._private_dir = tmp_path / "private"
    return pusher


def test_a_new_set_touches_only_the_targets_it_changes(tmp_path: Path):
    async def scenario() -> None:
        pusher = station(tmp_path)
        await pusher.apply(PusherTargets.model_validate(wire("a", "b")))
        tasks = {i: r.task for i, r in pusher.running.items()}
        key_a = TargetFiles.of(tmp_path / "private", "uid-a").key
        assert key_a.read_text() == "KEY-a-SECRET" and stat.S_IMODE(key_a.stat().st_mode) == 0o600

        # c added, b removed, a's key rotated: a's supervisor is the same task, still running.
        rotated = wire("a", "c", a={"streamKey": "KEY-a-ROTATED", "version": "2"})
        await pusher.apply(PusherTargets.model_validate(rotated))
        assert set(pusher.running) == {"uid-a", "uid-c"}
        assert pusher.running["uid-a"].task is tasks["uid-a"] and not tasks["uid-a"].done()
        assert tasks["uid-b"].done(), "b's supervisor ended"
        assert not TargetFiles.of(tmp_path / "private", "uid-b").key.exists(), "b's key went with it"
        assert key_a.read_text() == "KEY-a-ROTATED", "read at a's next connect"
        assert [(t.name, t.version) for t in pusher.status().targets] == [("a", "2"), ("c", "1")]

        # a's target moves: a restarts alone, its counters carried over.
        pusher.running["uid-a"].pusher.bytes_sent = 1234
        c_task = pusher.running["uid-c"].task
        moved = wire("a", "c", a={"uri": "rtmp://127.0.0.1:9/elsewhere", "streamKey": "KEY-a-ROTATED"})
        await pusher.apply(PusherTargets.model_validate(moved))
        assert pusher.running["uid-a"].task is not tasks["uid-a"] and pusher.running["uid-c"].task is c_task
        assert pusher.status().of("uid-a").bytes_sent == 1234  # type: ignore[union-attr]

        metrics = pusher.metrics().body.decode()
        assert 'streamops_pusher_state{state="waiting-for-source",stream="cam",target="a"} 1.0' in metrics
        assert 'streamops_pusher_sent_bytes_total{stream="cam",target="c"} 0.0' in metrics
        assert "KEY-" not in metrics + json.dumps(pusher.status().to_json_dict())

        await pusher.apply(PusherTargets())
        assert pusher.running == {} and pusher.status().targets == []

    asyncio.run(scenario())


def test_the_targets_route_asks_for_the_credential_and_refuses_a_bad_set_without_quoting_it(tmp_path: Path):
    async def scenario() -> None:
        pusher = station(tmp_path)
        routes, check = pusher.routes(), CredentialCheck(str(tmp_path / "credential"))
        body = json.dumps(wire("a")).encode()
        refused = await answer(routes, Request("PUT", TARGETS_PATH, True, body), check)
        assert refused.status == 401 and pusher.running == {}

        auth = bearer(CREDENTIAL)
        bad = json.dumps(wire("a", a={"uri": "file:///KEY-a-SECRET"})).encode()
        reply = await answer(routes, Request("PUT", TARGETS_PATH, True, bad, auth), check)
        assert reply.status == 400 and b"KEY-a-SECRET" not in reply.body and pusher.running == {}

        reply = await answer(routes, Request("PUT", TARGETS_PATH, True, body, auth), check)
        assert reply.status == 200 and [t["name"] for t in json.loads(reply.body)["targets"]] == ["a"]
        await pusher.apply(PusherTargets())

    asyncio.run(scenario())
