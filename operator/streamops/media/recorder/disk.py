"""The recorder's disk space: what is free, what the parts of open videos take (their join copies
them), waiting for room to record or to join, the local copies of uploaded videos, and parts that
end inside a box (cut back before anything reads them)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from streamops.api.recording import Video
from streamops.contract.recorder import Phase
from streamops.media.fmp4 import readable_length
from streamops.media.recorder.plan import room_to_join, room_to_record, space_short
from streamops.media.recorder.state import PartState, VideoState

log = logging.getLogger("streamops.recorder")

SPACE_POLL_SECONDS = 1.0  # how often a recorder waiting for disk space looks again


class OutOfSpace(Exception):
    """An FFmpeg run of the finalisation failed with ENOSPC: the parts stay, it is retried later."""


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def free_bytes(path: Path) -> int:
    """Space an unprivileged writer may still use on the file system of `path`."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class DiskOwner(Protocol):
    """What the disk checks ask of the recorder: the videos whose parts are on disk, the requests a
    wait ends on, and /status (its error; its phase while recording waits for room)."""

    stop_requested: asyncio.Event
    exit_requested: asyncio.Event

    def open_videos(self) -> list[VideoState]: ...

    def error(self, message: str) -> None: ...

    def clear_error(self, prefix: str) -> None: ...

    def not_recording(self, phase: Phase) -> None: ...


class Disk:
    """The recordings volume under `out_dir` (parts in `parts_dir`), `min_free_bytes` kept free."""

    def __init__(self, out_dir: Path, parts_dir: Path, min_free_bytes: int, owner: DiskOwner) -> None:
        self.out_dir = out_dir
        self.parts_dir = parts_dir
        self.min_free_bytes = min_free_bytes
        self.owner = owner
        self.no_space = False  # the disk is (nearly) full: the open video was closed, none starts
        self.last_full_bytes = 0  # the parts of the last video closed for lack of space

    def unjoined_bytes(self) -> int:
        """Bytes of the parts on disk (the originals' too): what finalising the open videos will copy."""
        return sum(file_size(self.parts_dir / p.file) for v in self.owner.open_videos() for p in v.all_parts())

    def free(self) -> int:
        try:
            return free_bytes(self.out_dir)
        except OSError:
            return 0

    def short(self, bytes_per_second: float) -> bool:
        """Must the open video be closed now, while finalising it still fits (its part written at
        `bytes_per_second`)?"""
        return space_short(self.free(), self.unjoined_bytes(), self.min_free_bytes, bytes_per_second)

    def stopped_full(self) -> None:
        """A video was closed for lack of space: none starts until there is room for one as large."""
        self.no_space = True
        self.last_full_bytes = max(self.last_full_bytes, self.unjoined_bytes())

    async def wait_for_room(self) -> bool:
        """Before a new video: wait while the disk has no room for one (False: stopped meanwhile)."""
        owner = self.owner
        while not owner.stop_requested.is_set():
            if room_to_record(self.free(), self.unjoined_bytes(), self.min_free_bytes, self.last_full_bytes):
                if self.no_space:
                    log.info("space on the recordings volume is back: recording again")
                    self.no_space = False
                    owner.clear_error("no space left")
                return True
            if not self.no_space:
                self.no_space = True
                owner.error("no space left on the recordings volume: waiting for space to record")
            owner.not_recording("waiting")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(owner.stop_requested.wait(), SPACE_POLL_SECONDS)
        return False

    async def wait_for_join_room(self, video: VideoState) -> bool:
        """A join failed with ENOSPC: wait until its copy fits (False: the process is exiting)."""
        parts = sum(file_size(self.parts_dir / p.file) for p in video.all_parts())
        while not self.owner.exit_requested.is_set():
            if room_to_join(self.free(), parts):
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.owner.exit_requested.wait(), SPACE_POLL_SECONDS)
        return False

    def drop_uploaded_copies(self, videos: list[Video]) -> None:
        """Local copies of uploaded videos left by a run killed between marking and deleting them."""
        for video in videos:
            for entry in video.files():
                if entry.upload == "uploaded" and entry.url:
                    name = Path(urlsplit(entry.url).path).name
                    for leftover in (self.out_dir / name, (self.out_dir / name).with_suffix(".json")):
                        leftover.unlink(missing_ok=True)

    def cut_partial_box(self, part: PartState) -> None:
        """A part whose FFmpeg stopped mid-write (a full disk, a kill) may end inside a moof, which makes
        the whole file unreadable (seen in CI: a part cut by ENOSPC discarded as "no readable media"):
        cut it back to its last complete fragment, which needs no space, before anything reads it."""
        path = self.parts_dir / part.file
        size, keep = file_size(path), readable_length(path)
        if keep < size:
            log.warning("%s ends inside a box (cut short mid-write): %d bytes cut off", part.file, size - keep)
            os.truncate(path, keep)
