"""Secrets the Restream reconciles read lately (docs/design/shared-pusher.md, "Reads"): every
Restream's reconcile reads the key and CA Secrets of all its stream's active Restreams, so N
Restreams reconciling together (an operator start, a resync) would read N² Secrets. A Secret found
less than `max_age` seconds ago and usable then is handed out again; one not found or not usable
(unlabelled, without the key) is always read again, so a Secret created, labelled or filled in to
clear a refusal counts at its next look."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from streamops.kube.manifests import Manifest
from streamops.kube.reads import KubeReads

MAX_AGE_SECONDS = 2.0  # a rotated key or a new label reaches the plan at most this much later


class RecentSecrets:
    """Thread-safe: the reconciles run on the operator's API threads."""

    def __init__(self, max_age: float = MAX_AGE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self.clock = clock
        self._read: dict[tuple[str, str], tuple[float, Manifest]] = {}
        self._lock = threading.Lock()
        self._swept_at = clock()

    def get(
        self, api: KubeReads, namespace: str, name: str, usable: Callable[[Manifest], bool] = lambda _: True
    ) -> Manifest | None:
        """`usable`: whether the reader can use the Secret as it is; only such a read is kept."""
        now = self.clock()
        with self._lock:
            self._sweep(now)
            hit = self._read.get((namespace, name))
            if hit is not None and now - hit[0] < self.max_age:
                return hit[1]
        secret = api.get("Secret", namespace, name)
        with self._lock:
            if secret is not None and usable(secret):
                self._read[(namespace, name)] = (now, secret)
            else:
                self._read.pop((namespace, name), None)
        return secret

    def forget(self, namespace: str, *names: str) -> None:
        """The next read of these goes to the API (a reconcile reads its own object's Secrets now)."""
        with self._lock:
            for name in names:
                self._read.pop((namespace, name), None)

    def _sweep(self, now: float) -> None:
        """Drop what is too old to be handed out (once per max_age: the values are keys)."""
        if now - self._swept_at < self.max_age:
            return
        self._swept_at = now
        for key in [k for k, (at, _) in self._read.items() if now - at >= self.max_age]:
            del self._read[key]


# By the client's identity (clients compare by value, so they cannot be dict keys), weakly held.
_BY_API: dict[int, tuple[weakref.ref[KubeReads], RecentSecrets]] = {}
_BY_API_LOCK = threading.Lock()


def recent_secrets(api: KubeReads) -> RecentSecrets:
    """The one view of the API client's reconciles (the operator has one client; a test's own
    client starts with nothing read)."""
    with _BY_API_LOCK:
        found = _BY_API.get(id(api))
        if found is not None and found[0]() is api:
            return found[1]
        for key in [k for k, (ref, _) in _BY_API.items() if ref() is None]:
            del _BY_API[key]
        recent = RecentSecrets()
        _BY_API[id(api)] = (weakref.ref(api), recent)
        return recent
