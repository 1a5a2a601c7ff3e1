"""The object storage a worker uploads videos to (the recorder, the clipper): `UploadTarget`, the
object keys, what goes wrong with a bucket. A module apart from the recorder's configuration, so
the clipper's contract builds no LiveStream model (docs/design/lean-workers.md); contract.recorder
re-exports these names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator

from streamops.api.common import ClientFields
from streamops.api.kube_model import KubeModel
from streamops.api.uri_rules import check_uri

# A video up to this size goes up in one streaming PUT; a larger one in parallel parts, which a
# killed recorder resumes. Multipart costs two round trips more (create, complete: the server may
# copy every part again), which parallel parts win back only on larger files; a file this small is
# sent again whole after a kill (docs/design/object-storage.md, "Upload speed").
SINGLE_PUT_MAX_BYTES = 32 * 1024 * 1024
CA_FILE = "/etc/streamops/s3-ca/ca.crt"  # where a ca bundle Secret is mounted in the recorder

StorageProblem = Literal["StorageUnreachable", "StorageAccessDenied", "BucketNotFound", "UploadFailing"]


class UploadTarget(KubeModel):
    """An S3-compatible bucket the recorder uploads finished videos to (api S3Storage, resolved):
    `key_prefix` has the name placeholders filled in; the recorder fills in the time ones
    ({year} … {minute}, the video's start in UTC) and appends `/<video file name>`."""

    endpoint: str
    bucket: str
    key_prefix: str
    region: str = "us-east-1"
    path_style: bool = True
    ca_file: str | None = Field(default=None, description="CA bundle file to verify the endpoint with.")
    stream: str = Field(default="", description="The LiveStream's name, for each video's JSON sidecar.")
    recording: str = Field(default="", description="The Recording's name, for each video's JSON sidecar.")
    client: ClientFields | None = Field(
        default=None, description="The stream's client fields, for each video's JSON sidecar (client_fields())."
    )
    single_put_max_bytes: int = Field(
        default=SINGLE_PUT_MAX_BYTES,
        ge=0,
        description="A video of at most this many bytes goes up in one streaming PUT (sent again whole if the "
        "recorder is killed meanwhile); a larger one in parallel parts that a new recorder resumes.",
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, url: str) -> str:
        return check_uri(url, ("http", "https"), "endpoint")


def key_prefix(template: str, namespace: str, stream: str, recording: str, uid: str) -> str:
    """The operator's half of an object key template: the name placeholders (time ones stay)."""
    names = {"namespace": namespace, "stream": stream, "recording": recording, "uid": uid[:8]}
    for name, value in names.items():
        template = template.replace("{" + name + "}", value)
    return template


def object_key(prefix: str, started_at: datetime, file_name: str) -> str:
    """The recorder's half: the video's start (UTC) into the time placeholders, then its file name."""
    t = started_at.astimezone(UTC)
    times = {"year": f"{t:%Y}", "month": f"{t:%m}", "day": f"{t:%d}", "hour": f"{t:%H}", "minute": f"{t:%M}"}
    for name, value in times.items():
        prefix = prefix.replace("{" + name + "}", value)
    return f"{prefix}/{file_name}"


def sidecar_key(video_key: str) -> str:
    """The JSON sidecar sits next to its video: the same key with .json instead of .mp4 (the
    recorder writes it, the operator's retention deletes it with the video)."""
    stem = video_key[: -len(".mp4")] if video_key.endswith(".mp4") else video_key
    return f"{stem}.json"
