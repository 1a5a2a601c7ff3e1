"""The chart's monitoring against the real Prometheus Operator on the 2-node pod-network cluster (issues 28
and 38; devtools.cluster.prometheus_operator): the chart upgraded with its ServiceMonitors, PodMonitor and
PrometheusRule on, the operator (built from its module, the version of the CRDs) reconciling them into a
Prometheus it runs (our build). Then: the ingest, the recorder, the pusher and every operator replica are
`up` targets — with the chart upgraded by the README's Monitoring recipe's values (the block marked
`monitoring-recipe`) over the session's install, whose NetworkPolicies keep the chart's default
`metricsFrom: []`; the catalogue's always-present series exist with the stream's `namespace` and `stream`;
every metric the dashboards query is scraped or may be absent (catalogue `always=False`); an encoder
stopped by PID fires StreamopsStreamOffline, started again clears it.
(docs/design/observability.md, "Prometheus on the local cluster".)
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from devtools.catalog import recording, restream
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.network import OUTSIDE_IP
from devtools.cluster.prometheus import ClusterPrometheus, Unanswered
from devtools.cluster.prometheus_operator import OperatorPrometheus
from devtools.cluster.release import MONITORING_NAMESPACE, Release, merged
from devtools.cluster.release import NAMESPACE as OPERATOR_NAMESPACE
from devtools.doc_blocks import documented_block, helm_set_values
from devtools.media.peers import NginxRtmp, Publisher
from devtools.ports import free_port
from devtools.versions import REPO
from devtools.waits import eventually
from streamops.cli.kubectl_plugin import main as kubectl_streamops
from streamops.contract.metrics import ALL_METRICS

from tests.multinode.test_streaming import rtmp_url, start_stream, wait_live

# sets_release: operator_prometheus replaces what the test before it left (devtools.test_scopes.RELEASE_CHAIN).
pytestmark = [pytest.mark.timeout(600), pytest.mark.sets_release]

SCRAPE_INTERVAL = "5s"
OFFLINE_ALERT = "StreamopsStreamOffline"  # active, ingest running, no media: what a stopped encoder is
# The README's Monitoring recipe as written (its values: the monitors, rules and dashboards on, and
# networkPolicy.metricsFrom, without which the session's default policies admit no scraper), plus
# what only this test wants: scrapes every 5 s and the offline alert (off by default) after 5 s.
RECIPE = "\n".join(documented_block("monitoring-recipe"))
MONITORING = merged(
    helm_set_values(RECIPE),
    {
        "metrics": {
            "serviceMonitor": {"interval": SCRAPE_INTERVAL},
            "prometheusRule": {"alerts": {OFFLINE_ALERT: {"enabled": True, "for": "5s"}}},
        }
    },
)
WORKERS = ("ingest", "recorder", "pusher")
COMPONENT = "app.kubernetes.io/component"
DASHBOARDS = REPO / "charts" / "streamops" / "dashboards"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
BIN = Path(sys.executable).parent  # kubectl-streamops, installed with the package
STATS_STEP = 5  # s: `stats --interval`, the scrape interval
LIVE_ROWS = 2  # intervals read before the encoder stops
LAN_ENCODER = {"frameRate": 30, "width": 640, "height": 360}  # LocalCluster.lan_encoder's


@pytest.fixture(scope="module")
def operator_prometheus(cluster: LocalCluster, release: Release) -> Iterator[OperatorPrometheus]:
    """The operator's CRDs, the chart upgraded with MONITORING (its objects validated against them),
    the operator and a Prometheus selecting everything, started (the test waits for them once its
    stream runs: their ≈25 s overlap its setup); afterwards the session's install and a cluster
    without any of it."""
    # The recipe keeps the install's values (an upgrade without them would drop imageRegistry, the
    # ingest's exposure…) and opens the metrics ports to the namespace this test's Prometheus runs in.
    assert "--reuse-values" in RECIPE, RECIPE
    assert release.values["networkPolicy"].get("metricsFrom", []) == [], "the session runs the default policies"
    assert MONITORING_NAMESPACE in json.dumps(MONITORING["networkPolicy"]["metricsFrom"]), RECIPE
    prom = OperatorPrometheus(cluster)
    try:
        began = time.monotonic()
        # The Prometheus Operator's images imported while its CRDs are applied (they need none of
        # them), its objects applied while the chart's rollout runs: each needs only the CRDs.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(prom.import_image)
            prom.install_crds()
            crds_after = time.monotonic() - began
            started = pool.submit(prom.start)  # after the import: the one worker runs them in turn
            release.upgrade(MONITORING)
            started.result()
        print(
            f"\nCRDs + helm upgrade with monitoring, the Prometheus Operator started: {time.monotonic() - began:.1f}s"
            f" (the CRDs Established after {crds_after:.1f}s: {prom.crd_seconds})"
        )
        yield prom
    finally:
        prom.remove()
        # The CRDs go once the chart's monitors do: a helm upgrade over a release whose objects' kinds
        # are gone cannot map them.
        release.restore_later(then=prom.remove_crds)


def pod_components(cluster: LocalCluster, ns: str) -> dict[str, str]:
    """Pod name -> its app.kubernetes.io/component, for the namespace's Pods."""
    return {p["metadata"]["name"]: p["metadata"]["labels"].get(COMPONENT, "") for p in cluster.list("pods", ns)}


def all_up(prometheus: ClusterPrometheus, wanted: set[tuple[str, str]]) -> bool:
    """Every wanted target up; a request Prometheus did not answer (ci11, load 10: once, and the
    wait gave up at once) is 'not yet', within the wait's own timeout."""
    try:
        return wanted <= up_targets(prometheus).keys()
    except Unanswered:
        return False


def up_targets(prometheus: ClusterPrometheus) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, pod) -> the active target scraping it, for targets whose last scrape succeeded."""
    return {
        (t["labels"].get("namespace", ""), t["labels"].get("pod", "")): t
        for t in prometheus.active_targets()
        if t["health"] == "up"
    }


def dashboard_metric_names() -> set[str]:
    """Every streamops_* name the dashboards' queries and template variables use."""
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                texts.append(value) if key in ("expr", "query") and isinstance(value, str) else walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in sorted(DASHBOARDS.glob("*.json")):
        walk(json.loads(path.read_text()))
    return {name for text in texts for name in re.findall(r"\bstreamops_[a-zA-Z0-9_]+", text)}


def may_be_absent(name: str) -> bool:
    """A series name (a histogram's _bucket/_sum/_count too) of a catalogue metric that appears only
    with its first event (always=False) wherever it is exported."""
    histograms = {m.name for m in ALL_METRICS if m.type == "histogram"}
    family = next((b for s in HISTOGRAM_SUFFIXES if (b := name.removesuffix(s)) != name and b in histograms), name)
    specs = [m for m in ALL_METRICS if m.name == family]
    return bool(specs) and not any(m.always for m in specs)


def offline_alert(prometheus: ClusterPrometheus, ns: str) -> dict[str, Any] | None:
    return next(
        (
            a
            for a in prometheus.alerts()
            if a["labels"].get("alertname") == OFFLINE_ALERT
            and a["labels"].get("namespace") == ns
            and a["labels"].get("stream") == "cam"
        ),
        None,
    )


def test_the_operators_prometheus_scrapes_what_the_monitors_select_and_alerts_on_a_stopped_encoder(
    cluster: LocalCluster,
    release: Release,
    operator_prometheus: OperatorPrometheus,
    namespace: str,
    publishers: list[Publisher],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))  # the plugin's, run in this process below
    for name in ("STREAMOPS_PROMETHEUS_URL", "STREAMOPS_PROMETHEUS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    try:
        scrapes_and_alerts(cluster, release, operator_prometheus, namespace, publishers, tmp_path)
    finally:
        # What the operator generated, for whoever reads a failure.
        (tmp_path / "prometheus.yaml").write_text(operator_prometheus.generated_config())


def scrapes_and_alerts(
    cluster: LocalCluster,
    release: Release,
    prometheus: OperatorPrometheus,
    namespace: str,
    publishers: list[Publisher],
    tmp_path: Path,
) -> None:
    ns = namespace
    before_stream = datetime.now(UTC)
    cluster.recordings_volume(ns, "node-1")
    stream = start_stream(cluster, ns)
    url = rtmp_url(cluster, ns, stream)
    encoder = cluster.publish_from_lan(url, publishers)
    wait_live(cluster, ns, timeout=60)
    with NginxRtmp(workdir=tmp_path / "nginx", address=OUTSIDE_IP, netns=cluster.network.outside) as target:
        cluster.apply(ns, recording("rec", minDurationSeconds=1), restream("out", uri=target.app_url()))
        cluster.wait_status("rec", ns, "rec", lambda o: o["status"].get("recording"), "recording", 90)
        cluster.wait_status("rst", ns, "out", lambda o: o["status"].get("live"), "restream live", 60)

        # Every worker Pod of the stream and every operator replica is an `up` target: the monitors'
        # selectors, namespace selectors and port names match what the operator and the chart create.
        workers = {pod: c for pod, c in pod_components(cluster, ns).items() if c in WORKERS}
        assert set(workers.values()) == set(WORKERS), workers
        operators = [p["metadata"]["name"] for p in release.operator_pods()]
        wanted = {(ns, pod) for pod in workers} | {(OPERATOR_NAMESPACE, pod) for pod in operators}
        waited = time.monotonic()
        prometheus.wait_ready()
        print(
            f"\nthe Prometheus Operator started -> its Prometheus Ready {prometheus.deploy_seconds:.1f}s"
            f" (waited for here: {time.monotonic() - waited:.1f}s)"
        )
        began = time.monotonic()
        try:
            eventually(lambda: all_up(prometheus, wanted), timeout=60, what="every target up")
        except AssertionError:
            seen = [(t["labels"], t["health"], t["lastError"]) for t in prometheus.active_targets()]
            raise AssertionError(f"targets wanted up: {sorted(wanted)}; active: {json.dumps(seen, indent=1)}") from None
        targets_up_after = time.monotonic() - began

        # The catalogue's always-present series of a stream, with its namespace and name: the
        # workers' (namespace from the target) and the operator's (its own namespace label, kept by
        # honorLabels although the operator's target is in another namespace).
        per_stream = {m.name for m in ALL_METRICS if m.always and m.exporter != "edge" and "stream" in m.labels}

        def stream_series() -> set[str]:
            result = prometheus.query(f'group by (__name__) ({{namespace="{ns}", stream="cam"}})')
            return {r["metric"]["__name__"] for r in result}

        found = eventually(lambda: per_stream <= (s := stream_series()) and s, timeout=30, what="per-stream series")
        assert per_stream <= found, sorted(per_stream - found)
        active = prometheus.query(f'streamops_livestream_active{{namespace="{ns}", stream="cam"}}')
        assert active and all(a["metric"].get("pod") in operators for a in active), active
        assert any(a["value"][1] == "1" for a in active), active
        scraped = prometheus.metric_names()
        operator_names = {
            m.name + ("_count" if m.type == "histogram" else "")
            for m in ALL_METRICS
            if m.always and m.exporter == "operator"
        }
        assert operator_names <= scraped, sorted(operator_names - scraped)

        # No panel queries a metric nobody exports: scraped here, or one that appears with its first
        # event (a refusal, a failure, a webhook) and is in the catalogue as such.
        queried = dashboard_metric_names()
        assert queried, f"no streamops_* metric in {DASHBOARDS}"
        unexplained = sorted(n for n in queried if n not in scraped and not may_be_absent(n))
        assert not unexplained, f"dashboards query metrics nobody exports here: {unexplained}"

        # For `stats` below: three live scrapes in the last 15 s (the two intervals ending at the stop's
        # whole second each hold one), then one viewer scraped (a playlist fetched from the LAN counts for
        # the ingest's 30 s window).
        scraped_live_since = time.monotonic()
        sel = f'{{namespace="{ns}", stream="cam"}}'
        last = f"streamops_ingest_live{sel}[{(LIVE_ROWS + 1) * STATS_STEP}s]"
        eventually(
            lambda: prometheus.query(f"count_over_time({last}) >= {LIVE_ROWS + 1} and min_over_time({last}) == 1"),
            timeout=30, interval=0.5, what=f"{(LIVE_ROWS + 1) * STATS_STEP}s of live scrapes",
        )  # fmt: skip
        hls = stream["status"]["playback"]["hlsCmafUrl"]
        eventually(lambda: cluster.lan_get(hls)[0] == 200, timeout=30, interval=0.5, what="a viewer's playlist")
        eventually(
            lambda: prometheus.query(f"sum(streamops_viewers{sel}) >= 1"), timeout=15, interval=0.5,
            what=f"the viewer of {hls} scraped",
        )  # fmt: skip
        scraped_live_after = time.monotonic() - scraped_live_since
        time.sleep(1 - time.time() % 1)  # the rows end at the stop's whole second: after the viewer's scrape

        # A real fault: the encoder stops (by PID). The stream stays active, its ingest runs, no media.
        stopped = time.monotonic()
        stopped_at = datetime.now(UTC)
        encoder.stop()
        cluster.wait_status("lst", ns, "cam", lambda o: not o["status"].get("live"), "status.live false", 30)
        offline_at = datetime.now(UTC)  # the ingest's live gauge reads 0 from here on
        fired = eventually(
            lambda: (a := offline_alert(prometheus, ns)) and a["state"] == "firing" and a,
            timeout=90, interval=1, what=f"{OFFLINE_ALERT} firing",
        )  # fmt: skip
        fired_after = time.monotonic() - stopped
        assert fired["labels"]["severity"], fired
        # `stats` reads an interval from a scrape after offline_at to the encoder's return: ≥ 7 s of it.
        time.sleep(max(0.0, (offline_at + timedelta(seconds=2 * STATS_STEP + 2) - datetime.now(UTC)).total_seconds()))
        back_at = datetime.now(UTC)
        restarted = time.monotonic()
        cluster.publish_from_lan(url, publishers)
        eventually(
            lambda: offline_alert(prometheus, ns) is None, timeout=90, interval=1, what=f"{OFFLINE_ALERT} cleared"
        )
        cleared_after = time.monotonic() - restarted

    began = time.monotonic()
    with prometheus.on_loopback() as prometheus_url:
        stats_of_that_minute(cluster, ns, prometheus_url, before_stream, stopped_at, offline_at, back_at)
    print(
        f"\ntargets up {targets_up_after:.1f}s after the workers ran; encoder stopped -> {OFFLINE_ALERT} firing "
        f"{fired_after:.1f}s; encoder back -> cleared {cleared_after:.1f}s; live scrapes and a viewer for stats "
        f"awaited {scraped_live_after:.1f}s; stats checks {time.monotonic() - began:.1f}s"
    )


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def plugin_here(*args: str) -> tuple[int, str, str]:
    """`kubectl streamops ARGS` run by its main() in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = kubectl_streamops(list(args))
    return code, out.getvalue(), err.getvalue()


def stats_of_that_minute(
    cluster: LocalCluster,
    ns: str,
    prometheus_url: str,
    before_stream: datetime,
    stopped_at: datetime,
    offline_at: datetime,
    back_at: datetime,
) -> None:
    """`kubectl streamops stats` over the minute the test above made: live, encoder stopped, back."""
    sessions = cluster.get("lst", ns, "cam")["status"]["sessions"]  # type: ignore[index]
    # The session on air when the encoder stopped, as the operator recorded it.
    stopped_session = next(s for s in reversed(sessions) if datetime.fromisoformat(s["startedAt"]) < stopped_at)
    # As typed: the intervals before the encoder stopped (scraped live throughout) and what follows.
    env = {**os.environ, "PATH": os.pathsep.join([str(BIN), str(Path(cluster.binary).parent), os.environ["PATH"]])}
    since = stopped_at.replace(microsecond=0) - timedelta(seconds=LIVE_ROWS * STATS_STEP)
    typed = subprocess.run(
        ["kubectl", "streamops", "stats", "cam", "-n", ns, "--prometheus", prometheus_url, "--from", rfc3339(since),
         "--interval", f"{STATS_STEP}s", "-o", "json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert typed.returncode == 0, typed.stderr
    answer = json.loads(typed.stdout)
    assert (answer["source"], answer["intervalSeconds"]) == ("prometheus", STATS_STEP), answer
    rows = answer["intervals"]
    live = rows[:LIVE_ROWS]
    assert [r["start"] for r in live] == [rfc3339(since + timedelta(seconds=k * STATS_STEP)) for k in range(LIVE_ROWS)]
    for r in live:
        assert r["onAir"] == 1, live
        assert math.isclose(r["frameRate"], LAN_ENCODER["frameRate"], rel_tol=0.1), live
        assert (r["width"], r["height"]) == (LAN_ENCODER["width"], LAN_ENCODER["height"]), live
        assert 0.7 <= r["speed"] <= 1.5, live  # a copy remux of a real-time feed
    # The mean bitrate of those 10 s against the operator's record of the whole session (the same feed).
    mean = sum(r["bitrate"] for r in live) / len(live)
    assert 0.6 <= mean / stopped_session["averageBitrate"] <= 1.6, (live, stopped_session)
    assert max(r["peakViewers"] for r in live) == 1, live  # the one playlist fetched from the LAN

    # The encoder's absence: from the first scrape after the ingest said it was off, to its return.
    off_from = offline_at.replace(microsecond=0) + timedelta(seconds=STATS_STEP + 1)
    off_to = back_at.replace(microsecond=0)
    code, out, err = plugin_here(
        "stats", "cam", "-n", ns, "--prometheus", prometheus_url, "--from", rfc3339(off_from), "--to", rfc3339(off_to),
        "--interval", f"{int((off_to - off_from).total_seconds())}s", "-o", "json",
    )  # fmt: skip
    assert code == 0, err
    (off,) = json.loads(out)["intervals"]
    assert off["onAir"] == 0 and off["bitrate"] is off["frameRate"] is off["width"] is off["speed"] is None, off

    # The table, as read on a terminal.
    table = ("stats", "cam", "-n", ns, "--prometheus", prometheus_url, "--from", rfc3339(since), "--interval", "5s")
    code, out, err = plugin_here(*table)
    assert code == 0 and f"livestream {ns}/cam" in err and prometheus_url in err, err
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["FROM", "(UTC)", "ON", "AIR", "BITRATE"], out
    first = lines[1].split()  # date, time, on air, bitrate and its unit, fps, resolution, speed, peak viewers
    assert first[2] == "100%" and first[6] == "640x360" and first[7].endswith("x"), out

    # Without Prometheus: the two sessions the operator recorded, the first ended, the second on air.
    code, out, err = plugin_here("stats", "cam", "-n", ns, "--from", rfc3339(since), "--sessions")
    assert code == 0, err
    listed = out.splitlines()[1:]
    assert len(listed) >= 2 and "(on air)" not in listed[0] and "(on air)" in listed[-1], out
    assert all("640x360" in line and "rtmp" in line for line in listed), out

    # What cannot be answered, in one line each.
    earlier = before_stream - timedelta(minutes=10)
    before = ("--from", rfc3339(earlier), "--to", rfc3339(before_stream))
    code, _, err = plugin_here("stats", "cam", "-n", ns, "--prometheus", prometheus_url, *before)
    assert code == 1 and f"has no series of livestream {ns}/cam" in err, err
    code, _, err = plugin_here("stats", "cam", "-n", ns, "--prometheus", f"http://127.0.0.1:{free_port()}")
    assert code == 1 and "cannot reach Prometheus at http://127.0.0.1:" in err, err
    code, _, err = plugin_here("stats", "nope", "-n", ns, "--prometheus", prometheus_url)
    assert code == 1 and f"livestream nope not found in namespace {ns}" in err, err
