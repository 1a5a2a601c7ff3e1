"""The recorder's upload without a server: the pure decisions (parts, ETags, backoff, what a failure
means, metadata, sidecar, disk space) and the Uploader against a fake of our own Bucket adapter
(tests/media/test_recorder_s3.py runs the real thing against the real S3 server)."""

from __future__ import annotations

import asyncio
import base64
import email.header
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from streamops.api.recording import Video
from streamops.contract.recorder import RecorderConfig, UploadTarget, object_key, sidecar_key
from streamops.media.recorder.bucket import Bucket, ObjectInfo, StorageFailure, UploadGone
from streamops.media.recorder.commands import codecs_of
from streamops.media.recorder.plan import (
    part_outcome,
    room_to_join,
    room_to_record,
    says_no_space,
    space_short,
    stored_bytes,
)
from streamops.media.recorder.state import RecorderState, UploadedPart
from streamops.media.recorder.upload import Uploader
from streamops.media.recorder.upload_plan import (
    MIB,
    PART_BYTES,
    backoff_seconds,
    expected_etag,
    is_multipart,
    metadata_title,
    part_ranges,
    part_size,
    same_etag,
    sidecar,
    storage_problem,
)
from streamops.redaction import Redactor

T0 = datetime(2026, 11, 22, 8, 15, 3, tzinfo=UTC)
TARGET = UploadTarget(
    endpoint="https://s3.example.test",
    bucket="recordings",
    key_prefix="streamops/ns/cam/{year}/{month}/{day}/{hour}/{minute}/rec-0123abcd",
    stream="cam",
    recording="rec",
)


# --- parts and ETags ---


def test_parts_are_8_mib_and_larger_only_past_10000_parts() -> None:
    assert part_size(20 * MIB) == PART_BYTES == 8 * MIB
    assert part_size(1, preferred=1 * MIB) == 5 * MIB, "S3's minimum for all parts but the last"
    huge = 200 * 1024 * MIB  # 200 GiB: 8 MiB parts would be 25600 of them
    size = part_size(huge)
    assert size % MIB == 0 and size * 10_000 >= huge and (size - MIB) * 10_000 < huge


def test_part_ranges_cover_the_file_once() -> None:
    ranges = part_ranges(20 * MIB + 5, 8 * MIB)
    assert [(r.number, r.offset, r.length) for r in ranges] == [
        (1, 0, 8 * MIB),
        (2, 8 * MIB, 8 * MIB),
        (3, 16 * MIB, 4 * MIB + 5),
    ]
    assert part_ranges(0, 8 * MIB) == []
    assert is_multipart(8 * MIB + 1, 8 * MIB) and not is_multipart(8 * MIB, 8 * MIB)


def test_expected_etag_is_s3s_md5_of_md5s() -> None:
    parts = [b"a" * 10, b"b" * 10, b"c"]
    md5s = [hashlib.md5(p).digest() for p in parts]
    assert expected_etag(md5s, multipart=True) == hashlib.md5(b"".join(md5s)).hexdigest() + "-3"
    assert expected_etag([hashlib.md5(b"x").digest()], multipart=False) == hashlib.md5(b"x").hexdigest()
    with pytest.raises(ValueError):
        expected_etag(md5s, multipart=False)
    assert same_etag('"ABC-3"', "abc-3") and not same_etag('"abc-2"', "abc-3")


def test_backoff_doubles_from_1_to_30_seconds() -> None:
    assert [backoff_seconds(n) for n in range(8)] == [0, 1, 2, 4, 8, 16, 30, 30]
    assert backoff_seconds(10_000) == 30
    assert [backoff_seconds(n, None) for n in range(8)] == [0, 1, 2, 4, 8, 16, 30, 30], "None: the built-in cap"


def test_backoff_cap_can_be_set_lower_or_higher() -> None:
    assert [backoff_seconds(n, 3) for n in range(6)] == [0, 1, 2, 3, 3, 3]
    assert backoff_seconds(10_000, 3) == 3
    assert [backoff_seconds(n, 120) for n in range(10)] == [0, 1, 2, 4, 8, 16, 32, 64, 120, 120]


def test_the_recorder_config_leaves_the_backoff_cap_unset_by_default() -> None:
    config = RecorderConfig(
        feed_url="http://127.0.0.1:1/feed",
        directory="rec",
        reconnect_window_seconds=10,
        max_segment_seconds=14400,
        min_duration_seconds=10,
    )
    assert config.upload_backoff_max_seconds is None
    assert "uploadBackoffMaxSeconds" not in config.to_json(), "unset: the configuration (Pod hash) stays as it was"
    with pytest.raises(ValueError):
        RecorderConfig.model_validate({**config.wire(), "uploadBackoffMaxSeconds": 0.5})


# --- what a failure means ---


@pytest.mark.parametrize(
    ("code", "unreachable", "problem"),
    [
        (None, True, "StorageUnreachable"),
        ("InvalidAccessKeyId", False, "StorageAccessDenied"),
        ("SignatureDoesNotMatch", False, "StorageAccessDenied"),
        ("AccessDenied", False, "StorageAccessDenied"),
        ("XAdminUserNotFound", False, "StorageAccessDenied"),  # versitygw: unknown access key
        ("403", False, "StorageAccessDenied"),
        ("NoSuchBucket", False, "BucketNotFound"),
        ("InternalError", False, "UploadFailing"),
        ("SlowDown", False, "UploadFailing"),
        ("404", False, "UploadFailing"),  # a HEAD's 404 says nothing about why
    ],
)
def test_failures_are_classified(code: str | None, unreachable: bool, problem: str) -> None:
    assert storage_problem(code, unreachable) == problem


def client_error(code: str, message: str = "", status: int = 400, **extra: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message, **extra}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


def raising(error: Exception) -> Any:
    def call(_: Any) -> Any:
        raise error

    return call


def test_bucket_turns_boto_errors_into_redacted_storage_failures() -> None:
    access, secret = "SOACCESSKEY123", "very/secret+key"
    bucket = Bucket(TARGET, access, secret, Redactor([access, secret]))
    bucket._client = object()  # type: ignore[assignment]  (no call reaches it: each raises first)

    with pytest.raises(StorageFailure) as denied:
        bucket._call("PutObject", raising(client_error("SignatureDoesNotMatch", f"bad {secret} for {access}", 403)))
    assert denied.value.problem == "StorageAccessDenied" and denied.value.code == "SignatureDoesNotMatch"
    assert secret not in denied.value.message and access not in denied.value.message
    assert denied.value.message.startswith("PutObject s3://recordings: SignatureDoesNotMatch")

    with pytest.raises(StorageFailure) as missing:
        bucket._call("ListObjectsV2", raising(client_error("NoSuchBucket", "The specified bucket does not exist")))
    assert missing.value.problem == "BucketNotFound"

    with pytest.raises(StorageFailure) as down:
        bucket._call("UploadPart", raising(EndpointConnectionError(endpoint_url="https://s3.example.test/x")))
    assert down.value.problem == "StorageUnreachable" and "s3.example.test" in down.value.message
    with pytest.raises(StorageFailure) as slow:
        bucket._call("UploadPart", raising(ReadTimeoutError(endpoint_url="https://s3.example.test/x")))
    assert slow.value.problem == "StorageUnreachable"

    with pytest.raises(UploadGone):
        bucket._call("ListParts", raising(client_error("NoSuchUpload", status=404)), gone_ok=True)
    with pytest.raises(StorageFailure):
        bucket._call("PutObject", raising(client_error("NoSuchUpload", status=404)))


def test_bucket_without_keys_never_asks_boto3_for_credentials() -> None:
    bucket = Bucket(TARGET, "", "", Redactor())
    with pytest.raises(StorageFailure) as e:
        bucket.check()
    assert e.value.problem == "StorageAccessDenied" and bucket._client is None
    assert "SOACCESS" not in repr(Bucket(TARGET, "SOACCESSKEY123", "s", Redactor()))


# --- metadata, keys and the sidecar ---


def test_title_metadata_is_ascii_rfc_2047_when_needed() -> None:
    assert metadata_title("Stream Record: Camera 1, 2026-11-22 08:15:03 UTC") == (
        "Stream Record: Camera 1, 2026-11-22 08:15:03 UTC"
    )
    title = "Stream Record: Caméra ☀, 2026-11-22 08:15:03 UTC"
    encoded = metadata_title(title)
    assert encoded.isascii() and encoded.startswith("=?UTF-8?B?")
    [(raw, charset)] = email.header.decode_header(encoded)
    assert isinstance(raw, bytes) and raw.decode(charset or "") == title
    assert metadata_title("line\nbreak").isascii() and "\n" not in metadata_title("line\nbreak")


def test_keys_are_dated_by_the_videos_start_and_the_sidecar_sits_next_to_it() -> None:
    key = object_key(TARGET.key_prefix, T0, "record-20261122T081503Z.mp4")
    assert key == "streamops/ns/cam/2026/11/22/08/15/rec-0123abcd/record-20261122T081503Z.mp4"
    assert sidecar_key(key) == key[: -len(".mp4")] + ".json"


def test_sidecar_has_what_the_issue_lists() -> None:
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


def test_codecs_come_from_the_first_video_and_audio_streams() -> None:
    streams = [
        {"codec_type": "video", "codec_name": "h264", "profile": "High", "width": 1280, "height": 720},
        {"codec_type": "audio", "codec_name": "aac", "sample_rate": "48000"},
        {"codec_type": "video", "codec_name": "mjpeg", "width": 1, "height": 1},
    ]
    assert codecs_of(streams) == {
        "video": {"codec": "h264", "profile": "High", "width": 1280, "height": 720},
        "audio": {"codec": "aac", "sampleRate": 48000},
    }
    assert codecs_of([]) == {}


# --- disk space ---


def test_the_open_video_closes_while_its_join_still_fits() -> None:
    mib = MIB
    assert not space_short(free_bytes=100 * mib, unjoined_bytes=30 * mib, min_free_bytes=64 * mib)
    assert space_short(free_bytes=90 * mib, unjoined_bytes=30 * mib, min_free_bytes=64 * mib)
    assert space_short(free_bytes=0, unjoined_bytes=0, min_free_bytes=1)


def test_a_new_video_waits_for_room_for_one_as_large_as_the_last() -> None:
    mib = MIB
    assert room_to_record(free_bytes=8 * mib, unjoined_bytes=0, min_free_bytes=4 * mib, last_full_bytes=0)
    assert not room_to_record(free_bytes=7 * mib, unjoined_bytes=0, min_free_bytes=4 * mib, last_full_bytes=0)
    # A 24 MiB disk, 4 MiB reserve: the video was closed at 10 MiB of parts and joined: 14 MiB are
    # free. A new video would be closed at 5 MiB, the next at 2.5 ...: it waits instead.
    full = {"min_free_bytes": 4 * mib, "last_full_bytes": 10 * mib}
    assert not room_to_record(14 * mib, unjoined_bytes=0, **full)
    assert room_to_record(24 * mib, unjoined_bytes=0, **full), "the video was uploaded or deleted"
    assert not room_to_record(24 * mib, unjoined_bytes=11 * mib, **full)
    assert room_to_join(free_bytes=12 * mib, parts_bytes=10 * mib) and not room_to_join(10 * mib, 10 * mib)


def test_no_space_is_its_own_part_outcome_and_ffmpegs_words_for_it_are_known() -> None:
    assert part_outcome(5, 100, stop_requested=False, no_space=True) == "no_space"
    assert part_outcome(5, 100, stop_requested=True, no_space=True) == "stopped"
    assert says_no_space("[mp4 @ 0x55] Error writing trailer: No space left on device")
    assert not says_no_space("Connection refused")


def test_stored_bytes_count_videos_not_expired_and_parts() -> None:
    kept = video(size=100)
    gone = video(size=1000)
    gone.expired_at = T0
    assert stored_bytes([kept, gone], part_bytes=7) == 107


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
        self.uploads: dict[str, dict[int, bytes]] = {}
        self.calls: list[str] = []
        self.fail: dict[str, StorageFailure] = {}  # operation -> the failure it raises (once)
        self.lose_completion = False  # complete, then answer as if the upload were unknown

    def _maybe_fail(self, operation: str) -> None:
        self.calls.append(operation)
        if operation in self.fail:
            raise self.fail.pop(operation)

    def check(self) -> None:
        self._maybe_fail("check")

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

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes, md5: bytes) -> str:
        self._maybe_fail(f"part{number}")
        if upload_id not in self.uploads:
            raise UploadGone("UploadPart")
        assert hashlib.md5(data).digest() == md5
        self.uploads[upload_id][number] = data
        return f'"{md5.hex()}"'

    def complete(self, key: str, upload_id: str, parts: list[UploadedPart]) -> None:
        self._maybe_fail("complete")
        if upload_id not in self.uploads:
            raise UploadGone("CompleteMultipartUpload")
        held = self.uploads.pop(upload_id)
        assert [p.number for p in parts] == sorted(held)
        self.objects[key] = b"".join(held[n] for n in sorted(held))
        if self.lose_completion:
            raise UploadGone("CompleteMultipartUpload")

    def put(self, key: str, data: bytes, md5: bytes, content_type: str, title: str) -> str:
        self._maybe_fail("put")
        assert metadata_title(title).isascii()
        self.objects[key] = data
        return f'"{md5.hex()}"'

    def head(self, key: str) -> ObjectInfo | None:
        self._maybe_fail("head")
        data = self.objects.get(key)
        if data is None:
            return None
        size = 8 * MIB
        md5s = [hashlib.md5(data[i : i + size]).digest() for i in range(0, len(data), size)]
        return ObjectInfo(size=len(data), etag=f'"{expected_etag(md5s, len(md5s) > 1)}"')


class Harness:
    def __init__(self, tmp_path: Path, bucket: FakeBucket) -> None:
        self.out_dir = tmp_path / "rec"
        self.out_dir.mkdir()
        self.state = RecorderState()
        self.saved: list[str] = []
        self.bucket = bucket

        async def probe(_: Path) -> dict[str, Any]:
            return {"video": {"codec": "h264"}}

        self.uploader = Uploader(TARGET, self.out_dir, bucket, lambda: self.state, self.save, probe)

    def save(self) -> None:
        self.saved.append(self.state.model_dump_json(by_alias=True))

    def add_video(self, size: int) -> tuple[Video, bytes]:
        data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        v = video(size)
        (self.out_dir / "record-20261122T081503Z.mp4").write_bytes(data)
        (self.out_dir / "record-20261122T081503Z.json").write_text("{}")
        self.state.videos.append(v)
        self.uploader.enqueue(v, "record-20261122T081503Z.mp4")
        return v, data

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
    import streamops.media.recorder.upload as upload

    monkeypatch.setattr(upload, "backoff_seconds", lambda failures, cap=None: 0.0 if failures <= 0 else 0.01)


def test_a_video_goes_up_in_parts_is_verified_then_its_local_copy_goes(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeBucket())
    v, data = h.add_video(20 * MIB + 3)
    key = object_key(TARGET.key_prefix, T0, "record-20261122T081503Z.mp4")
    assert (v.url, v.upload) == (f"s3://recordings/{key}", "pending")

    asyncio.run(h.run_until(lambda: not h.state.uploads))
    assert h.bucket.objects[key] == data
    doc = json.loads(h.bucket.objects[sidecar_key(key)])
    assert doc["title"] == v.title and doc["sizeBytes"] == len(data) and doc["stream"] == "cam"
    assert doc["recording"] == "rec" and doc["codecs"] == {"video": {"codec": "h264"}}
    assert (v.upload, v.path) == ("uploaded", None)
    assert not list(h.out_dir.iterdir()), "video and local sidecar deleted"
    assert [c for c in h.bucket.calls if c.startswith("part")] == ["part1", "part2", "part3"]
    assert h.bucket.calls.index("head") < h.bucket.calls.index("put"), "the sidecar only after verification"
    # the state was saved with the upload id before the first part, and after every part
    saved = [json.loads(s) for s in h.saved]
    assert any(s["uploads"] and s["uploads"][0]["uploadId"] and not s["uploads"][0]["parts"] for s in saved)
    assert [len(s["uploads"][0]["parts"]) for s in saved if s["uploads"] and s["uploads"][0]["parts"]] == [1, 2, 3]
    assert json.loads(h.saved[-1])["uploads"] == [], "uploaded: saved before the local copy went"


def test_a_small_video_is_one_put_with_a_plain_md5_etag(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeBucket())
    v, data = h.add_video(3 * MIB)
    asyncio.run(h.run_until(lambda: not h.state.uploads))
    # The video, its JSON sidecar and its VOD page (storage/vod_page.py): one PUT each.
    assert v.upload == "uploaded" and h.bucket.calls.count("put") == 3 and "start" not in h.bucket.calls
    assert b"window.streamopsPlayer" in h.bucket.objects[h_key(v)[: -len(".mp4")] + ".html"]
    found = h.bucket.head(h_key(v))
    assert found is not None and same_etag(found.etag, hashlib.md5(data).hexdigest())


def test_a_resumed_upload_sends_only_the_missing_parts(tmp_path: Path) -> None:
    bucket = FakeBucket()
    h = Harness(tmp_path, bucket)
    v, data = h.add_video(20 * MIB)
    # A killed run: the upload was created and part 1 acknowledged (and part 2 half sent: not listed).
    [u] = h.state.uploads
    u.upload_id = bucket.start_upload(u.key, v.title)
    bucket.uploads[u.upload_id][1] = data[: 8 * MIB]
    u.parts = [UploadedPart(number=1, etag=f'"{hashlib.md5(data[: 8 * MIB]).hexdigest()}"', size=8 * MIB)]
    bucket.calls.clear()

    asyncio.run(h.run_until(lambda: not h.state.uploads))
    assert [c for c in bucket.calls if c.startswith("part")] == ["part2", "part3"]
    assert bucket.calls[0] == "list" and v.upload == "uploaded" and bucket.objects[u.key] == data


def test_a_part_the_server_holds_with_other_bytes_is_sent_again(tmp_path: Path) -> None:
    bucket = FakeBucket()
    h = Harness(tmp_path, bucket)
    v, data = h.add_video(20 * MIB)
    [u] = h.state.uploads
    u.upload_id = bucket.start_upload(u.key, v.title)
    bucket.uploads[u.upload_id][1] = b"\0" * 8 * MIB  # not what the file holds
    asyncio.run(h.run_until(lambda: not h.state.uploads))
    assert [c for c in bucket.calls if c.startswith("part")] == ["part1", "part2", "part3"]
    assert bucket.objects[u.key] == data


def test_an_upload_the_server_forgot_starts_over(tmp_path: Path) -> None:
    bucket = FakeBucket()
    h = Harness(tmp_path, bucket)
    v, data = h.add_video(20 * MIB)
    [u] = h.state.uploads
    u.upload_id = "expired-id"
    u.parts = [UploadedPart(number=1, etag='"x"', size=8 * MIB)]
    asyncio.run(h.run_until(lambda: not h.state.uploads))
    assert [c for c in bucket.calls if c.startswith("part")] == ["part1", "part2", "part3"]
    assert bucket.calls.count("start") == 1 and bucket.objects[u.key] == data and v.upload == "uploaded"


def test_a_completion_whose_answer_was_lost_is_verified_not_redone(tmp_path: Path) -> None:
    bucket = FakeBucket()
    bucket.lose_completion = True
    h = Harness(tmp_path, bucket)
    v, data = h.add_video(20 * MIB)
    asyncio.run(h.run_until(lambda: not h.state.uploads))
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
    assert [c for c in bucket.calls if c.startswith("part")] == ["part1", "part2", "part2", "part3"]


def test_the_uploader_backs_off_no_longer_than_its_configured_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamops.media.recorder.upload as upload
    from streamops.media.recorder import upload_plan

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
    asyncio.run(h.run_until(lambda: not h.state.uploads))
    assert h.uploader.lag_seconds(T0 + timedelta(seconds=90)) == 0


def test_a_verification_mismatch_keeps_the_local_copy_and_starts_over(tmp_path: Path) -> None:
    bucket = FakeBucket()
    h = Harness(tmp_path, bucket)
    v, data = h.add_video(20 * MIB)
    real_head = bucket.head
    heads: list[int] = []

    def corrupt_once(key: str) -> ObjectInfo | None:
        heads.append(1)
        found = real_head(key)
        return ObjectInfo(size=found.size, etag='"0123-3"') if found and len(heads) == 1 else found

    bucket.head = corrupt_once  # type: ignore[method-assign]
    asyncio.run(h.run_until(lambda: not h.state.uploads))
    assert bucket.calls.count("start") == 2, "the unverified object is uploaded again from scratch"
    assert v.upload == "uploaded" and bucket.objects[h_key(v)] == data


def test_content_md5_is_base64_of_the_binary_digest() -> None:
    from streamops.media.recorder.upload_plan import content_md5

    md5 = hashlib.md5(b"abc").digest()
    assert base64.b64decode(content_md5(md5)) == md5


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
    asyncio.run(h.run_until(lambda: not h.state.uploads))
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
