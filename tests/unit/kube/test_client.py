"""The operator's own API client trusts the cluster's CA alone when the login gives one (as kopf's
session does), the system's store only without one; an insecure login checks nothing."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import certifi
import kopf
from streamops.kube.client import ssl_context

SERVER = "https://127.0.0.1:6443"


def one_ca() -> str:
    """A CA certificate in PEM (the first of certifi's bundle: any will do)."""
    bundle = Path(certifi.where()).read_text()
    end = "-----END CERTIFICATE-----"
    start = bundle.index("-----BEGIN CERTIFICATE-----")
    return bundle[start : bundle.index(end, start) + len(end)] + "\n"


def test_the_clusters_ca_alone_is_trusted_when_given(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text(one_ca())
    by_path = ssl_context(kopf.ConnectionInfo(server=SERVER, ca_path=str(ca)))
    by_data = ssl_context(kopf.ConnectionInfo(server=SERVER, ca_data=base64.b64encode(one_ca().encode())))
    for context in (by_path, by_data):
        assert context.cert_store_stats()["x509_ca"] == 1
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_without_a_ca_the_system_store_and_insecure_checks_nothing() -> None:
    system = ssl_context(kopf.ConnectionInfo(server=SERVER))
    assert system.cert_store_stats() == ssl.create_default_context().cert_store_stats()
    insecure = ssl_context(kopf.ConnectionInfo(server=SERVER, insecure=True))
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname
