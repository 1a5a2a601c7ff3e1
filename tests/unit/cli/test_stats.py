"""`kubectl streamops stats` and `streamops stats` without a cluster (cli/stats.py): the range and its
rows, the queries (their names and labels from the metrics catalogue; what they compute is
tests/unit/cli/test_stats_promql.py, against Prometheus's engine), the table and JSON, the verb against a
local stand-in Prometheus, and the answer without Prometheus: the sessions of a stored LiveStream's status.
Where the Prometheus URL comes from and the HTTP client: test_prometheus_api.py.
Against a real Prometheus scraping real workers: tests/multinode/test_prometheus_operator.py."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from devtools.fake_kube import FakeKubeApi
from devtools.prometheus_stand_in import StandIn, success
from streamops.cli import kube_connection, stats
from streamops.cli.command_error import CommandError
from streamops.cli.kubectl_plugin import main
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


# ------------------------------------------------------------------------------- a stand-in Prometheus


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    with StandIn() as server:
        yield server


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
