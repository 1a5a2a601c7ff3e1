"""`streamops worker` (cli/worker.py): which workers import aiohttp, and that they import it without
the system's CA certificates (each in a fresh interpreter: the imports are what is measured)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import streamops
from streamops.cli.worker import NO_OPENSSL_HASHES, NO_TLS, NO_TLS_CLIENT, WORKERS


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


# asyncio as the recorder imports it (cli/worker.py import_asyncio), then what TLS that process has:
# asyncio's none (a connection asking for TLS fails loudly), `ssl` itself as before, verifying with
# the system's certificates (the bucket client's, boto3 through urllib3).
def test_the_recorder_imports_asyncio_without_ssl_and_ssl_still_verifies() -> None:
    script = (
        "import json, sys, socket\n"
        "from streamops.cli.worker import import_asyncio\n"
        "import_asyncio('record')\n"
        "import asyncio\n"
        "ssl_in = 'ssl' in sys.modules\n"
        "none = [m.ssl is None for m in (asyncio.base_events, asyncio.selector_events, asyncio.sslproto)]\n"
        "listener = socket.create_server(('127.0.0.1', 0))\n"
        "async def tls():\n"
        "    try:\n"
        "        await asyncio.open_connection('127.0.0.1', listener.getsockname()[1], ssl=True)\n"
        "    except RuntimeError as e:\n"
        "        return str(e)\n"
        "    return 'connected'\n"
        "refused = asyncio.run(tls())\n"
        "import ssl, urllib3.util.ssl_ as u\n"
        "cas = ssl.create_default_context().cert_store_stats()['x509_ca']\n"
        "print(json.dumps([ssl_in, none, refused, cas > 0, u.ssl is ssl]))\n"
    )
    env = dict(os.environ, SSL_CERT_FILE=ssl_default_file())
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    ssl_in, none, refused, verifies, urllib3_has_ssl = json.loads(out.stdout)
    assert not ssl_in and none == [True, True, True], "asyncio was imported with ssl"
    assert refused == "stdlib ssl module not available"
    assert verifies and urllib3_has_ssl, "ssl imported after asyncio is the whole module"


@pytest.mark.parametrize("role", sorted(set(WORKERS) - NO_TLS))
def test_the_other_roles_asyncio_is_left_to_import_as_it_does(role: str) -> None:
    script = (
        f"import sys\nfrom streamops.cli.worker import import_asyncio\nimport_asyncio({role!r})\n"
        "print('asyncio' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_the_roles_without_asyncio_tls_never_ask_it_for_tls() -> None:
    """What NO_TLS relies on (cli/worker.py): no module a role in it can run asks asyncio for TLS.
    The ingest (aiohttp, its uplink) is the one role left out; a worker that needs TLS from asyncio
    must leave NO_TLS."""
    assert set(WORKERS) - NO_TLS == {"ingest"}
    package = Path(streamops.__file__).parent
    sources = [p for folder in ("media", "contract") for p in (package / folder).rglob("*.py")]
    asking = sorted(
        str(p.relative_to(package))
        for p in sources
        if "ingest" not in p.relative_to(package).parts and re.search(r"\bssl=|start_tls|ssl_handshake", p.read_text())
    )
    assert asking == [], f"asyncio asked for TLS in {asking}: its role cannot be in NO_TLS"


# A role imported as it runs (cli/worker.py import_role), then what it hashes: with NO_OPENSSL_HASHES,
# hashlib and hmac are CPython's own and give OpenSSL's digests (this process's); the contract's HMAC
# (the overlay's switch token) made here verifies there and the other way round.
HASHES = """
import json, sys
from streamops.cli.worker import import_role
import_role(sys.argv[1])
import hashlib, hmac
from streamops.contract.overlay import switch_token, switch_token_valid
key, body = b"k" * 32, b'{"enabled": ["score"]}'
print(json.dumps({
    "hashlib": hashlib.sha256.__module__,
    "_hashlib_in": "_hashlib" in sys.modules,
    "digests": [hashlib.sha256(body).hexdigest(), hashlib.md5(body).hexdigest(),
                hmac.new(key, body, "sha256").hexdigest()],
    "made": switch_token(key, "cam", body, float(sys.argv[2])),
    "verified": switch_token_valid(key, "cam", body, sys.argv[3], float(sys.argv[2])),
}))
"""


@pytest.mark.parametrize("role", sorted(NO_OPENSSL_HASHES))
def test_a_role_without_openssl_hashes_as_openssl_does(role: str) -> None:
    import hashlib
    import hmac

    from streamops.contract.overlay import switch_token, switch_token_valid

    key, body, now = b"k" * 32, b'{"enabled": ["score"]}', 1_764_547_200.0
    token = switch_token(key, "cam", body, now)
    out = subprocess.run(
        [sys.executable, "-c", HASHES, role, str(now), token], capture_output=True, text=True, check=True, timeout=60
    )
    found = json.loads(out.stdout)
    assert found["hashlib"] == "_sha256" and not found["_hashlib_in"], "imported with OpenSSL's hashlib"
    assert found["digests"] == [
        hashlib.sha256(body).hexdigest(),
        hashlib.md5(body).hexdigest(),
        hmac.new(key, body, "sha256").hexdigest(),
    ]
    assert found["verified"] and switch_token_valid(key, "cam", body, found["made"], now)


@pytest.mark.parametrize("role", sorted(set(WORKERS) - NO_OPENSSL_HASHES))
def test_the_other_roles_hash_with_openssl(role: str) -> None:
    """The recorder and clipper MD5 every part they upload, botocore SHA-256s a payload it signs
    (CPython's SHA-256 ≈5× slower than OpenSSL's, docs/design/lean-workers.md): theirs stays OpenSSL's."""
    script = f"import sys\nfrom streamops.cli.worker import import_role\nimport_role({role!r})\nimport hashlib\n"
    script += "print(hashlib.sha256.__module__)\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "_hashlib"
