import os
import sys
from pathlib import Path

import pytest


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


# Timing-sensitive media tests first: the cluster and e2e session fixtures start control planes
# and a node that stay up until the end of the run and would otherwise share the 2 cores with them.
TIER_ORDER = ("unit", "chart", "media", "cluster", "e2e", "multinode")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    def tier(item: pytest.Item) -> int:
        parts = Path(str(item.path)).relative_to(Path(__file__).resolve().parent).parts
        return TIER_ORDER.index(parts[0]) if parts and parts[0] in TIER_ORDER else len(TIER_ORDER)

    items.sort(key=tier)  # stable: the order inside a tier is unchanged
