"""RTMPS with a certificate from cert-manager (issue 38), on the 2-node cluster with the chart installed and
cert-manager running (devtools.cluster.cert_manager): a Certificate of the namespace's CA Issuer writes the
kubernetes.io/tls Secret the LiveStream names; an encoder on the LAN verifying that CA publishes; the
Certificate is renewed (a new key) while it is live: the next TLS handshakes get the new certificate,
the publisher is not cut (same session, live throughout, HLS still advancing). docs/design/rtmps.md,
"With cert-manager" and "Reload".
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from devtools.catalog import livestream
from devtools.cluster.cert_manager import CertManager
from devtools.cluster.kubectl import condition
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import Release
from devtools.media.hls import media_playlist
from devtools.media.peers import Publisher
from devtools.waits import eventually

from devtools import netns

pytestmark = pytest.mark.timeout(600)

SECRET = "cam-tls"
ALLOW_REFERENCE = "streaming.streamops.dev/allow-reference"  # docs/design/tenancy.md


def certificate(namespace: str, addresses: list[str]) -> dict[str, Any]:
    """The Certificate a user writes for RTMPS on NodePorts: the nodes' addresses (what pushUrlRtmps
    names), from the namespace's CA Issuer, a new key at every issuance, and the label that lets the
    namespace's streams reference the Secret it writes."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "cam", "namespace": namespace},
        "spec": {
            "secretName": SECRET,
            "secretTemplate": {"labels": {ALLOW_REFERENCE: "true"}},
            "ipAddresses": addresses,
            "duration": "2h",
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "usages": ["server auth", "digital signature"],
            "issuerRef": {"group": "cert-manager.io", "kind": "Issuer", "name": "ca"},
        },
    }


def served_certificate(cluster: LocalCluster, host: str, port: int, ca: Path) -> bytes:
    """The certificate (DER) a new TLS handshake from the LAN gets, verified against `ca` for the
    address it was dialled at (what an encoder with -tls_verify 1 checks)."""
    context = ssl.create_default_context(cafile=str(ca))
    # (entered in order: the socket is made inside the LAN's namespace)
    with (
        netns.entered(cluster.network.outside),
        socket.create_connection((host, port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der
    return der


def fingerprint(pem_or_der: str | bytes) -> str:
    der = ssl.PEM_cert_to_DER_cert(pem_or_der) if isinstance(pem_or_der, str) else pem_or_der
    return hashlib.sha256(der).hexdigest()


def test_rtmps_with_a_cert_manager_certificate_renewed_under_a_live_publisher(
    cluster: LocalCluster,
    release: Release,
    cert_manager: CertManager,
    namespace: str,
    publishers: list[Publisher],
    tmp_path: Path,
) -> None:
    ns = namespace
    node_ips = [n.ip for n in cluster.network.nodes]
    cert_manager.apply_namespace_ca(ns)
    issued_began = time.monotonic()
    cluster.apply(ns, certificate(ns, node_ips))
    cert_manager.wait_issued(ns, "cam", revision=1)
    print(f"\nCertificate applied -> Secret issued: {time.monotonic() - issued_began:.1f}s")
    secret = cluster.get("secrets", ns, SECRET)
    assert secret and secret["type"] == "kubernetes.io/tls", secret
    assert secret["metadata"]["labels"].get(ALLOW_REFERENCE) == "true", secret["metadata"]
    ca = tmp_path / "ca.crt"
    ca.write_text(cert_manager.secret_pem(ns, SECRET, "ca.crt"))
    first = cert_manager.secret_pem(ns, SECRET)

    push = {"protocols": ["rtmp", "rtmps"], "tls": {"secretName": SECRET}}
    cluster.apply(ns, livestream("cam", source={"push": push}))
    stream = cluster.wait_status(
        "lst", ns, "cam",
        lambda o: (o["status"].get("ingest") or {}).get("pushUrlRtmps", "").startswith(f"rtmps://{node_ips[0]}:")
        and condition(o, "Ready")["status"] == "True",  # type: ignore[index]
        "Ready with an rtmps URL on the LAN", timeout=120,
    )  # fmt: skip
    server = stream["status"]["ingest"]["pushUrlRtmps"]
    host, port = urlsplit(server).hostname, urlsplit(server).port
    assert host and port
    encoder = cluster.publish_from_lan(
        f"{server}/{cluster.stream_key(ns, 'cam')}", publishers, ("-tls_verify", "1", "-ca_file", str(ca))
    )
    live = cluster.wait_status("lst", ns, "cam", lambda o: o["status"].get("live"), "live over RTMPS", 30)
    started = live["status"]["startedAtPrimary"]
    assert fingerprint(served_certificate(cluster, host, port, ca)) == fingerprint(first)
    playlist = stream["status"]["playback"]["hlsCmafUrl"]
    eventually(lambda: media_playlist(playlist, cluster.lan_get)[1], timeout=30, what="HLS from the LAN")

    # cert-manager renews (as `cmctl renew`): a new key and certificate in the same Secret.
    renewed_at = time.monotonic()
    cert_manager.renew(ns, "cam")
    cert_manager.wait_issued(ns, "cam", revision=2)
    second = cert_manager.secret_pem(ns, SECRET)
    assert fingerprint(second) != fingerprint(first)
    assert cert_manager.secret_pem(ns, SECRET, "tls.key") != "", "the Secret lost its key"
    print(f"renew -> revision 2 issued: {time.monotonic() - renewed_at:.1f}s")

    # New handshakes get the new certificate once the kubelet has written the Secret's new version
    # into the ingest's volume and the RTMP front has seen it (its 2 s poll); meanwhile the publisher
    # stays live: every look at the stream on the way finds it live, in the same session.
    looks: list[bool] = []

    def serving_the_new_one() -> bool:
        obj = cluster.get("lst", ns, "cam") or {}
        looks.append(bool((obj.get("status") or {}).get("live")))
        return fingerprint(served_certificate(cluster, host, port, ca)) == fingerprint(second)

    eventually(serving_the_new_one, timeout=150, interval=2, what="the renewed certificate served to new handshakes")
    print(f"renew -> new handshakes get the new certificate: {time.monotonic() - renewed_at:.1f}s")
    assert all(looks), f"the stream was not live at every look during the renewal: {looks}"
    assert encoder.running, f"the publisher was cut:\n{encoder.log_tail()}"
    after = cluster.get("lst", ns, "cam") or {}
    assert after["status"].get("live") and after["status"]["startedAtPrimary"] == started, after["status"]
    before = media_playlist(playlist, cluster.lan_get)[1]
    eventually(
        lambda: (segments := media_playlist(playlist, cluster.lan_get)[1]) and segments[-1] not in before,
        timeout=20, interval=0.5, what="HLS still advancing after the renewal",
    )  # fmt: skip
