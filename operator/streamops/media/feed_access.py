"""How a worker's feed readers present the stream's worker credential (contract.worker_credential)
to the ingest without it reaching argv, the environment or a log: FFmpeg reads `-headers` from our
FFmpeg's `-args_file` (a 0600 file in a directory only the worker opens), ffprobe (which has no
`-args_file`) opens the feed through an ffconcat script holding `option headers`, and the worker's
own HTTP probes add the header themselves. The file is written again before every run: a
re-created Secret reaches the next FFmpeg. Why not ffconcat for FFmpeg too: docs/design/surfaces.md."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from streamops.contract.worker import PRIVATE_DIR
from streamops.contract.worker_credential import AUTHORIZATION, CredentialCheck
from streamops.media.ffmpeg import ARGS_FILE_OPTION, args_file_text


def private_directory() -> Path:
    """A new directory only this worker opens: in the Pod's memory-backed emptyDir (PRIVATE_DIR; the
    root filesystem is read-only), else in the system's temporary directory (a worker run by hand).
    Removed when the worker exits."""
    base = PRIVATE_DIR if os.path.isdir(PRIVATE_DIR) and os.access(PRIVATE_DIR, os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="streamops-", dir=base))  # mode 0700
    atexit.register(shutil.rmtree, path, True)
    return path


def _quote(value: str) -> str:
    """One token of an ffconcat line (FFmpeg's av_get_token): single-quoted, quotes spliced in."""
    return "'" + value.replace("'", "'\\''") + "'"


class FeedAccess:
    """What one worker's feed readers present (nothing when it has no credential: the ingest
    then refuses them, as it must)."""

    def __init__(self, check: CredentialCheck, private_dir: Path | None = None) -> None:
        self.check = check
        self._dir = private_dir
        self._runs = 0

    def header(self) -> dict[str, str]:
        return self.check.header()

    def header_args(self) -> list[str]:
        """`-headers` as FFmpeg's http input takes it (CRLF-terminated), [] without a credential."""
        return ["-headers", f"{AUTHORIZATION}: {value}\r\n"] if (value := self.header().get(AUTHORIZATION)) else []

    def _private(self, name: str, data: bytes) -> Path:
        if self._dir is None:
            self._dir = private_directory()
        self._runs += 1
        tmp = self._dir / f".{name}.{self._runs}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        path = self._dir / name
        tmp.replace(path)
        return path

    def ffmpeg_argv(self, argv: Sequence[str], feed_url: str) -> list[str]:
        """`argv` with `-args_file <0600 file>` holding `-headers` right before `-i feed_url` (an
        input option applies to the next input wherever it stands among its options)."""
        args = self.header_args()
        out = list(argv)
        if not args:
            return out
        at = next(i for i in range(len(out) - 1) if out[i] == "-i" and out[i + 1] == feed_url)
        path = self._private("feed-headers.args", args_file_text(args))
        return [*out[:at], ARGS_FILE_OPTION, str(path), *out[at:]]

    def ffconcat_input(self, feed_url: str, options: Sequence[tuple[str, str]]) -> list[str]:
        """ffprobe's input for the feed: an ffconcat script (0600) holding the URL, the header and
        the input's `options`; FFmpeg's concat demuxer opens the URL with them. Without a credential,
        the URL itself with the options."""
        header = self.header().get(AUTHORIZATION)
        if header is None:
            inner = [a for name, value in options for a in (f"-{name}", value)]
            return ["-protocol_whitelist", "http,tcp", *inner, "-i", feed_url]
        lines = [
            "ffconcat version 1.0",
            f"file {_quote(feed_url)}",
            # One line per option (the script is read line by line): FFmpeg's http adds the CRLF.
            f"option headers {_quote(f'{AUTHORIZATION}: {header}')}",
            *(f"option {name} {_quote(value)}" for name, value in options),
        ]
        path = self._private("feed.ffconcat", ("\n".join(lines) + "\n").encode())
        # safe 0: the script names a URL; the outer whitelist (file for the script) is the inner's too.
        return ["-f", "concat", "-safe", "0", "-protocol_whitelist", "file,http,tcp", "-i", str(path)]
