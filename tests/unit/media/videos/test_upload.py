"""The Uploader against a fake of our own Bucket adapter (tests/media/test_recorder_s3.py runs the
real thing against the real S3 server), and the object keys it uploads to."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from devtools.waits import eventually
from streamops.api.recording import Video
from streamops.contract.recorder import UploadTarget, object_key, sidecar_key
from streamops.media.recorder.state import RecorderState
from streamops.media.videos.bucket import Bucket, ObjectInfo, StorageFailure, UploadGone
from streamops.media.videos.part_body import PartBody, part_md5
from streamops.media.videos.upload import Uploader
from streamops.media.videos.upload_plan import (
    MIB,
    PARTS_IN_FLIGHT,
    READ_BLOCK_BYTES,
    PartRange,
    expected_etag,
    metadata_title,
    same_etag,
)
from streamops.media.videos.upload_state import UploadedPart
from streamops.redaction import Redactor

T0 = datetime(2026, 11, 22, 8, 15, 3, tzinfo=UTC)
TARGET = UploadTarget(
    endpoint="https://s3.example.test",
    bucket="recordings",
    key_prefix="streamops/ns/cam/{year}/{month}/{day}/{hour}/{minute}/rec-0123abcd",
    stream="cam",
    recording="rec",
    single_put_max_bytes=0,  # parts for anything over one part: most tests here are about parts
)


def test_keys_are_dated_by_the_videos_start_and_the_sidecar_sits_next_to_it() -> None:
    key = object_key(TARGET.key_prefix, T0, "record-20261122T081503Z.mp4")
    assert key == "streamops/ns/cam/2026/11/22/08/15/rec-0123abcd/record-20261122T081503Z.mp4"
    assert sidecar_key(key) == key[: -len(".mp4")] + ".json"


# --- the uploader, against a fake bucket ---


def video(size: int, name: str = "record-20261122T081503Z") -> Video:
    return Video(
        title="Stream Record: Caméra, 2026-11-22 08:15:03 UTC",
        path=f"rec/{name}.mp4",
        duration_seconds=12.0,
        size_bytes=size,
        started_at=T0,
        ended_at=T0,
    )


class FakeBucket(Bucket):
    """An in-memory bucket with S3's multipart rules (ETags from MD5s), and faults on demand."""

    def __init__(self) -> None:
        super().__init__(TARGET, "a", "s", Redactor())
        self.objects: dict[str, bytes] = {}
        self.object_parts: dict[str, list[bytes]] = {}  # as completed: the ETag is theirs
        self.uploads: dict[str, dict[int, bytes]] = {}
        self.calls: list[str] = []
        self.fail: dict[str, StorageFailure] = {}  # operation -> the failure it raises (once)
        self.lose_completion = False  # complete, then answer as if the upload were unknown
        self.answer_etag = True  # a completion's answer names the object's ETag (as S3's does)

    def _maybe_fail(self, operation: str) -> None:
        self.calls.append(operation)
        if operation in self.fail:
            raise self.fail.pop(operation)

    def check(self) -> None:
        self._maybe_fail("check")

    def prepare(self) -> None:
        pass  # no boto3 client to build

    def start_upload(self, key: str, title: str) -> str:
        self._maybe_fail("start")
        upload_id = f"u{len(self.uploads) + 1}"
        self.uploads[upload_id] = {}
        return upload_id

    def uploaded_parts(self, key: str, upload_id: str) -> dict[int, UploadedPart]:
        self._maybe_fail("list")
        if upload_id not in self.uploads:
            raise UploadGone("ListParts")
        return {
            n: UploadedPart(number=n, etag=f'"{hashlib.md5(d).hexdigest()}"', size=len(d))
            for n, d in self.uploads[upload_id].items()
        }

    def upload_part(self, key: str, upload_id: str, body: PartBody) -> str:
        number = body.part.number
        self._maybe_fail(f"part{number}")
        if upload_id not in self.uploads:
            raise UploadGone("UploadPart")
        data = b"".join(iter(lambda: body.read(128 * 1024), b""))  # as botocore reads a body
        self.uploads[upload_id][number] = data
        return f'"{hashlib.md5(data).hexdigest()}"'

    def complete(self, key: str, upload_id: str, parts: list[UploadedPart]) -> None:
        self._maybe_fail("complete")
        if upload_id not in self.uploads:
            raise UploadGone("CompleteMultipartUpload")
        held = self.uploads.pop(upload_id)
        assert [p.number for p in parts] == sorted(held)
        self.objects[key] = b"".join(held[n] for n in sorted(held))
        self.object_parts[key] = [held[n] for n in sorted(held)]
        if self.lose_completion:
            raise UploadGone("CompleteMultipartUpload")
        md5s = [hashlib.md5(part).digest() for part in self.object_parts[key]]
        return f'"{expected_etag(md5s, True)}"' if self.answer_etag else None

    def put_video(self, key: str, body: PartBody, title: str) -> str:
        self._maybe_fail("put")
        assert metadata_title(title).isascii()
        data = b"".join(iter(lambda: body.read(128 * 1024), b""))  # as botocore reads a body
        self.objects[key] = data
        self.object_parts[key] = [data]
        return f'"{hashlib.md5(data).hexdigest()}"'

    def put(self, key: str, data: bytes, md5: bytes, content_type: str, title: str) -> str:
        self._maybe_fail("put")
        assert metadata_title(title).isascii()
        self.objects[key] = data
        self.object_parts[key] = [data]
        return f'"{md5.hex()}"'

    def head(self, key: str) -> ObjectInfo | None:
        self._maybe_fail("head")
        data = self.objects.get(key)
        if data is None:
            return None
        md5s = [hashlib.md5(part).digest() for part in self.object_parts[key]]
        return ObjectInfo(size=len(data), etag=f'"{expected_etag(md5s, len(md5s) > 1)}"')


class Harness:
    def __init__(self, tmp_path: Path, bucket: FakeBucket, target: UploadTarget = TARGET) -> None:
        self.out_dir = tmp_path / "rec"
        self.out_dir.mkdir()
        self.state = RecorderState()
        self.saved: list[str] = []
        self.bucket = bucket

        async def probe(_: Path) -> dict[str, Any]:
            return {"video": {"codec": "h264"}}

        # Every acknowledged part saved (progress_save_seconds 0): what each save held is checked.
        self.uploader = Uploader(
            target, self.out_dir, bucket, lambda: self.state, self.save, probe, progress_save_seconds=0
        )

    def save(self) -> None:
        self.saved.append(self.state.model_dump_json(by_alias=True))

    def add_video(self, size: int, part_bytes: int | None = None) -> tuple[Video, bytes]:
        """A video of `size` bytes queued for upload; `part_bytes`: smaller parts than S3 allows (the
        fake takes them), so that many parts cost little."""
        data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        v = video(size)
        (self.out_dir / "record-20261122T081503Z.mp4").write_bytes(data)
        (self.out_dir / "record-20261122T081503Z.json").write_text("{}")
        self.state.videos.append(v)
        self.uploader.enqueue(v, "record-20261122T081503Z.mp4")
        if part_bytes is not None:
            self.state.uploads[-1].part_size = part_bytes
        return v, data

    def upload_all(self) -> None:
        """Run the uploader until nothing waits."""
        asyncio.run(self.run_until(lambda: not self.state.uploads))

    def errors_until_uploaded(self) -> list[str | None]:
        """Run the uploader until nothing waits; the error it reported at each step of the loop."""
        seen: list[str | None] = []

        async def scenario() -> None:
            task = asyncio.create_task(self.uploader.run())
            try:
                async with asyncio.timeout(10):
                    while self.state.uploads:
                        seen.append(self.uploader.error)
                        await asyncio.sleep(0)
            finally:
                task.cancel()

        asyncio.run(scenario())
        return seen

    async def run_until(self, done: Any, timeout: float = 10) -> None:
        task = asyncio.create_task(self.uploader.run())
        try:
            async with asyncio.timeout(timeout):
                while not done():
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()


@pytest.fixture(autouse=True)
def instant_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    import streamops.media.videos.upload as upload

    monkeypatch.setattr(upload, "backoff_seconds", lambda failures, cap=None: 0.0 if failures <= 0 else 0.01)


def test_a_video_goes_up_in_parts_is_verified_then_its_local_copy_goes(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeBucket())
    v, data = h.add_video(20 * MIB + 3)
    key = object_key(TARGET.key_prefix, T0, "record-20261122T081503Z.mp4")
    assert (v.url, v.upload) == (f"s3://recordings/{key}", "pending")

    h.upload_all()
    assert h.bucket.objects[key] == data
    doc = json.loads(h.bucket.objects[sidecar_key(key)])
    assert doc["title"] == v.title and doc["sizeBytes"] == len(data) and doc["stream"] == "cam"
    assert doc["recording"] == "rec" and doc["codecs"] == {"video": {"codec": "h264"}}
    assert (v.upload, v.path) == ("uploaded", None)
    assert not list(h.out_dir.iterdir()), "video and local sidecar deleted"
    assert sorted(c for c in h.bucket.calls if c.startswith("part")) == ["part1", "part2", "part3"]
    # Verified by the completion's answer (every part's MD5 matched, and the object's ETag is theirs):
    # no HEAD; the sidecar only after that.
    assert "head" not in h.bucket.calls and h.bucket.calls.index("complete") < h.bucket.calls.index("put")
    # the state was saved with the upload id before the first part, and after every part
    saved = [json.loads(s) for s in h.saved]
    assert any(s["uploads"] and s["uploads"][0]["uploadId"] and not s["uploads"][0]["parts"] for s in saved)
    assert [len(s["uploads"][0]["parts"]) for s in saved if s["uploads"] and s["uploads"][0]["parts"]] == [1, 2, 3]
    assert json.loads(h.saved[-1])["uploads"] == [], "uploaded: saved before the local copy went"


def test_a_small_video_is_one_put_with_a_plain_md5_etag(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeBucket())
    v, data = h.add_video(3 * MIB)
    h.upload_all()
    # The video, its JSON sidecar and its VOD page (storage/vod_page.py): one PUT each.
    assert v.upload == "uploaded" and h.bucket.calls.count("put") == 3 and "start" not in h.bucket.calls
    assert b"window.streamopsPlayer" in h.bucket.objects[h_key(v)[: -len(".mp4")] + ".html"]
    found = h.bucket.head(h_key(v))
    assert found is not None and same_etag(found.etag, hashlib.md5(data).hexdigest())


# 32 MiB: an upload begun in parts (by an earlier version or setting) is finished in parts, not left
# open on the server for a PUT, whatever the single-PUT size.
@pytest.mark.parametrize("single_put_max", [0, 32 * MIB])
def test_a_resumed_upload_sends_only_the_missing_parts(tmp_path: Path, single_put_max: int) -> None:
    bucket = FakeBucket()
    h = Harness(tmp_path, bucket, TARGET.model_copy(update={"single_put_max_bytes": single_put_max}))
    v, data = h.add_video(20 * MIB)
    # A killed run: the upload was created and part 1 acknowledged (and part 2 half sent: not listed).
    [u] = h.state.uploads
    u.upload_id = bucket.start_upload(u.key, v.title)
    bucket.uploads[u.upload_id][1] = data[: 8 * MIB]
    u.parts = [UploadedPart(number=1, etag=f'"{hashlib.md5(data[: 8 * MIB]).hexdigest()}"', size=8 * MIB)]
    bucket.calls.clear()

    h.upload_all()
    assert sorted(c for c in bucket.calls if c.startswith("part")) == ["part2", "part3"]
    assert bucket.calls[0] == "list" and v.upload == "uploaded" and bucket.objects[u.key] == data
    assert not bucket.uploads, "no upload left open"


def test_a_part_the_server_holds_with_other_bytes_is_sent_again(tmp_path: Path) -> None:
    bucket = FakeBucket()
    h = Harness(tmp_path, bucket)
    v, data = h.add_video(20 * MIB)
    [u] = h.state.uploads
    u.upload_id = bucket.start_upload(u.key, v.title)
    bucket.uploads[u.upload_id][1] = b"\0" * 8 * MIB  # not what the file holds
    h.upload_all()
    assert sorted(c for c in bucket.calls if c.startswith("part")) == ["part1", "part2", "part3"]
    assert bucket.objects[u.key] == data


def test_an_upload_the_server_forgot_starts_over(tmp_path: Path) -> None:
    bucket = FakeBucket()
    h = Harness(tmp_path, bucket)
    v, data = h.add_video(20 * MIB)
    [u] = h.state.uploads
    u.upload_id = "expired-id"
    u.parts = [UploadedPart(number=1, etag='"x"', size=8 * MIB)]
    h.upload_all()
    assert sorted(c for c in bucket.calls if c.startswith("part")) == ["part1", "part2", "part3"]
    assert bucket.calls.count("start") == 1 and bucket.objects[u.key] == data and v.upload == "uploaded"


def test_a_completion_whose_answer_was_lost_is_verified_not_redone(tmp_path: Path) -> None:
    bucket = FakeBucket()
    bucket.lose_completion = True
    h = Harness(tmp_path, bucket)
    v, data = h.add_video(20 * MIB)
    h.upload_all()
    assert bucket.calls.count("start") == 1 and bucket.calls.count("part1") == 1
    assert v.upload == "uploaded" and bucket.objects[h_key(v)] == data


def h_key(v: Video) -> str:
    assert v.url is not None
    return v.url.removeprefix("s3://recordings/")


def test_failures_are_reported_retried_and_cleared_by_a_success(tmp_path: Path) -> None:
    bucket = FakeBucket()
    h = Harness(tmp_path, bucket)
    bucket.fail["check"] = StorageFailure("StorageAccessDenied", "ListObjectsV2 s3://recordings: SignatureDoesNotMatch")
    seen: list[tuple[str | None, str | None]] = []

    async def scenario() -> None:
        task = asyncio.create_task(h.uploader.run())
        try:
            async with asyncio.timeout(10):
                while h.uploader.problem is None:
                    await asyncio.sleep(0)
                seen.append((h.uploader.problem, h.uploader.error))
                while not h.uploader.checked:
                    await asyncio.sleep(0.01)
                bucket.fail["part2"] = StorageFailure("StorageUnreachable", "UploadPart: connection refused")
                v, _ = h.add_video(20 * MIB)
                while h.uploader.problem is None:
                    await asyncio.sleep(0)
                seen.append((h.uploader.problem, v.upload))
                await h.uploader.drained()
                seen.append((h.uploader.problem, v.upload))
        finally:
            task.cancel()

    asyncio.run(scenario())
    assert seen == [
        ("StorageAccessDenied", "ListObjectsV2 s3://recordings: SignatureDoesNotMatch"),
        ("StorageUnreachable", "pending"),
        (None, "uploaded"),
    ]
    assert h.uploader.failures == 0 and h.uploader.error is None
    assert h.uploader.failed_attempts == 2, "the metric counts every failed attempt, not the streak"
    assert sorted(c for c in bucket.calls if c.startswith("part")) == ["part1", "part2", "part2", "part3"]


def test_the_uploader_backs_off_no_longer_than_its_configured_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamops.media.videos.upload as upload
    from streamops.media.videos import upload_plan

    class Unreachable(FakeBucket):
        def __init__(self, failures: int) -> None:
            super().__init__()
            self.left = failures

        def check(self) -> None:
            if self.left:
                self.left -= 1
                raise StorageFailure("StorageUnreachable", "ListObjectsV2: connection refused")
            super().check()

    caps: list[float | None] = []

    def backoff(failures: int, cap: float | None = None) -> float:  # the real one (not the fixture's), watched
        caps.append(cap)
        return upload_plan.backoff_seconds(failures, cap)

    monkeypatch.setattr(upload, "backoff_seconds", backoff)
    h = Harness(tmp_path, Unreachable(failures=5))
    h.uploader.backoff_max_seconds = 0.05
    # 5 failures: 0.25 s of pauses at a 0.05 s cap; the built-in 1, 2, 4, 8, 16 s would take 31 s.
    asyncio.run(h.run_until(lambda: h.uploader.checked, timeout=5))
    assert caps and set(caps) == {0.05}
    assert h.uploader.failed_attempts == 5 and h.uploader.problem is None


def test_the_upload_lag_is_the_age_of_the_oldest_waiting_video_from_its_end(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeBucket())
    assert h.uploader.lag_seconds(T0 + timedelta(hours=1)) == 0, "none waits"
    h.add_video(3 * MIB)  # ended at T0
    assert h.uploader.lag_seconds(T0 + timedelta(seconds=90)) == 90
    assert h.uploader.lag_seconds(T0 - timedelta(seconds=5)) == 0, "a clock behind the video's end is no lag"
    h.upload_all()
    assert h.uploader.lag_seconds(T0 + timedelta(seconds=90)) == 0


def test_a_verification_mismatch_keeps_the_local_copy_and_starts_over(tmp_path: Path) -> None:
    bucket = FakeBucket()
    bucket.answer_etag = False  # a server whose completion names no ETag: verified by HEAD
    h = Harness(tmp_path, bucket)
    v, data = h.add_video(20 * MIB)
    real_head = bucket.head
    heads: list[int] = []

    def corrupt_once(key: str) -> ObjectInfo | None:
        heads.append(1)
        found = real_head(key)
        return ObjectInfo(size=found.size, etag='"0123-3"') if found and len(heads) == 1 else found

    bucket.head = corrupt_once  # type: ignore[method-assign]
    h.upload_all()
    assert bucket.calls.count("start") == 2, "the unverified object is uploaded again from scratch"
    assert v.upload == "uploaded" and bucket.objects[h_key(v)] == data


def test_an_unexpected_error_is_an_upload_failure_retried_not_the_end_of_uploads(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeBucket())
    probes: list[int] = []

    async def flaky_probe(_: Path) -> dict[str, Any]:
        probes.append(1)
        if len(probes) == 1:
            raise RuntimeError("ffprobe went away")
        return {}

    h.uploader.probe = flaky_probe
    v, _ = h.add_video(1 * MIB)
    h.upload_all()
    assert v.upload == "uploaded" and len(probes) == 2 and h.uploader.problem is None


def test_a_recorder_going_away_stops_waiting_on_a_storage_that_keeps_failing(tmp_path: Path) -> None:
    """After SIGTERM the recorder waits for its uploads only while they can go through: three
    failures in a row and `drained(give_up_after_failures=3)` returns with the video still queued
    (the state file keeps it), where plain `drained()` would wait for the storage to come back."""

    class Refusing(FakeBucket):
        def start_upload(self, key: str, title: str) -> str:
            self.calls.append("start")
            raise StorageFailure("StorageAccessDenied", "CreateMultipartUpload: InvalidAccessKeyId")

    h = Harness(tmp_path, Refusing())
    h.add_video(20 * MIB)  # multipart: start_upload refuses

    async def scenario() -> int:
        task = asyncio.create_task(h.uploader.run())
        try:
            async with asyncio.timeout(10):
                await h.uploader.drained(give_up_after_failures=3)
            return h.uploader.failures
        finally:
            task.cancel()

    assert asyncio.run(scenario()) >= 3
    assert h.uploader.pending == 1 and (tmp_path / "rec" / "record-20261122T081503Z.mp4").exists()


# --- parts in parallel, in bounded memory ---


class SlowBucket(FakeBucket):
    """Parts take a while, so they overlap; counts how many are being sent at once."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Condition()
        self.now = self.most = 0

    def upload_part(self, key: str, upload_id: str, body: PartBody) -> str:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.lock.notify_all()
            # The first parts wait until as many as may go at once are in flight (an event, not a
            # race between 0.05 s parts and the starts of the next on a loaded machine); a product
            # that sends fewer at once waits out the deadline and fails the count.
            self.lock.wait_for(lambda: self.most >= PARTS_IN_FLIGHT, timeout=10)
        try:
            time.sleep(0.05)
            self.before_answer(body.part.number)
            return super().upload_part(key, upload_id, body)
        finally:
            with self.lock:
                self.now -= 1

    def before_answer(self, number: int) -> None:
        """A hook: what a part waits for before it is answered."""


class PartTwoFailsFirst(SlowBucket):
    """Part 2 fails and the others of the first wave are answered only once the uploader took the
    failure in: on a loaded machine part 2's thread came last (ci70), part 1's answer then started
    part 5 before any failure was known, which the product rightly does."""

    def __init__(self, failure_seen: Callable[[], bool]) -> None:
        super().__init__()
        self.failure_seen = failure_seen
        self.fail["part2"] = StorageFailure("StorageUnreachable", "UploadPart: connection reset")

    def before_answer(self, number: int) -> None:
        if number != 2:  # the retry's parts find it so at once
            eventually(self.failure_seen, timeout=10, interval=0.005, what="the uploader took part 2's failure in")


def test_parts_go_up_a_fixed_number_at_a_time_each_read_in_blocks(tmp_path: Path) -> None:
    bucket = SlowBucket()
    h = Harness(tmp_path, bucket)
    v, data = h.add_video(10 * MIB + 5, part_bytes=2 * MIB)  # 6 parts: more than go at once
    h.upload_all()
    assert bucket.objects[h_key(v)] == data and v.upload == "uploaded"
    assert bucket.most == PARTS_IN_FLIGHT == h.uploader.most_parts_in_flight, "parallel, never more"
    assert 0 < h.uploader.largest_read <= READ_BLOCK_BYTES < 2 * MIB, "a part in flight holds one block"
    saved = [json.loads(s)["uploads"] for s in h.saved]
    counts = [len(u[0]["parts"]) for u in saved if u and u[0]["parts"]]
    assert counts == list(range(1, 7)), "saved as each part is acknowledged"


def test_acknowledged_parts_are_saved_at_most_every_interval_the_upload_id_at_once(tmp_path: Path) -> None:
    """Each save is an fsync in the event loop: the upload id is saved once the first parts are on
    their way, the acknowledged parts no more often than progress_save_seconds, then the end."""
    h = Harness(tmp_path, SlowBucket())
    h.uploader.progress_save_seconds = 60
    v, data = h.add_video(10 * MIB + 5, part_bytes=2 * MIB)  # 6 parts, 0.05 s each
    h.upload_all()
    saved = [json.loads(s)["uploads"] for s in h.saved]
    assert [len(u[0]["parts"]) if u else None for u in saved] == [0, None], "the id, then uploaded"
    assert saved[0][0]["uploadId"] and h.bucket.objects[h_key(v)] == data


def test_a_failed_part_lets_those_in_flight_finish_and_keeps_them(tmp_path: Path) -> None:
    """Part 2 fails while 1, 3 and 4 are in flight: no new part starts, the three acknowledged are
    saved, and the retry sends part 2 and the ones never started, none twice."""
    uploader: list[Uploader] = []
    bucket = PartTwoFailsFirst(lambda: uploader[0].failed_parts_seen >= 1)
    h = Harness(tmp_path, bucket)
    uploader.append(h.uploader)
    v, data = h.add_video(6 * MIB, part_bytes=MIB)  # 6 parts
    h.upload_all()
    parts = [c for c in bucket.calls if c.startswith("part")]
    assert sorted(parts[:4]) == ["part1", "part2", "part3", "part4"], "the first four at once"
    assert sorted(parts[4:]) == ["part2", "part5", "part6"], "then the failed one and the rest, once each"
    assert h.uploader.failed_attempts == 1 and bucket.objects[h_key(v)] == data


def test_a_part_stored_with_other_bytes_than_were_sent_is_a_failure_and_goes_again(tmp_path: Path) -> None:
    class Garbling(FakeBucket):
        garbled = False

        def upload_part(self, key: str, upload_id: str, body: PartBody) -> str:
            etag = super().upload_part(key, upload_id, body)
            if body.part.number == 2 and not self.garbled:  # corrupted on the way (no Content-MD5 to stop it)
                self.garbled = True
                self.uploads[upload_id][2] = b"\1" * body.part.length
                return f'"{hashlib.md5(self.uploads[upload_id][2]).hexdigest()}"'
            return etag

    bucket = Garbling()
    h = Harness(tmp_path, bucket)
    v, data = h.add_video(3 * MIB - 100, part_bytes=MIB)
    problems = h.errors_until_uploaded()
    assert any(p and "part 2 of" in p and "arrived different" in p for p in problems), problems
    assert sorted(c for c in bucket.calls if c.startswith("part")) == ["part1", "part2", "part2", "part3"]
    assert bucket.objects[h_key(v)] == data and v.upload == "uploaded"


def test_a_part_body_reads_its_range_in_blocks_hashes_it_and_rewinds_only_to_its_start(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    data = bytes(range(256)) * (3 * MIB // 256)
    path.write_bytes(data)
    part = PartRange(number=2, offset=MIB + 7, length=MIB + 100)
    with PartBody(path, part) as body:
        assert len(body) == part.length and body.tell() == 0
        first = body.read(4096)
        assert first == data[MIB + 7 : MIB + 7 + 4096]
        assert body.seek(0) == 0  # botocore rewinds a body before (re)sending it: the MD5 starts again
        got = b"".join(iter(lambda: body.read(10 * MIB), b""))
        assert got == data[MIB + 7 : 2 * MIB + 107] and body.largest_read == READ_BLOCK_BYTES
        assert body.md5() == hashlib.md5(got).digest() == part_md5(path, part)
        with pytest.raises(io.UnsupportedOperation):
            body.seek(5)
    with PartBody(path, part) as body:
        body.read(100)
        with pytest.raises(OSError, match="sent only in part"):
            body.md5()
    path.write_bytes(data[: MIB + 50])  # the file shrank: never a short part sent as if whole
    with PartBody(path, part) as body, pytest.raises(OSError, match="shorter than it was"):
        body.read(MIB)


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_part_goes_as_a_stream_without_content_md5_and_unsigned_only_over_tls(tmp_path: Path, scheme: str) -> None:
    """What botocore makes of a PartBody (stopped before the network): Content-Length the part's, no
    Content-MD5, no SHA-256 of the payload over TLS (the MD5 taken while sending stands in), signed
    over plain HTTP; the body handed over is the PartBody itself, not bytes read out of it."""
    from botocore.awsrequest import AWSResponse

    path = tmp_path / "v.mp4"
    path.write_bytes(b"v" * (9 * MIB))
    bucket = Bucket(
        TARGET.model_copy(update={"endpoint": f"{scheme}://s3.example.test"}), "AKIAEXAMPLE", "s", Redactor()
    )
    seen: dict[str, Any] = {}

    class Raw:
        def stream(self, **_: Any) -> Any:
            return iter([b""])

    def answer(request: Any, **_: Any) -> AWSResponse:
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        seen.update(headers=headers, body=request.body)
        return AWSResponse(request.url, 200, {"ETag": '"e"'}, Raw())

    bucket.client().meta.events.register("before-send.s3.UploadPart", answer)
    with PartBody(path, PartRange(number=2, offset=8 * MIB, length=MIB)) as body:
        assert bucket.upload_part("k", "u1", body) == '"e"'
        assert seen["body"] is body
    headers = seen["headers"]
    assert "Content-MD5" not in headers and int(headers["Content-Length"]) == MIB
    signed = headers["X-Amz-Content-SHA256"]
    assert (signed == "UNSIGNED-PAYLOAD") == (scheme == "https"), signed
    if scheme == "http":
        assert signed == hashlib.sha256(b"v" * MIB).hexdigest()


# --- one streaming PUT up to single_put_max_bytes; verified by the write's answer ---


def test_a_video_up_to_the_single_put_size_is_one_streamed_put_verified_by_its_answer(tmp_path: Path) -> None:
    bucket = FakeBucket()
    h = Harness(tmp_path, bucket, TARGET.model_copy(update={"single_put_max_bytes": 32 * MIB}))
    v, data = h.add_video(20 * MIB + 3)  # three 8 MiB parts' worth
    h.upload_all()
    assert v.upload == "uploaded" and bucket.objects[h_key(v)] == data
    # The video, its sidecar, its VOD page; no multipart upload and no HEAD (the PUT's ETag is the
    # MD5 of what was read as it went).
    assert bucket.calls == ["put", "put", "put"], bucket.calls
    assert h.uploader.largest_read <= READ_BLOCK_BYTES, "streamed in blocks, never the whole file in memory"
    assert not any(s_["uploads"] and s_["uploads"][0]["uploadId"] for s_ in map(json.loads, h.saved))


def test_a_video_over_the_single_put_size_goes_in_parts(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeBucket(), TARGET.model_copy(update={"single_put_max_bytes": 16 * MIB}))
    v, data = h.add_video(16 * MIB + 1)
    h.upload_all()
    assert sorted(c for c in h.bucket.calls if c.startswith("part")) == ["part1", "part2", "part3"]
    assert h.bucket.objects[h_key(v)] == data


def test_a_put_stored_with_other_bytes_than_were_sent_fails_and_goes_again(tmp_path: Path) -> None:
    class Garbling(FakeBucket):
        garbled = False

        def put_video(self, key: str, body: PartBody, title: str) -> str:
            etag = super().put_video(key, body, title)
            if not self.garbled:  # corrupted on the way: the answer's ETag is the MD5 of other bytes
                self.garbled = True
                self.objects[key] = b"\1" * len(self.objects[key])
                return f'"{hashlib.md5(self.objects[key]).hexdigest()}"'
            return etag

    bucket = Garbling()
    h = Harness(tmp_path, bucket, TARGET.model_copy(update={"single_put_max_bytes": 32 * MIB}))
    v, data = h.add_video(3 * MIB)
    problems = h.errors_until_uploaded()
    assert any(p and "arrived different" in p for p in problems), problems
    assert v.upload == "uploaded" and bucket.objects[h_key(v)] == data


def test_a_completion_answer_without_an_etag_is_verified_by_head(tmp_path: Path) -> None:
    bucket = FakeBucket()
    bucket.answer_etag = False
    h = Harness(tmp_path, bucket)
    v, data = h.add_video(20 * MIB)
    h.upload_all()
    assert bucket.calls.count("head") == 1 and bucket.calls.index("head") < bucket.calls.index("put")
    assert v.upload == "uploaded" and bucket.objects[h_key(v)] == data
