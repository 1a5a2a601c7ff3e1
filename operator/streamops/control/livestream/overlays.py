"""status.overlays and the Overlays condition from the spec and what the primary ingest reports of
its renderer (docs/design/overlays.md), and the switch that turns overlays on and off live, pure. A
failing overlay never makes the stream not Ready: the stream goes on without it, the condition and
one Warning Event say which and why."""

from __future__ import annotations

from streamops.api import LiveStream
from streamops.api.common import Condition
from streamops.api.livestream import OverlayStatus
from streamops.contract.ingest import IngestStatus
from streamops.contract.overlay import OverlaySwitch
from streamops.control.livestream.specs.overlay_sidecar import composited_overlays
from streamops.control.shared.conditions import Observed, Transition

OVERLAYS = "Overlays"
OVERLAYS_RENDERING = "OverlaysRendering"
OVERLAY_FAILING = "OverlayFailing"
OVERLAYS_STARTING = "OverlaysStarting"
OVERLAYS_DISABLED = "OverlaysDisabled"
MESSAGE_MAX = 1024


def enabled_overlays(stream: LiveStream) -> list[str]:
    """The names of the overlays drawn, bottom first."""
    return [o.name for o in composited_overlays(stream) if o.enabled]


def overlay_switch(stream: LiveStream, report: IngestStatus | None) -> OverlaySwitch | None:
    """The switch to POST to an ingest (primary or backup) whose /status shows other overlays on
    than the spec (or none switched yet: a Pod that just started has every overlay off); None when
    it matches, or it runs no overlays. Level-based: sent again every tick until its report shows it."""
    if report is None or report.overlays is None or not composited_overlays(stream):
        return None
    enabled = enabled_overlays(stream)
    if report.overlays_enabled is not None and sorted(report.overlays_enabled) == sorted(enabled):
        return None
    return OverlaySwitch(enabled=enabled)


def stream_overlays(stream: LiveStream, main: IngestStatus | None) -> list[OverlayStatus] | None:
    """Each overlay of the spec in its order: disabled, or as the running primary ingest's renderer
    reports it; an enabled one it has not reported yet is left out, and so is one it still reports
    disabled (the switch not applied yet). None without overlays."""
    if not stream.spec.overlays:
        return None
    enabled = set(enabled_overlays(stream))
    reports = (
        {r.name: r for r in (main.overlays or []) if r.name in enabled and r.state != "disabled"}
        if main is not None
        else {}
    )
    out = []
    for overlay in stream.spec.overlays:
        if overlay.name not in enabled:
            out.append(OverlayStatus(name=overlay.name, state="disabled"))
        elif (report := reports.get(overlay.name)) is not None:
            message = report.message[:MESSAGE_MAX] if report.state == "failing" and report.message else None
            out.append(OverlayStatus(name=overlay.name, state=report.state, message=message))
    return out


def overlays_condition(stream: LiveStream, overlays: list[OverlayStatus] | None) -> Observed | None:
    """True while every enabled overlay is drawn, False naming the failing ones, Unknown until the
    renderer has reported each; absent without overlays."""
    if overlays is None:
        return None
    enabled = enabled_overlays(stream)
    if not enabled:
        return Observed(OVERLAYS, "True", OVERLAYS_DISABLED, "every overlay is disabled")
    failing = [o for o in overlays if o.state == "failing"]
    if failing:
        first = failing[0]
        more = f" (and {len(failing) - 1} more failing)" if len(failing) > 1 else ""
        message = (
            f"overlay {first.name} is not drawn: {first.message or 'failing'}{more}; the stream goes on without it"
        )
        return Observed(OVERLAYS, "False", OVERLAY_FAILING, message[:MESSAGE_MAX])
    rendering = {o.name for o in overlays if o.state == "rendering"}
    waiting = [name for name in enabled if name not in rendering]
    if waiting:
        return Observed(OVERLAYS, "Unknown", OVERLAYS_STARTING, f"waiting for the renderer: {', '.join(waiting)}")
    return Observed(OVERLAYS, "True", OVERLAYS_RENDERING, f"{len(enabled)} overlay(s) drawn into the renditions")


def overlay_events(previous: list[Condition], current: list[Condition]) -> list[Transition]:
    """One Warning when Overlays turns False, or names another failure while False; one Normal when
    it turns True again after a failure."""
    before = next((c for c in previous if c.type == OVERLAYS), None)
    now = next((c for c in current if c.type == OVERLAYS), None)
    if now is None:
        return []
    if now.status == "False":
        if before is not None and before.status == "False" and before.message == now.message:
            return []
        return [Transition("Warning", OVERLAY_FAILING, now.message or OVERLAY_FAILING)]
    if now.status == "True" and before is not None and before.status == "False":
        return [Transition("Normal", now.reason, now.message or now.reason)]
    return []
