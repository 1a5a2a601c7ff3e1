"""When a namespace's edge loop looks again, and when it ends (control/edge/decide.py): a table."""

from __future__ import annotations

import pytest
from streamops.control.edge.decide import (
    CONFLICT_RETRY_SECONDS,
    FIRST_RETRY_SECONDS,
    RETRY_MAX_SECONDS,
    EdgeLook,
    EdgeResult,
    next_look,
)

RESYNC = 120.0
WANTED = EdgeResult(wanted=True, conflict=False)


@pytest.mark.parametrize(
    ("result", "retry", "woken", "look"),
    [
        (WANTED, 8.0, False, EdgeLook(RESYNC, FIRST_RETRY_SECONDS)),  # served: the next resync, backoff reset
        (EdgeResult(True, conflict=True), 1.0, False, EdgeLook(CONFLICT_RETRY_SECONDS, FIRST_RETRY_SECONDS)),
        (None, 1.0, False, EdgeLook(1.0, 2.0)),  # failed: again with backoff
        (None, 32.0, False, EdgeLook(32.0, RETRY_MAX_SECONDS)),
        (None, RETRY_MAX_SECONDS, False, EdgeLook(RETRY_MAX_SECONDS, RETRY_MAX_SECONDS)),
        (EdgeResult(False, False), 1.0, False, EdgeLook(0.0, FIRST_RETRY_SECONDS, done=True)),  # gone: the end
        (EdgeResult(False, False), 1.0, True, EdgeLook(RESYNC, FIRST_RETRY_SECONDS)),  # woken meanwhile: look again
        (EdgeResult(False, True), 1.0, False, EdgeLook(CONFLICT_RETRY_SECONDS, FIRST_RETRY_SECONDS)),
    ],
    ids=["served", "conflict", "failed", "backoff", "backoff capped", "gone", "gone but woken", "going, conflict"],
)
def test_next_look(result, retry, woken, look):
    assert next_look(result, retry, woken, RESYNC) == look
