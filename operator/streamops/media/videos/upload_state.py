"""An upload's saved state: the multipart upload id and the parts the server acknowledged, kept by
the owner of the videos (the recorder in its state file) so a killed worker resumes the upload."""

from __future__ import annotations

from pydantic import Field

from streamops.api.common import KubeModel


class UploadedPart(KubeModel):
    number: int = Field(ge=1)
    etag: str
    size: int = Field(ge=0)


class UploadState(KubeModel):
    """A finished video on its way to the bucket; it leaves the state once the object is verified."""

    file: str = Field(description="The video's file name in the output directory.")
    key: str = Field(description="Its object key.")
    part_size: int = Field(ge=1)
    upload_id: str | None = Field(default=None, description="The multipart upload, once created.")
    parts: list[UploadedPart] = Field(default_factory=list, description="Parts the server acknowledged.")
