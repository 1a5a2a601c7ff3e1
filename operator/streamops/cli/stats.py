"""`kubectl streamops stats STREAM [--from T] [--to T] [--interval D] [-o table|json]` (and `streamops
stats`, this module's arguments and verb in both): a stream's time on air, bitrate, frame rate,
resolution, transcoding speed and peak viewers per interval over a date range — the hosted platform's
`/statistics/ffprobe?interval=&date_from=&date_to=` — read from the Prometheus that the chart's
ServiceMonitors feed, with `query_range` (step = the interval), one query per column
(docs/design/kubectl-plugin.md, "stats"). Without a Prometheus: the publish sessions the stream's status
keeps (the last 20) that fall in the range, and a line saying what range statistics need.

Times are UTC, read and printed (a time typed with an offset is honoured): what status, the operator's
log, the video titles and Prometheus use, so the rows can be put beside any of them.

How each column folds the stream's ingest Pods (primary, backup, a Pod replaced mid-interval) and the
interval's scrapes into one number, per interval (queries()):
- on air: the share of the interval in which any ingest reported `live` 1 (max over the Pods, then the
  mean over the interval sampled at a fixed resolution; moments without any ingest's series — before
  Prometheus scraped it, a gap in scraping — are left out, not counted as off: an inactive stream's
  ingest still runs and reports 0);
- bitrate, frame rate, speed: the mean over the scrapes in which an ingest was live — the gauges' sum
  over the interval divided by the count of live scrapes (they read 0 while nothing is on air, so an
  offline part does not dilute the mean). They are gauges the workers compute from FFmpeg's cumulative
  counters over the last 3 s: nothing for rate() to do here, and no byte counter of the ingest exists;
- resolution: the largest width and height reported by an ingest that was live in the interval;
- peak viewers: the largest total (the ingests' and the edge replicas' `streamops_viewers`, summed, as
  the dashboards sum them) at any moment of the interval, sampled every 15 s (4 times a shorter interval).
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from streamops.cli.command_error import CommandError

if TYPE_CHECKING:
    from streamops.api.kinds import LiveStream
    from streamops.api.livestream import PublishSession
    from streamops.cli.prometheus_api import PrometheusApi, Series, Source
    from streamops.kube.client import KubeApi

DEFAULT_SPAN = timedelta(hours=24)
# --interval by default: the first of these that gives at most AUTO_ROWS rows.
AUTO_STEPS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
AUTO_ROWS = 60
MAX_ROWS = 11_000  # Prometheus refuses a query_range of more points per series
# The subqueries' resolution (on air, peak viewers), at most: the viewers gauge counts the sessions of a
# 30 s window, so a sample every 15 s sees every peak; the chart scrapes every 15 s by default. Shorter
# intervals are sampled 4 times each.
SAMPLE_SECONDS = 15
CHART_SCRAPE_SECONDS = 15
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DASH = "-"

LIVE = "streamops_ingest_live"
BITRATE = "streamops_ingest_bitrate_bits_per_second"
FRAME_RATE = "streamops_ingest_frame_rate"
SPEED = "streamops_ingest_transcoding_speed_ratio"
WIDTH = "streamops_ingest_video_width_pixels"
HEIGHT = "streamops_ingest_video_height_pixels"
VIEWERS = "streamops_viewers"
# Every name queried, with the exporters whose series it sums (checked against the catalogue in tests).
QUERIED = {
    LIVE: ("ingest",),
    BITRATE: ("ingest",),
    FRAME_RATE: ("ingest",),
    SPEED: ("ingest",),
    WIDTH: ("ingest",),
    HEIGHT: ("ingest",),
    VIEWERS: ("ingest", "edge"),
}
COLUMNS = ("scrapes", "onAir", "bitrate", "frameRate", "width", "height", "speed", "peakViewers")
NO_PROMETHEUS = (
    "range statistics (bitrate, frame rate, resolution, speed, viewers per interval) need the chart's monitors "
    "(metrics.serviceMonitor.enabled) and the URL of the Prometheus they feed: --prometheus URL, "
    "$STREAMOPS_PROMETHEUS_URL or the kubeconfig context's extension prometheus.streamops.dev. "
    "Below: the publish sessions in the stream's status (it keeps the last 20)."
)

DESCRIPTION = (
    "Per interval of the range, a row: the share of time on air, the mean bitrate, frame rate and transcoding "
    "speed while live, the largest resolution and the peak viewers — read with query_range from the Prometheus "
    "the chart's monitors feed. Times are UTC (an offset typed with a time is honoured). Without a Prometheus "
    "URL (or with --sessions): the publish sessions in the stream's status within the range. Example: "
    "streamops stats cam --from 2026-11-27 --to 2026-11-28 --interval 1h --prometheus http://127.0.0.1:9090"
)

_DURATION = re.compile(r"^(?:\d+[smhdw])+$|^\d+$")
# A duration ago: now-6h, -6h, now-3600 (seconds), or 6h alone (a bare number is no time).
_AGO = re.compile(r"^(?:now\s*-|-)\s*(\d+|(?:\d+[smhdw])+)$|^((?:\d+[smhdw])+)$")
_DURATION_PART = re.compile(r"(\d+)([smhdw]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def add_arguments(parser: argparse.ArgumentParser, namespace: bool = True) -> None:
    """The command's arguments, the same in both command lines (`namespace`: add -n, which the kubectl
    plugin's commands get from a common parent)."""
    parser.add_argument("stream", help="the LiveStream")
    if namespace:
        parser.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig's, else default)")
    parser.add_argument(
        "--from",
        dest="start",
        metavar="TIME",
        help="start of the range: 2026-11-27T10:00:00Z, 2026-11-27 10:00 (UTC without an offset), 2026-11-27, "
        "or a duration ago: 6h, now-6h (default: 24h before --to)",
    )
    parser.add_argument("--to", dest="end", metavar="TIME", help="end of the range, as --from (default: now)")
    parser.add_argument(
        "--interval",
        metavar="DURATION",
        help="one row per interval: 30s, 5m, 1h, 1d, or seconds as the hosted API's interval= (default: "
        f"the shortest of 1m, 5m, 15m, 30m, 1h, ... giving at most {AUTO_ROWS} rows); at least the scrape "
        f"interval (the chart's default {CHART_SCRAPE_SECONDS}s)",
    )
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table", help="default table")
    parser.add_argument(
        "--prometheus",
        metavar="URL",
        help="the Prometheus the chart's monitors feed, e.g. http://127.0.0.1:9090 through a port-forward "
        "(default: $STREAMOPS_PROMETHEUS_URL, else the kubeconfig context's extension "
        "prometheus.streamops.dev)",
    )
    parser.add_argument(
        "--prometheus-token-file",
        metavar="FILE",
        help="a bearer token for the Prometheus, read from FILE (or $STREAMOPS_PROMETHEUS_TOKEN); https only",
    )
    parser.add_argument(
        "--sessions",
        action="store_true",
        help="print the publish sessions in the stream's status (the last 20) without asking Prometheus",
    )


# ------------------------------------------------------------------------------------------ the range


def parse_duration(text: str, what: str) -> int:
    """Seconds from "90", "90s", "5m", "1h30m", "7d", "2w"."""
    text = text.strip()
    if not _DURATION.match(text):
        raise CommandError(f"{what} {text!r}: a duration such as 30s, 5m, 1h, 1d (or a number of seconds)")
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def parse_time(text: str, now: datetime, what: str) -> tuple[datetime, bool]:
    """(the moment, whether it was given relative to now) from an ISO 8601 time (UTC without an offset),
    a date (its midnight UTC), `now`, or a duration ago (`6h`, `now-6h`)."""
    text = text.strip()
    if text == "now":
        return now, True
    if ago := _AGO.match(text):
        return now - timedelta(seconds=parse_duration(ago[1] or ago[2], what)), True
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"{what} {text!r}: a time (2026-11-27T10:00:00Z; 2026-11-27 10:00 is UTC, +01:00 an offset), a date, "
            "now, or a duration ago (6h, now-6h)"
        ) from None
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)), False


@dataclass(frozen=True)
class Window:
    """Rows [start + k·step, start + (k+1)·step) for k < rows; the last may run past `end`."""

    start: datetime  # UTC, whole seconds
    end: datetime
    step: int  # seconds

    @property
    def rows(self) -> int:
        return max(1, math.ceil((self.end - self.start).total_seconds() / self.step))

    @property
    def first_point(self) -> int:
        """The query_range point of the first row: the end of its interval (a range selector looks back)."""
        return int(self.start.timestamp()) + self.step

    @property
    def last_point(self) -> int:
        return int(self.start.timestamp()) + self.rows * self.step

    def row_start(self, point: int) -> datetime:
        return datetime.fromtimestamp(point - self.step, UTC)


def window(start_text: str | None, end_text: str | None, interval_text: str | None, now: datetime) -> Window:
    """The range and its rows from --from, --to and --interval (see add_arguments())."""
    now = now.astimezone(UTC).replace(microsecond=0)
    end = parse_time(end_text, now, "--to")[0] if end_text else now
    end = min(end, now)  # the future has no data yet
    start, relative = parse_time(start_text, now, "--from") if start_text else (end - DEFAULT_SPAN, True)
    start = start.replace(microsecond=0)
    if start >= end:
        raise CommandError(
            f"--from {start:{TIME_FORMAT}} UTC is not before --to {end:{TIME_FORMAT}} UTC"
            + (" (now)" if end == now else "")
        )
    span = (end - start).total_seconds()
    if interval_text:
        step = parse_duration(interval_text, "--interval")
        if step < 1:
            raise CommandError("--interval: at least 1s")
    else:
        step = next((s for s in AUTO_STEPS if span / s <= AUTO_ROWS), AUTO_STEPS[-1])
    if relative and 86400 % step == 0:  # rows on the clock's round times: 10:00, 10:30, ...
        start = datetime.fromtimestamp(int(start.timestamp()) // step * step, UTC)
    found = Window(start, end, step)
    if found.rows > MAX_ROWS:
        raise CommandError(
            f"{found.rows} intervals of {interval(step)}: at most {MAX_ROWS} (Prometheus's limit); a longer "
            "--interval or a shorter range"
        )
    return found


def interval(seconds: int) -> str:
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# ----------------------------------------------------------------------------------------- queries


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def queries(namespace: str, name: str, step: int) -> dict[str, str]:
    """The PromQL per column, evaluated at the end of each interval of `step` seconds (query_range's
    step): see the module's docstring for what each folds and why."""
    sel = f'{{namespace="{_label(namespace)}", stream="{_label(name)}"}}'
    over = f"[{step}s]"
    sampled = f"[{step}s:{max(1, min(SAMPLE_SECONDS, step // 4))}s]"  # 4 samples an interval at least
    live_scrapes = f"sum(sum_over_time({LIVE}{sel}{over}))"

    def while_live(metric: str) -> str:
        return f"sum(sum_over_time({metric}{sel}{over})) / ({live_scrapes} > 0)"

    def largest_while_live(metric: str) -> str:
        return f"max(max_over_time({metric}{sel}{over}) and (max_over_time({LIVE}{sel}{over}) > 0))"

    return {
        "scrapes": f"sum(count_over_time({LIVE}{sel}{over}))",
        "onAir": f"avg_over_time(max({LIVE}{sel}){sampled})",
        "bitrate": while_live(BITRATE),
        "frameRate": while_live(FRAME_RATE),
        "width": largest_while_live(WIDTH),
        "height": largest_while_live(HEIGHT),
        "speed": while_live(SPEED),
        "peakViewers": f"max_over_time(sum({VIEWERS}{sel}){sampled})",
    }


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime
    scrapes: int  # ingest scrapes in the interval: 0 = no data (no ingest, not scraped, before the stream)
    on_air: float | None
    bitrate: int | None
    frame_rate: float | None
    width: int | None
    height: int | None
    speed: float | None
    peak_viewers: int | None

    def wire(self) -> dict[str, Any]:
        return {
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "onAir": self.on_air,
            "bitrate": self.bitrate,
            "frameRate": self.frame_rate,
            "width": self.width,
            "height": self.height,
            "speed": self.speed,
            "peakViewers": self.peak_viewers,
        }


def _points(series: Sequence[Series]) -> dict[int, float]:
    """An aggregated query's single series as {point: value}; NaN and infinities (a 0/0) left out."""
    found: dict[int, float] = {}
    for s in series[:1]:
        for t, v in s.get("values") or []:
            try:
                value = float(v)
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                found[round(float(t))] = value
    return found


def intervals(win: Window, answers: Mapping[str, Sequence[Series]]) -> list[Interval]:
    """One row per interval of `win` from the query_range answers of queries() (by column)."""
    points = {column: _points(answers.get(column) or []) for column in COLUMNS}
    rows = []
    for point in range(win.first_point, win.last_point + 1, win.step):
        scrapes = int(points["scrapes"].get(point, 0))
        # A row without an ingest's scrape has no data, whatever the subqueries' lookback still finds.
        at = {column: points[column].get(point) if scrapes else None for column in COLUMNS}
        rows.append(
            Interval(
                start=win.row_start(point),
                end=datetime.fromtimestamp(point, UTC),
                scrapes=scrapes,
                on_air=_rounded(at["onAir"], 3),
                bitrate=_whole(at["bitrate"]),
                frame_rate=_rounded(at["frameRate"], 2),
                width=_whole(at["width"]) or None,
                height=_whole(at["height"]) or None,
                speed=_rounded(at["speed"], 2),
                peak_viewers=_whole(at["peakViewers"]),
            )
        )
    return rows


def _whole(value: float | None) -> int | None:
    return None if value is None else round(value)


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# ------------------------------------------------------------------------------------------ output


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(value: float | int | None, text: str) -> str:
    return DASH if value is None else text


def stats_table(rows: Sequence[Interval]) -> str:
    from streamops.cli.render import bitrate, table

    header = ("FROM (UTC)", "ON AIR", "BITRATE", "FPS", "RESOLUTION", "SPEED", "PEAK VIEWERS")
    lines = []
    for r in rows:
        if not r.scrapes:
            lines.append((f"{r.start:{TIME_FORMAT}}", "no data", *([DASH] * (len(header) - 2))))
            continue
        lines.append(
            (
                f"{r.start:{TIME_FORMAT}}",
                _cell(r.on_air, f"{(r.on_air or 0) * 100:.0f}%"),
                bitrate(r.bitrate) if r.bitrate is not None else DASH,
                _cell(r.frame_rate, f"{r.frame_rate or 0:.1f}"),
                f"{r.width}x{r.height}" if r.width and r.height else DASH,
                _cell(r.speed, f"{r.speed or 0:.2f}x"),
                _cell(r.peak_viewers, str(r.peak_viewers)),
            )
        )
    return table(header, lines)


def stats_json(namespace: str, name: str, win: Window, prometheus: str, rows: Sequence[Interval]) -> str:
    return json.dumps(
        {
            "stream": {"namespace": namespace, "name": name},
            "source": "prometheus",
            "prometheus": prometheus,
            "from": rfc3339(win.start),
            "to": rfc3339(win.end),
            "intervalSeconds": win.step,
            "intervals": [r.wire() for r in rows],
        },
        indent=2,
    )


def in_range(sessions: Sequence[PublishSession], win: Window, now: datetime) -> list[PublishSession]:
    """The sessions that overlap the range (the open one ends now)."""
    return [s for s in sessions if s.started_at < win.end and (s.ended_at or now) > win.start]


def sessions_table(sessions: Sequence[PublishSession], now: datetime) -> str:
    from streamops.cli.render import bitrate, duration, fps, table

    header = ("STARTED (UTC)", "ENDED (UTC)", "DURATION", "INGEST", "PROTOCOL", "RESOLUTION", "FPS", "AVG BITRATE",
              "PEAK BITRATE")  # fmt: skip
    rows = [
        (
            f"{s.started_at:{TIME_FORMAT}}",
            f"{s.ended_at:{TIME_FORMAT}}" if s.ended_at else "(on air)",
            duration(((s.ended_at or now) - s.started_at).total_seconds()),
            s.ingest,
            s.protocol or DASH,
            f"{s.width}x{s.height}" if s.width and s.height else DASH,
            fps(None if s.frame_rate is None else round(s.frame_rate, 1)),
            bitrate(s.average_bitrate),
            bitrate(s.peak_bitrate),
        )
        for s in sessions
    ]
    return table(header, rows)


def sessions_json(
    namespace: str, name: str, win: Window, sessions: Sequence[PublishSession], now: datetime, note: str
) -> str:
    return json.dumps(
        {
            "stream": {"namespace": namespace, "name": name},
            "source": "status",
            "from": rfc3339(win.start),
            "to": rfc3339(win.end),
            "note": note,
            "sessions": [
                {
                    **s.wire(),
                    "durationSeconds": round(((s.ended_at or now) - s.started_at).total_seconds()),
                }
                for s in sessions
            ],
        },
        indent=2,
    )


# ------------------------------------------------------------------------------------------ the verb


@dataclass(frozen=True)
class Asked:
    """What the command line asked, checked before the cluster is: a typo needs no kubeconfig."""

    stream: str
    window: Window
    output: str
    prometheus: Source | None
    now: datetime


@dataclass(frozen=True)
class Answer:
    text: str  # stdout
    notes: list[str]  # stderr, one line each


def clock() -> datetime:
    """Now, for both command lines (a test sets its own)."""
    return datetime.now(UTC)


def asked(args: argparse.Namespace, env: Mapping[str, str]) -> Asked:
    from streamops.cli.prometheus_api import configured

    now = clock()
    win = window(args.start, args.end, args.interval, now)
    source = None if args.sessions else configured(args.prometheus, args.prometheus_token_file, env)
    return Asked(args.stream, win, args.output, source, now)


def stats_command(api: KubeApi, namespace: str, ask: Asked) -> Answer:
    """What `stats` prints (stdout, and notes for stderr), or CommandError saying why it cannot."""
    from streamops.api.kinds import LiveStream
    from streamops.cli.kube_connection import get_stream
    from streamops.cli.prometheus_api import PrometheusApi

    raw = get_stream(api, namespace, ask.stream)
    if ask.prometheus is None:
        try:
            stream = LiveStream.model_validate(raw)
        except ValueError as e:
            raise CommandError(
                f"livestream {ask.stream} cannot be read by this plugin ({e.__class__.__name__})"
            ) from None
        return from_status(stream, ask)
    return from_prometheus(PrometheusApi(ask.prometheus), namespace, ask)


def from_prometheus(prometheus: PrometheusApi, namespace: str, ask: Asked) -> Answer:
    from streamops.cli.kube_connection import at_once

    win, name = ask.window, ask.stream
    exprs = queries(namespace, name, win.step)
    calls = [partial(prometheus.query_range, e, win.first_point, win.last_point, win.step) for e in exprs.values()]
    answers = dict(zip(exprs, at_once(calls), strict=True))
    rows = intervals(win, answers)
    span = f"{win.start:{TIME_FORMAT}} to {win.end:{TIME_FORMAT}} UTC"
    if not any(r.scrapes for r in rows):
        raise CommandError(
            f"Prometheus at {prometheus.url} has no series of livestream {namespace}/{name} from {span}: are the "
            "chart's monitors on (metrics.serviceMonitor.enabled) and selected by this Prometheus? (None either "
            "before the stream existed or beyond the retention; --sessions: the sessions in its status.)"
        )
    notes = [f"livestream {namespace}/{name}, {span}, every {interval(win.step)}, from Prometheus {prometheus.url}"]
    if not any(r.on_air for r in rows):
        notes.append(f"livestream {namespace}/{name} was not live from {span}")
    if _gaps(rows) and win.step < 2 * CHART_SCRAPE_SECONDS:
        notes.append(
            "intervals without data between intervals with data: is --interval shorter than the scrape interval "
            f"(metrics.serviceMonitor.interval, {CHART_SCRAPE_SECONDS}s by default)?"
        )
    text = stats_json(namespace, name, win, prometheus.url, rows) if ask.output == "json" else stats_table(rows)
    return Answer(text, notes)


def _gaps(rows: Sequence[Interval]) -> bool:
    seen = [i for i, r in enumerate(rows) if r.scrapes]
    return bool(seen) and any(not r.scrapes for r in rows[seen[0] : seen[-1] + 1])


def from_status(stream: LiveStream, ask: Asked) -> Answer:
    from streamops.api.livestream import SESSIONS_KEPT

    namespace, name, win = stream.metadata.namespace or "", stream.metadata.name, ask.window
    kept = (stream.status.sessions or []) if stream.status else []
    sessions = in_range(kept, win, ask.now)
    span = f"{win.start:{TIME_FORMAT}} to {win.end:{TIME_FORMAT}} UTC"
    notes = [NO_PROMETHEUS] if not ask.prometheus else []
    if len(kept) >= SESSIONS_KEPT and kept[0].started_at > win.start:
        notes.append(
            f"status keeps the last {SESSIONS_KEPT} sessions, the oldest from {kept[0].started_at:{TIME_FORMAT}} UTC: "
            "earlier ones in the range are not known here"
        )
    if not sessions:
        notes.append(f"no session of livestream {namespace}/{name} from {span} in its status")
    if ask.output == "json":
        return Answer(sessions_json(namespace, name, win, sessions, ask.now, " ".join(notes)), notes)
    return Answer(sessions_table(sessions, ask.now) if sessions else "", notes)
