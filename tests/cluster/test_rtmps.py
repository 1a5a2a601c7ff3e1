"""RTMPS on a real API server: a LiveStream with rtmps waits (Stalled, a reason that names the
Secret) until its kubernetes.io/tls Secret exists, then gets an ingest Pod with the Secret mounted,
the rtmps port on its Service, and status.ingest.pushUrlRtmps.
Nothing of the private key reaches status, Events or the operator's log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from devtools.catalog import livestream
from devtools.cluster.kubectl import condition
from devtools.pki import new_ca, sign_server
from devtools.waits import eventually

RTMPS = {"push": {"protocols": ["rtmp", "rtmps"], "tls": {"secretName": "cam-tls"}}}


def stalled_reason(cluster, ns):
    s = cluster.get("livestreams", ns, "cam")
    c = condition(s, "Stalled") if s else None
    return c["reason"] if c and c["status"] == "True" else None


def test_rtmps_stream_waits_for_its_certificate_then_mounts_it(cluster, operator, namespace, tmp_path):
    cluster.apply(namespace, livestream("cam", source=RTMPS))
    eventually(lambda: stalled_reason(cluster, namespace) == "TLSSecretNotFound", what="Stalled TLSSecretNotFound")
    stream = cluster.get("livestreams", namespace, "cam")
    assert "cam-tls" in condition(stream, "Stalled")["message"]
    assert condition(stream, "Ready")["status"] == "False"
    assert cluster.get("pods", namespace, "cam-ingest") is None
    # The suite's operator runs workers on the host network: the ports are an allocation, the URLs
    # the worker address's (exposure.py); pushUrlRtmps follows the same rule as pushUrl.
    service = cluster.get("services", namespace, "cam-ingest")
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert ports.keys() == {"http", "rtmp", "rtmps", "webrtc-udp", "webrtc-tcp"} and ports["rtmps"] != ports["rtmp"]
    ingest = stream["status"]["ingest"]
    host = ingest["pushUrl"].removeprefix("rtmp://").split(":")[0]
    assert ingest["pushUrl"] == f"rtmp://{host}:{ports['rtmp']}/live"
    assert ingest["pushUrlRtmps"] == f"rtmps://{host}:{ports['rtmps']}/live"

    # What cert-manager writes: a kubernetes.io/tls Secret with tls.crt and tls.key.
    now = datetime.now(UTC)
    new_ca(tmp_path / "ca", "cluster test CA")
    host = f"cam-ingest.{namespace}.svc"
    crt, key = sign_server(tmp_path / "ca", "cam", (host,), now - timedelta(hours=1), now + timedelta(days=1))
    tls = {"tls.crt": crt.read_text(), "tls.key": key.read_text()}
    cluster.create_secret(namespace, "cam-tls", tls, "kubernetes.io/tls")
    cluster.allow_reference(namespace, "cam-tls")
    pod = eventually(lambda: cluster.get("pods", namespace, "cam-ingest"), timeout=40, what="the ingest Pod")
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "rtmps-tls")
    assert volume["secret"]["secretName"] == "cam-tls"
    assert {i["key"] for i in volume["secret"]["items"]} == {"tls.crt", "tls.key"}
    container = pod["spec"]["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "rtmps-tls")
    assert mount["readOnly"] is True and mount["mountPath"] == "/var/run/secrets/streamops/rtmps"
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["rtmps"] == ports["rtmps"]
    config = json.loads(container["env"][0]["value"])
    assert config["ports"]["rtmps"] == ports["rtmps"] and config["tlsCertFile"].endswith("/tls.crt")
    eventually(lambda: stalled_reason(cluster, namespace) is None, what="Stalled gone once the Secret exists")

    stream = cluster.get("livestreams", namespace, "cam")
    events = json.dumps(cluster.list("events", namespace))
    key_body = "".join(key.read_text().splitlines()[1:-1])
    for where, text in [("status", json.dumps(stream["status"])), ("events", events), ("log", operator.logs())]:
        assert key_body[:64] not in text.replace("\n", "").replace("\\n", ""), f"the private key leaked into {where}"

    # Behind a LoadBalancer RTMPS is on 443 (the worker's own port behind it): the URL says so.
    cluster.patch("lst", namespace, "cam", {"spec": {"ingest": {"service": {"type": "LoadBalancer"}}}})
    service = eventually(
        lambda: (v := cluster.get("services", namespace, "cam-ingest")) and v["spec"]["type"] == "LoadBalancer" and v,
        what="LoadBalancer Service",
    )
    rtmps = next(p for p in service["spec"]["ports"] if p["name"] == "rtmps")
    assert (rtmps["port"], rtmps["targetPort"]) == (443, "rtmps")
    cluster.core.patch_namespaced_service_status(
        "cam-ingest", namespace, {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.9"}]}}},
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    url = eventually(
        lambda: (
            (s := cluster.get("livestreams", namespace, "cam")["status"]["ingest"])["exposure"] == "LoadBalancer"
            and s["pushUrlRtmps"]
        ),
        what="the load balancer's RTMPS URL",
    )
    assert url == "rtmps://198.51.100.9:443/live"


def test_a_secret_without_the_tls_keys_says_so(cluster, operator, namespace):
    cluster.create_secret(namespace, "cam-tls", {"tls.crt": "x"})
    cluster.allow_reference(namespace, "cam-tls")
    cluster.apply(namespace, livestream("cam", source=RTMPS))
    eventually(lambda: stalled_reason(cluster, namespace) == "TLSSecretInvalid", what="Stalled TLSSecretInvalid")
    message = condition(cluster.get("livestreams", namespace, "cam"), "Stalled")["message"]
    assert "has no tls.key" in message and "kubernetes.io/tls" in message
    assert cluster.get("pods", namespace, "cam-ingest") is None
