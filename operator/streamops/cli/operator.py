"""`streamops operator`: the operator itself (kopf), alone or behind a leader election Lease."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio


def run_operator(args: argparse.Namespace) -> int:
    # kopf imports the `kubernetes` client when it is installed (for its login), ≈33 MB of RSS the
    # operator does not need: its own API client (kube/client.py) uses kopf's plain logins.
    # Likewise `kubernetes_asyncio` (kopf only recognises its objects; the kubernetes 36 wheel the
    # harness installs ships it): 88 → 55 MB of RSS after the operator's imports, and 1.8 s less
    # importing (measured 2026-11-23). The image has neither.
    sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]
    sys.modules.setdefault("kubernetes_asyncio", None)  # type: ignore[arg-type]
    import asyncio  # here, not at the top: `streamops worker` imports this module (cli/worker.py)

    import kopf

    import streamops.control.handlers  # noqa: F401  (registers the handlers)

    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.PLAIN)
    if not args.verbose:
        # kopf says "Handler … succeeded" for every watch event the operator is woken by; the
        # operator logs its own transitions (reconciled, failed) and kopf's warnings still show.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)

    from streamops.control.runtime.operator_metrics import metrics_server, set_leader

    async def operate(stop_flag: asyncio.Event | None = None) -> None:
        from kopf._cogs.structs.references import Insights

        from streamops.control.runtime.unkept_memories import memories_for

        set_leader(True)
        # kopf's view of what is served, shared with the operator's rescans (runtime/discovery_rescan.py).
        insights = Insights()
        try:
            await kopf.operator(
                clusterwide=not args.namespace,
                namespaces=args.namespace or (),
                liveness_endpoint=args.liveness,
                standalone=True,  # kopf's own peering stays off: leader election is the Lease's
                # handlers.close() raises the stop flag, whatever stopped kopf (see run_elected()).
                memo=kopf.Memo(namespaces=tuple(args.namespace or ()), stop_flag=stop_flag, insights=insights),
                insights=insights,
                # No memory kept per object: no handler needs one (runtime/unkept_memories.py).
                memories=memories_for(kopf.get_default_registry()),
                stop_flag=stop_flag,
            )
        finally:
            set_leader(False)

    async def run() -> int:
        # /metrics for the whole process: a standby answers too (streamops_operator_leader 0).
        async with metrics_server(args.metrics_address, args.metrics_port):
            if not args.leader_election:
                await operate()
                return 0
            return await run_elected_operator(args, operate)

    return asyncio.run(run())


async def run_elected_operator(args: argparse.Namespace, operate: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """`operate` (kopf) only while this process holds the leader election Lease (docs/design/operator-ha.md)."""
    from streamops.control.runtime.leader_election import LeaderElection, run_elected
    from streamops.control.runtime.leader_lease import LeaseTiming
    from streamops.kube.client import KubeApi, login

    timing = LeaseTiming(args.lease_duration, args.renew_deadline, args.retry_period)
    # Its own client with a short timeout (controller-runtime's: half the renew deadline).
    api = KubeApi(login(), timeout=timing.renew_deadline_seconds / 2)
    namespace = args.lease_namespace or api.info.default_namespace or "default"
    election = LeaderElection(api, args.lease_name, namespace, args.identity, timing)
    return await run_elected(election, operate, args.liveness)
