"""streamops as users run it, on the pod-network cluster: installed with the chart (operator in a Pod
under PodSecurity `restricted`, workers on the pod network behind Services), encoders and viewers
on the cluster's LAN using the URLs that status shows, and the faults: the operator Pod deleted
mid-stream, a node lost mid-recording; recordings uploaded to an S3 server outside the cluster by
recorders on two nodes at once, and downloaded on the host with the documented command. A recorder
and an ingest on different nodes and a restream to a server on the LAN: test_handover.py, whose
channel has both.

Figures go to cluster.timings-like dicts that bench/e2e.py reads (STREAMOPS_MULTINODE_TIMINGS)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.catalog import livestream, recording
from devtools.cluster.kubectl import condition
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import NAMESPACE as OPERATOR_NAMESPACE
from devtools.cluster.release import Release
from devtools.media.hls import first_segment
from devtools.media.peers import Publisher, ffprobe_duration
from devtools.media.s3_server import S3Server
from devtools.waits import eventually

pytestmark = pytest.mark.timeout(900)

TIMINGS: dict[str, list[float]] = {}


def timing(name: str, seconds: float) -> None:
    TIMINGS.setdefault(name, []).append(round(seconds, 3))


@pytest.fixture(scope="module", autouse=True)
def write_timings() -> Iterator[None]:
    yield
    if out := os.environ.get("STREAMOPS_MULTINODE_TIMINGS"):
        Path(out).write_text(json.dumps(TIMINGS, indent=2) + "\n")


def ingest_node(cluster: LocalCluster, ns: str, name: str = "cam") -> str | None:
    pod = cluster.get("pods", ns, f"{name}-ingest")
    return (pod or {}).get("spec", {}).get("nodeName")


def start_stream(
    cluster: LocalCluster, ns: str, on: str | None = None, name: str = "cam", **spec: Any
) -> dict[str, Any]:
    """Apply a LiveStream (its ingest on node `on` when given: the other nodes are kept out of the
    scheduler's choice while it places it) and wait until status shows push URLs usable from outside."""
    with cluster.scheduling_away_from([n.name for n in cluster.nodes if on and n.name != on]):
        applied = time.monotonic()
        cluster.apply(ns, livestream(name, **spec))
        eventually(lambda: ingest_node(cluster, ns, name), timeout=60, what="ingest Pod scheduled")
    assert on is None or ingest_node(cluster, ns, name) == on
    stream = cluster.wait_status(
        "lst", ns, name,
        lambda o: o["status"]["ingest"]["pushUrl"].startswith(f"rtmp://{cluster.network.nodes[0].ip}:")
        and condition(o, "Ready")["status"] == "True",  # type: ignore[index]
        "Ready with push URLs on the LAN", timeout=120,
    )  # fmt: skip
    timing("LiveStream apply -> Ready with external URLs (multi-node)", time.monotonic() - applied)
    return stream


def rtmp_url(cluster: LocalCluster, ns: str, stream: dict[str, Any]) -> str:
    return f"{stream['status']['ingest']['pushUrl']}/{cluster.stream_key(ns, stream['metadata']['name'])}"


def stream_live(cluster: LocalCluster, ns: str, name: str = "cam") -> Callable[[], bool]:
    """Whether the stream's status says it is live, for publish_from_lan's `live`: the encoder is on
    air, so there is no need to watch its connection hold for 2 s more."""
    return lambda: bool(((cluster.get("lst", ns, name) or {}).get("status") or {}).get("live"))


def wait_live(cluster: LocalCluster, ns: str, name: str = "cam", timeout: float = 30) -> dict[str, Any]:
    return cluster.wait_status("lst", ns, name, lambda o: o["status"].get("live"), "status.live", timeout)


def test_push_from_outside_to_the_node_port_urls_in_status(
    cluster: LocalCluster, release: Release, namespace: str, publishers: list[Publisher]
) -> None:
    ns = namespace
    stream = start_stream(cluster, ns)
    ingest = stream["status"]["ingest"]
    assert ingest.get("exposure") == "NodePort", ingest
    key = cluster.stream_key(ns, "cam")
    assert key not in json.dumps(stream["status"])

    published = time.monotonic()
    rtmp = cluster.publish_from_lan(f"{ingest['pushUrl']}/{key}", publishers, live=stream_live(cluster, ns))
    wait_live(cluster, ns)
    timing("RTMP publish (from the LAN) -> status.live (multi-node)", time.monotonic() - published)
    playback = stream["status"]["playback"]
    seg = eventually(
        lambda: first_segment(playback["hlsCmafUrl"], cluster.lan_get),
        timeout=30,
        interval=0.1,
        what="HLS from the LAN",
    )
    timing("RTMP publish -> first HLS segment on the LAN (multi-node)", time.monotonic() - published)
    assert len(seg[1]) > 1000
    # The screenshot too, through the same exposure (CORS lets another origin's page use both).
    if playback.get("screenshotUrl"):
        _, body = eventually(
            lambda: (r := cluster.lan_get(playback["screenshotUrl"])) and r[0] == 200 and r,
            timeout=30,
            what="screenshot",
        )
        assert body[:2] == b"\xff\xd8"  # JPEG

    # SRT (UDP) shares the Service: the same node, its own NodePort.
    rtmp.stop()
    cluster.wait_status("lst", ns, "cam", lambda o: not o["status"]["live"], "offline", 30)
    srt = ingest["pushUrlSrt"]
    published = time.monotonic()
    cluster.publish_from_lan(
        f"{srt}{'&' if '?' in srt else '?'}mode=caller&passphrase={key}", publishers, live=stream_live(cluster, ns)
    )
    wait_live(cluster, ns)
    timing("SRT publish (from the LAN) -> status.live (multi-node)", time.monotonic() - published)

    # active: false (the hosted switch): the ingest Pod goes, its Service and key stay; the live
    # encoder is cut, and a push to the URL status shows is refused.
    cluster.kubectl("patch", "lst", "cam", "-n", ns, "--type=merge", "-p", '{"spec":{"active":false}}')
    eventually(lambda: cluster.get("pods", ns, "cam-ingest") is None, timeout=60, what="the ingest Pod gone")
    refused = cluster.lan_encoder(f"{ingest['pushUrl']}/{key}")
    publishers.append(refused.start())
    assert refused.wait(timeout=30) != 0, "a push to an inactive stream is refused"
    inactive = cluster.wait_status("lst", ns, "cam", lambda o: o["status"].get("active") is False, "inactive", 30)
    assert not inactive["status"]["live"] and condition(inactive, "Ready")["reason"] == "Inactive"
    assert inactive["status"]["ingest"]["pushUrl"] == ingest["pushUrl"], "the same URL when it is active again"
    assert cluster.get("services", ns, "cam-ingest") and cluster.get("secrets", ns, "cam-stream-key")


@pytest.mark.parametrize("route", ["ingress", "httpRoute"])
def test_playback_through_the_ingress_controller(
    cluster: LocalCluster, release: Release, namespace: str, publishers: list[Publisher], route: str
) -> None:
    """Traefik in the cluster serves the stream's Ingress (class traefik) or HTTPRoute (attached to
    the Gateway traefik/traefik): status.playback shows the route's URLs and a viewer on the LAN
    plays HLS and gets the screenshot through it, CORS headers included."""
    ns = namespace
    host = f"{route.lower()}.streams.example"
    playback = (
        {"ingress": {"className": "traefik", "host": host}}
        if route == "ingress"
        else {"httpRoute": {"parentRefs": [{"name": "traefik", "namespace": "traefik"}], "hostnames": [host]}}
    )
    stream = start_stream(cluster, ns, playback=playback)
    cluster.publish_from_lan(rtmp_url(cluster, ns, stream), publishers, live=stream_live(cluster, ns))
    wait_live(cluster, ns)
    stream = cluster.wait_status(
        "lst", ns, "cam", lambda o: o["status"]["playback"]["hlsCmafUrl"].startswith(f"http://{host}/"), "route URLs"
    )
    urls = stream["status"]["playback"]
    assert urls["exposure"] == ("Ingress" if route == "ingress" else "HTTPRoute"), urls
    assert urls["hlsCmafUrl"].startswith(f"http://{host}/streams/{ns}/cam/")
    seg = eventually(
        lambda: first_segment(urls["hlsCmafUrl"], cluster.lan_get_via_ingress),
        timeout=60,
        interval=0.5,
        what=f"HLS through Traefik ({route})",
    )
    assert len(seg[1]) > 1000
    if urls.get("screenshotUrl"):
        _, body = eventually(
            lambda: (r := cluster.lan_get_via_ingress(urls["screenshotUrl"])) and r[0] == 200 and r,
            timeout=30,
            what="screenshot through Traefik",
        )
        assert body[:2] == b"\xff\xd8"


# --- recordings in object storage ------------------------------------------------------------------
# The module's S3 server: see the `s3` fixture (conftest.py).

STREAMOPS = Path(sys.executable).with_name("streamops")


def on_node(cluster: LocalCluster, ns: str, manifest: dict[str, Any], node: str) -> str:
    """Apply a Recording while new Pods are kept off the other nodes: its recorder lands on `node`
    (the live ingest stays where it is: a cordon would hand it over)."""
    with cluster.scheduling_away_from([n.name for n in cluster.nodes if n.name != node]):
        cluster.apply(ns, manifest)
        name = manifest["metadata"]["name"]
        return str(
            eventually(
                lambda: ((cluster.get("pods", ns, f"{name}-recorder") or {}).get("spec") or {}).get("nodeName"),
                timeout=60,
                what=f"{name}'s recorder scheduled",
            )
        )


def download_link(cluster: LocalCluster, ns: str, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    return subprocess.run(
        [str(STREAMOPS), "video", "url", name, *args, "-n", ns], env=env, capture_output=True, text=True, timeout=60
    )


def test_recorders_on_two_nodes_upload_and_the_host_downloads(
    cluster: LocalCluster,
    release: Release,
    namespace: str,
    publishers: list[Publisher],
    s3: S3Server,
    s3_storage: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    ns = namespace
    stream = start_stream(cluster, ns)
    cluster.publish_from_lan(rtmp_url(cluster, ns, stream), publishers, live=stream_live(cluster, ns))
    wait_live(cluster, ns)
    storage = s3_storage
    bucket = storage["s3"]["bucket"]
    nodes = {
        name: on_node(cluster, ns, recording(name, minDurationSeconds=1, storage=storage), node)
        for name, node in (("rec-a", "node-1"), ("rec-b", "node-2"))
    }
    assert set(nodes.values()) == {"node-1", "node-2"}, nodes
    for name in nodes:  # each video ≥ 4 s (below), as the recorder counts them
        cluster.wait_status("rec", ns, name, lambda o: (o["status"].get("duration") or 0) >= 4.5, "4.5 s recorded", 90)

    stopped = time.monotonic()
    for name in nodes:
        cluster.kubectl("patch", "rec", name, "-n", ns, "--type=merge", "-p", '{"spec":{"stopped":true}}')
    for name in nodes:
        rec = cluster.wait_status(
            "rec", ns, name, lambda o: (c := condition(o, "Succeeded")) and c["status"] == "True", "finished", 120
        )
        timing("Recording stopped -> video in S3, downloadable (multi-node)", time.monotonic() - stopped)
        [video] = rec["status"]["videos"]
        assert video["upload"] == "uploaded", video
        assert video["url"].startswith(f"s3://{bucket}/streamops/{ns}/cam/"), video["url"]
        assert (condition(rec, "Uploaded") or {}).get("status") == "True", rec["status"]["conditions"]
        assert s3.secret_key not in json.dumps(rec["status"]) and s3.access_key not in json.dumps(rec["status"])

        # The documented command, on the host, with the user's kubeconfig: a link, then the file.
        answer = download_link(cluster, ns, name)
        assert answer.returncode == 0, answer.stderr
        link = answer.stdout.strip()
        assert link.startswith(s3.endpoint + "/") and s3.secret_key not in link
        out = tmp_path / f"{name}.mp4"
        subprocess.run(["curl", "-fsS", "--cacert", str(s3.ca_file), "-o", str(out), link], check=True, timeout=60)
        assert out.stat().st_size == video["sizeBytes"]
        assert ffprobe_duration(out) >= 4
        key = video["url"].split("/", 3)[3]
        sidecar = json.loads(
            s3.client().get_object(Bucket=bucket, Key=key.removesuffix(".mp4") + ".json")["Body"].read()
        )
        assert sidecar["title"] == video["title"] and sidecar["recording"] and sidecar["durationSeconds"] >= 4

    refused = download_link(cluster, ns, "rec-a", "7")
    assert refused.returncode == 1 and "choose 1..1" in refused.stderr


# --- faults: the operator Pod, a node -------------------------------------------------------------


READINGS_PAST_THE_RECONCILE = 4


def test_operator_pod_deleted_mid_stream_changes_nothing_observable(
    cluster: LocalCluster, release: Release, namespace: str, publishers: list[Publisher]
) -> None:
    ns = namespace
    stream = start_stream(cluster, ns)
    cluster.publish_from_lan(rtmp_url(cluster, ns, stream), publishers, live=stream_live(cluster, ns))
    wait_live(cluster, ns)
    # Settled: WebRtcPlayable turns True once the WHEP feeder's first media reaches the component.
    before = cluster.wait_status(
        "lst", ns, "cam", lambda o: (condition(o, "WebRtcPlayable") or {}).get("status") == "True", "WebRTC", 30
    )
    ingest_uid = cluster.get("pods", ns, "cam-ingest")["metadata"]["uid"]  # type: ignore[index]
    old = release.leader_pod()  # the replica that reconciles (the other waits as a standby)
    assert old is not None, f"an operator Pod holds the Lease\n{release.diagnose()}"
    running = {p["metadata"]["uid"] for p in release.operator_pods()}
    cluster.kubectl("delete", "pod", "-n", OPERATOR_NAMESPACE, old["metadata"]["name"], "--wait=false")
    # Watched until a new operator Pod is Ready and another replica leads and has reconciled the
    # stream (it logs its first look), then READINGS_PAST_THE_RECONCILE readings more, a second apart
    # (its status loop writes what it observes within a tick, 0.5 s).
    deadline = time.monotonic() + 45
    replaced, past = False, -1
    while True:
        now = cluster.get("lst", ns, "cam")
        assert now and now["status"]["live"] is True, "live stays true while the operator is replaced"
        assert now["status"]["ingest"] == before["status"]["ingest"]
        pods = release.operator_pods()
        replaced = replaced or any(
            p["metadata"]["uid"] not in running and (condition(p, "Ready") or {}).get("status") == "True" for p in pods
        )
        if past >= 0 or (
            replaced
            and release.leader() not in ("", old["metadata"]["name"])
            and release.reconciled_by_the_leader(("LiveStream", ns, "cam"))
        ):
            past += 1
            if past == READINGS_PAST_THE_RECONCILE:
                break
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    assert replaced, f"a new operator Pod became Ready\n{release.diagnose()}"
    assert past == READINGS_PAST_THE_RECONCILE, f"the new leader reconciled the stream\n{release.diagnose()}"
    assert release.leader() not in ("", old["metadata"]["name"]), "another replica took the Lease over"
    assert cluster.get("pods", ns, "cam-ingest")["metadata"]["uid"] == ingest_uid  # type: ignore[index]
    after = cluster.get("lst", ns, "cam")
    assert after and after["metadata"]["generation"] == before["metadata"]["generation"]
    assert [(c["type"], c["status"]) for c in after["status"]["conditions"]] == [
        (c["type"], c["status"]) for c in before["status"]["conditions"]
    ]


def keep_leader_on(cluster: LocalCluster, release: Release, node: str) -> None:
    """The operator replica that leads on `node`. When it runs elsewhere, the operator Pods move there
    (those running elsewhere): keep new Pods off the others, delete them, wait for their replacements
    there and for the Lease to be held there. A standby elsewhere stays: lost with its node, it is no
    loss of the operator (the leader reconciles on), and moving it was a Pod's start here and another
    in the next test that wants the replicas apart (test_webhooks_lan.py's replicas_apart)."""
    leader = eventually(
        lambda: (p := release.leader_pod()) and (condition(p, "Ready") or {}).get("status") == "True" and p,
        timeout=90, interval=0.5, what="an operator Pod Ready and holding the Lease",
    )  # fmt: skip
    if leader["spec"].get("nodeName") == node:
        return
    away = [p for p in release.operator_pods() if p["spec"].get("nodeName") != node]
    with cluster.scheduling_away_from([n.name for n in cluster.nodes if n.name != node]):
        for pod in away:
            cluster.kubectl("delete", "pod", "-n", OPERATOR_NAMESPACE, pod["metadata"]["name"])

        def moved() -> bool:
            pods = release.operator_pods()
            leader = release.leader_pod()
            return (
                all(p["spec"].get("nodeName") == node for p in pods)
                and all((condition(p, "Ready") or {}).get("status") == "True" for p in pods)
                and leader is not None
                and leader["spec"].get("nodeName") == node
            )

        eventually(moved, timeout=90, interval=1, what=f"the operator Pods Ready on {node}, one leading")


def test_node_lost_mid_recording(
    cluster: LocalCluster, release: Release, namespace: str, publishers: list[Publisher]
) -> None:
    """node-2 (the ingest's) dies; the recorder (node-1, next to its volume) and the encoder (on the
    LAN, pushing to node-1's address) survive. The ingest comes back on node-1, `live` returns once
    the encoder reconnects, and the recording follows the reconnect-window rules: the outage is
    longer than the window, so the first video is closed and a second one begins."""
    ns = namespace
    keep_leader_on(cluster, release, "node-1")  # this test loses a worker node, not the operator
    volume = cluster.recordings_volume(ns, "node-1")
    stream = start_stream(cluster, ns, on="node-2")
    url = rtmp_url(cluster, ns, stream)
    cluster.publish_from_lan(url, publishers, live=stream_live(cluster, ns))
    wait_live(cluster, ns)
    cluster.apply(ns, recording("rec", minDurationSeconds=1, reconnectWindowSeconds=5))
    # A first video past minDurationSeconds, as the recorder counts it (status.duration).
    cluster.wait_status("rec", ns, "rec", lambda o: (o["status"].get("duration") or 0) >= 2, "2 s recorded", 90)

    lost = time.monotonic()
    cluster.stop_node("node-2")
    # node-2 starts again (containerd, the kubelet: 1.4 s at load 5) beside the checks after the ingest is
    # back on node-1, which no longer depend on node-2's absence: the Events, the second video.
    restarting = concurrent.futures.ThreadPoolExecutor(1)
    restarted: concurrent.futures.Future[None] | None = None
    try:
        cluster.wait_status("lst", ns, "cam", lambda o: not o["status"]["live"], "offline after the node died", 30)
        timing("node lost -> status.live false", time.monotonic() - lost)
        eventually(
            lambda: (n := cluster.get("nodes", "", "node-2")) and condition(n, "Ready")["status"] != "True",  # type: ignore[index]
            timeout=60, what="node-2 NotReady",
        )  # fmt: skip
        timing("node lost -> node NotReady", time.monotonic() - lost)

        # The encoder reconnects, as OBS does, until the ingest takes it again (on node-1). Until the
        # ingest Pod is replaced node-1's NodePort has no endpoint and refuses: one try per probe.
        def reconnected() -> bool:
            if ingest_node(cluster, ns) == "node-1" and (s := cluster.get("lst", ns, "cam")) and s["status"]["live"]:
                return True
            if not publishers[-1].running:
                publishers.append(cluster.lan_encoder(url).start())
            return False

        eventually(reconnected, timeout=240, interval=1, what="ingest back on node-1 and live again")
        timing("node lost -> live again on the other node", time.monotonic() - lost)
        restarted = restarting.submit(cluster.start_node, "node-2")

        # kopf posts Events from a queue, after the handler: the replacement can be live first.
        try:
            eventually(
                lambda: {"NodeLost", "IngestNodeLost"} <= set(cluster.event_reasons(ns)),
                timeout=20,
                interval=1,
                what="Events",
            )
        except AssertionError as e:
            raise AssertionError(
                f"{e}: Events {sorted(set(cluster.event_reasons(ns)))}\n{cluster.diagnose(ns)}"
            ) from None
        # The second video past minDurationSeconds too: 2 s more recorded from now on.
        so_far = (cluster.get("rec", ns, "rec") or {}).get("status", {}).get("duration") or 0
        cluster.wait_status(
            "rec", ns, "rec", lambda o: (o["status"].get("duration") or 0) >= so_far + 2, "2 s more recorded", 60
        )
        rec = cluster.stop_recording(ns, "rec")
        videos = rec["status"]["videos"]
        assert len(videos) == 2, videos  # the outage was longer than the 5 s reconnect window
        for v in videos:
            assert (volume / v["path"]).is_file()
    finally:
        with restarting:
            (restarted or restarting.submit(cluster.start_node, "node-2")).result()
        cluster.wait_ready_nodes(2)


def test_an_encoder_pushes_through_the_regional_ingest_point_of_the_node_without_the_ingest(
    cluster: LocalCluster, release: Release, namespace: str, publishers: list[Publisher]
) -> None:
    """docs/design/exposure.md, "Regional ingest points": the release lists each node as a region.
    The stream's status shows both regions' URLs beside the default pushUrl (unchanged); an encoder on
    the LAN pushing to the region of the node that does not run the ingest goes live (kube-proxy there
    forwards it), and viewers on the LAN get HLS; SRT through that region too. NodePort regions make
    no Service of their own."""
    ns = namespace
    here, there = cluster.network.nodes[0], cluster.network.nodes[1]
    stream = start_stream(cluster, ns, on=here.name)
    ingest = stream["status"]["ingest"]
    assert ingest["pushUrl"].startswith(f"rtmp://{here.ip}:"), "the default, unchanged"
    regions = {r["name"]: r for r in ingest["regions"]}
    assert list(regions) == [here.name, there.name]
    port = ingest["pushUrl"].rsplit(":", 1)[1]
    assert regions[there.name]["pushUrl"] == f"rtmp://{there.ip}:{port}"
    assert regions[there.name]["pushUrlSrt"].startswith(f"srt://{there.ip}:")
    assert regions[there.name]["exposure"] == "NodePort", regions
    key = cluster.stream_key(ns, "cam")
    assert key not in json.dumps(stream["status"])
    published = time.monotonic()
    rtmp = cluster.publish_from_lan(
        f"{regions[there.name]['pushUrl']}/{key}", publishers, live=stream_live(cluster, ns)
    )
    wait_live(cluster, ns)
    timing("RTMP publish through the other node's region -> status.live (multi-node)", time.monotonic() - published)
    assert ingest_node(cluster, ns) == here.name, "the ingest stayed where it was"
    seg = eventually(
        lambda: first_segment(stream["status"]["playback"]["hlsCmafUrl"], cluster.lan_get),
        timeout=30,
        interval=0.1,
        what="HLS from the LAN",
    )
    assert len(seg[1]) > 1000
    assert not [s for s in cluster.list("services", ns) if "-region-" in s["metadata"]["name"]], "NodePort: none"

    # SRT (UDP) through the same region: kube-proxy forwards the nodePort's datagrams as well.
    rtmp.stop()
    cluster.wait_status("lst", ns, "cam", lambda o: not o["status"]["live"], "offline", 30)
    srt = regions[there.name]["pushUrlSrt"]
    published = time.monotonic()
    cluster.publish_from_lan(
        f"{srt}{'&' if '?' in srt else '?'}mode=caller&passphrase={key}", publishers, live=stream_live(cluster, ns)
    )
    wait_live(cluster, ns)
    timing("SRT publish through the other node's region -> status.live (multi-node)", time.monotonic() - published)
