"""Issue 37, finding 8: control of the workers and their feeds by whoever reaches their ports. Real
workers on 127.0.0.1, a real publisher: a client without the stream's worker credential is refused
(401) by a recording recorder's POST /stop, a standby's POST /start, the ingest's feed, status and
viewers and a pull stream's overlay switch, and nothing happens; the workers that hold it (the
recorder reading the feed through its FFmpeg, the standby started with it, the test as the
operator) carry on. The credential is in no process's argv or environment and in no log."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_get
from devtools.media.overlays import post_switch
from devtools.media.peers import Publisher
from devtools.media.workers import WORKER_AUTH, WORKER_CREDENTIAL, Worker
from devtools.ports import free_port
from devtools.processes import command_line, environment, proc_tree
from devtools.waits import wait_for

STRANGERS = ({}, {"Authorization": "Bearer not-the-credential"}, {"Authorization": WORKER_CREDENTIAL})


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    """The HTTP status of one request (a 200 feed is not read: only its status)."""
    sent = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(sent, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def recorder(tmp_path: Path, name: str, config: dict[str, Any]) -> Worker:
    port = free_port()
    workdir = tmp_path / name
    workdir.mkdir()
    return Worker("record", {**config, "httpHost": "127.0.0.1", "httpPort": port}, workdir, port).start()


def status(worker: Worker) -> dict[str, Any]:
    return worker.status()  # presents the credential, as the operator does


def exposed(*workers: Worker) -> str:
    """What any process on the host reads of the workers and their children: argv and (its user)
    the environment; and each worker's log."""
    pids = [pid for w in workers if w.process is not None for pid in proc_tree(w.process.pid)]
    return "".join(command_line(pid) + environment(pid) for pid in pids) + "".join(w.logs() for w in workers)


@pytest.fixture
def recorders(tmp_path: Path) -> Iterator[Callable[[str, dict[str, Any]], Worker]]:
    """Start recorder workers (name, config); every one is stopped by PID after the test (a POST /stop
    finalises its videos but leaves the process serving /status)."""
    started: list[Worker] = []

    def make(name: str, config: dict[str, Any]) -> Worker:
        worker = recorder(tmp_path, name, config)
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()


def test_without_the_credential_nothing_is_controlled_or_read(ingest_factory, recorders, tmp_path):
    ingest = ingest_factory()
    root = tmp_path / "claim"
    root.mkdir()
    settings = {
        "recordingsRoot": str(root),
        "title": "Camera",
        "minDurationSeconds": 1,
        "reconnectWindowSeconds": 10,
        "maxSegmentSeconds": 14400,
    }
    with Publisher(ingest.rtmp_url(), duration=60):
        ingest.wait_live()
        recording = recorders("recorder", {**settings, "feedUrl": ingest.feed_url, "directory": "kept"})
        standby = recorders("standby", {"standby": True, "recordingsRoot": str(root)})
        wait_for(lambda: status(recording)["state"] == "recording", timeout=20, what="the recorder records")

        forged = json.dumps({**settings, "feedUrl": ingest.feed_url, "directory": "forged"}).encode()
        for headers in STRANGERS:
            assert request(recording.http + "/stop", "POST", b"", headers) == 401, headers
            assert request(standby.http + "/start", "POST", forged, headers) == 401, headers
            for path in ("/feed", "/feed/transcoded", "/status", "/viewers"):
                assert request(ingest.internal + path, headers=headers) == 401, (path, headers)
            for worker in (recording, standby):
                assert request(worker.http + "/status", headers=headers) == 401, headers
        for url in (ingest.internal + "/metrics", ingest.internal + "/healthz", recording.http + "/metrics"):
            assert http_get(url)[0] == 200, "the probes and the scrape stay open"

        time.sleep(2)  # a stop would finalise within this; a start would have begun recording
        assert status(recording)["state"] == "recording", "the recording was not stopped"
        assert status(standby)["state"] == "standby" and not (root / "forged").exists(), "nothing was started"
        assert status(ingest)["live"]

        # The holders carry on: the standby starts from the operator's POST and records the feed.
        started = json.dumps({**settings, "feedUrl": ingest.feed_url, "directory": "adopted"}).encode()
        assert request(standby.http + "/start", "POST", started, WORKER_AUTH) == 200
        wait_for(lambda: status(standby)["state"] == "recording", timeout=20, what="the standby records")
        assert request(ingest.internal + "/feed", headers=WORKER_AUTH) == 200
        time.sleep(3)
        feed_readers = [pid for pid in proc_tree(recording.process.pid)[1:] if "ffmpeg" in command_line(pid)]  # type: ignore[union-attr]
        assert feed_readers and all("-args_file" in command_line(pid) for pid in feed_readers)
        assert WORKER_CREDENTIAL not in exposed(ingest, recording, standby), "never in argv, env or a log"

        for worker in (recording, standby):
            assert request(worker.http + "/stop", "POST", b"", WORKER_AUTH) == 200
            videos = status(worker)["videos"]
            assert len(videos) == 1 and videos[0]["durationSeconds"] > 3, videos


def test_a_pull_streams_overlay_switch_needs_the_credential(ingest_factory, tmp_path):
    """A pull stream has no key to sign its switch with: only the credential keeps it the operator's."""
    overlay_dir = tmp_path / "overlays"
    overlay_dir.mkdir()
    nowhere = f"rtmp://127.0.0.1:{free_port()}/live/none"  # the pull never goes live: the switch still answers
    ingest = ingest_factory(
        source={"pull": {"urls": [nowhere]}},
        streamKeyFile=None,
        transcoding={"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]},
        overlays=[{"name": "score", "x": 0, "y": 0, "width": 20, "height": 10}],
        overlayDir=str(overlay_dir),
    )
    for credential in (False,):
        code, body = post_switch(ingest, ["score"], signed=False, credential=credential)
        assert code == 401, body
    for headers in STRANGERS[1:]:
        payload = b'{"enabled": ["score"]}'
        assert request(ingest.internal + "/overlays", "POST", payload, headers) == 401
    assert not (overlay_dir / "switch.json").exists() and status(ingest)["overlaysEnabled"] is None
    code, body = post_switch(ingest, ["score"], signed=False)
    assert code == 204, body
    assert status(ingest)["overlaysEnabled"] == ["score"]
    assert WORKER_CREDENTIAL not in exposed(ingest) and os.path.exists(ingest.config["credentialFile"])


def test_the_loopback_relay_feed_needs_the_credential_too(ingest_factory):
    """Issue 52, finding 8: the backup's relayed feed (/backup/feed) answered any loopback client,
    and with `worker.hostNetwork` loopback is every process of the node. A primary of a push stream
    serves it (no backup needed: without a backup feed it answers 503 to the credential's holder)."""
    ingest = ingest_factory(source={"push": {"protocols": ["rtmp"]}}, screenshots={"enabled": False})
    for headers in STRANGERS:
        assert request(ingest.internal + "/backup/feed", headers=headers) == 401, headers
    assert request(ingest.internal + "/backup/feed", headers=WORKER_AUTH) == 503
