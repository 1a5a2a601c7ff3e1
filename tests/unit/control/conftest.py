"""The fake API server most reconcile tests run against (a module that needs a bare FakeKubeApi, or
one seeded, defines its own `api`)."""

from __future__ import annotations

import pytest
from devtools.fake_kube import FakeKubeApi, operator_view


@pytest.fixture
def api() -> FakeKubeApi:
    return operator_view()
