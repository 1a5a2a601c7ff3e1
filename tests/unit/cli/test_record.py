"""`kubectl streamops record start|stop` without a cluster (cli/record.py): a new Recording's name,
and which Recordings block a new one."""

from __future__ import annotations

from datetime import UTC, datetime

from streamops.cli.record import default_name, unstopped


def test_recording_names_and_the_recordings_that_block_a_new_one():
    assert default_name("cam", datetime(2026, 11, 25, 4, 10, 5, tzinfo=UTC)) == "cam-20261125-041005"
    assert len(default_name("x" * 200, datetime(2026, 11, 25, tzinfo=UTC))) == 56

    def rec(name: str, stream: str, stopped: bool = False, deleting: bool = False) -> dict[str, object]:
        meta: dict[str, object] = {"name": name, **({"deletionTimestamp": "2026-11-25T04:00:00Z"} if deleting else {})}
        return {"metadata": meta, "spec": {"streamRef": {"name": stream}, "stopped": stopped}}

    recordings = [rec("a", "cam"), rec("b", "cam", stopped=True), rec("c", "other"), rec("d", "cam", deleting=True)]
    assert [r["metadata"]["name"] for r in unstopped(recordings, "cam")] == ["a"]  # type: ignore[index]
