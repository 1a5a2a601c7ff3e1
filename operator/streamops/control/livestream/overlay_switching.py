"""The actuator that turns overlays on and off in a LiveStream's running ingests: POST /overlays to
each ingest whose /status shows other overlays on than the spec (the switch is decided, pure, by
overlays.py's overlay_switch), signed with the stream's key. The status loop (loop.py) decides and
calls this; ingest_posts.py holds the POSTs in flight so that one stuck ingest never holds up a tick."""

from __future__ import annotations

import time
from collections.abc import Callable

from streamops.api import LiveStream
from streamops.contract.ingest import Role
from streamops.contract.overlay import SWITCH_AUTH_HEADER, SWITCH_PATH, OverlaySwitch, switch_token
from streamops.control.livestream.ingest_posts import IngestPosts
from streamops.control.livestream.specs.secret import stream_key_ref
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.spec_reads import read_secret_key
from streamops.control.workers.pod_observation import PodObservation


async def switch_signer(state: OperatorState, stream: LiveStream) -> Callable[[bytes], dict[str, str]] | None:
    """What signs a switch to a push stream's ingests: its key, read from its Secret only when a
    switch is to be sent (it stays in the operator's memory). None for a pull stream (no key)."""
    ref = stream_key_ref(stream)
    if ref is None:
        return None
    key = (await state.call(read_secret_key, state.api, stream.metadata.namespace or "", ref)).value
    if not key or not key.strip():
        return None
    name, secret = stream.metadata.name, key.strip()  # as the ingest reads its key file
    return lambda body: {SWITCH_AUTH_HEADER: switch_token(secret, name, body, time.time())}


class OverlaySwitcher(IngestPosts):
    """One per stream loop: sends each switch not already in flight to its ingest (ingest_posts.py)."""

    async def send(
        self, stream: LiveStream | None, switches: dict[Role, OverlaySwitch], pods: dict[Role, PodObservation]
    ) -> None:
        """Each switch (by role) to its ingest's Pod, unless one is still in flight there; the key
        Secret is read only when a POST goes out."""
        due = self.due(switches, pods)
        if self.state.client is None or stream is None or not due:
            return
        sign = await switch_signer(self.state, stream)  # the Secret read only for a POST that goes out
        await self.post(due, SWITCH_PATH, sign)
