"""The RTMPS listener's certificate: loaded from the mounted kubernetes.io/tls Secret and loaded again
when the kubelet swaps its files, for new connections only (each handshake takes the current
context through the SNI callback; a live session is never touched). Never reads out or logs key
material: errors are OpenSSL's reasons, the certificate shows as its SHA-256 fingerprint.
Why: docs/design/rtmps.md ("Reload").
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

RELOAD_POLL_SECONDS = 2.0
HANDSHAKE_TIMEOUT_SECONDS = 10.0  # a client that connects and never says hello is dropped after this
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)

FileId = tuple[str, int, int, int, int]  # resolved path, device, inode, mtime (ns), size


@dataclass(frozen=True)
class Loaded:
    context: ssl.SSLContext
    fingerprint: str  # SHA-256 of the leaf certificate (DER), hex


def _identity(path: str) -> FileId:
    real = os.path.realpath(path)
    st = os.stat(real)
    return real, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


def _no_password() -> bytes:
    # An encrypted key would otherwise make OpenSSL prompt on the terminal; it fails instead.
    raise ValueError("the private key is encrypted (a kubernetes.io/tls Secret holds an unencrypted PEM key)")


def _tls_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def load(cert_file: str, key_file: str) -> Loaded:
    """A server context with the certificate chain and key (raises ssl.SSLError, OSError or
    ValueError with a reason, never with the key's content)."""
    context = _tls_context()
    context.load_cert_chain(cert_file, key_file, password=_no_password)
    leaf = _PEM_CERT.search(Path(cert_file).read_text(errors="replace"))
    if leaf is None:
        raise ValueError(f"{cert_file} holds no PEM certificate")
    fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(leaf.group(0))).hexdigest()
    return Loaded(context, fingerprint)


class CertificateReloader:
    """The current certificate of the RTMPS listener (None until one loads) and the last error."""

    def __init__(
        self, cert_file: str, key_file: str, log: logging.Logger, poll_seconds: float = RELOAD_POLL_SECONDS
    ) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.log = log
        self.poll_seconds = poll_seconds
        self.current: Loaded | None = None
        self.error: str | None = None
        self.reloads = 0  # certificates loaded after the first
        self._seen: tuple[FileId, FileId] | None = None  # the files the last attempt read

    @property
    def fingerprint(self) -> str | None:
        return self.current.fingerprint if self.current else None

    def server_context(self) -> ssl.SSLContext:
        """The listener's context: it picks the current certificate at every handshake."""
        context = _tls_context()
        context.sni_callback = self._pick
        return context

    def _pick(self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> int | None:
        if self.current is None:
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR  # no certificate (yet): the handshake fails
        connection.context = self.current.context
        return None

    def check(self) -> bool:
        """Load the files when they changed since the last attempt; True when a new certificate is
        now current. A failed load keeps the previous certificate."""
        try:
            before = (_identity(self.cert_file), _identity(self.key_file))
        except OSError as e:
            return self._failed(None, f"certificate files unreadable: {e.strerror or e}")
        if before == self._seen:
            return False
        # Read the resolved files: both from the same Secret version (one timestamped directory).
        cert, key = before[0][0], before[1][0]
        if os.path.dirname(cert) != os.path.dirname(key):
            return False  # caught between two symlink swaps: look again at the next poll
        try:
            loaded = load(cert, key)
        except (ssl.SSLError, OSError, ValueError) as e:
            return self._failed(before, f"cannot load the RTMPS certificate: {e}")
        self._seen = before
        if self.current is not None and loaded.fingerprint == self.current.fingerprint:
            self.current, self.error = loaded, None  # same certificate (e.g. the key file touched)
            return False
        first = self.current is None
        self.current, self.error = loaded, None
        self.reloads += 0 if first else 1
        self.log.info(
            "RTMPS certificate %s: sha256 %s", "loaded" if first else "reloaded for new connections", loaded.fingerprint
        )
        return True

    def _failed(self, seen: tuple[FileId, FileId] | None, error: str) -> bool:
        if error != self.error:
            keeping = " (new connections keep the previous certificate)" if self.current else ""
            self.log.error("%s%s", error, keeping)
        self._seen, self.error = seen, error[:512]
        return False

    async def watch(self) -> None:
        """Poll the files until cancelled."""
        while True:
            await asyncio.sleep(self.poll_seconds)
            self.check()
