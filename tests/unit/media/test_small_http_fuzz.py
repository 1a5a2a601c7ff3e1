"""Fuzzed: the workers' small HTTP face (media.small_http: the pusher's and the recorder's; anyone on
the pod network may send it bytes) and its worker credential check (contract.worker_credential):
a request is read within its bounds and not a byte past it, or refused; no route but the probes and
/metrics runs without the exact credential. Settings: tests/unit/conftest.py."""

from __future__ import annotations

import asyncio
import string
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from streamops.contract.http import HEALTH_PATH, METRICS_PATH, READY_PATH, STATUS_PATH
from streamops.contract.worker_credential import (
    OPEN_PATHS,
    CredentialCheck,
    authorized,
    bearer,
    generate_worker_credential,
    read_credential,
)
from streamops.media.small_http import MAX_BODY_BYTES, MAX_HEAD_BYTES, BadRequest, Reply, Request, answer, read_request

CREDENTIAL = generate_worker_credential().encode()
credentials = st.text(string.ascii_letters + string.digits + "_-!~", min_size=1, max_size=64).map(str.encode)
# A header value as each server hands it over: aiohttp decodes UTF-8 with surrogateescape, small_http latin-1.
raw_values = st.binary(max_size=80) | st.builds(lambda c: b"Bearer " + c, credentials)
presented = raw_values.map(lambda b: b.decode("utf-8", "surrogateescape")) | raw_values.map(
    lambda b: b.decode("latin-1")
)


@given(presented | st.none(), credentials | st.none())
def test_only_the_exact_bearer_is_authorized(value: str | None, credential: bytes | None) -> None:
    expected = value is not None and credential is not None and value == "Bearer " + credential.decode()
    assert authorized(value, credential) == expected


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the module's examples (a function-scoped tmp_path is not reset between them)."""
    return tmp_path_factory.mktemp("credential")


@given(
    st.binary(max_size=200)
    | st.builds(lambda c, pad: pad + c + pad, credentials, st.sampled_from([b"", b"\n", b" \t"]))
)
def test_a_credential_file_gives_printable_ascii_or_nothing(directory: Path, content: bytes) -> None:
    path = directory / "any"
    path.write_bytes(content)
    value = read_credential(str(path))
    if value is not None:
        assert value == content.strip() and all(0x21 <= b <= 0x7E for b in value)
        bearer(value)  # goes into a header as it is


lengths = st.sampled_from(
    ["0", "5", "+5", "-0", "1_0", " 5", "٥", "0x5", "5 5", "", str(MAX_BODY_BYTES + 1), "9" * 5000]
)
header_lines = st.one_of(
    st.builds(lambda v: f"Content-Length: {v}", lengths),
    st.builds(lambda v: f"Authorization: {v}", st.sampled_from([bearer(CREDENTIAL), "Bearer x", "", " Bearer  "])),
    st.sampled_from(["Transfer-Encoding: chunked", "Expect: 100-continue", "Connection: close", "X-A: b"]),
)
raw_lines = st.sampled_from(["no colon", ":", " : "]) | st.text(st.characters(max_codepoint=0xFF), max_size=30)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):  # near-valid: a request line and fields as clients write them, a length that may not be
        lines = [f"{draw(st.sampled_from(['GET', 'POST']))} /start HTTP/1.1", *draw(st.lists(header_lines, max_size=2))]
        lines.append(f"Content-Length: {draw(lengths)}")
    else:
        method = draw(st.sampled_from(["GET", "POST", "HEAD", "get", "", "GET GET"]))
        target = draw(st.sampled_from([STATUS_PATH, HEALTH_PATH, "/start?x=1", "/", "*", "/ /"]))
        version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2", "", "HTTP/1.1\r\n"]))
        lines = [f"{method} {target} {version}", *draw(st.lists(header_lines | raw_lines, max_size=5))]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    return head + draw(st.binary(max_size=20))


@given(requests() | st.binary(max_size=300))
@example(b"POST /start HTTP/1.1\r\nContent-Length: 1_0\r\n\r\n0123456789")  # int() took 1_0 as 10
@example(b"POST /start HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n")
def test_a_request_is_read_within_its_bounds_and_no_further_or_refused(data: bytes) -> None:
    async def scenario() -> tuple[Request | BaseException | None, bytes]:
        reader = asyncio.StreamReader(limit=MAX_HEAD_BYTES)
        reader.feed_data(data)
        reader.feed_eof()
        writer = Writer()
        try:
            request: Request | BaseException | None = await read_request(reader, writer)  # type: ignore[arg-type]
        except (BadRequest, asyncio.IncompleteReadError) as e:  # answered 400, the connection closed
            request = e
        return request, await reader.read()

    request, rest = asyncio.run(scenario())
    if request is None:
        assert not data.strip()
    if not isinstance(request, Request):
        return
    head, _, _ = data.partition(b"\r\n\r\n")
    assert len(head) + 4 <= MAX_HEAD_BYTES and len(request.body) <= MAX_BODY_BYTES
    assert data == head + b"\r\n\r\n" + request.body + rest, "not a byte of the next request read"
    fields = [line.partition(b":") for line in head.split(b"\r\n")[1:]]
    declared = [value.strip() for name, _, value in fields if name.strip().lower() == b"content-length"]
    if request.body or declared:
        assert declared[-1].isdigit(), "Content-Length is 1*DIGIT"
    assert " " not in request.method + request.path and "?" not in request.path


class Writer:
    def write(self, data: bytes) -> None:
        pass


async def ran(_: bytes) -> Reply:
    return Reply.text("ran")


ROUTES = {("GET", path): ran for path in (STATUS_PATH, HEALTH_PATH, READY_PATH, METRICS_PATH)} | {
    ("POST", "/start"): ran
}


@given(
    st.sampled_from(["GET", "HEAD", "POST", "PUT"]),
    st.sampled_from([*(p for _, p in ROUTES), "/nope"]) | st.text(max_size=10),
    st.none()
    | st.sampled_from([bearer(CREDENTIAL), bearer(CREDENTIAL) + " ", "Bearer", bearer(CREDENTIAL).lower()])
    | presented,
)
def test_no_route_but_the_probes_and_metrics_runs_without_the_credential(
    directory: Path, method: str, path: str, authorization: str | None
) -> None:
    file = directory / "credential"
    if not file.exists():
        file.write_bytes(CREDENTIAL + b"\n")  # as the Secret's file may end
    reply = asyncio.run(answer(ROUTES, Request(method, path, True, b"", authorization), CredentialCheck(str(file))))
    if reply.body == b"ran\n" or reply.body == b"ran":
        assert path in OPEN_PATHS or authorization == bearer(CREDENTIAL)
    elif (("GET" if method == "HEAD" else method), path) in ROUTES:
        assert reply.status == 401
