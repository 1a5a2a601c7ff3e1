"""The actuator that turns overlays on and off in a LiveStream's running ingests: POST /overlays to
each ingest decide.py names (SwitchOverlays: its /status shows other overlays on than the spec, the
switch decided by overlays.py's overlay_switch), signed with the stream's key and presenting its
worker credential. Sent in the background, one request in flight per ingest (the loop's request
slots, runtime/tick.py): a stuck ingest holds up no tick, and its next /status shows whether it took."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from streamops.api.common import SecretKeyRef
from streamops.contract.overlay import SWITCH_AUTH_HEADER, SWITCH_PATH, switch_token
from streamops.control.livestream.decide import SwitchOverlays
from streamops.control.runtime.object_loop import ObjectLoop
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.spec_reads import read_secret_key
from streamops.control.workers.worker_client import post


async def switch_signer(
    state: OperatorState, namespace: str, stream: str, key: SecretKeyRef | None
) -> Callable[[bytes], dict[str, str]] | None:
    """What signs a switch to a push stream's ingests: its key, read from its Secret only when a
    switch is to be sent (it stays in the operator's memory). None for a pull stream (no key)."""
    if key is None:
        return None
    value = (await state.call(read_secret_key, state.api, namespace, key)).value
    if not value or not value.strip():
        return None
    secret = value.strip()  # as the ingest reads its key file
    return lambda body: {SWITCH_AUTH_HEADER: switch_token(secret, stream, body, time.time())}


async def switch_overlays(loop: ObjectLoop[Any], action: SwitchOverlays) -> None:
    """Each switch whose slot has no request in flight; the key Secret is read only when one goes out."""
    state = loop.state
    due = [(slot, pod, switch) for slot, pod, switch in action.switches if slot not in loop.in_flight()]
    if state.client is None or not due:
        return
    sign = await switch_signer(state, loop.namespace, action.stream, action.key)
    auth = await state.worker_headers(loop.namespace, action.stream)
    for slot, pod, switch in due:
        loop.send(slot, post(state.client, pod, SWITCH_PATH, switch, sign, auth))
