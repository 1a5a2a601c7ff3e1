"""Certificates and kubeconfigs of the local clusters (openssl; a throwaway CA per state directory)."""

from __future__ import annotations

import base64
import fcntl
import ipaddress
import os
import secrets
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from devtools.ports import LOOPBACK

CLIENT = "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"


class PkiError(RuntimeError):
    pass


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PkiError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")


def _genkey(path: Path) -> None:
    # P-256, not RSA-2048: 4 ms of CPU instead of 230, for ≈120 keys a run (every cluster's PKI, every
    # test's CA and server); every peer here (Go, OpenSSL, GnuTLS, Chromium) speaks ECDSA.
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    path.chmod(0o600)


def self_signed(cert: Path, key: Path, address: str) -> None:
    """A P-256 key and a certificate signed by itself for the IP `address`, valid one day: a TLS peer
    that verifying clients must refuse (or trust by that file alone)."""
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
        "-subj", f"/CN={address}", "-addext", f"subjectAltName=IP:{address}", "-keyout", str(key), "-out", str(cert),
    )  # fmt: skip
    key.chmod(0o600)


def sign(pki: Path, name: str, subject: str, extensions: str, ca: str = "ca") -> None:
    """Key + certificate `name` signed by the CA `ca` in `pki` (ca.crt, ca.key by default), valid ten
    years (a throwaway cluster)."""
    key, csr, crt = pki / f"{name}.key", pki / f"{name}.csr", pki / f"{name}.crt"
    _genkey(key)
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    with tempfile.NamedTemporaryFile("w", suffix=".ext", dir=pki, delete=False) as ext:
        ext.write(extensions)
    try:
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(pki / f"{ca}.crt"), "-CAkey", str(pki / f"{ca}.key"),
            "-set_serial", f"0x{secrets.token_hex(16)}", "-days", "3650", "-sha256",
            "-extfile", ext.name, "-out", str(crt),
        )  # fmt: skip
    finally:
        os.unlink(ext.name)
        csr.unlink(missing_ok=True)


def ensure_leaves(pki: Path, leaves: dict[str, tuple[str, str]]) -> None:
    """Sign each leaf name -> (subject, extensions) that is missing its key or certificate. Under a
    lock: nodes starting in parallel share some leaves (kube-proxy's), and one must not read a key
    the other is still writing."""
    with open(pki / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name, (subject, ext) in leaves.items():
            if not (pki / f"{name}.crt").exists() or not (pki / f"{name}.key").exists():
                sign(pki, name, subject, ext)


def _self_signed_ca(pki: Path, name: str, common_name: str) -> None:
    _genkey(pki / f"{name}.key")
    _openssl(
        "req", "-x509", "-new", "-key", str(pki / f"{name}.key"), "-subj", f"/CN={common_name}",
        "-days", "3650", "-sha256",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign",
        "-out", str(pki / f"{name}.crt"),
    )  # fmt: skip


# The aggregation layer (kube-apiserver's --requestheader-* and --proxy-client-*): the API server
# proxies requests for an APIService (metrics.k8s.io) to the extension server with this client
# certificate, and the extension server believes the X-Remote-User/Group headers only from a client
# certificate signed by this CA with this name. A CA of its own, as kubeadm has it: a certificate of
# the cluster CA must not be able to speak for any user through an extension server.
FRONT_PROXY_CA = "front-proxy-ca"
FRONT_PROXY_CLIENT = "front-proxy-client"


def ensure_front_proxy(pki: Path) -> None:
    """The front proxy's CA and the API server's client certificate signed by it (when missing; a new
    CA re-signs the client certificate)."""
    with open(pki / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (pki / f"{FRONT_PROXY_CA}.crt").exists() or not (pki / f"{FRONT_PROXY_CA}.key").exists():
            _self_signed_ca(pki, FRONT_PROXY_CA, "streamops-local-front-proxy-ca")
            (pki / f"{FRONT_PROXY_CLIENT}.crt").unlink(missing_ok=True)
        if not (pki / f"{FRONT_PROXY_CLIENT}.crt").exists() or not (pki / f"{FRONT_PROXY_CLIENT}.key").exists():
            sign(pki, FRONT_PROXY_CLIENT, f"/CN={FRONT_PROXY_CLIENT}", CLIENT, ca=FRONT_PROXY_CA)


def ensure_pki(pki: Path, service_cidr: str, extra_ips: tuple[str, ...] = ()) -> None:
    """The control plane's CA, serving and client certificates and ServiceAccount key pair: create
    whatever is missing; a new CA invalidates every leaf, so those are redone too. `extra_ips`: more
    addresses the API server is reached at (the pod-network cluster's 10.241.0.2)."""
    pki.mkdir(parents=True, exist_ok=True)
    if not (pki / "ca.crt").exists() or not (pki / "ca.key").exists():
        for old in pki.glob("*"):
            old.unlink()
        _self_signed_ca(pki, "ca", "streamops-local-ca")
    service_ip = ipaddress.ip_network(service_cidr)[1]
    dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    dns.append("kubernetes.default.svc.cluster.local")
    sans = ",".join([f"IP:{LOOPBACK}", f"IP:{service_ip}", *(f"IP:{a}" for a in extra_ips), *(f"DNS:{d}" for d in dns)])
    # A state directory reused with other addresses (a single-node run, then a pod-network one):
    # the serving certificate is signed again for the new names.
    sans_file = pki / "apiserver.sans"
    if (sans_file.read_text() if sans_file.exists() else "") != sans:
        (pki / "apiserver.crt").unlink(missing_ok=True)
    ensure_leaves(
        pki,
        {
            "apiserver": (
                "/CN=kube-apiserver",
                f"keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName={sans}\n",
            ),
            "admin": ("/O=system:masters/CN=streamops-admin", CLIENT),
            "controller-manager": ("/CN=system:kube-controller-manager", CLIENT),
            # Lets the apiserver authenticate to a kubelet (logs/exec).
            "apiserver-kubelet-client": ("/O=system:masters/CN=kube-apiserver-kubelet-client", CLIENT),
        },
    )
    sans_file.write_text(sans)
    ensure_front_proxy(pki)
    if not (pki / "sa.key").exists() or not (pki / "sa.pub").exists():
        _genkey(pki / "sa.key")
        _openssl("pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, server: str, pki: Path, user: str, cert: str) -> None:
    """Self-contained kubeconfig (certs embedded), so it can be copied or mounted anywhere."""
    text = f"""apiVersion: v1
kind: Config
clusters:
- name: streamops-local
  cluster:
    server: {server}
    certificate-authority-data: {_b64(pki / "ca.crt")}
users:
- name: {user}
  user:
    client-certificate-data: {_b64(pki / f"{cert}.crt")}
    client-key-data: {_b64(pki / f"{cert}.key")}
contexts:
- name: streamops-local
  context:
    cluster: streamops-local
    user: {user}
current-context: streamops-local
"""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)


# --- certificates the media and cluster tests control (RTMPS ingest) --------------------------------


def new_ca(pki: Path, common_name: str) -> Path:
    """A throwaway CA (ca.crt, ca.key) in `pki`, valid two days; returns ca.crt."""
    pki.mkdir(parents=True, exist_ok=True)
    _genkey(pki / "ca.key")
    _openssl(
        "req", "-x509", "-new", "-key", str(pki / "ca.key"), "-subj", f"/CN={common_name}", "-days", "2", "-sha256",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign",
        "-out", str(pki / "ca.crt"),
    )  # fmt: skip
    return pki / "ca.crt"


def sign_server(
    pki: Path, name: str, hosts: tuple[str, ...], not_before: datetime, not_after: datetime
) -> tuple[Path, Path]:
    """`name`.crt and `name`.key in `pki`, a server certificate signed by pki's CA for `hosts` (IP
    or DNS names), valid from `not_before` to `not_after` (in the past for an expired one: that
    takes `openssl ca`, as `x509 -req` sets no start date in OpenSSL 3.0)."""
    key, csr, crt = pki / f"{name}.key", pki / f"{name}.csr", pki / f"{name}.crt"
    _genkey(key)
    _openssl("req", "-new", "-key", str(key), "-subj", f"/CN={hosts[0]}", "-out", str(csr))
    sans = ",".join(f"IP:{h}" if _is_ip(h) else f"DNS:{h}" for h in hosts)
    with tempfile.TemporaryDirectory(dir=pki) as db:
        (Path(db) / "index.txt").write_text("")
        (Path(db) / "serial").write_text(f"{secrets.token_hex(16)}\n")
        config = Path(db) / "ca.cnf"
        config.write_text(
            f"[ca]\ndefault_ca = leaf_ca\n[leaf_ca]\ndatabase = {db}/index.txt\nserial = {db}/serial\n"
            f"new_certs_dir = {db}\ndefault_md = sha256\n"
            "policy = policy\nunique_subject = no\nx509_extensions = leaf\n[policy]\ncommonName = supplied\n"
            "[leaf]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n"
            f"extendedKeyUsage = serverAuth\nsubjectAltName = {sans}\n"
        )
        when = "%Y%m%d%H%M%SZ"
        _openssl(
            "ca", "-batch", "-notext", "-config", str(config),
            "-cert", str(pki / "ca.crt"), "-keyfile", str(pki / "ca.key"), "-in", str(csr), "-out", str(crt),
            "-startdate", not_before.astimezone(UTC).strftime(when),
            "-enddate", not_after.astimezone(UTC).strftime(when),
        )  # fmt: skip
    csr.unlink()
    return crt, key


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
