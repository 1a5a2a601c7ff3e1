"""A video's JSON sidecars: the bucket's, and the one beside the MP4 on the claim."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from streamops.api.common import ClientFields
from streamops.api.recording import Video
from streamops.media.videos.sidecar import sidecar, write_sidecar

T0 = datetime(2026, 11, 22, 8, 15, 3, tzinfo=UTC)


def test_sidecar_has_the_videos_facts_and_nothing_else() -> None:
    doc = sidecar(
        title="Stream Record: c, 2026-11-22 08:15:03 UTC",
        stream="cam",
        recording="rec",
        url="s3://recordings/k.mp4",
        started_at=T0,
        ended_at=T0,
        duration_seconds=12.5,
        size_bytes=99,
        codecs={"video": {"codec": "h264"}},
    )
    assert doc["startedAt"] == "2026-11-22T08:15:03Z" and doc["durationSeconds"] == 12.5
    assert set(doc) == {
        "title", "stream", "recording", "url", "startedAt", "endedAt", "durationSeconds", "sizeBytes", "codecs"
    }  # fmt: skip


def test_the_sidecar_on_the_claim_is_the_video_as_status_shows_it_and_the_client_fields(tmp_path: Path) -> None:
    made = Video(
        title="Stream Record: c, 2026-11-22 08:15:03 UTC",
        path="rec/v.mp4",
        duration_seconds=12.5,
        size_bytes=99,
        started_at=T0,
        ended_at=T0,
    )
    client = ClientFields(client_user_id=7)
    write_sidecar(tmp_path / "v.mp4", made, client)
    text = (tmp_path / "v.json").read_text()
    assert text.endswith("}\n") and json.loads(text) == {
        **made.model_dump(mode="json", by_alias=True),
        "clientUserId": 7,
    }
    write_sidecar(tmp_path / "v.mp4", made, None)
    assert json.loads((tmp_path / "v.json").read_text()) == made.model_dump(mode="json", by_alias=True)
    assert [p.name for p in tmp_path.iterdir()] == ["v.json"], "written whole, no temporary left"
