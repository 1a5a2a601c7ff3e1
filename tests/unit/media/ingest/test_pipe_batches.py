"""Reading FFmpeg's feed pipe in batches (streamops.media.ingest.pipe_batches.PipeReader): every byte, in order, what
gathered during a pause as one chunk, the end of the pipe as the end."""

from __future__ import annotations

import asyncio
import os

import pytest
from streamops.media.ingest.pipe_batches import READ_BYTES, PipeReader


def test_what_gathers_during_the_pause_comes_as_one_chunk():
    read_fd, write_fd = os.pipe()

    async def scenario() -> list[bytes]:
        chunks: list[bytes] = []
        os.write(write_fd, b"first")
        reader = PipeReader(read_fd, chunks.append, interval=0.2)
        await asyncio.sleep(0.05)
        assert chunks == [b"first"]  # at once: nothing came before it
        for piece in (b"a", b"b", b"c"):  # during the pause after the first chunk
            os.write(write_fd, piece)
        os.close(write_fd)
        await asyncio.wait_for(reader.ended, timeout=5)
        return chunks

    try:
        assert asyncio.run(scenario()) == [b"first", b"abc"]
    finally:
        os.close(read_fd)


def test_the_callback_reader_hands_over_everything_and_ends_at_eof():
    read_fd, write_fd = os.pipe()
    sent = [os.urandom(1000) for _ in range(30)] + [os.urandom(3 * READ_BYTES)]

    async def scenario() -> list[bytes]:
        chunks: list[bytes] = []
        reader = PipeReader(read_fd, chunks.append, interval=0.001)
        for block in sent:
            os.write(write_fd, block[: READ_BYTES // 2])
            await asyncio.sleep(0.002)
            os.write(write_fd, block[READ_BYTES // 2 :])
        os.close(write_fd)
        await asyncio.wait_for(reader.ended, timeout=10)
        return chunks

    try:
        chunks = asyncio.run(scenario())
    finally:
        os.close(read_fd)
    assert b"".join(chunks) == b"".join(sent) and all(chunks)


def test_the_callback_reader_stops_when_told_and_a_consumer_error_ends_it():
    read_fd, write_fd = os.pipe()

    async def scenario() -> None:
        got: list[bytes] = []

        def once(chunk: bytes) -> None:
            got.append(chunk)
            reader.stop()  # as a refused session does from its first chunk

        reader = PipeReader(read_fd, once, interval=0.001)
        os.write(write_fd, b"first")
        await asyncio.wait_for(reader.ended, timeout=5)
        os.write(write_fd, b"more")
        await asyncio.sleep(0.05)
        assert got == [b"first"]

        def fail(chunk: bytes) -> None:
            raise ValueError("consumer bug")

        failing = PipeReader(read_fd, fail, interval=0.001)
        with pytest.raises(ValueError, match="consumer bug"):
            await asyncio.wait_for(failing.ended, timeout=5)

    try:
        asyncio.run(scenario())
    finally:
        os.close(read_fd)
        os.close(write_fd)
