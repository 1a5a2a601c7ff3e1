"""Reconcile one LiveStream's children with its spec: key Secret, ingest Services and Pods, the
auto Recording, the warm recorder. Thin: the object parsed, what exists read (observe.py), what is
wanted decided (plan.py, pure), the plan carried out (apply.py); docs/design/reconcile-plan.md.
Status is not written here: the status loop (loop.py) computes it from what is observed, using the
outcome this returns."""

from __future__ import annotations

from dataclasses import replace

from streamops.api import LiveStream
from streamops.contract.ingest import Role
from streamops.control.livestream import reasons
from streamops.control.livestream.apply import Applied, apply_plan
from streamops.control.livestream.deactivation import annotation_value
from streamops.control.livestream.observation import Observed
from streamops.control.livestream.observe import observe
from streamops.control.livestream.outcome import StreamOutcome
from streamops.control.livestream.plan import Plan, plan_children
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.spec_checks import parse
from streamops.control.workers.ports import PortAllocator
from streamops.control.workers.restarts import restart_policy
from streamops.kube.client import KubeApi, NamespaceTerminating
from streamops.kube.manifests import Body
from streamops.kube.naming import RESTARTS_ANNOTATION


def reconcile_livestream(
    api: KubeApi,
    settings: OperatorSettings,
    body: Body,
    allocator: PortAllocator | None = None,
    auto_recording_exists: bool = True,
    standby: str | None = None,
    recorder_running: bool = False,
    deactivated: str | None = None,
    deactivated_pod: str | None = None,
    primary_live: bool | None = None,
    backup_live: bool | None = None,
) -> StreamOutcome:
    """Idempotent: safe to run from any trigger, any number of times. `allocator` is given when
    workers run on the host network; `auto_recording_exists` False (from the operator's index)
    spares a read when auto recording is off; `standby` is the name of the stream's warm recorder
    Pod, when the pod index has one; `recorder_running` whether a Recording of the stream has its
    recorder Pod (then no standby is kept: one warm or active recorder per Recording); `deactivated`
    is why the worker of the primary ingest Pod `deactivated_pod` (a uid) says it deactivated
    itself, when its telemetry says so;
    `primary_live`/`backup_live` whether each ingest has media, as its telemetry last said (None:
    not read yet; status then tells): a live ingest is not restarted for a change that can wait."""
    parsed = parse(LiveStream, body)
    generation, stream = parsed.generation, parsed.obj
    seen = annotation_value(parsed.raw)
    if stream is None:
        return StreamOutcome(generation, invalid_spec=parsed.problem, deactivation_annotation=seen)
    report = (deactivated, deactivated_pod) if deactivated and deactivated_pod else None
    try:
        status = stream.status
        live: dict[Role, bool] = {
            "primary": primary_live if primary_live is not None else bool(status and status.live),
            "backup": backup_live if backup_live is not None else bool(status and status.backup_live),
        }
        policy = restart_policy(stream.metadata.annotations.get(RESTARTS_ANNOTATION), settings.worker.restart_policy)
        observed = observe(api, stream, settings, report, auto_recording_exists, standby, recorder_running)
        plan = plan_children(
            stream,
            settings,
            observed,
            live,
            policy == "immediate",
            auto_recording_exists,
            recorder_running,
            handover=policy == "handover",
        )
        applied = apply_plan(api, settings, plan, observed, stream, allocator)
        outcome = _outcome(plan, observed, applied)
    except NamespaceTerminating:
        outcome = StreamOutcome(generation)
    return replace(outcome, deactivation_annotation=seen)


def _quality_set_problem(plan: Plan) -> tuple[str, str] | None:
    lookup = plan.quality_set
    if lookup is None or not lookup.missing:
        return None
    reason = reasons.QUALITY_SET_INVALID if lookup.problem else reasons.QUALITY_SET_NOT_FOUND
    return reason, lookup.message(plan.stream.metadata.namespace or "")


def _playback_policy_problem(plan: Plan) -> tuple[str, str] | None:
    lookup = plan.playback_policy
    if lookup is None or not lookup.missing:
        return None
    reason = reasons.PLAYBACK_POLICY_INVALID if lookup.problem else reasons.PLAYBACK_POLICY_NOT_FOUND
    return reason, lookup.message(plan.stream.metadata.namespace or "")


def _outcome(plan: Plan, observed: Observed, applied: Applied) -> StreamOutcome:
    """What the status loop is told: the checks observed, the plan's decisions, the writes' answers."""
    return StreamOutcome(
        plan.stream.metadata.generation,
        key_secret_missing=observed.key.missing,
        key_invalid_for_srt=observed.key.invalid_for_srt,
        host_ports=applied.host_ports,
        service_rejected=applied.service_rejected,
        region_rejected=applied.region_rejected,
        route_rejected=applied.route_rejected,
        edge_rejected=applied.edge_rejected,
        edge=plan.edge,
        tls_secret_problem=observed.tls_problem,
        quality_set_problem=_quality_set_problem(plan),
        playback_policy_problem=_playback_policy_problem(plan),
        policy_refusals=plan.refusals,
        route_refused=plan.route_refused,
        created=applied.created,
        deactivation=plan.deactivation,
        deactivation_recorded=applied.deactivation_recorded,
        pod_changes=applied.pod_changes,
        handover_cancels=applied.cancels,
        replaced=applied.replaced,
        backup_spread=plan.spread.why if plan.roles["backup"].ingest and not plan.spread.required else None,
    )
