"""Prometheus' text format (0.0.4) written by hand from catalogue entries (contract/metrics.py), for a
worker that does without prometheus-client (the pusher and the recorder: ≈3-4 MiB less per process,
issues 15 and 53). What it writes is what prometheus-client writes for the same values
(tests/unit/media/pusher/test_plan.py, tests/unit/media/recorder/test_metrics.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from streamops.contract.metrics import MetricSpec

Sample = tuple[Mapping[str, str], float]  # label values (every label of the entry), value


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def family_lines(entry: MetricSpec, samples: Sequence[Sample]) -> list[str]:
    """HELP, TYPE and one line per sample; labels sorted by name, as prometheus-client writes them."""
    lines = [f"# HELP {entry.name} {_escape_help(entry.help)}", f"# TYPE {entry.name} {entry.type}"]
    for labels, value in samples:
        text = ",".join(f'{label}="{_escape_label(labels[label])}"' for label in sorted(entry.labels))
        lines.append(f"{entry.name}{{{text}}} {float(value)!r}" if text else f"{entry.name} {float(value)!r}")
    return lines


def exposition(families: Sequence[tuple[MetricSpec, Sequence[Sample]]]) -> bytes:
    lines = [line for entry, samples in families for line in family_lines(entry, samples)]
    return ("\n".join(lines) + "\n").encode()


class Count:
    """A counter the worker keeps itself and `exposition` writes: what a prometheus-client Counter
    child was to the recorder (`inc()`), without the library."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount
