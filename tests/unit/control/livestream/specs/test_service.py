"""The ingest Service (specs/service.py): which Pod it selects, its ports and their fixed nodePorts."""

from __future__ import annotations

from functools import partial

from devtools.catalog import stored_livestream
from streamops.control.livestream.plan import in_slot
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.specs.service import ingest_service
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.handover_marks import SERVING_LABEL

SETTINGS = OperatorSettings()


stream = partial(stored_livestream, uid="uid-1", generation=1)


def test_service_selects_its_pod_only():
    primary = ingest_service(stream(source={"push": {"backup": True}}), "primary", SETTINGS)
    backup = ingest_service(stream(source={"push": {"backup": True}}), "backup", SETTINGS)
    built = ingest_pod(stream(source={"push": {"backup": True}}), "backup", SETTINGS)
    pod = in_slot(built, built["metadata"]["name"], serving=True)
    assert backup["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert not primary["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    # A handover's successor is not selected until it is labelled serving.
    successor = in_slot(built, "s-ingest-backup-b", serving=False)
    assert not backup["spec"]["selector"].items() <= successor["metadata"]["labels"].items()
    assert backup["spec"]["selector"][SERVING_LABEL] == "true"
    assert [p["port"] for p in primary["spec"]["ports"]] == [8080, 1935, 9998, 8189, 8190]
    assert [p["port"] for p in backup["spec"]["ports"]] == [8080, 1935, 9998]


def test_service_carries_both_media_ports_and_their_fixed_node_ports():
    s = stream(ingest={"service": {"type": "NodePort", "nodePorts": {"webrtcUdp": 31189, "webrtcTcp": 31190}}})
    ports = {p["name"]: p for p in ingest_service(s, "primary", SETTINGS)["spec"]["ports"]}
    assert ports["webrtc-udp"] == {
        "name": "webrtc-udp",
        "port": 8189,
        "targetPort": "webrtc-udp",
        "protocol": "UDP",
        "nodePort": 31189,
    }
    assert ports["webrtc-tcp"]["protocol"] == "TCP" and ports["webrtc-tcp"]["nodePort"] == 31190
