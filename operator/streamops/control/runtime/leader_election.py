"""The operator as one of several replicas: a standby waits (reconciling nothing, answering its
liveness probe) until it holds the leader election Lease; the leader runs kopf while it renews the
Lease, stops kopf and exits non-zero when it cannot renew within the renew deadline or finds the
Lease taken, and releases the Lease on a clean shutdown so that a standby takes over at its next
try. Decisions: control/runtime/leader_lease.py; why and the timings: docs/design/operator-ha.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from enum import Enum
from typing import TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from streamops.control.runtime.leader_lease import LEASE_KIND, Action, LeaseTiming, decide, released
from streamops.kube.client import KubeApi
from streamops.kube.manifests import Manifest
from streamops.kube.threads import FIRST, ApiThreads

# A leader that lost the Lease exits with this code: the container restarts and waits as a standby.
LOST_LEADERSHIP_EXIT = 3
# A leader past its renew deadline whose kopf has not stopped this long after is ended at once
# (os._exit): the Lease's margin (lease duration − renew deadline, 5 s) must not be used up by a slow
# shutdown or a stalled event loop.
HARD_EXIT_GRACE_SECONDS = 2.0
JITTER = 1.2  # standbys retry at retry period × [1, 1.2), as client-go does, so they do not collide
T = TypeVar("T")
log = logging.getLogger("streamops.leader")


class Outcome(Enum):
    HELD = "held"  # this process holds the Lease now
    OTHER = "other"  # someone else holds it (or wrote it first)
    FAILED = "failed"  # no answer in time, or an error: try again


class LeaderElection:
    """One contender for the Lease `namespace`/`name` as `identity` (the Pod's name). Its API calls
    run on a thread of their own with a short timeout (`timing.renew_deadline_seconds` / 2, as
    controller-runtime sets it), so they never queue behind the reconcilers'."""

    def __init__(
        self,
        api: KubeApi,
        name: str,
        namespace: str,
        identity: str,
        timing: LeaseTiming | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        hard_exit: Callable[[int], object] = os._exit,
    ) -> None:
        self.api, self.name, self.namespace, self.identity = api, name, namespace, identity
        self.timing = timing or LeaseTiming()
        self.clock, self.hard_exit = clock, hard_exit
        self.lost = asyncio.Event()  # set when leadership is lost
        self.stop_flag = asyncio.Event()  # kopf's: raised when leadership is lost (and by kopf's cleanup)
        self._threads = ApiThreads(1, "lease")
        self._held: Manifest | None = None  # the Lease as this process last wrote it, while it leads
        self._valid_until = 0.0  # monotonic: the renew deadline of the last successful renewal
        self.holder = ""  # who held the Lease at the last try
        self._last_error = ""
        self._watchdog: threading.Thread | None = None
        self._closed = threading.Event()

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def leading(self) -> bool:
        return self._held is not None and not self.lost.is_set()

    # --- one try ---------------------------------------------------------------------------------
    async def _call(self, call: Callable[[], T], timeout: float | None) -> T:
        # A future, not a task: kopf cancels the tasks created while it ran when it stops, and a
        # renewal must go on while kopf shuts down.
        future = asyncio.wrap_future(self._threads.submit(FIRST, call))
        return await asyncio.wait_for(future, timeout)

    async def attempt(self, deadline: float | None = None) -> Outcome:
        """Read (or, leading, take the Lease as last written), decide, write. `deadline`
        (monotonic): give up waiting for the API server then."""

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        try:
            for _ in range(2):  # a conflict on the Lease we last wrote: read it again and decide once more
                observed = self._held
                if observed is None:
                    observed = await self._call(lambda: self.api.get(LEASE_KIND, self.namespace, self.name), left())
                began, now = time.monotonic(), self.clock()
                d = decide(observed, now, self.identity, self.name, self.namespace, self.timing.lease_duration_seconds)
                self.holder = d.holder
                if d.action is Action.WAIT or d.lease is None:
                    self._held = None
                    return Outcome.OTHER
                fresh = observed is None or "resourceVersion" not in observed.get("metadata", {})
                write = functools.partial(self.api.create if fresh else self.api.replace, d.lease)
                written = await self._call(write, left())
                if written is None:  # someone else wrote it first (409)
                    retry, self._held, self.holder = self._held is not None, None, ""
                    if retry:
                        continue
                    return Outcome.OTHER
                self._held = written
                self._valid_until = began + self.timing.renew_deadline_seconds
                self._last_error = ""
                return Outcome.HELD
            return Outcome.OTHER
        except TimeoutError:
            self._note_error("no answer from the API server in time")
            return Outcome.FAILED
        except Exception as e:  # the API server unreachable, refused (RBAC) ...: try again
            self._note_error(f"{type(e).__name__}: {e}")
            return Outcome.FAILED

    def _note_error(self, message: str) -> None:
        if message != self._last_error:  # once per distinct error, not every retry period
            self._last_error = message
            log.warning("lease %s: %s", self.where, message)

    # --- the standby -------------------------------------------------------------------------------
    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait as a standby until this process holds the Lease (True), or `stop` is set (False)."""
        log.info("waiting for leadership: lease %s as %s", self.where, self.identity)
        seen = ""
        while not stop.is_set():
            if await self.attempt() is Outcome.HELD:
                # (also when the Lease was this identity's already: a container restarted in its Pod)
                transitions = ((self._held or {}).get("spec") or {}).get("leaseTransitions", 0)
                log.info("acquired leadership: lease %s as %s (transition %s)", self.where, self.identity, transitions)
                self._start_watchdog()
                return True
            if self.holder and self.holder != seen:  # once per holder, not every retry period
                seen = self.holder
                log.info("standby: lease %s is held by %s", self.where, seen)
            pause = self.timing.retry_period_seconds * random.uniform(1.0, JITTER)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
        return False

    # --- the leader --------------------------------------------------------------------------------
    async def keep(self, done: asyncio.Event) -> None:
        """Renew every retry period until `done` is set (not cancelled: a renewal cut off after its
        request was sent would leave an outdated resourceVersion to release with). Leadership is
        lost (`lost` set, kopf stops) when the Lease is someone else's, or when no renewal succeeded
        within the renew deadline."""
        while not self.lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self.timing.retry_period_seconds)
            if done.is_set():
                return
            outcome = await self.attempt(deadline=self._valid_until)
            if outcome is Outcome.OTHER:
                self._lose(f"the lease is held by {self.holder or 'someone else'}")
            elif outcome is Outcome.FAILED and time.monotonic() >= self._valid_until:
                self._lose(f"not renewed within {self.timing.renew_deadline_seconds:g} s")

    def _lose(self, why: str) -> None:
        log.error("lost leadership: lease %s, %s; stopping", self.where, why)
        self._held = None
        self._valid_until = min(self._valid_until, time.monotonic())  # the watchdog's grace starts now
        self.lost.set()
        self.stop_flag.set()

    def _start_watchdog(self) -> None:
        """A thread that ends the process HARD_EXIT_GRACE_SECONDS past the renew deadline, whatever
        the event loop is doing (a loop stalled by a long call would renew nothing and stop nothing)."""

        def watch() -> None:
            while not self._closed.wait(0.25):
                if time.monotonic() > self._valid_until + HARD_EXIT_GRACE_SECONDS:
                    log.error("lost leadership: lease %s, the operator did not stop in time; exiting", self.where)
                    logging.shutdown()
                    self.hard_exit(LOST_LEADERSHIP_EXIT)
                    return

        self._watchdog = threading.Thread(target=watch, name="lease-watchdog", daemon=True)
        self._watchdog.start()

    async def release(self) -> None:
        """On a clean shutdown (kopf has stopped): give the Lease up so that a standby takes it at its
        next try instead of after the lease duration. Someone else's by now: nothing to do."""
        self._closed.set()
        held, self._held = self._held, None
        if held is None:
            return
        deadline = time.monotonic() + self.timing.renew_deadline_seconds
        try:
            for _ in range(2):  # a renewal that timed out may have landed after all: read it again once
                body = released(held, self.clock(), self.identity)
                if body is None:
                    return  # someone else's by now
                left = max(0.0, deadline - time.monotonic())
                if await self._call(functools.partial(self.api.replace, body), left) is not None:
                    log.info("released leadership: lease %s", self.where)
                    return
                read = await self._call(lambda: self.api.get(LEASE_KIND, self.namespace, self.name), left)
                if read is None:
                    return
                held = read
            raise RuntimeError("it kept changing")
        except Exception as e:  # the standby takes over when the Lease expires
            seconds = self.timing.lease_duration_seconds
            log.warning("lease %s not released (%s): it expires in %s s", self.where, e or type(e).__name__, seconds)

    def close(self) -> None:
        self._closed.set()
        self._threads.shutdown(wait=False, cancel_futures=True)


@contextlib.asynccontextmanager
async def standby_liveness(url: str) -> AsyncIterator[None]:
    """The liveness endpoint kopf serves once it runs (`--liveness`), answered while this process
    waits as a standby: the kubelet's probe (and a harness waiting for the process) see it alive."""
    parts = urlsplit(url)
    app = web.Application()

    async def alive(_: web.Request) -> web.Response:
        return web.json_response({"leader": False})

    app.router.add_get(parts.path or "/", alive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, parts.hostname, parts.port or 80, reuse_address=True)
    await site.start()
    try:
        yield
    finally:
        await runner.cleanup()  # kopf binds the same address next


async def run_elected(
    election: LeaderElection, operate: Callable[[asyncio.Event], Awaitable[None]], liveness: str | None
) -> int:
    """Wait for leadership, then `operate(stop_flag)` (kopf.operator) while the Lease is renewed.
    The exit status: 0 after a clean shutdown (SIGTERM/SIGINT: as a standby at once, as the leader
    once kopf has stopped and the Lease is released), LOST_LEADERSHIP_EXIT when leadership was lost.
    `operate` raises the stop flag itself when kopf stops for another reason (a signal): kopf leaves
    its waiter of the flag running and would wait 5 s for it as a hung task (measured: SIGTERM to
    exit 5.2 s instead of 0.1 s)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:  # kopf installs its own once it runs
        loop.add_signal_handler(sig, stop.set)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if liveness:
                await stack.enter_async_context(standby_liveness(liveness))
            leader = await election.acquire(stop)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
    if not leader or stop.is_set():  # a signal during the last try: hand the Lease back at once
        await election.release()
        election.close()
        return 0
    # Created before kopf starts: kopf leaves the tasks that existed before it alone when it stops.
    done = asyncio.Event()
    keeper = asyncio.create_task(election.keep(done), name="lease keeper")
    try:
        await operate(election.stop_flag)
    finally:
        done.set()
        await keeper
    try:
        if election.lost.is_set():
            return LOST_LEADERSHIP_EXIT
        await election.release()
        return 0
    finally:
        election.close()
