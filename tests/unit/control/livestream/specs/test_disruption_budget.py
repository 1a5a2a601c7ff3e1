"""The ingests' PodDisruptionBudgets (specs/disruption_budget.py): what each selects, and that a
reconcile keeps one per running role only under the restart policy handover."""

from __future__ import annotations

from functools import partial

from devtools.catalog import livestream, stored_livestream
from devtools.fake_kube import operator_view
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.livestream.specs.disruption_budget import ingest_disruption_budget
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.shared.settings import OperatorSettings, WorkerSettings
from streamops.control.workers.handover_marks import SERVING_LABEL

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
    assert api.names("PodDisruptionBudget") == ["cam-ingest", "cam-ingest-backup"]
    api.clear_calls()
    reconcile_livestream(api, HANDOVER, api.object("LiveStream", NS, "cam") or {})
    assert not [c for c in api.writes if c.kind == "PodDisruptionBudget"], "as wanted: nothing written"
    # The backup switched off: its budget goes with its Pod.
    api.modify("LiveStream", NS, "cam", {"spec": {"source": {"push": {"backup": False}}}})
    reconcile_livestream(api, HANDOVER, api.object("LiveStream", NS, "cam") or {})
    assert api.names("PodDisruptionBudget") == ["cam-ingest"]
    # Another policy: the budgets go.
    reconcile_livestream(api, IDLE, api.object("LiveStream", NS, "cam") or {})
    assert api.names("PodDisruptionBudget") == []
