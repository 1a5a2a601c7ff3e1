"""The chart's alerts and Grafana dashboards query only metrics that exist: every metric name in
their PromQL is in the catalogue (operator/streamops/contract/metrics.py) that the workers and the
operator export from. The dashboards are valid Grafana JSON (a uid, unique panel ids, a Prometheus
data source variable) and the chart ships them as ConfigMaps with the Grafana sidecar's label."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from devtools.chart import DASHBOARDS_DIR, find, objects, prometheus_rule_groups, render
from streamops.contract.metrics import ALL_METRICS, METRIC_NAMES

# Prometheus' own series a rule or panel may query besides the catalogue's.
BUILTIN_SERIES = {"up", "ALERTS", "ALERTS_FOR_STATE"}
KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "inf", "nan", "atan2",
}  # fmt: skip
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
MAX_PANELS = 40  # beyond this a dashboard is several dashboards

STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
MATCHERS = re.compile(r"\{[^{}]*\}")
RANGES = re.compile(r"\[[^\[\]]*\]")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
IDENTIFIER = re.compile(r"(?<![\w.$])([A-Za-z_:][\w:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects: identifiers that are not functions (followed by
    "(") nor keywords, once strings, label matchers, ranges and grouping label lists are removed."""
    text = STRINGS.sub('""', expr)
    text = MATCHERS.sub("", text)
    text = RANGES.sub("", text)
    text = GROUPING.sub("", text)
    return {m.group(1) for m in IDENTIFIER.finditer(text) if not m.group(2) and m.group(1) not in KEYWORDS}


def known(name: str) -> bool:
    if name in METRIC_NAMES or name in BUILTIN_SERIES:
        return True
    histograms = {m.name for m in ALL_METRICS if m.type == "histogram"}
    return any(name.endswith(s) and name.removesuffix(s) in histograms for s in HISTOGRAM_SUFFIXES)


def test_metric_names_finds_series_and_only_series() -> None:
    """The parser the checks below rely on: it finds a metric nobody exports, and leaves functions,
    labels, grouping lists, durations, strings and Grafana variables alone."""
    expr = (
        "histogram_quantile(0.99, sum by (namespace, le) (rate(streamops_operator_queue_latency_seconds_bucket"
        '{job="$job", kind=~"a|b"}[$__rate_interval]))) > 5 and on (namespace) streamops_no_such_metric offset 1h'
        ' or absent(up{job="x"}) unless ignoring(pod) count(ALERTS{alertname="Streamops.*"}) > bool 1e+06'
    )
    names = metric_names(expr)
    assert names == {"streamops_operator_queue_latency_seconds_bucket", "streamops_no_such_metric", "up", "ALERTS"}
    assert not known("streamops_no_such_metric") and known("streamops_operator_queue_latency_seconds_bucket")
    assert not known("streamops_ingest_live_bucket")  # a gauge has no buckets


def rule_exprs() -> dict[str, str]:
    return {r["alert"]: r["expr"] for g in prometheus_rule_groups(all_alerts=True) for r in g["rules"]}


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in board["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))  # a collapsed row holds its panels
    return out


def dashboard_exprs(board: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in panels(board) for t in p.get("targets", [])]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            # label_values(<series selector>, <label>): the selector is PromQL, the label is not.
            found = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
            assert found, f"{var['name']}: {query}"
            exprs.append(found.group(1))
    return exprs


def test_alerts_query_only_exported_metrics() -> None:
    unknown = {a: sorted(n for n in metric_names(e) if not known(n)) for a, e in rule_exprs().items()}
    assert {a: n for a, n in unknown.items() if n} == {}
    assert all(metric_names(e) for e in rule_exprs().values())


@pytest.mark.parametrize("name", sorted(p.name for p in DASHBOARDS_DIR.glob("*.json")))
def test_dashboard_queries_only_exported_metrics(name: str) -> None:
    board = dashboards()[name]
    exprs = dashboard_exprs(board)
    assert exprs
    unknown = sorted({n for e in exprs for n in metric_names(e) if not known(n)})
    assert unknown == [], f"{name} queries metrics nobody exports"


# What Grafana puts in for its variables, so that promtool can parse a panel's query.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$namespace": "tv", "$stream": "news", "$job": "x"}


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """Every panel's query is PromQL that Prometheus accepts (as recording rules, `promtool check rules`)."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make deps` installs Debian's prometheus package, which has it"
    rules = []
    for name, board in dashboards().items():
        for i, expr in enumerate(dashboard_exprs(board)):
            for var, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(var, value)
            assert "$" not in expr, (name, expr)
            rules.append({"record": f"dashboard:{Path(name).stem}:{i}", "expr": expr})
    (tmp_path / "panels.yaml").write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", "panels.yaml"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_dashboards_are_grafana_json() -> None:
    boards = dashboards()
    assert sorted(boards) == ["operator.json", "overview.json", "stream.json"]
    uids = [b["uid"] for b in boards.values()]
    assert len(set(uids)) == len(uids) and all(re.fullmatch(r"[a-z0-9-]{1,40}", u) for u in uids)
    for name, board in boards.items():
        assert board["title"].startswith("streamops / ") and "streamops" in board["tags"], name
        ps = panels(board)
        ids = [p["id"] for p in ps]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        assert 0 < len(ps) <= MAX_PANELS, name
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
        for p in ps:
            if p["type"] == "row":
                continue
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, (name, p["title"])
            assert p["targets"] and all(t["datasource"] == p["datasource"] for t in p["targets"]), (name, p["title"])
            assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), (name, p["title"])
            pos = p["gridPos"]
            assert pos["x"] + pos["w"] <= 24, (name, p["title"])
    # The stream dashboard is about one stream: every query names it.
    stream = boards["stream.json"]
    assert {"namespace", "stream"} <= {v["name"] for v in stream["templating"]["list"]}
    for p in panels(stream):
        for t in p.get("targets", []):
            assert 'namespace="$namespace"' in t["expr"], (p["title"], t["expr"])


def test_dashboards_panels_cover_what_users_ask_for() -> None:
    """The issue's list: per stream bitrate, fps, resolution, keyframe interval, playlist age, viewers
    by protocol, restream state, recording/upload lag; overview: live streams, viewers, alerts
    firing; operator: reconciles, errors, queue latency, webhooks."""
    titles = {name: {p["title"] for p in panels(b)} for name, b in dashboards().items()}
    assert {
        "Bitrate", "Frame rate", "Resolution", "Keyframe interval", "Playlist age", "Viewers by protocol",
        "Restream state", "Upload lag", "Recorded seconds (open video)",
    } <= titles["stream.json"]  # fmt: skip
    assert {"Live streams", "Viewers", "Alerts firing", "Firing alerts"} <= titles["overview.json"]
    assert {
        "Reconciles", "Reconcile errors", "Queue latency", "Webhook deliveries", "Webhook backlog",
    } <= titles["operator.json"]  # fmt: skip


def test_dashboards_ship_as_sidecar_configmaps() -> None:
    def shipped(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m for m in find(objs, "ConfigMap") if m["metadata"]["name"].startswith("streamops-dashboard-")]

    assert shipped(objects(render())) == []  # metrics.grafanaDashboard.enabled: false
    maps = shipped(objects(render(sets=("metrics.grafanaDashboard.enabled=true",))))
    assert sorted(m["metadata"]["name"] for m in maps) == [
        "streamops-dashboard-operator",
        "streamops-dashboard-overview",
        "streamops-dashboard-stream",
    ]
    for m in maps:
        assert m["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert m["metadata"]["namespace"] == "streamops-system"
        ((key, text),) = m["data"].items()
        assert key.startswith("streamops-") and key.endswith(".json")
        assert json.loads(text) == dashboards()[key.removeprefix("streamops-")]  # the file, unchanged
    custom = shipped(
        objects(
            render(
                sets=(
                    "metrics.grafanaDashboard.enabled=true",
                    "metrics.grafanaDashboard.namespace=monitoring",
                    "metrics.grafanaDashboard.labels.grafana_dashboard=null",
                    "metrics.grafanaDashboard.labels.team-dashboards=streaming",
                    "metrics.grafanaDashboard.annotations.grafana_folder=Streaming",
                )
            )
        ),
    )
    for m in custom:
        assert m["metadata"]["namespace"] == "monitoring"
        assert m["metadata"]["labels"]["team-dashboards"] == "streaming"
        assert "grafana_dashboard" not in m["metadata"]["labels"]
        assert m["metadata"]["annotations"] == {"grafana_folder": "Streaming"}
