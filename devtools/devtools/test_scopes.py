"""The scopes `make test`'s pytest-xdist workers run the tests in (tests/conftest.py's loadscope
scheduler): the host scope, the cluster scope, else each module its own.

`make test` runs pytest-xdist workers (--dist loadscope): the media tier waits far more than it
computes (83% of 2 cores idle while it ran alone, 2026-11-25), so its tests share the run with the
rest. The tests of the pod-network cluster (one per worker process: a session fixture) and
whatever changes the host's own network (its links, addresses, routes, firewall) are one scope on
one worker ("host", in the tier order of tests/conftest.py), so that local_cluster's before/after check of the host's
network sees no other test's change. Tests that only make throwaway network namespaces of their
own (WebRTC stands, Chromium confined, the S3 relay's) run anywhere: they touch nothing in the
root namespace, and the check compares only the cluster's own namespaces (its prefix). The cluster
tier is a scope of its own (one control plane, started once, on one worker; it touches no host
network), so the long scopes run side by side: with cluster inside "host" that worker ran 31.5 min
of tests while the other idled its last 11 (2026-11-26, 1597 tests, 32.9 min in all). A scheduler
of our own, because pytest 9.2 ignores the `@group` suffix pytest-xdist 3.8's loadgroup writes
into `item._nodeid`.
"""

from __future__ import annotations

HOST_SCOPE = "host"
CLUSTER_SCOPE = "cluster"


def in_host_scope(path: str) -> bool:
    """`path` is relative to tests/: `e2e/test_installed.py`. The single host-network node of
    tests/e2e/node is not in it: its own cgroup root, ports, mounts and no CNI beyond loopback
    (kubelet with makeIPTablesUtilChains off) leave the host's network as it was, so it runs beside
    the multi-node cluster (2.0 min that no longer queue behind the host scope's 18)."""
    return path.startswith(("multinode/", "e2e/")) and not path.startswith("e2e/node/")


def scope_of(path: str) -> str | None:
    """The scope of a test in `path` (relative to tests/), or None for its module's own."""
    if in_host_scope(path):
        return HOST_SCOPE
    return CLUSTER_SCOPE if path.startswith("cluster/") else None


def scope_name(nodeid: str) -> str:
    """The scope of a test id (`tests/media/test_x.py::test_y`): host, cluster, else its module."""
    path = nodeid.split("::", 1)[0].removeprefix("tests/")
    return scope_of(path) or path


# The host scope's modules that change the session's release (tests/conftest.py's `release`), last and
# in this order: each leaves the install to be put back (Release.restore_later) and the next one sets
# the release itself first (mark `sets_release`: an uninstall or an upgrade with its values), so no
# put-back runs between them, nor after the last (the cluster goes at the end of the session). The
# operator-only upgrade begins from the install; the by-hand install uninstalls it. test_handover.py
# (a chart of its own) and test_network_policy.py (its namespaces deleted after the put-back) put it
# back at once.
RELEASE_CHAIN = (
    "multinode/test_upgrade.py",
    "multinode/test_hand_install.py",
    "multinode/test_edge_autoscaling.py",
    "multinode/test_lan_storage.py",
    "multinode/test_prometheus_operator.py",
)


def release_chain_rank(path: str) -> int:
    """0 for a module outside RELEASE_CHAIN (`path` relative to tests/), else its place there from 1: the
    order of a tier's modules after the tier itself."""
    return RELEASE_CHAIN.index(path) + 1 if path in RELEASE_CHAIN else 0


# The session fixtures each long-lived scope's processes hang from, by (fixture name, the directory of
# the conftest defining it): the pod-network cluster of the host scope, the control plane of the
# cluster scope. pytest finishes every fixture that uses one before it, so finishing the root stops the
# whole scope (operator, release, add-ons, then the cluster).
SCOPE_ROOTS = {("local_cluster", "tests"): HOST_SCOPE, ("cluster", "tests/cluster"): CLUSTER_SCOPE}


def scope_root(argname: str, baseid: str) -> str | None:
    """The scope whose processes the session fixture `argname` (defined by the conftest at `baseid`)
    starts, or None for any other fixture."""
    return SCOPE_ROOTS.get((argname, baseid))


def scope_ends(nodeid: str, next_nodeid: str | None) -> str | None:
    """The scope that ends after test `nodeid` when `next_nodeid` runs next on the same worker (None:
    the worker's last test), or None while it goes on. A scope is one worker's, its tests in a row
    (HostScopeScheduling), so its cluster can stop there instead of idling until the session's end:
    ci50 (2026-11-30) kept the cluster tier's control plane up 14 min after its last test and the
    2-node cluster 4.8 min after its own."""
    scope = scope_name(nodeid)
    if next_nodeid is not None and scope_name(next_nodeid) == scope:
        return None
    return scope
