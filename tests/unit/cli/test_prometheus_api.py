"""Where `stats` finds Prometheus and how it asks it (cli/prometheus_api.py): the URL from the flag, the
environment or the kubeconfig context, what is refused, and the HTTP client against a local stand-in
Prometheus (its token, timeouts, size bound, redirects, errors)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.prometheus_stand_in import StandIn, success
from streamops.cli.command_error import CommandError
from streamops.cli.prometheus_api import EXTENSION, PrometheusApi, Source, configured


def matrix(values: dict[int, float | str]) -> list[dict[str, Any]]:
    return [{"metric": {}, "values": [[t, str(v)] for t, v in sorted(values.items())]}]


# ------------------------------------------------------------------------- where the URL comes from


def kubeconfig(tmp_path: Path, extension: dict[str, Any] | None, name: str = "config") -> Path:
    context: dict[str, Any] = {"cluster": "c", "user": "u"}
    if extension is not None:
        context["extensions"] = [{"name": "other.example.com", "extension": {"url": "http://wrong"}},
                                 {"name": EXTENSION, "extension": extension}]  # fmt: skip
    path = tmp_path / name
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "kube-token"}}],
                "contexts": [
                    {"name": "dev", "context": {"cluster": "c", "user": "u"}},
                    {"name": "prod", "context": context},
                ],
                "current-context": "prod",
            }
        )
    )
    return path


def test_the_url_from_the_flag_then_the_environment_then_the_kubeconfig_context(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    config = kubeconfig(tmp_path, {"url": "https://prom.example.com/prometheus/", "tokenFile": str(token)})
    # A merged $KUBECONFIG: the first current-context wins, and the first definition of that context.
    first = tmp_path / "first"
    first.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", "contexts": []}))
    env = {"KUBECONFIG": f"{first}:{config}"}
    assert configured(None, None, env) == Source(
        "https://prom.example.com/prometheus", "s3cret", f"kubeconfig context prod's extension {EXTENSION}"
    )
    with_env = {**env, "STREAMOPS_PROMETHEUS_URL": "http://127.0.0.1:9090"}
    # Its token goes to its own URL only: not to the one from the environment or the flag.
    assert configured(None, None, with_env) == Source("http://127.0.0.1:9090", None, "$STREAMOPS_PROMETHEUS_URL")
    assert configured("http://localhost:9091", None, with_env) == Source("http://localhost:9091", None, "--prometheus")
    assert configured("http://[::1]:9", str(token), env) == Source("http://[::1]:9", "s3cret", "--prometheus")
    assert configured(None, None, {"KUBECONFIG": str(kubeconfig(tmp_path, None, "plain"))}) is None
    assert configured(None, None, {"KUBECONFIG": str(tmp_path / "absent")}) is None


@pytest.mark.parametrize(
    ("url", "token", "says"),
    [
        ("file:///etc/passwd", None, "only http:// and https://"),
        ("gopher://x", None, "only http:// and https://"),
        ("http://admin:pw@prom:9090", None, "no credentials in the URL"),
        ("http://prom:9090/?x=1", None, r"without \?query"),
        ("http://:9090", None, "names no host"),
        ("http://prom:port", None, "is not a URL"),
        ("http://prom.example.com:9090", "t", "a bearer token is sent over https only"),
    ],
)
def test_urls_and_tokens_refused(url: str, token: str | None, says: str) -> None:
    with pytest.raises(CommandError, match=says) as refused:
        configured(url, None, {"STREAMOPS_PROMETHEUS_TOKEN": token} if token else {})
    assert "pw" not in str(refused.value)


def test_a_token_file_that_cannot_serve(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read the token file"):
        configured("https://p", str(tmp_path / "none"), {})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(CommandError, match="is empty"):
        configured("https://p", str(tmp_path / "empty"), {})
    with pytest.raises(CommandError, match="without a Prometheus URL"):
        configured(None, str(tmp_path / "empty"), {"KUBECONFIG": str(tmp_path / "absent")})


# ------------------------------------------------------------------------------- a stand-in Prometheus


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    with StandIn() as server:
        yield server


def test_the_client_asks_query_range_with_its_token_and_a_timeout(stand_in: StandIn) -> None:
    stand_in.answer = lambda q: (200, success(matrix({100: 1})), {})
    api = PrometheusApi(Source(stand_in.url + "/prefix", "s3cret", "--prometheus"))
    assert api.query_range("up", 40, 100, 60) == matrix({100: 1})
    path, authorization = stand_in.seen[0]
    assert path.startswith("/prefix/api/v1/query_range?") and authorization == "Bearer s3cret"
    asked = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
    assert asked == {"query": "up", "start": "40", "end": "100", "step": "60s", "timeout": "15s"}


@pytest.mark.parametrize(
    ("status", "body", "headers", "says"),
    [
        (400, b'{"status":"error","errorType":"bad_data","error":"parse error at char 3"}', {},
         r"refused the query \(400 bad_data\): parse error at char 3"),
        (401, b"Unauthorized", {}, "answered 401: a bearer token was refused"),
        (200, b"<html>Grafana</html>", {}, "is it the base URL of a Prometheus"),
        (302, b"", {"Location": "https://login.example.com/"}, "a redirect \\(not followed\\)"),
        (200, b'{"status":"success","data":{"resultType":"vector","result":[]}}', {}, "no matrix"),
        (200, b"x" * 2000, {}, "more than 1000 bytes: ask for fewer intervals"),
    ],
)  # fmt: skip
def test_the_clients_failures_are_one_clear_line(
    stand_in: StandIn, status: int, body: bytes, headers: dict[str, str], says: str
) -> None:
    stand_in.answer = lambda q: (status, body, headers)
    api = PrometheusApi(Source(stand_in.url, "s3cret", "--prometheus"), max_bytes=1000)
    with pytest.raises(CommandError, match=says) as failed:
        api.query_range("up", 0, 60, 60)
    assert "s3cret" not in str(failed.value)
    assert len(stand_in.seen) == 1  # the redirect was not followed


def test_a_prometheus_that_is_slow_or_not_there(stand_in: StandIn) -> None:
    def slow(q: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        stand_in.release.wait(5)
        return 200, success([]), {}

    stand_in.answer = slow
    with pytest.raises(CommandError, match=r"did not answer within 0.3 s"):
        PrometheusApi(Source(stand_in.url, None, "--prometheus"), timeout=0.3).query_range("up", 0, 60, 60)
    stand_in.answer = lambda q: (403, b"Forbidden", {})
    with pytest.raises(CommandError, match=r"403: a bearer token is needed: --prometheus-token-file or \$STREAM"):
        PrometheusApi(Source(stand_in.url, None, "--prometheus")).query_range("up", 0, 60, 60)
    closed = StandIn()
    closed.server.server_close()  # a port nothing listens on any more
    with pytest.raises(CommandError, match=r"cannot reach Prometheus at http://127.0.0.1:\d+ \(--prometheus\): "):
        PrometheusApi(Source(closed.url, None, "--prometheus")).query_range("up", 0, 60, 60)
