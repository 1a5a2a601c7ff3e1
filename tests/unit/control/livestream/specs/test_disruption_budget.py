"""The ingests' PodDisruptionBudgets (specs/disruption_budget.py): what each selects, and that a
reconcile keeps one per running role only under the restart policy handover."""

from __future__ import annotations

from functools import partial

from devtools.catalog import livestream, stored_livestream
from devtools.fake_kube import operator_view
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.livestream.specs.disruption_budget import ingest_disruption_budget, releasing_disruption_budget
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.shared.settings import OperatorSettings, WorkerSettings
from streamops.control.workers.handover_marks import (
    SERVING_LABEL,
    HandoverFailure,
    failure_patch,
    hold_patch,
    release_patch,
    serve_patch,
)

NS = "media"
HANDOVER = OperatorSettings(worker=WorkerSettings(restart_policy="handover"))
IDLE = OperatorSettings(worker=WorkerSettings(restart_policy="idle"))
stream = partial(stored_livestream, uid="uid-1", generation=1, source={"push": {"backup": True}})


def test_a_budget_selects_its_roles_serving_ingest_only() -> None:
    s = stream()
    for role, other in (("primary", "backup"), ("backup", "primary")):
        budget = ingest_disruption_budget(s, role)
        assert budget["spec"]["minAvailable"] == 1, "(maxUnavailable needs a controller with a scale subresource)"
        assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow", "a broken ingest holds no drain up"
        selector = budget["spec"]["selector"]
        labels = ingest_pod(s, role, HANDOVER)["metadata"]["labels"]
        assert selector["matchLabels"].items() <= {**labels, SERVING_LABEL: "true"}.items()
        assert not selector["matchLabels"].items() <= {**labels}.items(), "only the Pod that serves"
        others = ingest_pod(s, other, HANDOVER)["metadata"]["labels"]
        assert not selector["matchLabels"].items() <= {**others, SERVING_LABEL: "true"}.items()
        assert budget["metadata"]["name"] == ingest_pod(s, role, HANDOVER)["metadata"]["name"]
        assert budget["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_a_reconcile_keeps_a_budget_per_running_role_under_handover_only() -> None:
    api = operator_view()
    body = livestream("cam", source={"push": {"protocols": ["rtmp"], "backup": True}})
    body["metadata"]["namespace"] = NS
    api.add(body)
    reconcile_livestream(api, IDLE, api.object("LiveStream", NS, "cam") or {})
    assert api.names("PodDisruptionBudget") == [], "idle: a drain evicts as before"
    reconcile_livestream(api, HANDOVER, api.object("LiveStream", NS, "cam") or {})
    assert api.names("PodDisruptionBudget") == [
        "cam-ingest",
        "cam-ingest-backup",
        "cam-ingest-backup-releasing",
        "cam-ingest-releasing",
    ]
    api.clear_calls()
    reconcile_livestream(api, HANDOVER, api.object("LiveStream", NS, "cam") or {})
    assert not [c for c in api.writes if c.kind == "PodDisruptionBudget"], "as wanted: nothing written"
    # The backup switched off: its budget goes with its Pod.
    api.modify("LiveStream", NS, "cam", {"spec": {"source": {"push": {"backup": False}}}})
    reconcile_livestream(api, HANDOVER, api.object("LiveStream", NS, "cam") or {})
    assert api.names("PodDisruptionBudget") == ["cam-ingest", "cam-ingest-releasing"]
    # Another policy: the budgets go.
    reconcile_livestream(api, IDLE, api.object("LiveStream", NS, "cam") or {})
    assert api.names("PodDisruptionBudget") == []


def test_a_predecessor_stays_under_a_budget_from_the_serving_label_to_its_deletion() -> None:
    """The drain of issue 56's multinode run: once the serving label moved off the predecessor, its
    budget no longer selected it and `kubectl drain` evicted it mid-release. As its successor takes
    the Services it is labelled releasing, which its role's second budget selects and the serving
    one excludes; the successor, labelled serving, is the serving budget's."""
    from datetime import UTC, datetime

    s = stream()
    labels = ingest_pod(s, "primary", HANDOVER)["metadata"]["labels"]

    serving_budget = ingest_disruption_budget(s, "primary")["spec"]["selector"]
    releasing_budget = releasing_disruption_budget(s, "primary")
    releasing = releasing_budget["spec"]["selector"]

    def selects(selector: dict, pod: dict[str, str]) -> bool:
        absent = [e["key"] for e in selector.get("matchExpressions", []) if e["operator"] == "DoesNotExist"]
        return selector["matchLabels"].items() <= pod.items() and not any(k in pod for k in absent)

    def after(pod: dict[str, str], *patches: dict) -> dict[str, str]:
        for patch in patches:
            pod = {k: v for k, v in {**pod, **patch["metadata"]["labels"]}.items() if v is not None}
        return pod

    at = datetime(2026, 11, 29, tzinfo=UTC)
    serving_pod = after(labels, serve_patch())
    held, released = after(serving_pod, hold_patch()), after(serving_pod, hold_patch(), release_patch(at))
    failed = after(held, failure_patch(HandoverFailure(at, 1, "x")))
    assert [selects(b, serving_pod) for b in (serving_budget, releasing)] == [True, False], "serving: one budget"
    # As its successor takes the Services (both serving: the serving budget would allow one eviction),
    # while it releases, and never in two (the eviction API refuses a Pod that two budgets select).
    assert [selects(b, held) for b in (serving_budget, releasing)] == [False, True]
    assert [selects(b, released) for b in (serving_budget, releasing)] == [False, True]
    assert [selects(b, failed) for b in (serving_budget, releasing)] == [True, False], "a failed handover: serves on"
    assert releasing_budget["spec"]["minAvailable"] == 1
    # Released, it is not Ready: under AlwaysAllow (or a budget also counting the Ready successor,
    # which is then met) its eviction would go through; alone under IfHealthyBudget it is refused.
    assert releasing_budget["spec"]["unhealthyPodEvictionPolicy"] == "IfHealthyBudget"
    assert releasing_budget["metadata"]["name"] == "cam-ingest-releasing"
    assert releasing_budget["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
