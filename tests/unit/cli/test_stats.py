"""`kubectl streamops stats` and `streamops stats` without a cluster (cli/stats.py, cli/prometheus_api.py):
the range and its rows, the queries (their names and labels from the metrics catalogue; what they compute is
tests/unit/cli/test_stats_promql.py, against Prometheus's engine), the table and JSON, where the Prometheus
URL comes from and what is refused, the HTTP client against a local stand-in Prometheus (timeouts, size
bound, redirects, errors), and the answer without Prometheus: the sessions of a stored LiveStream's status.
Against a real Prometheus scraping real workers: tests/multinode/test_prometheus_operator.py."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from devtools.fake_kube import FakeKubeApi
from streamops.cli import kube_connection, stats
from streamops.cli.command_error import CommandError
from streamops.cli.kubectl_plugin import main
from streamops.cli.prometheus_api import EXTENSION, PrometheusApi, Source, configured
from streamops.cli.stats import (
    COLUMNS,
    NO_PROMETHEUS,
    QUERIED,
    Window,
    intervals,
    parse_time,
    queries,
    stats_table,
    window,
)
from streamops.cli.streamops_command import main as streamops_main
from streamops.contract.metrics import spec
from streamops.kube.client import KubeApi

from devtools import catalog

NOW = datetime(2026, 11, 27, 12, 34, 56, tzinfo=UTC)


# ------------------------------------------------------------------------------------------ the range


def test_times_are_utc_dates_offsets_or_durations_ago() -> None:
    assert parse_time("2026-11-27T10:00:00Z", NOW, "--from") == (datetime(2026, 11, 27, 10, tzinfo=UTC), False)
    assert parse_time("2026-11-27 10:00", NOW, "--from")[0] == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert parse_time("2026-11-27T11:00:00+01:00", NOW, "--from")[0] == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert parse_time("2026-11-27", NOW, "--from")[0] == datetime(2026, 11, 27, tzinfo=UTC)
    for text in ("6h", "-6h", "now-6h", "now - 6h"):
        assert parse_time(text, NOW, "--from") == (NOW - timedelta(hours=6), True), text
    assert parse_time("now-1h30m", NOW, "--from")[0] == NOW - timedelta(minutes=90)
    assert parse_time("now", NOW, "--to") == (NOW, True)
    for bad in ("yesterday", "3600", "2026-13-01", "6x"):
        with pytest.raises(CommandError, match="--from"):
            parse_time(bad, NOW, "--from")


def test_the_range_and_its_rows() -> None:
    # Defaults: the last 24 h in 30 min rows on the clock's half hours, the running half hour last.
    win = window(None, None, None, NOW)
    assert (win.step, win.end, win.start) == (1800, NOW, datetime(2026, 11, 26, 12, 30, tzinfo=UTC))
    assert win.rows == 49 and win.last_point == int(datetime(2026, 11, 27, 13, tzinfo=UTC).timestamp())
    # As the hosted API takes it: dates and an interval in seconds; rows from --from as given.
    win = window("2026-11-27T09:10:00Z", "2026-11-27T12:00:00Z", "3600", NOW)
    assert (win.step, win.rows) == (3600, 3)
    assert win.row_start(win.first_point) == datetime(2026, 11, 27, 9, 10, tzinfo=UTC)
    assert window("1h", None, "5m", NOW).start == datetime(2026, 11, 27, 11, 30, tzinfo=UTC)  # aligned
    assert window("2026-11-27", "2026-11-27T00:01:00Z", None, NOW).step == 60
    assert window("2026-10-01", "2026-11-27", None, NOW).step == 86400
    assert window("2026-11-27T12:00:00Z", "2030-01-01", "1m", NOW).end == NOW  # the future has no data
    with pytest.raises(CommandError, match="is not before --to"):
        window("2026-11-28", None, None, NOW)
    with pytest.raises(CommandError, match="at most 11000"):
        window("30d", None, "1m", NOW)
    with pytest.raises(CommandError, match="--interval '5x'"):
        window(None, None, "5x", NOW)
    with pytest.raises(CommandError, match="at least 1s"):
        window(None, None, "0", NOW)


# ----------------------------------------------------------------------------------------- queries


def test_queries_name_catalogue_metrics_of_the_stream_only() -> None:
    exprs = queries("tv", 'we"ird', 300)
    assert set(exprs) == set(COLUMNS)
    for name, exporters in QUERIED.items():
        for exporter in exporters:
            assert "stream" in spec(name, exporter).labels  # the selector's label is exported
        assert any(name in e for e in exprs.values()), name
    for expr in exprs.values():
        assert expr.count('{namespace="tv", stream="we\\"ird"}') == expr.count("streamops_"), expr
        assert "[300s" in expr
    assert "[300s:15s]" in exprs["peakViewers"] and "[60s:15s]" in queries("tv", "news", 60)["onAir"]
    assert "[10s:2s]" in queries("tv", "news", 10)["onAir"] and "[1s:1s]" in queries("tv", "news", 1)["onAir"]


def matrix(values: dict[int, float | str]) -> list[dict[str, Any]]:
    return [{"metric": {}, "values": [[t, str(v)] for t, v in sorted(values.items())]}]


def three_rows() -> tuple[Window, dict[str, list[dict[str, Any]]]]:
    """Rows of 1 h: no data, offline, live."""
    win = window("2026-11-27T09:00:00Z", "2026-11-27T12:00:00Z", "1h", NOW)
    t1, t2, t3 = (win.first_point + k * 3600 for k in range(3))
    answers = {
        "scrapes": matrix({t2: 240, t3: 480}),
        "onAir": matrix({t1: 0, t2: 0, t3: 0.75}),
        "bitrate": matrix({t3: 2_512_345.6}),
        "frameRate": matrix({t3: 29.971}),
        "width": matrix({t3: 1280}),
        "height": matrix({t3: 720}),
        "speed": matrix({t3: 1.004, t2: "NaN"}),
        "peakViewers": matrix({t2: 0, t3: 12}),
    }
    return win, answers


def test_rows_table_and_json() -> None:
    win, answers = three_rows()
    rows = intervals(win, answers)
    assert [r.scrapes for r in rows] == [0, 240, 480]
    live = rows[2]
    assert (live.on_air, live.bitrate, live.frame_rate, live.width, live.height, live.speed, live.peak_viewers) == (
        0.75, 2_512_346, 29.97, 1280, 720, 1.0, 12,
    )  # fmt: skip
    assert rows[1].speed is None  # a NaN (0/0) is no value
    assert stats_table(rows).splitlines() == [
        "FROM (UTC)            ON AIR    BITRATE     FPS    RESOLUTION   SPEED   PEAK VIEWERS",
        "2026-11-27 09:00:00   no data   -           -      -            -       -",
        "2026-11-27 10:00:00   0%        -           -      -            -       0",
        "2026-11-27 11:00:00   75%       2.51 Mb/s   30.0   1280x720     1.00x   12",
    ]


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


class StandIn:
    """An HTTP server on 127.0.0.1 answering /api/v1/query_range with `answer(query) -> (status, body)`;
    it records each request's path and Authorization header."""

    def __init__(self) -> None:
        self.answer: Callable[[dict[str, str]], tuple[int, bytes, dict[str, str]]] = lambda q: (200, b"{}", {})
        self.seen: list[tuple[str, str | None]] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen.append((self.path, self.headers.get("Authorization")))
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                status, body, headers = outer.answer(query)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # The client may hang up on purpose (past its size limit or its timeout).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        # Handler threads are joined on exit: none outlives its test to write into another's capture.
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> StandIn:
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    with StandIn() as server:
        yield server


def success(result: list[dict[str, Any]]) -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}}).encode()


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


# ------------------------------------------------------------------------------- the verb, end to end


def sessions_status() -> dict[str, Any]:
    def session(start: str, end: str | None, **extra: Any) -> dict[str, Any]:
        return {"startedAt": start, **({"endedAt": end} if end else {}), "ingest": "primary", "protocol": "rtmp",
                "videoCodec": "h264", "width": 1280, "height": 720, "frameRate": 29.97,
                "averageBitrate": 2_400_000, "peakBitrate": 3_100_000, **extra}  # fmt: skip

    return {
        "sessions": [
            session("2026-11-25T08:00:00Z", "2026-11-25T09:00:00Z"),  # before the range
            session("2026-11-27T09:30:00Z", "2026-11-27T10:15:30Z", ingest="backup", protocol="srt"),
            session("2026-11-27T12:00:00Z", None, width=1920, height=1080),  # on air
        ]
    }


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> FakeKubeApi:
    """An API server holding the stored LiveStream live/cam with three sessions in its status."""
    api = FakeKubeApi()
    api.add(catalog.stored(catalog.livestream("cam"), sessions_status(), namespace="live"))
    monkeypatch.setattr(KubeApi, "from_environment", classmethod(lambda cls: api))
    monkeypatch.setattr(kube_connection, "connect", lambda kubeconfig=None: api)
    monkeypatch.delenv("STREAMOPS_PROMETHEUS_URL", raising=False)
    monkeypatch.delenv("STREAMOPS_PROMETHEUS_TOKEN", raising=False)
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    monkeypatch.setattr(stats, "clock", lambda: NOW)  # the open session's duration, the range's end
    return api


def test_without_prometheus_the_sessions_in_status_within_the_range(
    cluster: FakeKubeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    said = []
    for command in (main, streamops_main):
        words = ["stats", "cam", "-n", "live", "--from", "2026-11-27T00:00:00Z", "--to", "2026-11-27T23:00:00Z"]
        assert command(words) == 0
        said.append(capsys.readouterr())
    out, err = said[0]
    assert said[1] == said[0]  # both command lines, one verb
    lines = out.splitlines()
    assert lines[0].split() == ["STARTED", "(UTC)", "ENDED", "(UTC)", "DURATION", "INGEST", "PROTOCOL", "RESOLUTION",
                                "FPS", "AVG", "BITRATE", "PEAK", "BITRATE"]  # fmt: skip
    assert lines[1].split() == ["2026-11-27", "09:30:00", "2026-11-27", "10:15:30", "45m30s", "backup", "srt",
                                "1280x720", "30", "2.40", "Mb/s", "3.10", "Mb/s"]  # fmt: skip
    assert lines[2].split()[:5] == ["2026-11-27", "12:00:00", "(on", "air)", "34m56s"] and "1920x1080" in lines[2]
    assert len(lines) == 3  # the session of the 25th is outside the range
    assert err.strip() == NO_PROMETHEUS

    assert main(["stats", "cam", "-n", "live", "--from", "2026-11-25", "--to", "2026-11-26", "-o", "json"]) == 0
    out, err = capsys.readouterr()
    answer = json.loads(out)
    assert answer["source"] == "status" and answer["stream"] == {"namespace": "live", "name": "cam"}
    assert [s["startedAt"] for s in answer["sessions"]] == ["2026-11-25T08:00:00Z"]
    assert answer["sessions"][0]["durationSeconds"] == 3600 and "chart's monitors" in answer["note"]

    assert main(["stats", "cam", "-n", "live", "--from", "2026-11-20", "--to", "2026-11-21"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "no session of livestream live/cam from 2026-11-20 00:00:00 to 2026-11-21" in err


def test_a_full_history_says_what_it_cannot_know(cluster: FakeKubeApi, capsys: pytest.CaptureFixture[str]) -> None:
    starts = [datetime(2026, 11, 27, 10, tzinfo=UTC) + timedelta(minutes=5 * i) for i in range(20)]
    sessions = [{"startedAt": f"{s:%Y-%m-%dT%H:%M:%SZ}", "endedAt": f"{s + timedelta(minutes=1):%Y-%m-%dT%H:%M:%SZ}",
                 "ingest": "primary"} for s in starts]  # fmt: skip
    cluster.modify("LiveStream", "live", "cam", {"status": {"sessions": sessions}})
    assert main(["stats", "cam", "-n", "live", "--from", "2026-11-27", "--to", "2026-11-28"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 21
    assert "status keeps the last 20 sessions, the oldest from 2026-11-27 10:00:00 UTC" in err


def test_errors_are_one_line(cluster: FakeKubeApi, stand_in: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "gone", "-n", "live", "--prometheus", stand_in.url]) == 1
    assert capsys.readouterr().err == "kubectl streamops stats: livestream gone not found in namespace live\n"
    assert not stand_in.seen  # the stream first
    # A typo is said before the cluster is asked (it would not answer here).
    assert streamops_main(["stats", "cam", "--interval", "soon"]) == 1
    assert "streamops stats: --interval 'soon'" in capsys.readouterr().err
    # A Prometheus with nothing of the stream: not an empty table.
    stand_in.answer = lambda q: (200, success([]), {})
    assert main(["stats", "cam", "-n", "live", "--prometheus", stand_in.url]) == 1
    err = capsys.readouterr().err
    assert f"Prometheus at {stand_in.url} has no series of livestream live/cam from" in err
    assert "metrics.serviceMonitor.enabled" in err and len(err.splitlines()) == 1


def test_from_prometheus_the_rows_of_every_interval(
    cluster: FakeKubeApi, stand_in: StandIn, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    win, answers = three_rows()
    by_query = {expr: answers[column] for column, expr in queries("live", "cam", 3600).items()}
    stand_in.answer = lambda q: (200, success(by_query[q["query"]]), {})
    monkeypatch.setenv("STREAMOPS_PROMETHEUS_URL", stand_in.url)
    words = ["stats", "cam", "-n", "live", "--from", "2026-11-27T09:00:00Z", "--to", "2026-11-27T12:00:00Z",
             "--interval", "1h"]  # fmt: skip
    assert main(words) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [*stats_table(intervals(win, answers)).splitlines()]
    assert err.splitlines() == [
        f"livestream live/cam, 2026-11-27 09:00:00 to 2026-11-27 12:00:00 UTC, every 1h, from Prometheus {stand_in.url}"
    ]
    assert len(stand_in.seen) == len(COLUMNS)
    for path, _ in stand_in.seen:
        asked = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
        assert (asked["start"], asked["end"], asked["step"]) == (str(win.first_point), str(win.last_point), "3600s")

    assert main([*words, "-o", "json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["source"], answer["prometheus"], answer["intervalSeconds"]) == ("prometheus", stand_in.url, 3600)
    assert answer["intervals"][2] == {
        "start": "2026-11-27T11:00:00Z", "end": "2026-11-27T12:00:00Z", "onAir": 0.75, "bitrate": 2512346,
        "frameRate": 29.97, "width": 1280, "height": 720, "speed": 1.0, "peakViewers": 12,
    }  # fmt: skip
    # --sessions: the status without asking.
    asked_before = len(stand_in.seen)
    assert main([*words, "--sessions"]) == 0
    assert len(stand_in.seen) == asked_before and "STARTED (UTC)" in capsys.readouterr().out

    # Never live in the range: the rows, and a line saying so.
    stand_in.answer = lambda q: (200, success(matrix({win.first_point: 240}) if "count_over" in q["query"] else []), {})
    assert main(words) == 0
    out, err = capsys.readouterr()
    assert "was not live from 2026-11-27 09:00:00" in err


def test_the_token_never_goes_on_the_command_line_yet_reaches_prometheus(
    cluster: FakeKubeApi, stand_in: StandIn, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in.answer = lambda q: (200, success([]), {})
    monkeypatch.setenv("STREAMOPS_PROMETHEUS_TOKEN", "from-env")
    assert main(["stats", "cam", "-n", "live", "--prometheus", stand_in.url]) == 1
    assert {auth for _, auth in stand_in.seen} == {"Bearer from-env"}
    assert "from-env" not in capsys.readouterr().err
