"""`kubectl drain` of a live stream's ingest node on the 2-node pod-network cluster, with the restart
policy handover (issue 56): what the ingest's PodDisruptionBudget does to a drain before the
handover exists. A figure for docs/design/handover.md, no assert:

- a drain (eviction API, --timeout) of the node that runs the live ingest: does it block, how long,
  how many evictions kubectl tried (it retries every 5 s), and is the stream still live after;
- the same drain with --disable-eviction (plain DELETEs, which no budget holds): how long the drain
  takes, when the new ingest Pod is Ready on the other node, and when a new encoder is live again.

    python -m bench.drain [--timeout 20]   # -> bench/results/drain.md

The stand: devtools.cluster.local_cluster (2 nodes), the chart installed with
worker.restartPolicy=handover, one push LiveStream, an encoder on the cluster's LAN. Until the
handover sequence labels the serving ingest (streaming.streamops.dev/serving=true), the bench labels it.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from devtools.catalog import livestream
from devtools.cluster.kubectl import condition
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import Release
from devtools.media.peers import Publisher
from devtools.waits import eventually
from streamops.control.workers.handover_marks import SERVING_LABEL

from bench.report_file import ROOT, commit, loadavg, write_report

RESULTS = ROOT / "bench" / "results" / "drain.md"
NS = "drain"


def ingest_node(cluster: LocalCluster) -> str:
    return str((cluster.get("pods", NS, "cam-ingest") or {}).get("spec", {}).get("nodeName") or "")


def measure(cluster: LocalCluster, timeout: int) -> list[str]:
    publishers: list[Publisher] = []
    rows = [f"machine load before (1, 5, 15 min): {loadavg()}"]
    try:
        cluster.kubectl("create", "namespace", NS)
        cluster.apply(NS, livestream("cam", source={"push": {"protocols": ["rtmp"]}}))
        stream = cluster.wait_status(
            "lst", NS, "cam", lambda o: (condition(o, "Ready") or {}).get("status") == "True", "Ready", timeout=120
        )
        key = cluster.stream_key(NS, "cam")
        url = f"{stream['status']['ingest']['pushUrl']}/{key}"
        cluster.publish_from_lan(url, publishers)
        cluster.wait_status("lst", NS, "cam", lambda o: o["status"].get("live"), "live", 60)
        cluster.kubectl("label", "pod", "-n", NS, "cam-ingest", f"{SERVING_LABEL}=true", "--overwrite")
        try:
            eventually(
                lambda: ((cluster.get("pdb", NS, "cam-ingest") or {}).get("status") or {}).get("expectedPods") == 1,
                timeout=60,
                what="the budget counts the serving ingest",
            )
        finally:
            budget = cluster.get("pdb", NS, "cam-ingest") or {}
            rows.append(f"budget: spec {budget.get('spec')}, status {budget.get('status')}")
            print(cluster.kubectl("describe", "pdb", "-n", NS, check=False).stdout[-3000:])
        node = ingest_node(cluster)
        began = time.monotonic()
        drained = cluster.kubectl(
            "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", f"--timeout={timeout}s", check=False
        )
        took = time.monotonic() - began
        tries = len(re.findall(r"Cannot evict pod", drained.stderr + drained.stdout))
        live = bool((cluster.get("lst", NS, "cam") or {}).get("status", {}).get("live"))
        same = ingest_node(cluster) == node
        rows.append(
            f"drain of {node} (eviction API, --timeout={timeout}s): exit {drained.returncode} after {took:.1f} s, "
            f"{tries} evictions of cam-ingest refused (kubectl retries every 5 s); the ingest still on {node}: "
            f"{same}; stream live: {live}"
        )
        rows.append(f"kubectl's last words: {(drained.stderr.strip().splitlines() or [''])[-1][:300]}")

        began = time.monotonic()
        forced = cluster.kubectl(
            "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--disable-eviction", "--timeout=120s",
            check=False,
        )  # fmt: skip
        took = time.monotonic() - began
        eventually(
            lambda: (
                (pod := cluster.get("pods", NS, "cam-ingest"))
                and pod["spec"].get("nodeName") not in ("", None, node)
                and any(
                    c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", [])
                )
            ),
            timeout=120,
            what="the new ingest Ready on the other node",
        )
        ready = time.monotonic() - began
        for p in publishers:
            p.stop()
        cluster.publish_from_lan(url, publishers)
        cluster.wait_status("lst", NS, "cam", lambda o: o["status"].get("live"), "live again", 60)
        again = time.monotonic() - began
        rows.append(
            f"drain of {node} with --disable-eviction (DELETE, no budget holds it): exit {forced.returncode} after "
            f"{took:.1f} s; the new ingest Ready on the other node {ready:.1f} s after the drain began; a new "
            f"encoder live {again:.1f} s after it (the broadcast was cut: no handover yet)"
        )
    except Exception:
        print(cluster.diagnose(NS))
        raise
    finally:
        for p in publishers:
            p.stop()
        for n in cluster.network.nodes:
            cluster.kubectl("uncordon", n.name, check=False)
        cluster.kubectl("delete", "namespace", NS, "--wait=false", check=False)
    rows.append(f"machine load after (1, 5, 15 min): {loadavg()}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=int, default=20, help="kubectl drain --timeout (seconds) of the first drain")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
        cluster = LocalCluster(Path(tmp), nodes=2)
        cluster.start()
        try:
            Release(cluster, {"worker": {"restartPolicy": "handover"}}).install()
            cluster.pull_images([cluster.worker_image])
            rows = measure(cluster, args.timeout)
        finally:
            left = cluster.stop()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [
            "# kubectl drain of a live ingest's node, with its PodDisruptionBudget (bench/drain.py)",
            "",
            f"{stamp}, commit {commit()}; 2-node pod-network cluster (devtools.cluster.local_cluster), chart with "
            "worker.restartPolicy=handover.",
            "",
            *[f"- {r}" for r in rows],
            *([f"- left behind by the cluster's teardown: {left}"] if left else []),
            "",
        ]
    )
    write_report(RESULTS, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
