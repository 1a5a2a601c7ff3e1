"""End-to-end suite on a real node (see devtools.cluster.stack): one control plane + node + operator per test
session, on 127.0.0.1, stopped by PID at the end (pass or fail); the session fails if anything
is left running or mounted.

Needs root (containerd, runc, kubelet), the kubelet and kube-scheduler built (`make kube` builds
them) and debootstrap access to the Debian mirror on the first run (images are cached after).
Nothing here skips: a machine that cannot run the node fails the tests.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from devtools.cluster.stack import Stack

# A private slice of ports for hostNetwork workers, below the kernel's ephemeral range and away from
# the cluster suite's (20000-28999) and the demo's (32000-32199); different per test session.
PORT_BASE = 29000 + (os.getpid() % 10) * 300


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    harness = Stack(tmp_path_factory.mktemp("e2e"), f"{PORT_BASE}-{PORT_BASE + 299}")
    harness.start()
    try:
        yield harness
    finally:
        left = harness.stop(purge=True)
        out = os.environ.get("STREAMOPS_E2E_TIMINGS")
        if out:
            Path(out).write_text(json.dumps(harness.timings.values, indent=2) + "\n")
        assert not left, f"left behind after teardown: {left}"


class Namespace(str):
    recordings: Path


@pytest.fixture
def namespace(e2e: Stack) -> Iterator[Namespace]:
    ns = Namespace(f"e2e-{uuid.uuid4().hex[:8]}")
    ns.recordings = e2e.create_namespace(str(ns))
    try:
        yield ns
    finally:
        e2e.delete_namespace(ns)
