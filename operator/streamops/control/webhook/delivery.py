"""One delivery task per subscription: it sends the subscription's events (oldest first, in sequence
order per stream, up to LANES streams at once), signs them, acknowledges each 2xx in the outbox and
backs off while the receiver fails. Its own task, its own timeouts: a receiver that is down or slow
delays its own events only, never reconciliation or other subscriptions. Every POST goes to an
address the egress guard checked (streamops.egress.pinning, docs/design/egress.md), never follows a
redirect, and a refused one says "refused by policy" and nothing else (no port-scan oracle)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kopf

from streamops.api import STREAM_WEBHOOK
from streamops.api.common import Condition
from streamops.contract.egress_policy import REFUSED, EgressPolicy, EgressRefused, configured_policy
from streamops.contract.webhook_event import body_of, signed_headers
from streamops.control.runtime.operator_metrics import operator_metric
from streamops.control.runtime.state import OperatorState
from streamops.control.webhook.outbox import Outbox, PendingEvent, acknowledged
from streamops.control.webhook.store import OutboxStore, StreamKey
from streamops.control.webhook.subscription import (
    FAILING_AFTER,
    DeliveryRecord,
    Subscription,
    secret_refusal,
    subscription_events,
    subscription_status,
)
from streamops.egress.pinning import pinned
from streamops.egress.resolution import Resolve, system_resolve
from streamops.kube.client import ApiError

log = logging.getLogger("streamops.webhook")
LANES = 8  # streams delivered side by side per subscription (each stream's events stay in order)
STATUS_SECONDS = 2.0  # the subscription's status is written at most this often
IDLE_SECONDS = 60.0  # a quiet subscription still looks at its outboxes this often
SECRET_CACHE_SECONDS = 5.0  # a rotated secret is used within this (plus the Secret's watch-free GET)
# A Secret the tenancy policy refuses is read again this often: labelling it takes effect within
# seconds (Secrets are not watched), as for the other kinds (docs/design/tenancy.md).
REFUSED_RETRY_SECONDS = 5.0
PREVIOUS_KEY = "previous"


def backoff_seconds(failures: int, rand: float, cap: float) -> float:
    """The wait after `failures` failed attempts in a row: 1, 2, 4 … `cap` s (the operator's
    webhook_backoff_cap_seconds, 30 by default: a receiver back after 60 s gets its backlog within
    30 s), ±20 % so that receivers coming back are not hit by every operator at once."""
    return min(cap, 2.0 ** max(0, failures - 1)) * (0.8 + 0.4 * rand)


def secrets_of(secret: Mapping[str, Any] | None, key: str) -> list[bytes] | None:
    """The signing secrets (current first, then `previous` while rotating); None when missing."""
    data = (secret or {}).get("data") or {}
    if not data.get(key):
        return None
    found = [base64.b64decode(data[key])]
    if key != PREVIOUS_KEY and data.get(PREVIOUS_KEY):
        found.append(base64.b64decode(data[PREVIOUS_KEY]))
    return found


def attempt_error(e: BaseException, timeout: int) -> str:
    """Why an attempt failed, without the URL (its query may carry a token)."""
    if isinstance(e, EgressRefused) or isinstance(getattr(e, "os_error", None), EgressRefused):
        return REFUSED
    if isinstance(e, TimeoutError):
        return f"no answer within {timeout} s"
    if isinstance(e, aiohttp.ClientConnectorError):
        return f"cannot connect: {e.os_error.strerror or type(e.os_error).__name__}"
    return type(e).__name__


def _acknowledging(uid: str, seq: int) -> Callable[[Outbox | None], Outbox | None]:
    return lambda outbox: acknowledged(outbox, uid, seq) if outbox is not None else None


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class SubscriptionDelivery:
    sub: Subscription
    body: kopf.Body | None
    store: OutboxStore
    state: OperatorState
    session: aiohttp.ClientSession
    record: DeliveryRecord = field(default_factory=DeliveryRecord)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    conditions: list[Condition] = field(default_factory=list)
    _lanes: dict[StreamKey, asyncio.Task[None]] = field(default_factory=dict)
    _retry_at: float = 0.0
    _secrets: tuple[float, list[bytes] | None] = (0.0, None)
    _status_written: dict[str, Any] | None = None
    _status_at: float = 0.0
    _status_pending: bool = False
    _warned: bool = False
    resolve: Resolve = system_resolve  # receivers' names → addresses (a test's own resolver)

    @property
    def policy(self) -> EgressPolicy:
        s = self.state.settings
        return configured_policy(s.egress.allow_cidrs, s.egress.cluster_cidrs, s.cluster_domain) or EgressPolicy()

    # --- the task -------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while True:
                self.wake.clear()
                now = time.monotonic()
                due = self.sub.spec.active and now >= self._retry_at
                if due and await self._outboxes_read() and await self._read_secrets() is not None:
                    self._start_lanes()
                await self._write_status()
                await self._sleep()
        finally:
            for lane in self._lanes.values():
                lane.cancel()

    async def _sleep(self) -> None:
        delay = IDLE_SECONDS
        now = time.monotonic()
        if self._retry_at > now:
            delay = min(delay, self._retry_at - now)
        if self._status_pending:
            delay = min(delay, max(0.05, self._status_at + STATUS_SECONDS - now))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), delay)

    def changed(self, sub: Subscription, body: kopf.Body | None) -> None:
        """A new spec: try again now (a fixed URL or a new secret should not wait out the backoff)."""
        if sub.spec != self.sub.spec:
            self._retry_at = 0.0
            self._secrets = (0.0, None)
        self.sub, self.body = sub, body
        self.wake.set()

    # --- sending --------------------------------------------------------------------------------
    def _start_lanes(self) -> None:
        for key, outbox in self.store.in_namespace(self.sub.namespace):
            if len(self._lanes) >= LANES:
                return
            if key not in self._lanes and outbox.next_for(self.sub.uid) is not None:
                self._lanes[key] = asyncio.create_task(self._lane(key), name=f"webhook-{key[1]}")

    async def _lane(self, key: StreamKey) -> None:
        try:
            while time.monotonic() >= self._retry_at and self.sub.spec.active:
                outbox = self.store.outboxes.get(key)
                event = outbox.next_for(self.sub.uid) if outbox else None
                if event is None:
                    return
                # Per event (cached SECRET_CACHE_SECONDS): a long backlog stops once the Secret is
                # gone or refused, and goes on with a rotated one.
                secrets = await self._read_secrets()
                if secrets is None:
                    return
                if not await self._send(event, secrets):
                    return
                await self.store.update(key, _acknowledging(self.sub.uid, event.seq))
        except (ApiError, OSError) as e:  # the outbox could not be written: the event is sent again
            log.warning("webhook %s/%s: acknowledging failed: %s", self.sub.namespace, self.sub.name, e)
            self._retry_at = time.monotonic() + 1.0
        finally:
            self._lanes.pop(key, None)
            self.wake.set()

    async def _send(self, event: PendingEvent, secrets: list[bytes]) -> bool:
        body = body_of(event.event)
        event_id = str(event.event["id"])
        headers = signed_headers(event_id, int(time.time()), body, secrets)
        timeout = self.sub.spec.timeout_seconds
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            # Resolved and checked once; the POST goes to that address and nowhere else.
            target = await asyncio.wait_for(pinned(self.sub.spec.url, self.policy, self.resolve), timeout)
            async with self.session.post(
                target.url,
                data=body,
                headers={**headers, "Host": target.host_header},
                server_hostname=target.server_hostname,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,  # a hop elsewhere would skip the check
            ) as response:
                status = response.status
                await response.content.read(64 * 1024)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            error = attempt_error(e, timeout)
        # A refused attempt sent nothing: its time would only tell how the name resolved.
        took = 0.0 if error == REFUSED else time.monotonic() - started
        attempt = {
            "at": _iso(datetime.now(UTC)),
            "eventId": event_id,
            "type": event.event["type"],
            "httpStatus": status,
            "durationMs": int(took * 1000),
        }
        labels = {"namespace": self.sub.namespace, "webhook": self.sub.name}
        if error is None:
            operator_metric("streamops_webhook_deliveries_total").labels(**labels, result="delivered").inc()
            operator_metric("streamops_webhook_delivery_latency_seconds").labels(**labels).observe(
                max(0.0, time.time() - event.recorded_at)
            )
            self.record.delivered += 1
            self.record.last_delivery = attempt
            if self._warned:
                self._event("Normal", "DeliveryRecovered", f"the receiver accepts events again ({event_id})")
            self._warned = False
            self.record.consecutive_failures = 0
            return True
        operator_metric("streamops_webhook_deliveries_total").labels(**labels, result="failed").inc()
        self.record.consecutive_failures += 1
        self.record.last_failure = {**attempt, "error": error}
        failures = self.record.consecutive_failures
        cap = self.state.settings.webhooks.backoff_cap_seconds
        self._retry_at = time.monotonic() + backoff_seconds(failures, random.random(), cap)
        if failures >= FAILING_AFTER and not self._warned:
            self._warned = True
            self._event(
                "Warning",
                "DeliveryFailing",
                f"{failures} deliveries in a row failed ({error}); events are kept and retried for 24 h",
            )
        log.info("webhook %s/%s: %s failed: %s", self.sub.namespace, self.sub.name, event_id, error)
        return False

    def _event(self, type_: str, reason: str, message: str) -> None:
        if self.body is not None:
            kopf.event(self.body, type=type_, reason=reason, message=message)

    async def _outboxes_read(self) -> bool:
        """The namespace's outboxes are in memory (a new leader's first look reads them: a backlog
        left by the previous leader goes out without waiting for a new event)."""
        try:
            await self.store.load(self.sub.namespace)
        except (ApiError, OSError) as e:
            log.warning("webhook %s/%s: reading the outboxes failed: %s", self.sub.namespace, self.sub.name, e)
            self._retry_at = time.monotonic() + 1.0
            return False
        return True

    async def _read_secrets(self) -> list[bytes] | None:
        read_at, secrets = self._secrets
        if secrets is not None and time.monotonic() - read_at < SECRET_CACHE_SECONDS:
            return secrets
        ref = self.sub.spec.secret_ref
        try:
            secret = await self.state.call(self.state.api.get, "Secret", self.sub.namespace, ref.name)
        except (ApiError, OSError) as e:
            log.warning("webhook %s/%s: reading its Secret failed: %s", self.sub.namespace, self.sub.name, e)
            return None
        refused = secret_refusal(self.sub, secret, self.state.settings.tenancy)
        secrets = secrets_of(secret, ref.key) if refused is None else None
        self.record.secret_refused = refused
        self.record.secret_missing = refused is None and secrets is None
        self._secrets = (time.monotonic(), secrets)
        if refused is not None:
            self._retry_at = time.monotonic() + REFUSED_RETRY_SECONDS
        elif secrets is None:
            self._retry_at = time.monotonic() + self.state.settings.webhooks.backoff_cap_seconds
        return secrets

    # --- bookkeeping ----------------------------------------------------------------------------
    def expired(self, count: int) -> None:
        """`count` of its events were dropped undelivered (24 h, or the outbox's bound)."""
        self.record.expired += count
        labels = {"namespace": self.sub.namespace, "webhook": self.sub.name}
        operator_metric("streamops_webhook_expired_total").labels(**labels).inc(count)
        self._event("Warning", "EventsExpired", f"{count} events dropped undelivered (kept 24 h at most)")
        self.wake.set()

    def _observe_backlog(self) -> None:
        backlog = 0
        oldest: float | None = None
        for _, outbox in self.store.in_namespace(self.sub.namespace):
            for e in outbox.events:
                if self.sub.uid in e.pending:
                    backlog += 1
                    oldest = e.recorded_at if oldest is None else min(oldest, e.recorded_at)
        self.record.backlog = backlog
        self.record.oldest_pending_at = datetime.fromtimestamp(oldest, UTC) if oldest is not None else None
        labels = {"namespace": self.sub.namespace, "webhook": self.sub.name}
        operator_metric("streamops_webhook_backlog").labels(**labels).set(backlog)
        operator_metric("streamops_webhook_consecutive_failures").labels(**labels).set(self.record.consecutive_failures)

    def _status_due(self) -> bool:
        return time.monotonic() - self._status_at >= STATUS_SECONDS

    async def _write_status(self) -> None:
        self._observe_backlog()
        status = subscription_status(self.sub, self.record, self.conditions, datetime.now(UTC))
        comparable = {k: v for k, v in status.items() if k != "conditions"} | {
            "ready": [(c["status"], c["reason"], c["message"]) for c in status["conditions"]]
        }
        if comparable == self._status_written:
            self._status_pending = False
            return
        if not self._status_due():
            self._status_pending = True
            return
        self._status_pending = False
        self._status_at = time.monotonic()
        try:
            await self.state.write_status(
                self.state.api.patch_status, STREAM_WEBHOOK, self.sub.namespace, self.sub.name, status
            )
        except (ApiError, OSError) as e:
            log.warning("webhook %s/%s: status not written: %s", self.sub.namespace, self.sub.name, e)
            return
        self._status_written = comparable
        written = [Condition.model_validate(c) for c in status["conditions"]]
        for t in subscription_events(self.conditions, written):
            self._event(t.type, t.reason, t.message)
        self.conditions = written
