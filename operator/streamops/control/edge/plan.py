"""What the namespace's edge should be, decided from what observe.py read and the operator's settings:
pure, no API call. The streams that want the edge are its owners; each has its line in the routes file
(the edge serves the streams listed there and nothing else); with none left the edge is deleted. The
Service, the autoscaler and the routes ConfigMap are owned by the Deployment as the API server answered
it, so apply.py builds them at that point (specs.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from streamops.contract.edge import ROUTES_FILE, RULES_SUFFIX, RULES_UNAVAILABLE, rules_file
from streamops.control.edge.observation import EdgeObserved, EdgeStream
from streamops.control.edge.specs import edge_deployment, parse_routes, render_routes
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.recordings_claim import videos_claim
from streamops.kube.manifests import Manifest
from streamops.kube.naming import SPEC_HASH_ANNOTATION


@dataclass(frozen=True)
class EdgePlan:
    namespace: str
    streams: tuple[str, ...]  # the streams it serves, by name
    # The Deployment to create (none exists) or to write over the one read (PUT with its
    # resourceVersion); None: the one read is right, or there is none to have.
    deployment: Manifest | None = None
    delete: str | None = None  # the uid of the Deployment no stream wants any more
    routes: dict[str, str] = field(default_factory=dict)  # path prefix -> "<stream>[ public]"
    rules: dict[str, str] = field(default_factory=dict)  # "<stream>.rules" -> its rules file (edge_rules.lua)
    claim: str | None = None  # the recordings claim its Pods mount: created before them


def plan_edge(observed: EdgeObserved, settings: OperatorSettings) -> EdgePlan:
    namespace, current = observed.namespace, observed.deployment
    names = tuple(s.name for s in observed.streams)
    if not observed.streams:
        return EdgePlan(namespace, names, delete=current["metadata"]["uid"] if current is not None else None)
    desired = edge_deployment(namespace, settings, owners(current, observed.streams))
    return EdgePlan(
        namespace,
        names,
        deployment=desired if current is None else deployment_update(current, desired),
        routes=route_lines(observed),
        rules=rules_files(observed),
        claim=videos_claim(settings.recordings),
    )


def owners(current: Manifest | None, streams: tuple[EdgeStream, ...]) -> list[Manifest]:
    """The Deployment's owners: those it has that still want it, as they are, then the newcomers."""
    wanted = {s.uid for s in streams}
    kept = [o for o in (current or {}).get("metadata", {}).get("ownerReferences") or [] if o.get("uid") in wanted]
    have = {o.get("uid") for o in kept}
    return kept + [s.owner() for s in streams if s.uid not in have]


def deployment_update(current: Manifest, desired: Manifest) -> Manifest | None:
    """The Deployment read, with the wanted owners and template (None: it has them). Its replicas are
    the autoscaler's after creation, and what the API server defaults stays."""
    meta = current["metadata"]
    want_hash = desired["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    owners_now = [o.get("uid") for o in meta.get("ownerReferences") or []]
    owners_wanted = [o["uid"] for o in desired["metadata"]["ownerReferences"]]
    if owners_now == owners_wanted and (meta.get("annotations") or {}).get(SPEC_HASH_ANNOTATION) == want_hash:
        return None
    return {
        **current,
        "metadata": {
            **meta,
            "ownerReferences": desired["metadata"]["ownerReferences"],
            "annotations": {**(meta.get("annotations") or {}), SPEC_HASH_ANNOTATION: want_hash},
        },
        "spec": {**current["spec"], "template": desired["spec"]["template"]},
    }


def route_lines(observed: EdgeObserved) -> dict[str, str]:
    """Each stream's line on its playback path, `public` when the edge strips a token unverified (a
    public stream ignores one, docs/design/playback.md). A stream recorded by an older operator keeps
    the line the file has for it, else gets one on its default path (issue 37's upgrade: the edge
    serves only listed streams) until its own reconcile records its path."""
    have = parse_routes(((observed.routes or {}).get("data") or {}).get(ROUTES_FILE, ""))
    lines: dict[str, str] = {}
    for stream in observed.streams:
        if stream.route is not None:
            path, public = stream.route
            lines[path] = f"{stream.name}{' public' if public else ''}"
            continue
        kept = {path: rest for path, rest in have.items() if rest.split()[0] == stream.name}
        lines.update(kept or {f"/streams/{observed.namespace}/{stream.name}": stream.name})
    return lines


def rules_files(observed: EdgeObserved) -> dict[str, str]:
    """The rules file of each stream it serves that names a PlaybackPolicy, beside the routes (the
    kubelet swaps the ConfigMap as a whole: a stream's route and rules change together). A policy
    that does not exist refuses the stream's viewers (503), as the ingest does."""
    served = {s.name for s in observed.streams}
    return {
        f"{name}{RULES_SUFFIX}": RULES_UNAVAILABLE if rules is None else rules_file(rules)
        for name, rules in sorted(observed.rules.items())
        if name in served
    }


def autoscaler_update(current: Manifest, desired: Manifest) -> Manifest | None:
    """The autoscaler read with the fields the operator sets as its settings want them (None: they
    are): a `helm upgrade` that changes the edge's replicas or CPU target reaches every namespace's
    edge. What the API server defaults (behavior) and the controller's status stay."""
    spec = current.get("spec") or {}
    if all(spec.get(k) == v for k, v in desired["spec"].items()):
        return None
    return {**current, "spec": {**spec, **desired["spec"]}}


def routes_update(current: Manifest, routes: dict[str, str], rules: dict[str, str] | None = None) -> Manifest | None:
    """The routes ConfigMap read, listing `routes` with the streams' `rules` (None: it does)."""
    rules = rules or {}
    data = current.get("data") or {}
    have_rules = {k: v for k, v in data.items() if k != ROUTES_FILE}
    if parse_routes(data.get(ROUTES_FILE, "")) == routes and have_rules == rules:
        return None
    return {**current, "data": {ROUTES_FILE: render_routes(routes), **rules}}
