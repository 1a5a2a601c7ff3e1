"""RTMPS ingest with real FFmpeg: TLS terminated in the ingest's RTMP gate, the certificate read
from files laid out as the kubelet lays out a kubernetes.io/tls Secret volume, and reloaded when
the Secret changes (the kubelet's symlink swap) without cutting a live publisher.

FFmpeg (Debian's, GnuTLS) is the encoder: with `-tls_verify 1 -ca_file` it checks the chain, the
dates and the address, as an encoder that verifies does."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import ssl
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from devtools.http_client import http_get
from devtools.media.peers import Publisher, ffprobe_streams
from devtools.pki import new_ca, sign_server
from devtools.ports import free_port
from devtools.waits import wait_for

HOST = "127.0.0.1"
TS_SEGMENT = re.compile(r"^(\S+\.ts)$", re.M)


class SecretVolume:
    """A directory as the kubelet writes a Secret volume (its AtomicWriter): the data in a
    timestamped directory, `..data` pointing at it, each key a symlink through `..data`. An update
    writes a new directory and swaps `..data` in one rename, then removes the old directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir()
        self.version = 0

    def write(self, files: dict[str, bytes]) -> None:
        self.version += 1
        new = self.path / f"..{datetime.now(UTC):%Y_%m_%d_%H_%M_%S}.{self.version}"
        new.mkdir()
        for name, data in files.items():
            (new / name).write_bytes(data)
        data_link = self.path / "..data"
        old = data_link.resolve() if data_link.is_symlink() else None
        tmp = self.path / "..data_tmp"
        os.symlink(new.name, tmp)
        os.replace(tmp, data_link)  # the atomic swap
        for name in files:
            if not (self.path / name).is_symlink():
                os.symlink(f"..data/{name}", self.path / name)
        if old is not None:
            for f in old.iterdir():
                f.unlink()
            old.rmdir()

    def file(self, name: str) -> str:
        return str(self.path / name)


def fingerprint(cert: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert.read_text())).hexdigest()


def served_fingerprint(port: int) -> str:
    """SHA-256 of the certificate a new TLS connection gets (no verification: just what is served)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((HOST, port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    """CA `a` signs a valid certificate, a second valid one (the renewal) and an expired one; CA
    `other` is one the encoder trusts instead in the untrusted case."""
    now = datetime.now(UTC)
    ca = new_ca(tmp_path / "ca-a", "streamops test CA a")
    other = new_ca(tmp_path / "ca-other", "streamops test CA other")
    valid = sign_server(tmp_path / "ca-a", "server", (HOST, "localhost"), now - timedelta(hours=1), now + timedelta(1))
    renewed = sign_server(tmp_path / "ca-a", "renewed", (HOST,), now - timedelta(minutes=5), now + timedelta(1))
    expired = sign_server(tmp_path / "ca-a", "expired", (HOST,), now - timedelta(3), now - timedelta(2))
    return {
        "ca": ca,
        "other_ca": other,
        "crt": valid[0],
        "key": valid[1],
        "renewed_crt": renewed[0],
        "renewed_key": renewed[1],
        "expired_crt": expired[0],
        "expired_key": expired[1],
    }


def tls_files(pki: dict[str, Path], which: str = "") -> dict[str, bytes]:
    return {"tls.crt": pki[f"{which}crt"].read_bytes(), "tls.key": pki[f"{which}key"].read_bytes()}


@pytest.fixture
def rtmps_ingest(ingest_factory, pki, tmp_path):
    """An ingest taking rtmp and rtmps (same key, one publisher at a time) with pki's valid certificate."""
    volume = SecretVolume(tmp_path / "tls-secret")
    volume.write(tls_files(pki))
    ports = {"rtmp": free_port("tcp"), "rtmps": free_port("tcp"), "srt": free_port("udp"), "http": free_port("tcp")}
    ingest = ingest_factory(
        source={"push": {"protocols": ["rtmp", "rtmps"], "tls": {"secretName": "cam-tls"}}},
        ports=ports,
        tlsCertFile=volume.file("tls.crt"),
        tlsKeyFile=volume.file("tls.key"),
    )
    ingest.volume = volume
    return ingest


def verifying(ca: Path) -> list[str]:
    """FFmpeg output options of an encoder that verifies the server (chain, dates, address)."""
    return ["-tls_verify", "1", "-ca_file", str(ca)]


def assert_no_key_material(ingest, pki: dict[str, Path]) -> None:
    texts = ingest.logs() + json.dumps(ingest.status())
    assert ingest.KEY not in texts, "the stream key leaked"
    for key in ("key", "renewed_key", "expired_key"):
        body = "".join(pki[key].read_text().splitlines()[1:-1])[:64]
        assert body not in texts.replace("\n", ""), f"{key} leaked"


def test_rtmps_publish_goes_live_serves_hls_and_refuses_a_wrong_key(rtmps_ingest, pki):
    ingest = rtmps_ingest
    wait_for(lambda: http_get(f"{ingest.http}/readyz")[0] == 200, timeout=5)
    assert ingest.status()["tlsCertificateSha256"] == fingerprint(pki["crt"])
    assert served_fingerprint(ingest.ports["rtmps"]) == fingerprint(pki["crt"])

    wrong = Publisher(ingest.rtmps_url("not-the-key"), duration=3, output_args=verifying(pki["ca"])).start()
    assert wrong.wait(timeout=15) != 0, "a wrong key over rtmps is refused"
    assert not ingest.status()["live"] and ingest.status()["refusedPublishers"] == 1

    with Publisher(ingest.rtmps_url(), duration=40, output_args=verifying(pki["ca"])) as publisher:
        status = ingest.wait_live()
        assert status["source"] == "rtmp", "RTMPS reaches the same RTMP session as RTMP"
        assert status["sessions"][-1]["protocol"] == "rtmps", "its session history says how it came"
        wait_for(lambda: http_get(f"{ingest.http}/hls/cmaf/index.m3u8")[0] == 200, timeout=10)
        names = wait_for(lambda: TS_SEGMENT.findall(http_get(f"{ingest.http}/hls/ts/index.m3u8")[1].decode()))
        segment = ingest.workdir / "segment.ts"
        segment.write_bytes(http_get(f"{ingest.http}/hls/ts/{names[-1]}")[1])
        video = next(s for s in ffprobe_streams(str(segment)) if s["codec_type"] == "video")
        assert (video["codec_name"], video["width"], video["height"]) == ("h264", 1280, 720)
        # One publisher at a time across both: plain RTMP is refused while RTMPS is live.
        second = Publisher(ingest.rtmp_url(), duration=3).start()
        assert second.wait(timeout=15) != 0
        assert publisher.running
    assert_no_key_material(ingest, pki)


@pytest.mark.parametrize("case", ["untrusted", "expired"])
def test_an_encoder_that_verifies_refuses_an_untrusted_or_expired_certificate(rtmps_ingest, pki, case):
    ingest = rtmps_ingest
    trusted = pki["ca"]
    if case == "untrusted":
        trusted = pki["other_ca"]  # the server's certificate is from a CA the encoder does not trust
    else:
        ingest.volume.write(tls_files(pki, "expired_"))
        wait_for(lambda: ingest.status()["tlsCertificateSha256"] == fingerprint(pki["expired_crt"]), timeout=10)
    refused = Publisher(ingest.rtmps_url(), duration=5, output_args=verifying(trusted)).start()
    assert refused.wait(timeout=20) != 0, f"FFmpeg published to a server with an {case} certificate"
    # GnuTLS (Debian's FFmpeg) says "Peer certificate failed verification", OpenSSL "certificate verify failed".
    assert re.search(r"certificate (failed verification|verify failed)", refused.log_since_start()), refused.log_tail()
    assert not ingest.status()["live"]
    # The same encoder without verification gets through: the refusal was the certificate's.
    with Publisher(ingest.rtmps_url(), duration=20):
        ingest.wait_live()


def test_certificate_reload_keeps_the_live_publisher_and_serves_new_connections(rtmps_ingest, pki):
    ingest = rtmps_ingest
    before, after = fingerprint(pki["crt"]), fingerprint(pki["renewed_crt"])
    with Publisher(ingest.rtmps_url(), duration=60, output_args=verifying(pki["ca"])) as publisher:
        live = ingest.wait_live()
        started = live["startedAt"]
        ingest.volume.write(tls_files(pki, "renewed_"))  # cert-manager renewed: new key, new certificate
        wait_for(lambda: ingest.status()["tlsCertificateSha256"] == after, timeout=10)
        assert served_fingerprint(ingest.ports["rtmps"]) == after, "a new connection gets the new certificate"
        # The live publisher was not cut: same session, media still flowing for a while after.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            status = ingest.status()
            assert status["live"] and status["startedAt"] == started, status
            time.sleep(0.5)
        assert publisher.running
        assert "reloaded for new connections" in ingest.logs()
    wait_for(lambda: not ingest.status()["live"], timeout=10)
    # The next publisher verifies the renewed certificate (same CA) and goes live.
    with Publisher(ingest.rtmps_url(), duration=20, output_args=verifying(pki["ca"])):
        assert ingest.wait_live()["startedAt"] != started
    assert served_fingerprint(ingest.ports["rtmps"]) == after != before
    assert_no_key_material(ingest, pki)


def test_a_broken_renewal_keeps_the_previous_certificate(rtmps_ingest, pki):
    """A key that does not match its certificate (a half-written Secret) is refused with a reason in
    /status; new connections keep the certificate that works."""
    ingest = rtmps_ingest
    good = fingerprint(pki["crt"])
    # The front says `listening` just before its first load: a previous certificate must be in use
    # before the broken one is written (ci13 wrote it first, under load 7: no certificate to keep).
    wait_for(lambda: ingest.status()["tlsCertificateSha256"] == good, timeout=10)
    ingest.volume.write({"tls.crt": pki["renewed_crt"].read_bytes(), "tls.key": pki["key"].read_bytes()})
    error = wait_for(lambda: ingest.status()["tlsError"], timeout=10)
    assert "cannot load the RTMPS certificate" in error
    assert ingest.status()["tlsCertificateSha256"] == good
    assert served_fingerprint(ingest.ports["rtmps"]) == good
    ingest.volume.write(tls_files(pki, "renewed_"))
    wait_for(lambda: ingest.status()["tlsError"] is None, timeout=10)
    assert ingest.status()["tlsCertificateSha256"] == fingerprint(pki["renewed_crt"])
    assert_no_key_material(ingest, pki)
