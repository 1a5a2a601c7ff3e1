import re
from typing import get_args

from devtools.doc_facts import webhook_events
from devtools.versions import REPO
from streamops.api.webhook import EventType


def test_the_table_lists_exactly_the_apis_event_types():
    listed = re.findall(r"`([a-z_]+\.[a-z_]+)`", webhook_events.render())
    assert sorted(listed) == sorted(get_args(EventType))
    assert {"clip.ready", "clip.failed", "broadcast.live"} <= set(listed)


def test_every_event_the_operator_emits_is_listed():
    source = (REPO / "operator/streamops/control/webhook/events.py").read_text()
    emitted = set(re.findall(r'Change\(\s*"([a-z_]+\.[a-z_]+)"', source))
    assert emitted, 'events.py names the events it emits as Change("kind.event", …)'
    assert emitted <= set(webhook_events.event_types())


def test_each_kind_of_event_has_its_wildcard_row():
    rendered = webhook_events.render()
    for kind in ("stream", "recording", "restream", "clip", "broadcast"):
        assert f"| `{kind}.*` |" in rendered
