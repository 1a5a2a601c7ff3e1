"""The PromQL of `stats` (cli/stats.py queries()) evaluated by Prometheus's own engine: `promtool test rules`
(Debian's Prometheus 2.42, the one `make deps` installs) on synthetic series of a stream whose ingests
change under it, each query evaluated at the end of each interval as query_range evaluates it.

Ten-minute intervals of 15 s scrapes (the chart's default), the series of the stream tv/news:
  A  0-10m   the primary live: a ramping bitrate, 30 fps, 1280x720; viewers on the ingest (hls, llhls) and an
             edge replica whose peaks do not coincide;
  B  10-20m  the primary live for the first half, then off (the gauges read 0, the picture size stays);
  C  20-30m  off;
  D  30-40m  the primary off keeping its 640x360, the backup live at 426x240, 1 Mb/s;
  E  40-50m  no series at all (both Pods gone: stale markers).
The stream tv/other and news in another namespace have series too, far larger: none may leak in.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from streamops.cli.stats import BITRATE, FRAME_RATE, HEIGHT, LIVE, SPEED, VIEWERS, WIDTH, queries

STEP = 600  # s: one interval
SCRAPE = 15  # s
PER = STEP // SCRAPE  # scrapes per interval
ROWS = 5
STALE = "stale"

Values = Callable[[int, int], float | str | None]  # (row 0..4, scrape index in the row 0..39) -> a sample


def row_of(i: int) -> tuple[int, int]:
    """Sample i (at 15·i s) as (row, index in the row): evaluated at 600·k + 5 s, row k-1 holds samples
    40(k-1)+1 .. 40k (no sample on a window's edge, so Prometheus 2's closed and 3's left-open range
    selectors agree)."""
    return (max(i - 1, 0) // PER, max(i - 1, 0) % PER)


def series(labels: str, values: Values) -> dict[str, str]:
    samples = []
    for i in range(ROWS * PER + 1):
        value = values(*row_of(i))
        if value is None:
            break
        samples.append(str(value))
    return {"series": labels, "values": " ".join(samples)}


def ingest(name: str, role: str, pod: str, values: Values, ns: str = "tv", stream: str = "news") -> dict[str, str]:
    labels = f'{{namespace="{ns}", stream="{stream}", role="{role}", pod="{pod}", job="streamops-workers"}}'
    return series(name + labels, values)


def by_row(*rows: float | str | None, then: str | None = STALE) -> Values:
    """A constant per row (A..E); after the last given row the series goes stale, then ends."""

    def value(row: int, index: int) -> float | str | None:
        if row < len(rows):
            return rows[row]
        return then if index == 0 and row == len(rows) else None

    return value


def primary_live(row: int, index: int) -> float | str | None:
    if row == 1:
        return 1 if index < PER // 2 else 0
    return by_row(1, None, 0, 0)(row, index)


def primary_bitrate(row: int, index: int) -> float | str | None:
    if row == 0:
        return 1_000_000 + 50_000 * index  # 1.0 .. 2.95 Mb/s: mean 1.975 Mb/s
    if row == 1:
        return 4_000_000 if index < PER // 2 else 0
    return by_row(None, None, 0, 0)(row, index)


def while_on(on: float, off: float = 0) -> Values:
    def value(row: int, index: int) -> float | str | None:
        if row == 0 or (row == 1 and index < PER // 2):
            return on
        return by_row(None, None, off, off)(row, index)

    return value


def peaks(*at: tuple[int, float], base: float) -> Values:
    """`base` all along A..D, with `value` at scrape `index` of row A for each (index, value)."""
    extra = dict(at)

    def value(row: int, index: int) -> float | str | None:
        if row == 0 and index in extra:
            return extra[index]
        return by_row(base, base, base, base)(row, index)

    return value


INPUT = [
    ingest(LIVE, "primary", "ingest-a", primary_live),
    ingest(LIVE, "backup", "ingest-b", by_row(0, 0, 0, 1)),
    ingest(BITRATE, "primary", "ingest-a", primary_bitrate),
    ingest(BITRATE, "backup", "ingest-b", by_row(0, 0, 0, 1_000_000)),
    ingest(FRAME_RATE, "primary", "ingest-a", while_on(30)),
    ingest(FRAME_RATE, "backup", "ingest-b", by_row(0, 0, 0, 25)),
    ingest(SPEED, "primary", "ingest-a", lambda row, index: 1.0 if row == 0 else while_on(0.9)(row, index)),
    ingest(SPEED, "backup", "ingest-b", by_row(0, 0, 0, 1.1)),
    # The picture size stays at the last session's while offline (the catalogue's help).
    ingest(WIDTH, "primary", "ingest-a", by_row(1280, 640, 640, 640)),
    ingest(HEIGHT, "primary", "ingest-a", by_row(720, 360, 360, 360)),
    ingest(WIDTH, "backup", "ingest-b", by_row(0, 0, 0, 426)),
    ingest(HEIGHT, "backup", "ingest-b", by_row(0, 0, 0, 240)),
    # Viewers: ingest hls 3 (5 at scrape 10), llhls 0 (1 at scrape 10), an edge replica 2 (4 at scrape 20):
    # the total peaks at 8 (scrape 10); the per-series peaks would add up to 10.
    series(
        f'{VIEWERS}{{namespace="tv", stream="news", role="primary", protocol="hls", pod="ingest-a"}}',
        peaks((10, 5), base=3),
    ),
    series(
        f'{VIEWERS}{{namespace="tv", stream="news", role="primary", protocol="llhls", pod="ingest-a"}}',
        peaks((10, 1), base=0),
    ),
    series(
        f'{VIEWERS}{{namespace="tv", stream="news", protocol="hls", pod="edge-1", job="streamops-edge"}}',
        peaks((20, 4), base=2),
    ),
    # Other streams' series: larger than anything of tv/news, everywhere.
    *(
        ingest(
            name,
            "primary",
            "elsewhere",
            by_row(99_000_000, 99_000_000, 99_000_000, 99_000_000, 99_000_000),
            ns=ns,
            stream=stream,
        )
        for name in (LIVE, BITRATE, FRAME_RATE, SPEED, WIDTH, HEIGHT, VIEWERS)
        for ns, stream in (("tv", "other"), ("radio", "news"))
    ),
]

# Per row A..E, per column: the one value expected (None: no sample; the row is offline or has no data).
EXPECTED: dict[str, list[float | None]] = {
    "scrapes": [80, 80, 80, 80, None],  # both ingests' scrapes: 40 each
    "onAir": [1, 0.5, 0, 1, None],
    "bitrate": [1_975_000, 4_000_000, None, 1_000_000, None],  # not 2 Mb/s in B: the offline half is left out
    "frameRate": [30, 30, None, 25, None],
    "width": [1280, 640, None, 426, None],  # D: the live backup's, not the offline primary's kept 640
    "height": [720, 360, None, 240, None],
    "speed": [1.0, 0.9, None, 1.1, None],
    "peakViewers": [8, 5, 5, 5, None],
}


def test_every_column_folds_the_ingests_as_documented(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make deps` installs Debian's prometheus package, which has it"
    exprs = queries("tv", "news", STEP)
    assert set(exprs) == set(EXPECTED)
    checks: list[dict[str, Any]] = []
    for column, per_row in EXPECTED.items():
        for row, value in enumerate(per_row):
            checks.append(
                {
                    "expr": exprs[column],
                    "eval_time": f"{STEP * (row + 1) + 5}s",
                    "exp_samples": [] if value is None else [{"labels": "{}", "value": value}],
                }
            )
    test = {"interval": f"{SCRAPE}s", "input_series": INPUT, "promql_expr_test": checks}
    (tmp_path / "stats.yaml").write_text(yaml.safe_dump({"rule_files": [], "tests": [test]}, width=10_000))
    result = subprocess.run(
        [promtool, "test", "rules", "stats.yaml"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
