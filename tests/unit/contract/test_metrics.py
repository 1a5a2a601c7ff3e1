"""The metric catalogue (streamops.contract.metrics) against Prometheus' naming conventions, and
against the code that exports it: the enumerated label values are the ones the workers and the edge
can write, and the edge's Lua writes the catalogue's names, types, help and labels. Against the real
workers: tests/media/test_metrics_series.py; the operator's: tests/cluster/test_operator_metrics.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from devtools.versions import REPO
from streamops.contract import metrics
from streamops.contract.metrics import ALL_METRICS, METRIC_NAMES, MetricSpec, spec
from streamops.contract.playback_token import Refusal
from streamops.contract.pusher import PUSHER_STATES
from streamops.control.kinds import KINDS
from streamops.media.ingest import playback_rules
from streamops.media.ingest.playback_access import NO_KEYS_REASON
from streamops.media.ingest.viewers import RequestKind
from streamops.media.ingest.webrtc import admission

EDGE = Path(metrics.__file__).parents[1] / "media" / "edge"
OBJECT_NAMES = {"namespace", "stream", "recording", "target", "webhook"}  # bounded by the objects
# Base units and what a name may end in (https://prometheus.io/docs/practices/naming/).
UNITS = ("_seconds", "_bytes", "_bits_per_second", "_pixels", "_ratio", "_total")


@pytest.mark.parametrize("m", ALL_METRICS, ids=lambda m: f"{m.exporter}:{m.name}")
def test_names_follow_the_conventions(m: MetricSpec):
    assert re.fullmatch(r"streamops_[a-z0-9_]+", m.name), "streamops_ prefix, snake case"
    assert m.name.endswith("_total") == (m.type == "counter"), "counters, and only they, end in _total"
    for unit in ("_seconds", "_bytes", "_pixels"):  # one unit, at the end (before _total)
        if unit in m.name:
            assert m.name.removesuffix("_total").endswith(unit), m.name
    assert not re.search(r"_(ms|milliseconds|bps|kbps|kb|mb|percent|age)(_|$)", m.name), "base units; no ages"
    assert m.help and m.help == m.help.strip() and "\n" not in m.help
    assert len(set(m.labels)) == len(m.labels) and "le" not in m.labels and "quantile" not in m.labels


@pytest.mark.parametrize("m", ALL_METRICS, ids=lambda m: f"{m.exporter}:{m.name}")
def test_every_label_but_an_object_name_is_an_enum(m: MetricSpec):
    enumerated = {label for label, _ in m.values}
    assert enumerated <= set(m.labels), "values only for the metric's labels"
    assert set(m.labels) - enumerated <= OBJECT_NAMES, "a label that is neither an object's name nor an enum"
    for _, values in m.values:
        assert values and len(set(values)) == len(values)
        assert all(re.fullmatch(r"[a-z0-9_-]+", v) for v in values), values


def test_a_name_exported_by_several_exporters_keeps_its_type():
    for name in METRIC_NAMES:
        assert len({m.type for m in ALL_METRICS if m.name == name}) == 1, name
    assert spec("streamops_viewers", "edge").labels != spec("streamops_viewers", "ingest").labels
    with pytest.raises(KeyError):
        spec("streamops_pusher_state", "ingest")


def test_the_enums_are_the_values_the_code_writes():
    assert (*(r.reason for r in Refusal), NO_KEYS_REASON) == metrics.TOKEN_REFUSAL_REASONS
    assert set(metrics.RULE_REFUSAL_REASONS) == set(playback_rules.BODIES)
    whip = (admission.NOT_WHIP, admission.UNAUTHORIZED, admission.BUSY, admission.OFFER, admission.UNAVAILABLE)
    assert whip == metrics.WHIP_REFUSAL_REASONS
    assert metrics.PUSHER_STATES == PUSHER_STATES
    assert set(metrics.REQUEST_KINDS) == {kind.metric_kind for kind in RequestKind}
    assert tuple(k.api.singular for k in KINDS) == metrics.OPERATOR_KINDS


# --- the edge (nginx + Lua writes its text format itself) ----------------------------------------------


def lua(name: str) -> str:
    return (EDGE / name).read_text()


def edge_families() -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """name -> (type, help, labels) as edge_stats.lua writes them."""
    stats = lua("edge_stats.lua")
    found = {}
    entry = r'\{ "\w", "(streamops_\w+)", "(\w+)",\s*"([^"]*)",\s*\{([^}]*)\} \}'
    for name, kind, text, labels in re.findall(entry, stats):
        # Each sample line is written as name{namespace="...",<the family's labels>}.
        assert '("%s{namespace=\\"%s\\",%s} %d")' in stats
        found[name] = (kind, text, ("namespace", *re.findall(r'"(\w+)"', labels)))
    viewers_help = re.search(r'local VIEWERS_HELP = "([^"]*)"', stats)
    assert viewers_help and '"# TYPE streamops_viewers gauge"' in stats
    line = re.search(r"\('streamops_viewers\{([^}]*)\} %d'\)", stats)
    assert line is not None
    found["streamops_viewers"] = ("gauge", viewers_help[1], tuple(re.findall(r"(\w+)=", line[1])))
    return found


def test_the_edge_writes_the_catalogues_names_types_help_and_labels():
    written = edge_families()
    assert set(written) == {m.name for m in metrics.EDGE_METRICS}
    for m in metrics.EDGE_METRICS:
        assert written[m.name] == (m.type, m.help, m.labels), m.name


def test_the_edges_label_values_are_the_catalogues():
    edge, store = lua("edge.lua"), lua("edge_store.lua")
    classify = edge[edge.index("local function media_kind") : edge.index("local function number")]
    kinds = set(re.findall(r'return "(\w+)"', classify)) | set(re.findall(r'kind = "(\w+)"', edge))
    assert kinds == set(metrics.EDGE_REQUEST_KINDS)
    cache = set(re.findall(r', "(\w+)"\s*$', store, re.M)) | set(re.findall(r'stats\.request\([^)]*, "(\w+)"\)', edge))
    assert cache == set(metrics.EDGE_CACHE)
    refusals = lua("edge_token.lua")
    table = refusals[refusals.index("M.REFUSALS = {") : refusals.index("}\n", refusals.index("M.REFUSALS = {"))]
    assert tuple(re.findall(r"^\s+(\w+) = \{", table, re.M)) == metrics.TOKEN_REFUSAL_REASONS[:-1]
    rules = lua("edge_rules.lua")
    reasons = rules[rules.index("M.REASONS = {") : rules.index("}\n", rules.index("M.REASONS = {"))]
    assert tuple(re.findall(r'"(\w+)"', reasons)) == metrics.RULE_REFUSAL_REASONS
    protocols = re.search(r"local PROTOCOLS = \{([^}]*)\}", lua("edge_stats.lua"))
    assert protocols and tuple(re.findall(r'"(\w+)"', protocols[1])) == metrics.EDGE_VIEWER_PROTOCOLS


# --- the design note ---------------------------------------------------------------------------------


def test_the_design_notes_table_lists_every_metric_of_the_catalogue():
    note = (REPO / "docs" / "design" / "observability.md").read_text()
    section = note[note.index("## Metrics\n") : note.index("\n## ", note.index("## Metrics\n") + 1)]
    rows = re.findall(r"^\| `(streamops_\w+)` \| (\w+) \| (\w+) \| ([^|]*) \|", section, re.M)
    listed = {(name, exporter): (kind, labels.strip()) for name, exporter, kind, labels in rows}
    assert len(rows) == len(listed) == len(ALL_METRICS)
    for m in ALL_METRICS:
        kind, labels = listed[m.name, m.exporter]
        assert kind == m.type, m.name
        assert [part.split(":")[0] for part in labels.split("; ")] == list(m.labels or ["–"]), m.name
