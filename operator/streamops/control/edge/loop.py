"""A namespace's edge loop (started and woken by tasks.py): reconcile the edge (reconcile.py, in the
operator's API threads), tell the streams it serves when the API server's answer to the edge
changed (their Ready says EdgeRejected: shared/edge_refusals.py), then wait as decide.py says — for
a change, a resync, a retry — or end once no stream wants the edge and it is gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from streamops.api import LIVESTREAM
from streamops.control.edge.decide import FIRST_RETRY_SECONDS, EdgeResult, next_look
from streamops.control.edge.reconcile import EdgeOutcome, reconcile_edge
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.edge_refusals import EDGE_REFUSALS

log = logging.getLogger("streamops.operator")


async def edge_loop(state: OperatorState, namespace: str, waker: asyncio.Event, finished: Callable[[], None]) -> None:
    """Until the edge is gone with the last stream that wanted it (`finished` first: from then on a
    wake starts another loop)."""
    retry = FIRST_RETRY_SECONDS
    while True:
        waker.clear()
        try:
            outcome = await state.call(reconcile_edge, state.api, state.settings, namespace)
        except Exception as e:  # the API unreachable, a server error: again with backoff
            log.warning("the edge in %s: reconcile failed, again in %.0f s: %s", namespace, retry, e)
            result = None
        else:
            tell_streams(state, namespace, outcome)
            result = EdgeResult(wanted=bool(outcome.streams), conflict=outcome.conflict)
        look = next_look(result, retry, waker.is_set(), state.settings.telemetry.resync_seconds)
        if look.done:
            finished()
            return  # the edge is gone with the last stream that wanted it
        retry = look.retry
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(look.timeout):
                await waker.wait()


def tell_streams(state: OperatorState, namespace: str, outcome: EdgeOutcome) -> None:
    """The streams it serves reconcile when the API server's answer to the edge changed: their
    outcome (edge_rejected) is what their status says."""
    if EDGE_REFUSALS.record(namespace, outcome.refused if outcome.streams else None):
        for stream in outcome.streams:
            state.wake((LIVESTREAM.kind, namespace, stream), reconcile=True)
