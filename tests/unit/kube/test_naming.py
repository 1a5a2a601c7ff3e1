"""Names of children and label values (kube/naming.py): valid and within Kubernetes' limits."""

from __future__ import annotations

import re

from streamops.kube.naming import child_name, label_value


def test_child_names_are_valid_service_names():
    dns1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
    for owner in ["cam", "9news", "a" * 80, "x.y.z", "long-" * 40]:
        name = child_name(owner, "ingest-backup")
        assert dns1035.match(name) and len(name) <= 63, name
    assert child_name("a" * 80, "ingest") != child_name("a" * 81, "ingest")
    assert len(label_value("b" * 200)) <= 63
