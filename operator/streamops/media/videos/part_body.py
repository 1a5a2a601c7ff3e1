"""One part of a local file as the body of an UploadPart request: read from the file in blocks
while it is sent (never the whole part in memory) and hashed as it goes, so the MD5 the upload is
verified with costs no pass of its own before the first byte leaves. Blocking: used in the
uploader's part threads."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from types import TracebackType

from streamops.media.videos.upload_plan import READ_BLOCK_BYTES, PartRange


class PartBody:
    """A file-like body of `part.length` bytes from `part.offset` of `path`. `read(n)` returns at
    most min(n, READ_BLOCK_BYTES) bytes (botocore asks 128 KiB at a time), so a part in flight holds
    one block, whatever the part size. It rewinds only to its start (botocore's content-length probe
    and payload signing do), which starts the MD5 again."""

    def __init__(self, path: Path, part: PartRange) -> None:
        self.part = part
        self.path = path
        self.largest_read = 0  # the largest block handed out (the memory bound, checked by tests)
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by close(), as a body is)
        self._pos = 0
        self._md5 = hashlib.md5()
        self._file.seek(part.offset)

    def __len__(self) -> int:
        return self.part.length

    def __enter__(self) -> PartBody:
        return self

    def __exit__(self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        target = {os.SEEK_SET: offset, os.SEEK_CUR: self._pos + offset, os.SEEK_END: self.part.length + offset}[whence]
        if target == self._pos:
            return self._pos
        if target != 0:
            raise io.UnsupportedOperation("a part body rewinds to its start only")
        self._file.seek(self.part.offset)
        self._pos, self._md5 = 0, hashlib.md5()
        return 0

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (at most one block); all that is left for size -1; b"" at the end."""
        left = self.part.length - self._pos
        n = left if size is None or size < 0 else min(size, left, READ_BLOCK_BYTES)
        if n <= 0:
            return b""
        data = self._file.read(n)
        if len(data) != n:  # the file shrank under us: never send a short part as if it were whole
            raise OSError(f"{self.path.name} is shorter than it was ({self.part.offset + self._pos + len(data)} bytes)")
        self._pos += n
        self._md5.update(data)
        self.largest_read = max(self.largest_read, n)
        return data

    def md5(self) -> bytes:
        """The MD5 of the part, once all of it was read (sent)."""
        if self._pos != self.part.length:
            raise OSError(f"part {self.part.number} was sent only in part ({self._pos} of {self.part.length} bytes)")
        return self._md5.digest()


def part_md5(path: Path, part: PartRange) -> bytes:
    """The MD5 of a part of the file, read in blocks (a resumed upload compares it with what the
    server holds; an upload the server forgot verifies the object with it)."""
    with PartBody(path, part) as body:
        while body.read(READ_BLOCK_BYTES):
            pass
        return body.md5()
