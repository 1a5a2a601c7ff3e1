"""The uploader: takes each finished video to the bucket, oldest first, and forgets the local copy
only once the object is verified.

One video at a time. A video of at most `single_put_max_bytes` (32 MiB) goes up in one PUT, streamed
from the file in blocks and hashed as it goes, its ETag then checked against that MD5; a larger one
in a multipart upload (parts of ≥ 8 MiB, PARTS_IN_FLIGHT of them at once, each streamed and checked
the same way) whose id and acknowledged parts are saved in the state file (the parts at most every
PROGRESS_SAVE_SECONDS), so a recorder killed mid-upload lists the parts the server holds and sends
only the missing ones; an upload id the server no longer knows starts over. Memory: PARTS_IN_FLIGHT
blocks of at most READ_BLOCK_BYTES, never whole parts. The object is verified by the last write's
answer when it names the ETag S3 derives from those MD5s, else by HEAD (the local file's size and
that ETag); only then the JSON sidecar goes up, the video is marked uploaded (saved) and the local
files are deleted. A failure is reported as a storage problem and
retried with backoff (1 s doubling to 30 s, or to uploadBackoffMaxSeconds when the configuration
sets it; reset by a success) while recording goes on and videos wait locally. The bucket is
checked once at start, so a wrong setting shows within seconds.

The S3 calls block: each runs in a thread (asyncio.to_thread; parts in a pool of PARTS_IN_FLIGHT
threads of their own), the state is changed in the loop."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from streamops.api.recording import Video, VideoRendition
from streamops.contract.upload_target import StorageProblem, UploadTarget, object_key, sidecar_key
from streamops.media.videos.bucket import SIDECAR_TYPE, Bucket, StorageFailure, UploadGone
from streamops.media.videos.part_body import PartBody, part_md5
from streamops.media.videos.probe import probe_codecs
from streamops.media.videos.sidecar import sidecar
from streamops.media.videos.upload_plan import (
    PARTS_IN_FLIGHT,
    PROGRESS_SAVE_SECONDS,
    PartRange,
    backoff_seconds,
    expected_etag,
    is_multipart,
    part_ranges,
    part_size,
    same_etag,
)
from streamops.media.videos.upload_state import UploadedPart, UploadState
from streamops.storage.s3_client import s3_url
from streamops.storage.vod_page import PAGE_TYPE, page_key, render_vod_page

log = logging.getLogger("streamops.recorder")


class UploadLedger(Protocol):
    """Where the uploader finds its work and reports it, as the owner of the videos keeps them (the
    recorder: its state file; the clipper: its one video)."""

    videos: list[Video]  # each upload's video, marked pending/uploading/uploaded
    uploads: list[UploadState]  # waiting, oldest first


def file_md5s(path: Path, parts: list[PartRange]) -> list[bytes]:
    return [part_md5(path, p) for p in parts]


class PartSent:
    """A part the server holds after `send_part`: `sent` False when an earlier run had sent it."""

    def __init__(self, part: UploadedPart, md5: bytes, sent: bool, largest_read: int = 0) -> None:
        self.part, self.md5, self.sent = part, md5, sent
        self.largest_read = largest_read  # the largest block read from the file for it


def send_part(
    bucket: Bucket, key: str, upload_id: str, local: Path, r: PartRange, have: UploadedPart | None
) -> PartSent:
    """One part of the file, unless the server holds it with the same bytes (blocking: a part thread)."""
    if have is not None and have.size == r.length:
        md5 = part_md5(local, r)
        if same_etag(have.etag, md5.hex()):
            return PartSent(have, md5, sent=False)  # sent by an earlier run and acknowledged: not again
    return streamed(local, r, lambda body: bucket.upload_part(key, upload_id, body), f"part {r.number} of {key}")


def send_whole(bucket: Bucket, key: str, local: Path, size: int, title: str) -> PartSent:
    """The whole file in one PUT, streamed as a part is and checked as one (blocking: a thread)."""
    return streamed(local, PartRange(1, 0, size), lambda body: bucket.put_video(key, body, title), key)


def streamed(local: Path, r: PartRange, write: Callable[[PartBody], str], what: str) -> PartSent:
    """`r` of the file written by `write` (a part, or the whole file in one PUT) as it is read, and the
    ETag it answers checked against the MD5 of what was read. A mismatch is not acknowledged: the next
    attempt sends it again (a part: found held with other bytes)."""
    with PartBody(local, r) as body:
        etag = write(body)
        md5, largest_read = body.md5(), body.largest_read
    if not same_etag(etag, md5.hex()):
        raise StorageFailure("UploadFailing", f"{what} arrived different (ETag {etag}, sent MD5 {md5.hex()})")
    return PartSent(UploadedPart(number=r.number, etag=etag, size=r.length), md5, True, largest_read)


class Uploader:
    def __init__(
        self,
        target: UploadTarget,
        out_dir: Path,
        bucket: Bucket,
        state: Callable[[], UploadLedger],
        save: Callable[[], None],
        probe: Callable[[Path], Awaitable[dict[str, Any]]] = probe_codecs,
        backoff_max_seconds: float | None = None,
        parts_in_flight: int = PARTS_IN_FLIGHT,
        progress_save_seconds: float = PROGRESS_SAVE_SECONDS,
    ) -> None:
        self.target = target
        self.parts_in_flight = parts_in_flight
        self.progress_save_seconds = progress_save_seconds  # 0: after every acknowledged part
        self._parts_pool: ThreadPoolExecutor | None = None  # made on the first multipart upload
        self.backoff_max_seconds = backoff_max_seconds  # None: upload_plan's 30 s
        self.out_dir = out_dir
        self.bucket = bucket
        self.state = state  # the owner's current ledger (the recorder replaces its state when it loads it)
        self.save = save
        self.probe = probe
        self.problem: StorageProblem | None = None
        self.error: str | None = None
        self.failures = 0  # in a row
        self.failed_attempts = 0  # since start (the metric)
        self.checked = False  # the bucket answered once
        self.parts_sent = 0
        self.bytes_sent = 0
        self.most_parts_in_flight = 0  # the most parts being sent at once (tests check the bound)
        self.failed_parts_seen = 0  # parts whose failure the sending loop took in (no new part starts after one)
        self._phases: dict[str, float] = {}  # the last upload's seconds per step, for its log line
        self.largest_read = 0  # the largest block a part body read (the memory bound, likewise)
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()

    # -- what the owner asks --

    def enqueue(self, video: Video, file: str) -> None:
        """A finalised video (in the output directory as `file`) is to be uploaded."""
        key = object_key(self.target.key_prefix, video.started_at, file)
        video.url, video.upload = s3_url(self.target.bucket, key), "pending"
        size = video.size_bytes
        self.state().uploads.append(UploadState(file=file, key=key, part_size=part_size(size)))
        self._wake.set()

    def enqueue_rendition(self, video: Video, rendition: VideoRendition, file: str) -> None:
        """Another rendition of a finalised video (`file`, next to it) is to be uploaded, after it."""
        key = object_key(self.target.key_prefix, video.started_at, file)
        rendition.url, rendition.upload = s3_url(self.target.bucket, key), "pending"
        self.state().uploads.append(UploadState(file=file, key=key, part_size=part_size(rendition.size_bytes)))
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self.state().uploads)

    def lag_seconds(self, now: datetime) -> float:
        """How long the oldest video waiting to be uploaded has been over (its end); 0 when none waits."""
        uploads = self.state().uploads
        video = self._video(uploads[0]) if uploads else None
        return max(0.0, (now - video.ended_at).total_seconds()) if video is not None else 0.0

    async def drained(self, give_up_after_failures: int | None = None) -> None:
        """Until every queued video is uploaded, or (when given) the storage has failed this many
        times in a row: a recorder that is going away must not wait minutes on a bucket that does
        not take its videos (its replacement, e.g. with corrected credentials, waits for it)."""
        while self.state().uploads:
            if give_up_after_failures is not None and self.failures >= give_up_after_failures:
                return
            self._progress.clear()
            await self._progress.wait()

    async def run(self) -> None:
        """Upload until cancelled."""
        while True:
            uploads = self.state().uploads
            if not uploads and self.checked:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                if uploads:
                    await self._upload(uploads[0])
                else:
                    await asyncio.to_thread(self.bucket.check)
                    log.info("bucket s3://%s answers", self.target.bucket)
            except StorageFailure as e:
                self._failed(e.problem, e.message)
            except OSError as e:  # the local copy cannot be read
                self._failed("UploadFailing", f"reading {uploads[0].file}: {e.strerror or e}")
            except Exception as e:  # a bug must not end the uploads (and a stop waiting for them)
                log.exception("upload")
                self._failed("UploadFailing", self.bucket.redact(f"{type(e).__name__}: {e}")[:1024])
            else:
                self.failures, self.problem, self.error, self.checked = 0, None, None, True
                continue
            await asyncio.sleep(backoff_seconds(self.failures, self.backoff_max_seconds))

    # -- one video --

    def _video(self, upload: UploadState) -> Video | None:
        url = s3_url(self.target.bucket, upload.key)
        return next((v for v in self.state().videos if url in (f.url for f in v.files())), None)

    def _mark(self, video: Video, key: str, upload: Literal["uploading", "uploaded"] | None) -> None:
        """The upload state of the file `key` in the video's status: the video's own, a rendition's, its original's."""
        url = s3_url(self.target.bucket, key)
        for entry in video.files():
            if entry.url == url:
                entry.upload = upload
                if upload != "uploading":
                    entry.path = None  # uploaded (the local copy goes) or gone

    def _failed(self, problem: StorageProblem, message: str) -> None:
        self.failures += 1
        self.failed_attempts += 1
        self.problem, self.error = problem, message
        for v in self.state().videos:
            for entry in v.files():
                if entry.upload == "uploading":
                    entry.upload = "pending"
        log.warning(
            "upload: %s: %s (retrying in %g s)",
            problem,
            message,
            backoff_seconds(self.failures, self.backoff_max_seconds),
        )
        self._progress.set()

    async def _upload(self, upload: UploadState) -> None:
        video = self._video(upload)
        local = self.out_dir / upload.file
        if video is None:  # the state file was edited by hand: nothing to report the upload in
            self.state().uploads.remove(upload)
            self.save()
            raise StorageFailure("UploadFailing", f"{upload.file}: no such video in the state: not uploaded")
        if not local.exists():
            # Deleted behind our back: nothing left to send, and it must not hold up the others.
            self.state().uploads.remove(upload)
            self._mark(video, upload.key, None)
            self.save()
            raise StorageFailure("UploadFailing", f"{upload.file}: the local copy is gone, it cannot be uploaded")
        size = local.stat().st_size
        # boto3's import and client (≈0.4 s, once per process; the bucket check at start has usually
        # made it) are not part of any one upload's time.
        await asyncio.to_thread(self.bucket.prepare)
        began = time.monotonic()
        self._phases = {}
        self._mark(video, upload.key, "uploading")
        # An upload begun in parts (by a run before this one) is finished in parts.
        multipart = upload.upload_id is not None or is_multipart(
            size, upload.part_size, self.target.single_put_max_bytes
        )
        if multipart:
            md5s, answered = await self._multipart(upload, local, size, video.title)
        else:
            md5s, answered = await self._single(upload, local, size, video.title)
        expected = expected_etag(md5s, multipart)
        sent = time.monotonic()
        # Every part's (or the file's) MD5 matched what the server stored already: when the last
        # write's answer names the object's ETag as expected, a HEAD would tell nothing more. One
        # that names none, or another, is checked by HEAD (size and ETag) as before.
        by_answer = answered is not None and same_etag(answered, expected)
        if not by_answer and not await self._verified(upload.key, size, expected):
            upload.upload_id, upload.parts = None, []  # start over: what is there is not our file
            self.save()
            raise StorageFailure("UploadFailing", f"{video.url} did not verify (size {size}, ETag {expected})")
        verified = time.monotonic()

        doc = sidecar(
            title=video.title,
            stream=self.target.stream,
            recording=self.target.recording or self.out_dir.name,
            url=s3_url(self.target.bucket, upload.key),  # the video's, or one of its renditions'
            started_at=video.started_at,
            ended_at=video.ended_at,
            duration_seconds=video.duration_seconds,
            size_bytes=size,
            codecs=await self.probe(local),
            client=self.target.client,
            origin_url=video.origin.url if video.origin is not None else None,  # keepOrigin: the video's original
        )
        data = (json.dumps(doc, indent=2) + "\n").encode()
        md5 = hashlib.md5(data).digest()
        await asyncio.to_thread(self.bucket.put, sidecar_key(upload.key), data, md5, SIDECAR_TYPE, video.title)
        if s3_url(self.target.bucket, upload.key) == video.url:  # the video's own file: its VOD page too
            page = render_vod_page(video.title).encode()
            md5 = hashlib.md5(page).digest()
            await asyncio.to_thread(self.bucket.put, page_key(upload.key), page, md5, PAGE_TYPE, video.title)

        self._mark(video, upload.key, "uploaded")
        self.state().uploads.remove(upload)
        self.save()  # before deleting: a crash in between leaves a local copy, never a lost video
        local.unlink(missing_ok=True)
        local.with_suffix(".json").unlink(missing_ok=True)
        self._progress.set()
        seconds = verified - began
        steps = {**self._phases, ("answer" if by_answer else "HEAD"): verified - sent}
        log.info(
            "uploaded %s: %d bytes sent and verified in %.3f s (%.1f MiB/s; %s), ETag %s; sidecar %.2f s",
            s3_url(self.target.bucket, upload.key),
            size,
            seconds,
            size / 1024 / 1024 / max(seconds, 1e-6),
            ", ".join(f"{step} {t:.3f} s" for step, t in steps.items()),
            expected,
            time.monotonic() - verified,
        )

    async def _single(self, upload: UploadState, local: Path, size: int, title: str) -> tuple[list[bytes], str]:
        """One streaming PUT: its MD5 and the ETag its answer gave (equal, or it raised)."""
        began = time.monotonic()
        result = await asyncio.to_thread(send_whole, self.bucket, upload.key, local, size, title)
        self._phases = {"PUT": time.monotonic() - began}
        self.largest_read = max(self.largest_read, result.largest_read)
        self.parts_sent += 1
        self.bytes_sent += size
        return [result.md5], result.part.etag

    async def _multipart(
        self, upload: UploadState, local: Path, size: int, title: str
    ) -> tuple[list[bytes], str | None]:
        """The parts' MD5s in order, and the object's ETag as the completion's answer gave it (or as a
        HEAD here found it; None: the answer gave none, and the caller verifies by HEAD)."""
        began = time.monotonic()
        ranges = part_ranges(size, upload.part_size)
        held: dict[int, UploadedPart] = {}
        if upload.upload_id is not None:
            try:
                held = await asyncio.to_thread(self.bucket.uploaded_parts, upload.key, upload.upload_id)
                log.info("resuming upload of %s: the server holds %d of %d parts", upload.key, len(held), len(ranges))
            except UploadGone:
                whole = await asyncio.to_thread(file_md5s, local, ranges)
                if await self._verified(upload.key, size, etag := expected_etag(whole, True)):
                    # Completed by the run that was killed before it could say so (verified just now).
                    return whole, etag
                log.info("upload of %s is gone from the server: starting over", upload.key)
                upload.upload_id, upload.parts = None, []
        created = upload.upload_id is None
        if upload.upload_id is None:
            upload.upload_id = await asyncio.to_thread(self.bucket.start_upload, upload.key, title)
            upload.parts = []
        upload_id = upload.upload_id

        md5s: dict[int, bytes] = {}
        try:
            started = time.monotonic()
            await self._send_parts(upload, upload_id, local, ranges, held, md5s, save_first=created)
            numbers = {r.number for r in ranges}
            parts_sent = time.monotonic()
            answered = await asyncio.to_thread(
                self.bucket.complete, upload.key, upload_id, [p for p in upload.parts if p.number in numbers]
            )
            self._phases = {
                "create/list": started - began,
                f"{len(ranges)} parts": parts_sent - started,
                "complete": time.monotonic() - parts_sent,
            }
        except UploadGone:
            # Completed by an earlier attempt whose answer was lost, or aborted by the server.
            if len(md5s) == len(ranges):
                in_order = [md5s[r.number] for r in ranges]
                if await self._verified(upload.key, size, etag := expected_etag(in_order, True)):
                    return in_order, etag
            upload.upload_id, upload.parts = None, []
            self.save()
            raise StorageFailure("UploadFailing", f"the upload of {upload.key} is gone from the server") from None
        return [md5s[r.number] for r in ranges], answered

    async def _send_parts(
        self,
        upload: UploadState,
        upload_id: str,
        local: Path,
        ranges: list[PartRange],
        held: dict[int, UploadedPart],
        md5s: dict[int, bytes],
        save_first: bool,
    ) -> None:
        """Every part the server does not hold, `parts_in_flight` at a time, in order of number. After
        a failure no new part starts; those in flight are waited for, then the first failure is raised.

        Saving: `save_first` (a new upload id) once the first parts are on their way, so its fsync
        does not hold them up; then the acknowledged parts at most every `progress_save_seconds` and
        after a failure. Each save is an fsync in the event loop (measured under load: 15 ms on
        average, up to 113 ms), during which no finished part can hand its slot to the next; a part
        acknowledged but not yet saved is not lost to a kill: the next run lists the server's parts."""
        if self._parts_pool is None:
            self._parts_pool = ThreadPoolExecutor(self.parts_in_flight, thread_name_prefix="upload-part")
        loop = asyncio.get_running_loop()
        waiting = iter(ranges)
        running: set[asyncio.Future[PartSent]] = set()
        failure: BaseException | None = None
        unsaved, saved_at = save_first, time.monotonic()
        while True:
            while failure is None and len(running) < self.parts_in_flight and (r := next(waiting, None)) is not None:
                args = (self.bucket, upload.key, upload_id, local, r, held.get(r.number))
                running.add(loop.run_in_executor(self._parts_pool, send_part, *args))
            self.most_parts_in_flight = max(self.most_parts_in_flight, len(running))
            if save_first:
                self.save()  # the upload id, while the first parts go
                save_first, unsaved, saved_at = False, False, time.monotonic()
            if not running:
                break
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                try:
                    result = future.result()
                except Exception as e:  # StorageFailure, UploadGone, OSError (the file), a bug: the first wins
                    failure = failure or e
                    self.failed_parts_seen += 1
                    continue
                part = result.part
                md5s[part.number] = result.md5
                self.largest_read = max(self.largest_read, result.largest_read)
                upload.parts = sorted(
                    [p for p in upload.parts if p.number != part.number] + [part], key=lambda p: p.number
                )
                unsaved = True
                if time.monotonic() - saved_at >= self.progress_save_seconds:
                    self.save()
                    unsaved, saved_at = False, time.monotonic()
                if result.sent:
                    self.parts_sent += 1
                    self.bytes_sent += part.size
                    log.info("sent part %d/%d of %s (%d bytes)", part.number, len(ranges), upload.key, part.size)
        if failure is not None:
            if unsaved:
                self.save()
            raise failure

    async def _verified(self, key: str, size: int, etag: str) -> bool:
        found = await asyncio.to_thread(self.bucket.head, key)
        return found is not None and found.size == size and same_etag(found.etag, etag)
