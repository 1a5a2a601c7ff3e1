"""The chart's PrometheusRule as Prometheus reads it: the rules `helm template` renders (not a copy)
pass `promtool check rules`, and the unit tests of tests/chart/promtool/ (input series, expected
alerts with their labels and annotations) pass `promtool test rules` against them. Every alert is
seen firing and seen quiet there, and every alert can be switched off in values."""

from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from devtools.chart import (
    ALERTS_DIR,
    CHART,
    alert_names,
    find,
    objects,
    prometheus_rule_groups,
    render,
)

PROMTOOL_TESTS = Path(__file__).parent / "promtool"
RULES_FILE = "streamops-rules.yaml"  # the name the test files' rule_files give


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make deps` installs Debian's prometheus package, which has it"
    return found


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def alert_rules(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in groups for r in g["rules"]}


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart's rules with every alert on (StreamopsStreamOffline is off by default) beside copies
    of the promtool test files."""
    out = tmp_path_factory.mktemp("promtool")
    (out / RULES_FILE).write_text(yaml.safe_dump({"groups": prometheus_rule_groups(all_alerts=True)}))
    for f in PROMTOOL_TESTS.glob("*.yaml"):
        shutil.copy(f, out / f.name)
    return out


def test_promtool_checks_the_rendered_rules(rules_dir: Path) -> None:
    result = run_promtool("check", "rules", RULES_FILE, cwd=rules_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in result.stdout, result.stdout


def test_promtool_unit_tests_pass(rules_dir: Path) -> None:
    tests = sorted(p.name for p in PROMTOOL_TESTS.glob("*.yaml"))
    result = run_promtool("test", "rules", *tests, cwd=rules_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests), result.stdout


def test_promtool_fails_a_wrong_expectation(rules_dir: Path) -> None:
    """The unit tests can fail: the same input with a firing alert expected quiet is refused."""
    test = yaml.safe_load((PROMTOOL_TESTS / "streams.yaml").read_text())
    for group in test["tests"]:
        for case in group["alert_rule_test"]:
            case["exp_alerts"] = []
    (rules_dir / "wrong.yaml").write_text(yaml.safe_dump(test))
    try:
        result = run_promtool("test", "rules", "wrong.yaml", cwd=rules_dir)
    finally:
        (rules_dir / "wrong.yaml").unlink()
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "FAILED" in out, out
    assert 'alertname="StreamopsIngestDown"' in out and 'stream="sport"' in out, out


def test_every_alert_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for f in PROMTOOL_TESTS.glob("*.yaml"):
        test = yaml.safe_load(f.read_text())
        assert test["rule_files"] == [RULES_FILE], f.name
        for group in test["tests"]:
            for case in group["alert_rule_test"]:
                (firing if case["exp_alerts"] else quiet).add(case["alertname"])
                for alert in case["exp_alerts"]:
                    # Annotations are compared whole: each fired alert says where (namespace) and what.
                    assert set(alert["exp_annotations"]) == {"summary", "description", "runbook_url"}, f.name
    names = set(alert_names())
    assert names - firing == set(), "alerts never seen firing in tests/chart/promtool"
    assert names - quiet == set(), "alerts never seen quiet in tests/chart/promtool"
    assert firing | quiet <= names, "promtool tests of alerts the chart does not have"
    assert len(names) >= 12


def test_alert_files_values_and_schema_agree() -> None:
    """One alert, one file, one values entry, one schema entry (the schema rejects a misspelt
    alert name instead of silently ignoring it)."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())["metrics"]["prometheusRule"]
    schema = json.loads((CHART / "values.schema.json").read_text())
    alerts_schema = schema["properties"]["metrics"]["properties"]["prometheusRule"]["properties"]["alerts"]
    assert sorted(values["alerts"]) == alert_names()
    assert sorted(alerts_schema["properties"]) == alert_names()
    assert alerts_schema["additionalProperties"] is False
    for name, settings in values["alerts"].items():
        props = alerts_schema["properties"][name]
        assert sorted(props["properties"]) == sorted(settings) == sorted(props["required"]), name
        assert {"enabled", "severity", "for"} <= set(settings), name
        text = next(ALERTS_DIR.glob(f"*/{name}.yaml")).read_text()
        for key in settings:  # every value reaches its rule
            assert f".alert.{key}" in text or key == "enabled", f"{name}.{key} is not used by its rule"
        assert f"#{name.lower()}" in text, f"{name}: runbook_url anchor"
    # Only StreamopsStreamOffline is off by default (a push stream waiting for its encoder is normal).
    assert [n for n, s in values["alerts"].items() if not s["enabled"]] == ["StreamopsStreamOffline"]


def test_each_alert_switches_off() -> None:
    everything = set(alert_names())

    def without(name: str) -> set[str]:
        # Every alert on, then this one off (a later --set wins).
        groups = prometheus_rule_groups(f"metrics.prometheusRule.alerts.{name}.enabled=false", all_alerts=True)
        assert all(g["rules"] for g in groups), "a group without rules is left out"
        return set(alert_rules(groups))

    with ThreadPoolExecutor(max_workers=4) as pool:  # one helm process each
        left = dict(zip(sorted(everything), pool.map(without, sorted(everything)), strict=True))
    assert {name: everything - rules for name, rules in left.items()} == {name: {name} for name in everything}
    assert set(alert_rules(prometheus_rule_groups())) == everything - {"StreamopsStreamOffline"}
    # All off: an empty (valid) rule list, not `groups: null`.
    off = [f"metrics.prometheusRule.alerts.{a}.enabled=false" for a in everything]
    assert prometheus_rule_groups(*off) == []
    assert find(objects(render()), "PrometheusRule") == []  # metrics.prometheusRule.enabled: false


def test_values_reach_the_rules(tmp_path: Path) -> None:
    values = {
        "fullnameOverride": "live-ops",
        "metrics": {
            "prometheusRule": {
                "enabled": True,
                "labels": {"release": "prometheus"},
                "runbookURL": "https://wiki.example.com/streamops",
                "alerts": {"StreamopsStorageAlmostFull": {"ratio": 0.9, "for": "30m", "severity": "critical"}},
            }
        },
    }
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    objs = objects(render(tmp_path / "values.yaml", namespace="media-ops"))
    (rule,) = find(objs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert rule["metadata"]["namespace"] == "media-ops"
    rules = alert_rules(rule["spec"]["groups"])
    almost = rules["StreamopsStorageAlmostFull"]
    assert ">= 0.9 < 1" in almost["expr"] and almost["for"] == "30m"
    assert almost["labels"] == {"severity": "critical"}
    assert almost["annotations"]["runbook_url"] == "https://wiki.example.com/streamops#streamopsstoragealmostfull"
    # The operator's job and namespace follow the release (the Service live-ops-metrics).
    assert 'up{job="live-ops-metrics", namespace="media-ops"}' in rules["StreamopsOperatorDown"]["expr"]
    (service,) = [s for s in find(objs, "Service") if s["metadata"]["name"] == "live-ops-metrics"]
    assert service["metadata"]["namespace"] == "media-ops"
    # Groups by directory, named streamops-<dir>.
    assert sorted(g["name"] for g in rule["spec"]["groups"]) == sorted(
        f"streamops-{d.name}" for d in ALERTS_DIR.iterdir() if d.is_dir()
    )


def test_a_misspelt_alert_is_rejected() -> None:
    from devtools.chart import helm

    result = helm(
        "template", "streamops", str(CHART), "--set", "metrics.prometheusRule.alerts.StreamopsIngestDwn.enabled=false",
        check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "StreamopsIngestDwn" in result.stderr, result.stderr
