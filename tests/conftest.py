import concurrent.futures
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import Release
from devtools.media.peers import Publisher
from devtools.media.workers import Ingest
from devtools.test_scopes import release_chain_rank, scope_ends, scope_of, scope_root
from xdist.scheduler import LoadScopeScheduling

from devtools import netns

# STREAMOPS_TEST_TIMELINE=FILE: each worker appends "<unix time> <start|finish> <worker> cpu=<s> <test id>"
# per test, to see which scope ran where and when (the critical path of a parallel run) and what CPU
# the worker and the children it reaped (FFmpeg peers, workers, kubectl) spent: devtools.test_timeline
# summarises it.
TIMELINE = os.environ.get("STREAMOPS_TEST_TIMELINE")


def _timeline(event: str, nodeid: str) -> None:
    if TIMELINE:
        t = os.times()
        cpu = t.user + t.system + t.children_user + t.children_system
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with open(TIMELINE, "a") as f:
            f.write(f"{time.time():.2f} {event} {worker} cpu={cpu:.2f} {nodeid}\n")


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    _timeline("start", nodeid)


def pytest_runtest_logfinish(nodeid: str, location: Any) -> None:
    _timeline("finish", nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a test that did not run: fail the run instead of going green."""
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        names = ", ".join(r.nodeid for r in skipped[:10])
        sys.stderr.write(f"\nCI=true: {len(skipped)} test(s) skipped, which counts as failure: {names}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# In one process, timing-sensitive media tests first: the cluster and e2e session fixtures start
# control planes and a node that stay up until the end of the run.
TIER_ORDER = ("unit", "chart", "publish", "media", "browser", "cluster", "e2e", "multinode")

# Which scope each test runs in, and why: devtools.test_scopes.


def _relative(item: pytest.Item) -> str:
    return "/".join(Path(str(item.path)).relative_to(Path(__file__).resolve().parent).parts)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    def tier(item: pytest.Item) -> tuple[int, int]:
        path = _relative(item)
        name = path.split("/", 1)[0]
        return (TIER_ORDER.index(name) if name in TIER_ORDER else len(TIER_ORDER), release_chain_rank(path))

    items.sort(key=tier)  # stable: the order inside a tier is unchanged, but for RELEASE_CHAIN's modules


class HostScopeScheduling(LoadScopeScheduling):
    """loadscope, with the host group's tests in one scope and the cluster tier's in another (each
    on one worker, in collection order)."""

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid.split("::", 1)[0].removeprefix("tests/")) or super()._split_scope(nodeid)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    return HostScopeScheduling(config, log) if config.getvalue("dist") == "loadscope" else None


SCOPE_ROOT_FIXTURES = pytest.StashKey[dict[str, set[pytest.FixtureDef[Any]]]]()


def _remember_scope_roots(item: pytest.Item) -> None:
    """The fixtures a scope's processes hang from (devtools.test_scopes.SCOPE_ROOTS) among those the
    test may use. (A session fixture's own hooks go to the rootdir's conftests only, not this one.)"""
    info = getattr(item, "_fixtureinfo", None)
    for defs in info.name2fixturedefs.values() if info else ():
        for fixturedef in defs:
            if (scope := scope_root(fixturedef.argname, fixturedef.baseid)) is not None:
                item.config.stash.setdefault(SCOPE_ROOT_FIXTURES, {}).setdefault(scope, set()).add(fixturedef)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After a scope's last test on this worker, stop its cluster (and first every fixture using it:
    pytest finishes dependents first) rather than at the session's end: it idled for the rest of the
    run (devtools.test_scopes.scope_ends). An error stopping it is the teardown error of that last
    test, as it was of the session's last."""
    scope = scope_ends(item.nodeid, nextitem.nodeid if nextitem is not None else None)
    roots = item.config.stash.get(SCOPE_ROOT_FIXTURES, {}).pop(scope, set()) if scope else set()
    for fixturedef in roots:
        # `finish` takes the request only to name the node in an error; a no-op when not set up, and
        # the session's own teardown later finds it finished.
        fixturedef.finish(item._request)  # type: ignore[attr-defined]


# --- workers as local processes (media and browser tiers) ----------------------------------------


@pytest.fixture
def ingest_factory(tmp_path: Path) -> Iterator[Any]:
    """make(name="ingest", **config overrides): an ingest worker started on 127.0.0.1, stopped
    (by PID) after the test."""
    started: list[Ingest] = []

    def make(name: str = "ingest", **overrides: Any) -> Ingest:
        workdir = tmp_path / name
        workdir.mkdir()
        worker = Ingest(workdir, **overrides)
        started.append(worker)
        return worker.start()

    yield make
    for worker in started:
        worker.stop()


# --- the pod-network cluster, shared by the multinode tier and the installed-chart e2e suite --------


def host_network_state(namespace_prefix: str) -> dict[str, str]:
    """What the root namespace has (links, addresses, routes, firewall rules) and the named
    namespaces starting with `namespace_prefix` (a cluster's own: other tests' throwaway namespaces
    come and go meanwhile, each removed by its own test)."""

    def run(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout

    return {
        "links": run("ip", "-o", "link", "show"),
        "addresses": run("ip", "-o", "addr", "show"),
        "routes": run("ip", "route", "show", "table", "all"),
        "iptables": run("iptables-save"),
        "namespaces": "\n".join(n for n in netns.names() if n.startswith(namespace_prefix)),
    }


def mounts_mentioning(text: str) -> list[str]:
    """Mount points anywhere on the machine (any process's mount namespace) under `text`."""
    found = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                for line in (proc / "mountinfo").read_text().splitlines():
                    if text in line.split()[4]:
                        found.add(line.split()[4])
            except OSError:
                continue
    return sorted(found)


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """The pod-network cluster (devtools.cluster.local_cluster), started at its first use in the session.
    The session fails if the teardown leaves anything behind: processes, mounts, network
    namespaces, or any change to the host's interfaces, addresses, routes or firewall rules."""
    harness = LocalCluster(tmp_path_factory.mktemp("multinode"), nodes=2)
    before = host_network_state(harness.network.prefix)
    harness.start()
    print(f"\n# the cluster up: {harness.timings}")
    try:
        yield harness
    finally:
        began = time.monotonic()
        left = harness.stop()
        print(f"\n# the cluster stopped in {time.monotonic() - began:.1f}s")
        after = host_network_state(harness.network.prefix)
        changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
        left += [f"mount {m}" for m in mounts_mentioning(str(harness.dir))]
        assert not left, f"left behind after teardown: {left}"
        assert not changed, f"the host's network changed: {json.dumps(changed, indent=1)}"


SESSION_RELEASE = pytest.StashKey[Release]()


@pytest.fixture(scope="session")
def release(local_cluster: LocalCluster, pytestconfig: pytest.Config) -> Release:
    """streamops installed with the chart from the cluster's registry (operator in-cluster, workers
    on the pod network). Every node pulls the worker image meanwhile, as the import at the nodes' start
    used to put it there: a test's first worker Pod on a node is not timed against a 106 MiB pull.
    A test that changes it leaves it to be put back (Release.restore_later), before the next test
    that uses it: pytest_runtest_setup below."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # the pull beside the install: neither needs the other
        pulling = pool.submit(local_cluster.pull_images, [local_cluster.worker_image])
        release = Release(local_cluster).install()
        pulled = pulling.result()
    print(f"\n# installed in {release.install_seconds:.1f}s; the worker image pulled from the registry: {pulled}")
    pytestconfig.stash[SESSION_RELEASE] = release
    return release


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a test sets up its fixtures: the scope roots it may use are noted (for
    pytest_runtest_teardown), and the session's release is as installed if the test uses it, unless
    the test sets it itself (mark `sets_release`): a helm upgrade a test left to the next one
    (Release.restore_later) is then never run (devtools.test_scopes.RELEASE_CHAIN)."""
    _remember_scope_roots(item)
    release = item.config.stash.get(SESSION_RELEASE, None)
    if (
        release is not None
        and "release" in getattr(item, "fixturenames", ())
        and not item.get_closest_marker("sets_release")
    ):
        release.restore_if_due()


@pytest.fixture
def publishers() -> Iterator[list[Publisher]]:
    """Synthetic encoders a test starts (devtools.media.peers.Publisher), stopped by PID at its end."""
    started: list[Publisher] = []
    yield started
    for p in started:
        p.stop()
