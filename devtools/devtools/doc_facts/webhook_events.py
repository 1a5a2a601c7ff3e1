"""The StreamWebhook event types: the API's one definition of them (streamops.api.webhook.EventType,
the `events` filter's values), grouped by kind, with the `<kind>.*` filters the API accepts."""

from __future__ import annotations

from typing import get_args

from streamops.api.webhook import EventFilter, EventType
from streamops.contract.webhook_event import TYPE_PREFIX

from devtools.doc_facts.markdown import code, table


def event_types() -> list[str]:
    return list(get_args(EventType))


def wildcards() -> list[str]:
    return [f for f in get_args(EventFilter) if isinstance(f, str) and f.endswith(".*")]


def render() -> str:
    by_kind: dict[str, list[str]] = {}
    for event in event_types():
        by_kind.setdefault(event.split(".", 1)[0], []).append(event)
    subscribed = set(wildcards())
    for kind in by_kind:
        if f"{kind}.*" not in subscribed:
            raise ValueError(f"the event filter has no {kind}.* for the {kind} events (streamops.api.webhook)")
    rows = [[code(f"{kind}.*"), ", ".join(code(e) for e in events)] for kind, events in by_kind.items()]
    return (
        table(["Subscribe to", "Event types"], rows)
        + f"\n\nEach is sent as a CloudEvent whose `type` is `{TYPE_PREFIX}<event type>`."
    )
