"""The Bucket adapter without a server: boto3's errors as redacted StorageFailures, no credential
lookup (tests/media/test_recorder_s3.py runs it against the real S3 server)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from streamops.contract.recorder import UploadTarget
from streamops.media.videos.bucket import Bucket, StorageFailure, UploadGone
from streamops.redaction import Redactor

TARGET = UploadTarget(
    endpoint="https://s3.example.test",
    bucket="recordings",
    key_prefix="streamops/ns/cam/{year}/{month}/{day}/{hour}/{minute}/rec-0123abcd",
    stream="cam",
    recording="rec",
)


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
