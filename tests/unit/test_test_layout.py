"""The test tree itself: tests/ has no packages, so pytest (rootdir-relative imports) refuses two
test modules with the same file name in different tiers; catch that here with a clear message."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_names_are_unique_across_tiers() -> None:
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    clashes = sorted(name for name, n in names.items() if n > 1)
    assert not clashes, f"rename so each test module name is unique under tests/: {clashes}"
