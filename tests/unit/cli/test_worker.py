"""`streamops worker` (cli/worker.py): which workers import aiohttp, and that they import it without
the system's CA certificates (each in a fresh interpreter: the imports are what is measured)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamops.cli.worker import NO_TLS_CLIENT, WORKERS


@pytest.mark.parametrize("worker", ["ingest", "record", "push"])
def test_only_the_workers_that_import_aiohttp_import_it_without_certificates(worker: str) -> None:
    """The trust-store trick is for a worker whose own modules import aiohttp (the ingest); run for
    the pusher it imported aiohttp into a process that never needs it (+6 MiB measured)."""
    script = f"import sys, {WORKERS[worker]}\nprint('aiohttp' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert (out.stdout.strip() == "True") == (worker in NO_TLS_CLIENT)
    assert "record" not in NO_TLS_CLIENT, "the recorder verifies its object storage"


def test_the_ingest_imports_aiohttp_without_the_system_certificates():
    """Its Python opens no verified TLS connection: aiohttp's import-time verified context holds
    no CA certificate (≈2 MiB less), and the environment FFmpeg inherits is as it was."""
    script = (
        "import os, ssl\n"
        "from streamops.cli.worker import import_aiohttp_without_system_certificates as lean\n"
        "lean()\n"
        "import aiohttp.connector as c\n"
        "print(c._SSL_CONTEXT_VERIFIED.cert_store_stats()['x509_ca'], os.environ.get('SSL_CERT_FILE'))\n"
        "print(ssl.create_default_context().cert_store_stats()['x509_ca'] > 0)\n"
    )
    ca_file = ssl_default_file()
    env = dict(os.environ, SSL_CERT_FILE=ca_file)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    lean_line, later_line = out.stdout.splitlines()
    assert lean_line == f"0 {ca_file}"
    assert later_line == "True", "contexts made later (and FFmpeg's environment) see the system's certificates"


def ssl_default_file() -> str:
    import ssl

    paths = ssl.get_default_verify_paths()
    for candidate in (os.environ.get("SSL_CERT_FILE"), paths.cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("no CA bundle on this machine (Debian's ca-certificates)")
