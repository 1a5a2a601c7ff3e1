"""Hypothesis' settings for the unit tier's fuzz tests (test_*_fuzz.py: the parsers of untrusted
bytes, docs/design/test-harness.md "Fuzzing").

- max_examples: 100 examples per property (37 properties) run in 9-11 s on this 2-core machine
  while a CI run kept it busy (load 2.5-4.5), the budget being 15 s; 1,000 per property found
  nothing more (3.5 min).
- deadline: 5 s per example, a bound on time as much as a guard: the parsers answer in microseconds
  and the in-memory proxy in a few milliseconds, so only a parser gone quadratic (or stuck) comes
  near it. Not 1 s: CI runs the media tier beside this one on 2 cores, and a scheduling stall of a
  second there would read as a flaky deadline, not a finding.
- database=None: no example database; a failure is reproduced from what it prints instead (below).
  Hypothesis' other files (its caches of Unicode tables and of the tests' constants) go to
  ~/.cache/streamops-hypothesis, not .hypothesis/ in the checkout, unless HYPOTHESIS_STORAGE_DIRECTORY
  says where.
- derandomize=False, in CI too: each run tries inputs no run tried before, which is what a fuzzer is
  for; a fixed seed would replay the same examples forever. A failure is not flakiness: every
  property holds for all inputs, so a counterexample is a bug, and the report carries the shrunk
  input and an @reproduce_failure blob (print_blob) that replays it exactly, with no database.

STREAMOPS_HYPOTHESIS_PROFILE=fuzz-long runs many more examples, without the deadline, by hand.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "streamops-hypothesis")

settings.register_profile(
    "unit",
    max_examples=100,
    deadline=timedelta(seconds=5),
    database=None,
    derandomize=False,
    print_blob=True,
)
settings.register_profile("fuzz-long", settings.get_profile("unit"), max_examples=20_000, deadline=None)
settings.load_profile(os.environ.get("STREAMOPS_HYPOTHESIS_PROFILE", "unit"))
