"""The edge's HorizontalPodAutoscaler, real (issue 38): on the 2-node cluster with metrics-server
(devtools.cluster.metrics_server), a viewer load through Traefik and the edge makes the HPA scale the edge
out, and the edge scales back in after the load; a steady audience watching all along (components/hlsload)
loses no more than one segment while Pods come and go. The edge's replicas over time are written to
STREAMOPS_EDGE_REPLICAS (a JSON file) when set, for bench/results (bench-playback's cluster row).

The chart's edge values are lowered for a 2-core machine (a 40 % target, at most 4 replicas; the
chart's default 100m CPU request): the same HPA, reached with a load this machine can make beside the
cluster it runs. Scaled in means fewer replicas than at the peak, not the minimum: what an edge burns
with a live stream and a few viewers decides how far the HPA goes, and that is the machine's, not
ours. Measured 2026-11-29 (load ≈3): 20 % a replica at four, 22 % at three, 24 % at two, so 35 %
went 4 → 3 → 2, and a CI run at load ≈7 stayed above 2 for the 90 s allowed (ceil(3 × 24/35) = 3).
The load is sized for machines that differ: 130 viewers made 61 % of the request over two replicas
here and ≈48-53 % on a faster one, both more than 10 % over a 40 % target (the HPA moves only past
that); at 40 % four replicas recommend fewer while each burns under 30 %.
The controller-manager here syncs HPAs every 5 s and stabilises scale-in over 5 s instead of 5 min
(devtools.cluster.controlplane, HPA_DOWNSCALE_STABILIZATION_SECONDS).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from devtools.cluster.edge_replicas import ReplicaLog
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.metrics_server import MetricsServer
from devtools.cluster.release import Release
from devtools.media.peers import Publisher
from devtools.media.viewer_log import read_log, trouble_by_second
from devtools.waits import eventually
from streamops.contract.edge import EDGE_NAME

from tests.multinode.test_playback_plane import (
    SEGMENT_SECONDS,
    hlsload_on_lan,
    lan_request,
    live_stream_with_edge,
    load_result,
)

# sets_release: its upgrade replaces what the test before it left (devtools.test_scopes.RELEASE_CHAIN).
pytestmark = [pytest.mark.timeout(900), pytest.mark.sets_release]

MIN_REPLICAS = 2  # the chart's edge.replicas
MAX_REPLICAS = 4
EDGE_VALUES = {"edge": {"maxReplicas": MAX_REPLICAS, "targetCPUUtilizationPercentage": 40}}
# The load that scales out (hlsload's LL-HLS viewers: bench/results/playback.md has the edge at ≈1 ms
# of CPU per viewer-second), and the audience that watches through the scale-out and the scale-in.
LOAD_VIEWERS = 130  # 100-130m of edge CPU over 2 replicas: 1.2-1.6× the target, within what the machine can spare
METRICS_TIMEOUT = 90  # the edge Pods' first CPU figures: two metrics-server scrapes (10 s apart)
SCALE_OUT_TIMEOUT = 60  # a metrics-server scrape (10 s), an HPA sync (5 s) and a Pod start: 8-12 s measured
# The load goes on while the new Pods take viewers. Ended as soon as they were Ready instead (2-3 s
# after the scale-out), its window closed at its most congested: 80 % of its parts at load 14.
LOAD_AFTER_SCALE_OUT = 10
# The audience watches until the Pods the scale-in removed are gone (10.6-10.8 s measured: preStop
# 3 s, then nginx's quit), then one segment more: hlsload counts a viewer's gap up to the window's
# end, so one still held up a segment after they went is over its bound (a segment).
POD_GONE_TIMEOUT = 60
AUDIENCE_VIEWERS = 10
# The audience: alone while the HPA gets its first reading of the edge (at least 5 s), the load, the
# scale-in (5 s of stabilisation after the CPU falls and metrics-server's 10 s window), then still
# watching while the removed Pods go. Each hlsload is stopped by SIGINT once what it waits for
# happened (its -duration is only the upper bound).
SCALE_IN_TIMEOUT = 90
ALONE_SECONDS = 5
AUDIENCE_SECONDS = (
    METRICS_TIMEOUT
    + ALONE_SECONDS
    + SCALE_OUT_TIMEOUT
    + LOAD_AFTER_SCALE_OUT
    + SCALE_IN_TIMEOUT
    + POD_GONE_TIMEOUT
    + 30
)


# A request slower than this (five 200 ms parts) is named in a failure's timeline beside the failed ones.
SLOW_REQUEST_MS = 1000


def what_the_viewers_saw(result: dict[str, Any], log: Path, t0: float, events: list[tuple[float, str]]) -> str:
    """What explains a breach: the missed parts by what became of them (hlsload's delivery.missed),
    failures, how far behind the viewers were at the window's end, the client's CPU and the machine's
    load, the viewers that missed the most, and second by second (from `t0`) the failed and slow
    requests beside `events` (the load's start and end, the edge's replicas)."""
    worst = sorted(result.get("per_viewer") or [], key=lambda v: v["expected"] - v["received"], reverse=True)
    lines = [
        f"delivery {result['delivery']}",
        f"errors {result['errors']}; non-200 {result['non_200']}; resets {result['resets']}",
        f"last playlist before the window's end, ms ago {result['last_playlist_age_ms']}; "
        f"longest gaps {result['max_gap_ms']}; lag {result['lag_ms']}",
        f"client {result['client']}; load average {os.getloadavg()}",
        *(f"viewer {v}" for v in worst[:5] if v["received"] < v["expected"]),
        f"second by second, failed and over {SLOW_REQUEST_MS} ms (t0 = the audience's start):",
        *trouble_by_second(read_log(log.read_text()), t0, SLOW_REQUEST_MS, events),
    ]
    return "\n  ".join(lines)


def no_viewer_lost(result: dict[str, Any], who: str, explain: Callable[[], str], segments: int = 1) -> None:
    """Every viewer got ≥ 95 % of what was due and waited at most `segments` segments for any of it.
    Due: every part named (to any viewer) before the window's end; a viewer whose playlists came
    late then hears of them in hlsload's grace (components/hlsload, README), so what is counted is
    what the edge delivered, not where a busy client was when the window was cut."""
    delivery, gaps = result["delivery"], result["max_gap_ms"]
    over = segments * SEGMENT_SECONDS * 1000
    ok = gaps["max"] <= over and delivery["received"] >= 0.95 * delivery["expected"]
    if segments == 1:
        ok = ok and result["viewers_gap_over_threshold"] == 0
    if not ok:
        try:
            why = explain()
        except Exception as e:  # what explains the breach must not hide it
            why = f"(what the viewers saw could not be read: {e!r}; delivery {delivery})"
        raise AssertionError(
            f"{who}: longest gap {gaps['max']} ms (bound {over}), {delivery['received']} of {delivery['expected']} "
            f"(bound 95 %)\n  {why}"
        )


def edge_pods(cluster: LocalCluster, ns: str) -> list[dict[str, Any]]:
    """The edge Deployment's Pods, those terminating included (an object until its containers stopped)."""
    deployment = cluster.get("deployments", ns, EDGE_NAME) or {}
    labels = deployment["spec"]["selector"]["matchLabels"]
    return cluster.list("pods", ns, ",".join(f"{k}={v}" for k, v in labels.items()))


def test_the_edge_scales_out_under_viewers_and_back_in_without_losing_them(
    cluster: LocalCluster,
    release: Release,
    metrics_server: MetricsServer,
    namespace: str,
    publishers: list[Publisher],
    tmp_path: Path,
) -> None:
    ns = namespace
    release.upgrade(EDGE_VALUES)
    replicas = ReplicaLog(cluster, ns)
    try:
        live_stream_with_edge(cluster, ns, publishers, ingress={"className": "traefik"})
        hpa = cluster.get("horizontalpodautoscalers", ns, EDGE_NAME)
        assert hpa and hpa["spec"]["maxReplicas"] == MAX_REPLICAS, hpa
        url = f"http://{cluster.ingress_address}/streams/{ns}/cam/hls/cmaf/index.m3u8"
        eventually(lambda: lan_request(url, cluster)[0] == 200, timeout=60, what="the playlist through the edge")

        # Each request of both, logged (hlsload -log), and each viewer's figures: what a breach is
        # explained by (what_the_viewers_saw).
        gap = ("-gap-threshold", f"{SEGMENT_SECONDS}s", "-per-viewer")
        audience_log, load_log = tmp_path / "audience-requests.jsonl", tmp_path / "load-requests.jsonl"
        audience_args = (*gap, "-run", "audience", "-log", str(audience_log))
        events: list[tuple[float, str]] = []
        with (
            replicas,
            hlsload_on_lan(cluster, url, AUDIENCE_SECONDS, *audience_args, viewers=AUDIENCE_VIEWERS) as audience,
        ):
            t0 = time.time()
            # The HPA reads the edge's CPU from metrics-server before anything is asked of it; the
            # audience watches meanwhile, its gaps before any scale event its own baseline.
            waited = time.monotonic()
            metrics_server.wait_ready()
            print(
                f"\nmetrics-server started -> every node's metrics served: {metrics_server.install_seconds:.1f}s"
                f" (waited for here: {time.monotonic() - waited:.1f}s)"
            )
            eventually(
                lambda: EDGE_NAME in {p.rsplit("-", 2)[0] for p in metrics_server.pod_metrics(ns)},
                timeout=METRICS_TIMEOUT, interval=1, what="the edge Pods' metrics",
            )  # fmt: skip
            print(f"the edge Pods' metrics served {time.time() - t0:.1f}s after the audience's start")
            time.sleep(max(0.0, ALONE_SECONDS - (time.time() - t0)))
            loaded = time.monotonic()
            load_bound = SCALE_OUT_TIMEOUT + LOAD_AFTER_SCALE_OUT + 30
            load_args = (*gap, "-run", "load", "-log", str(load_log))
            events.append((time.time(), f"the load's {LOAD_VIEWERS} viewers start (a 3 s ramp)"))
            with hlsload_on_lan(cluster, url, load_bound, *load_args, viewers=LOAD_VIEWERS) as load:
                eventually(lambda: replicas.most > MIN_REPLICAS, timeout=SCALE_OUT_TIMEOUT, interval=2,
                           what="the HPA scaling the edge out")  # fmt: skip
                scaled_out = time.monotonic() - loaded
                time.sleep(LOAD_AFTER_SCALE_OUT)
                load.send_signal(signal.SIGINT)  # the window ends here; the summary follows
                events.append((time.time(), "the load's window ends (SIGINT)"))
                load_stats = load_result(load, timeout=60)
            unloaded = time.monotonic()

            def metrics_and_reasons() -> str:
                # The HPA takes a Pod without metrics as 100 % busy on a scale-in: each Pod's reading
                # and the HPA's Events say whether it was the CPU or a missing metric.
                hpa_events = [
                    (v.get("reason"), v.get("message"))
                    for v in cluster.events(ns, "HorizontalPodAutoscaler", EDGE_NAME)
                ]
                return f"Pod metrics: {metrics_server.pod_metrics(ns)}\nEvents: {hpa_events}"

            eventually(lambda: MIN_REPLICAS <= replicas.last < replicas.most, timeout=SCALE_IN_TIMEOUT,
                       interval=2, what="the HPA scaling the edge back in", explain=metrics_and_reasons)  # fmt: skip
            scaled_in, scaled_to = time.monotonic() - unloaded, replicas.last
            # Still watching while the Pods this scale-in removed go (a later one's may be going then).
            eventually(
                lambda: len(edge_pods(cluster, ns)) <= scaled_to,
                timeout=POD_GONE_TIMEOUT, interval=0.5, what="the removed edge Pods gone",
            )  # fmt: skip
            gone = time.monotonic() - unloaded
            events.append((time.time(), "the removed edge Pods gone"))
            time.sleep(SEGMENT_SECONDS)  # a segment more (above): the bound's window, not a wait for a state
            assert audience.poll() is None, "the audience's window ended before the scale-in was watched"
            audience.send_signal(signal.SIGINT)
            events.append((time.time(), "the audience's window ends (SIGINT)"))
            audience_stats = load_result(audience, timeout=60)
        events += [
            (
                replicas.began_unix + c["t"],
                f"edge: {c['replicas']} replicas, {c['ready']} ready, {c['cpu_percent']} % CPU",
            )
            for c in replicas.changes()
        ]
        for who, stats in (("load", load_stats), ("audience", audience_stats)):
            print(
                f"\n{who}: {stats['delivery']['received']} of {stats['delivery']['expected']} parts, missed "
                f"{stats['delivery']['missed']}; errors {stats['errors']}; last playlist before the end, ms ago "
                f"{stats['last_playlist_age_ms']}; client {stats['client']['cpu_pct_of_core']} % of a core"
            )
        print(f"load average after: {os.getloadavg()}")
        print(
            f"\nload of {LOAD_VIEWERS} viewers -> edge scaled out in {scaled_out:.0f}s (at most {replicas.most} "
            f"replicas); load gone -> back to {scaled_to} in {scaled_in:.0f}s, the removed Pods gone in "
            f"{gone:.0f}s; audience's longest gap {audience_stats['max_gap_ms']['max']} ms"
        )
        (tmp_path / "load.json").write_text(json.dumps(load_stats, indent=1))
        (tmp_path / "audience.json").write_text(json.dumps(audience_stats, indent=1))
        # The load is the stimulus, 130 players in one Go process on the 2-core machine that also runs
        # the cluster: a CI run at load ≈7 had 18 of them wait over 2 s once (their longest waits: p50
        # 1.46 s, p99 2.43 s) while the edge sat near 60 % of a 100m request. Two segments for them;
        # one for the audience, which is what the scaling must not disturb.
        no_viewer_lost(
            load_stats, "the load's viewers", lambda: what_the_viewers_saw(load_stats, load_log, t0, events), segments=2
        )
        no_viewer_lost(
            audience_stats,
            "the audience, through scale-out and scale-in",
            lambda: what_the_viewers_saw(audience_stats, audience_log, t0, events),
        )
        # Every replica the HPA keeps is Ready: as many as it wants now, which may be fewer than the
        # scale-in above saw (it goes on scaling in, 3 -> 2 seen in ci87, after the last sample).
        cluster.wait_status(
            "deployments", ns, EDGE_NAME,
            lambda o: (o.get("status") or {}).get("readyReplicas", 0) >= (o.get("spec") or {}).get("replicas", 0)
            >= MIN_REPLICAS,
            "every edge replica the HPA keeps Ready", timeout=180,
        )  # fmt: skip
    finally:
        # Also after a failure: the replicas, CPU and the HPA's reasons over time are what explains it.
        print("\nthe edge's replicas (changes):", *replicas.changes(), sep="\n  ")
        (tmp_path / "replicas.json").write_text(json.dumps(replicas.samples, indent=1))
        if out := os.environ.get("STREAMOPS_EDGE_REPLICAS"):
            Path(out).write_text(json.dumps(replicas.samples, indent=1) + "\n")
        release.restore_later()
