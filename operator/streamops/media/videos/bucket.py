"""A videos bucket: the few S3 calls an upload makes, blocking (the uploader runs them in a
thread), every failure a `StorageFailure` with its meaning and a message without credentials.

boto3 is imported on the first call, not with this module: its import costs ≈0.4 s, which must
not delay the recorder's first FFmpeg."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, TypeVar, cast

from streamops.contract.storage_credentials import ACCESS_KEY_ENV, SECRET_KEY_ENV
from streamops.contract.upload_target import StorageProblem, UploadTarget
from streamops.media.videos.part_body import PartBody
from streamops.media.videos.upload_plan import content_md5, metadata_title, storage_problem
from streamops.media.videos.upload_state import UploadedPart
from streamops.redaction import Redactor

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, ListPartsOutputTypeDef

R = TypeVar("R")

VIDEO_TYPE = "video/mp4"
SIDECAR_TYPE = "application/json"


class StorageFailure(Exception):
    """An S3 call that did not go through: what it means (`problem`) and a redacted message."""

    def __init__(self, problem: StorageProblem, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.problem, self.message, self.code = problem, message, code


class UploadGone(Exception):
    """The server does not know the multipart upload (completed, aborted or expired): start over."""


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str


class Bucket:
    """One bucket of one S3-compatible endpoint, as the worker's credentials reach it."""

    def __init__(self, target: UploadTarget, access_key: str, secret_key: str, redact: Redactor) -> None:
        """`redact` must already know the keys (from_environment adds them: the worker's own logs need
        them too)."""
        self.target = target
        self.name = target.bucket
        self._access_key, self._secret_key = access_key, secret_key
        self.redact = redact
        self._client: S3Client | None = None
        self._client_lock = threading.Lock()  # parts go up from several threads

    @classmethod
    def from_environment(cls, target: UploadTarget, redact: Redactor) -> Bucket:
        """The bucket with the keys a worker Pod gets as env from the credentials Secret
        (ACCESS_KEY_ENV, SECRET_KEY_ENV), added to `redact` first: never in a log line, an error or
        /status."""
        access_key, secret_key = os.environ.get(ACCESS_KEY_ENV, ""), os.environ.get(SECRET_KEY_ENV, "")
        for key in (access_key, secret_key):
            if key:
                redact.add(key)
        return cls(target, access_key, secret_key, redact)

    def __repr__(self) -> str:  # never the keys
        return f"Bucket({self.target.endpoint!r}, {self.name!r})"

    # -- the calls --

    def check(self) -> None:
        """Is the bucket there and do the credentials work? A GET rather than HeadBucket: a HEAD's
        answer has no body, so a wrong access key (versitygw: 404) would read as a missing bucket."""
        self._call("ListObjectsV2", lambda c: c.list_objects_v2(Bucket=self.name, MaxKeys=1))

    def start_upload(self, key: str, title: str) -> str:
        answer = self._call(
            "CreateMultipartUpload",
            lambda c: c.create_multipart_upload(
                Bucket=self.name, Key=key, ContentType=VIDEO_TYPE, Metadata={"title": metadata_title(title)}
            ),
        )
        return str(answer["UploadId"])

    def uploaded_parts(self, key: str, upload_id: str) -> dict[int, UploadedPart]:
        """The parts the server holds for the upload; UploadGone when it does not know it."""
        parts: dict[int, UploadedPart] = {}
        marker = 0
        while True:

            def page_from(c: S3Client, m: int = marker) -> ListPartsOutputTypeDef:
                return c.list_parts(Bucket=self.name, Key=key, UploadId=upload_id, PartNumberMarker=m)

            page = self._call("ListParts", page_from, gone_ok=True)
            for p in page.get("Parts", []):
                parts[p["PartNumber"]] = UploadedPart(number=p["PartNumber"], etag=p["ETag"], size=p["Size"])
            if not page.get("IsTruncated"):
                return parts
            marker = int(page.get("NextPartNumberMarker", 0))

    def upload_part(self, key: str, upload_id: str, body: PartBody) -> str:
        """Send one part, streamed from the file; its ETag (S3: the MD5 of what it stored). No
        Content-MD5: it would take a pass over the part before its first byte goes (and some servers,
        versitygw among them, hash it twice); the uploader compares this ETag with the MD5 `body`
        took while it was sent instead, which catches the same corruption one step later."""
        answer = self._call(
            "UploadPart",
            lambda c: c.upload_part(
                Bucket=self.name,
                Key=key,
                UploadId=upload_id,
                PartNumber=body.part.number,
                Body=cast("IO[bytes]", body),  # file-like as botocore reads one: len, read, seek, tell
            ),
            gone_ok=True,
        )
        return str(answer["ETag"])

    def complete(self, key: str, upload_id: str, parts: list[UploadedPart]) -> str | None:
        """Complete the upload; the object's ETag as the answer gives it (None when it gives none)."""
        done: list[CompletedPartTypeDef] = [
            {"PartNumber": p.number, "ETag": p.etag} for p in sorted(parts, key=lambda p: p.number)
        ]
        answer = self._call(
            "CompleteMultipartUpload",
            lambda c: c.complete_multipart_upload(
                Bucket=self.name,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
            ),
            gone_ok=True,
        )
        etag = answer.get("ETag")
        return str(etag) if etag else None

    def put_video(self, key: str, body: PartBody, title: str) -> str:
        """A whole video in one PUT, streamed from the file as a part is (`body` covers the file);
        its ETag (the MD5 of what the server stored, which the uploader compares with the MD5 `body`
        took while it was sent: no Content-MD5, no pass before the first byte)."""
        answer = self._call(
            "PutObject",
            lambda c: c.put_object(
                Bucket=self.name,
                Key=key,
                Body=cast("IO[bytes]", body),
                ContentType=VIDEO_TYPE,
                Metadata={"title": metadata_title(title)},
            ),
        )
        return str(answer["ETag"])

    def put(self, key: str, data: bytes, md5: bytes, content_type: str, title: str) -> str:
        answer = self._call(
            "PutObject",
            lambda c: c.put_object(
                Bucket=self.name,
                Key=key,
                Body=data,
                ContentMD5=content_md5(md5),
                ContentType=content_type,
                Metadata={"title": metadata_title(title)},
            ),
        )
        return str(answer["ETag"])

    def head(self, key: str) -> ObjectInfo | None:
        """Size and ETag of an object, None when there is none."""
        try:
            answer = self._call("HeadObject", lambda c: c.head_object(Bucket=self.name, Key=key))
        except StorageFailure as e:
            if e.code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(size=int(answer["ContentLength"]), etag=str(answer["ETag"]))

    # -- plumbing --

    def prepare(self) -> None:
        """Build the client now (boto3's import and the client: ≈0.4 s, once per process), so that
        it is not counted in the first upload's time."""
        self.client()

    def client(self) -> S3Client:
        with self._client_lock:
            if self._client is None:
                from streamops.storage.s3_client import S3Endpoint, s3_client

                t = self.target
                where = S3Endpoint(t.endpoint, self._access_key, self._secret_key, t.region, t.path_style, t.ca_file)
                self._client = s3_client(where)
            return self._client

    def _call(self, operation: str, call: Callable[[S3Client], R], gone_ok: bool = False) -> R:
        """Run one S3 call; its failure as StorageFailure (or UploadGone, where the caller handles it)."""
        from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as NoConnection

        if not self._access_key or not self._secret_key:
            # Never let boto3 look for credentials elsewhere (instance metadata is a network call).
            raise StorageFailure("StorageAccessDenied", "no credentials: the access key or secret key is not set")
        try:
            return call(self.client())
        except ClientError as e:
            error = e.response.get("Error", {})
            code = str(error.get("Code") or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if gone_ok and code == "NoSuchUpload":
                raise UploadGone(operation) from None
            text = str(error.get("Message") or "")
            message = f"{operation} s3://{self.name}: {code}{': ' + text if text else ''}"
            raise StorageFailure(storage_problem(code, unreachable=False), self.redact(message)[:1024], code) from None
        except BotoCoreError as e:
            unreachable = isinstance(e, NoConnection | HTTPClientError)  # refused, closed, timed out, TLS
            message = f"{operation} {self.target.endpoint}: {e}"
            raise StorageFailure(storage_problem(None, unreachable), self.redact(message)[:1024]) from None
