"""The shared pusher's relay (`streamops-relay`, components/relay) with real peers: the ingest's
feed read ONCE for several RTMP and RTMPS targets on nginx-rtmp (its connections counted at the
ingest's port), no FFmpeg in the pusher; an RTMPS target whose certificate is not the one its CA
signed gets nothing after the handshake; one target that stops reading goes not-live and then fails
on its own while the others keep receiving. docs/design/shared-pusher.md, "The relay"."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devtools.media.peers import NginxRtmp, Publisher, TcpForwarder, TlsForwarder
from devtools.media.workers import Ingest
from devtools.processes import command_line, environment, proc_tree
from devtools.waits import wait_for
from streamops.media.pusher.tcp_info import established_tcp, socket_inodes

from tests.media.test_shared_pusher import SharedPushWorker, shared_pusher  # noqa: F401 (the fixture)

KEYS = {"a": "rk-RELAY-a-5be1", "tls": "rk-RELAY-t-c04d", "stall": "rk-RELAY-s-77aa", "evil": "rk-RELAY-e-9f0b"}
LIVE = ("a", "tls")  # the targets that keep receiving


def feed_connections(pids: list[int], ingest_port: int) -> int:
    """Established TCP connections from these processes to the ingest's internal port."""
    inodes = set().union(*(socket_inodes(pid) for pid in pids))
    return sum(1 for s in established_tcp() if s.inode in inodes and s.peer[1] == ingest_port)


def test_one_feed_read_for_every_rtmp_target_and_a_stalled_one_holds_back_no_other(
    ingest: Ingest,
    shared_pusher: SharedPushWorker,  # noqa: F811
    tmp_path: Path,
) -> None:
    publisher = Publisher(ingest.rtmp_url(), log_path=tmp_path / "publisher.log").start()
    with contextlib.ExitStack() as stack:
        stack.callback(publisher.stop)
        nginx = stack.enter_context(NginxRtmp(workdir=tmp_path / "nginx"))
        stalled = stack.enter_context(TcpForwarder(nginx.rtmp_port, tmp_path / "stall", receive_buffer=1 << 20))
        tls = stack.enter_context(TlsForwarder(nginx.rtmp_port, tmp_path / "tls"))
        evil = stack.enter_context(TlsForwarder(nginx.rtmp_port, tmp_path / "evil"))
        ingest.wait_live()

        def target(name: str, uri: str) -> dict[str, Any]:
            return {"id": f"uid-{name}", "name": name, "version": "1", "feedUrl": ingest.feed_url, "uri": uri,
                    "streamKey": KEYS[name], "noAudioMode": "drop"}  # fmt: skip

        ca = tls.cert.read_text()
        targets = [
            target("a", nginx.app_url()),
            {**target("tls", tls.url()), "tlsCa": ca},
            target("stall", stalled.url()),
            {**target("evil", evil.url()), "tlsCa": ca},  # answers with a certificate of its own
        ]
        assert shared_pusher.put(targets)[0] == 200
        for name in ("a", "tls", "stall"):
            shared_pusher.wait_live(name)
        wait_for(lambda: nginx.publishing() == {KEYS[n] for n in ("a", "tls", "stall")}, timeout=15, what="publishing")
        refused = wait_for(lambda: (t := shared_pusher.target("evil")) and t["failures"] >= 1 and t, timeout=15)
        assert "not trusted" in refused["lastError"] and refused["bytesSent"] == 0, refused
        assert evil.bytes_in == 0, "nothing sent past the handshake (Go's client ends it at the certificate)"

        assert shared_pusher.process is not None
        pids = proc_tree(shared_pusher.process.pid)
        relays = [p for p in pids if "streamops-relay" in command_line(p)]
        assert len(pids) == 2 and len(relays) == 1, "the worker and its relay: no FFmpeg for an rtmp(s) target"
        ingest_port = urlsplit(ingest.feed_url).port
        assert ingest_port is not None
        # The relay's connections only: before each run (re)starts, the supervisor probes the feed
        # (a GET up to its PMT, an instant), and the refused target retries all along (ci78, s13).
        assert feed_connections(relays, ingest_port) == 1, "one read of the feed for all the targets"

        time.sleep(1)  # past the join's burst
        with stalled.frozen() as frozen_at:
            wait_for(
                lambda: not (t := shared_pusher.target("stall")) or not t["live"], timeout=20, what="stall not live"
            )
            took = time.monotonic() - frozen_at
            sent = {n: (shared_pusher.target(n) or {}).get("bytesSent", 0) for n in LIVE}

            def receiving(name: str) -> bool:
                t = shared_pusher.target(name)
                return bool(t and t["live"] and t["bytesSent"] > sent[name] + 50_000)

            for name in LIVE:  # the others keep receiving while it stalls
                wait_for(lambda n=name: receiving(n), timeout=10, what=f"{name} still receiving")
            failed = wait_for(lambda: (t := shared_pusher.target("stall")) and t["failures"] >= 1 and t, timeout=30)
            print(f"\nMEASURED relay target stopped reading: live -> false after {took:.1f} s, "
                  f"given up after {time.monotonic() - frozen_at:.1f} s")  # fmt: skip
            assert "stopped taking data" in failed["lastError"] or "writing" in failed["lastError"], failed
        for name in LIVE:
            kept = shared_pusher.target(name)
            assert kept is not None and kept["live"] and kept["reconnects"] == 0 and kept["failures"] == 0, kept
        assert nginx.publishing() >= {KEYS[n] for n in LIVE}
        assert relays[0] in proc_tree(shared_pusher.process.pid), "the same relay all along"
        assert feed_connections(relays, ingest_port) == 1

        exposed = "".join(command_line(pid) + environment(pid) for pid in pids)
        exposed += shared_pusher.logs() + json.dumps(shared_pusher.status())
        for key in KEYS.values():
            assert key not in exposed, "no key in a command line, an environment, the logs or /status"
