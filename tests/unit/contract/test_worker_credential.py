"""The stream's worker credential (contract/worker_credential.py): compared in constant time,
read from its mounted file at every use, refused when absent or unusable; and the operator's
cache of it (control/workers/worker_credentials.py)."""

from __future__ import annotations

import _operator
import asyncio
import base64
import hmac
from pathlib import Path

import pytest
from streamops.contract import worker_credential
from streamops.contract.worker_credential import (
    AUTHORIZATION,
    CredentialCheck,
    authorized,
    bearer,
    generate_worker_credential,
    read_credential,
)
from streamops.control.workers.worker_credentials import WorkerCredentials, credential_of


def test_the_check_is_the_constant_time_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Constant time: the comparison is `_operator._compare_digest` (never ==, which stops at the
    first differing byte), on the whole header value: the C function hmac.compare_digest is when
    Python has no OpenSSL, here without `hmac`, whose import maps libcrypto (the standby recorder's
    RSS, docs/design/lean-workers.md)."""
    assert worker_credential._compare_digest is _operator._compare_digest
    calls: list[tuple[bytes, bytes]] = []
    compare = _operator._compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(worker_credential, "_compare_digest", spy)
    assert authorized("Bearer abc", b"abc")
    assert not authorized("Bearer abd", b"abc")
    assert calls == [(b"Bearer abc", b"Bearer abc"), (b"Bearer abd", b"Bearer abc")]


@pytest.mark.parametrize(("a", "b"), [(b"Bearer abc", b"Bearer abc"), (b"Bearer abd", b"Bearer abc"), (b"", b"x")])
def test_the_compare_agrees_with_hmac(a: bytes, b: bytes) -> None:
    assert _operator._compare_digest(a, b) == hmac.compare_digest(a, b) == (a == b)


@pytest.mark.parametrize("presented", [None, "", "abc", "Bearer", "Bearer ", "bearer abc", "Bearer abc ", "Basic abc"])
def test_anything_but_the_bearer_header_is_refused(presented: str | None) -> None:
    assert not authorized(presented, b"abc")


def test_no_credential_configured_refuses_everything_but_the_open_paths(tmp_path: Path) -> None:
    check = CredentialCheck(None)
    assert not check.allows("/stop", "Bearer ")
    assert not check.allows("/status", "Bearer None")
    assert all(check.allows(path, None) for path in ("/healthz", "/readyz", "/metrics"))
    assert check.header() == {}
    assert not CredentialCheck(str(tmp_path / "absent")).allows("/stop", "Bearer x")


@pytest.mark.parametrize("text", [b"", b"\n", b"two words", b"caf\xc3\xa9", b"ctl\x01"])
def test_an_unusable_file_is_no_credential(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "credential"
    path.write_bytes(text)
    assert read_credential(str(path)) is None
    assert not CredentialCheck(str(path)).allows("/stop", "Bearer " + text.decode(errors="replace").strip())


def test_the_file_is_read_at_every_check(tmp_path: Path) -> None:
    """A re-created Secret reaches a running worker through its mount: the next check sees it."""
    path = tmp_path / "credential"
    path.write_text("first\n")
    check = CredentialCheck(str(path))
    assert check.allows("/stop", "Bearer first") and check.header() == {AUTHORIZATION: "Bearer first"}
    path.write_text("second")
    assert not check.allows("/stop", "Bearer first") and check.allows("/stop", "Bearer second")


def test_a_generated_credential_is_256_random_bits_of_header_safe_text() -> None:
    values = {generate_worker_credential() for _ in range(50)}
    assert len(values) == 50
    for value in values:
        assert len(value) == 43 and value.isascii() and value.replace("-", "").replace("_", "").isalnum()
        assert authorized(bearer(value.encode()), value.encode())


def test_the_operator_reads_the_secret_once_and_again_after_a_refusal() -> None:
    secret = {"data": {"credential": base64.b64encode(b"v1\n").decode()}}
    assert credential_of(secret) == b"v1" and credential_of(None) is None and credential_of({"data": {}}) is None
    reads: list[tuple[str, str]] = []
    values = [b"v1", b"v2"]

    async def read(namespace: str, stream: str) -> bytes | None:
        reads.append((namespace, stream))
        return values[len(reads) - 1] if len(reads) <= len(values) else None

    async def main() -> None:
        credentials = WorkerCredentials(read)
        for _ in range(3):
            assert await credentials.headers("ns", "cam") == {AUTHORIZATION: "Bearer v1"}
        assert reads == [("ns", "cam")], "one API read for any number of worker requests"
        credentials.refused("ns", "cam")
        assert await credentials.headers("ns", "cam") == {AUTHORIZATION: "Bearer v2"}
        credentials.refused("ns", "cam")
        assert await credentials.headers("ns", "cam") == {}, "none: nothing presented"
        assert await credentials.headers("ns", "cam") == {}
        assert len(reads) == 3, "a missing Secret is not read again at every request"

    asyncio.run(main())
