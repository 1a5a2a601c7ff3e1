"""Pulling an RTSP/RTSPS camera (source.pull with rtsp:// URLs), pure: FFmpeg's rtsp demuxer options
(transport, its socket timeout, the narrowest protocol allow-list), the camera's user name and
password put into the URL that only our FFmpeg's `-args_file` FIFO carries, and what a failed
attempt says (a 401: the credentials were refused). The worker (worker.py) reads the files and runs
the session; nothing here runs a process.

Why the URL and `-args_file`: FFmpeg's rtsp demuxer takes credentials only as the URL's userinfo
(percent-decoded since 4.x, libavformat/httpauth.c), and any process of the Pod reads
/proc/<pid>/cmdline; the ingest's other key-bearing input (SRT) goes through an ffconcat script, but
the concat demuxer would need `file` in the allow-list and puts a second demuxer in front
(docs/design/rtsp-pull.md).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from streamops.api.common import CREDENTIALED_PULL_SCHEMES, PULL_SOURCE_SCHEMES
from streamops.api.livestream_media import PullRtsp
from streamops.contract.ingest import IngestConfig, PullFailure, PullFailureKind
from streamops.media.ffmpeg import ARGS_FILE_OPTION, RW_TIMEOUT_US, untrusted_certificate_reason
from streamops.media.ffmpeg import protocol_whitelist as whitelist_for

# FFmpeg keeps the URL's userinfo in a 128-byte buffer (rtsp.c, `auth[128]`): longer is cut silently
# and the camera refuses what is left. Refused here with a reason instead.
USERINFO_MAX = 127
REFUSED = "the RTSP server refused the credentials"


def is_rtsp(url: str) -> bool:
    return url.split("://", 1)[0] in CREDENTIALED_PULL_SCHEMES


def rtsp_input_options(url: str, rtsp: PullRtsp | None) -> dict[str, Any]:
    """The rtsp demuxer's options for `url` (checked: scheme, no userinfo). Measured on FFmpeg 7.1:
    interleaved RTP (tcp) opens tcp only, RTP over UDP also rtp and udp; `rw_timeout` is not an option
    of the demuxer (FFmpeg refuses it): its `timeout` (µs) bounds every socket read instead."""
    transport = (rtsp or PullRtsp()).transport
    whitelist = whitelist_for(url, PULL_SOURCE_SCHEMES)
    if url.startswith("rtsp://") and transport == "tcp":
        whitelist = "tcp"
    return {"protocol_whitelist": whitelist, "rtsp_transport": transport, "timeout": RW_TIMEOUT_US}


@dataclass(frozen=True)
class PullCredentials:
    """An RTSP camera's user name and password (from the mounted Secret)."""

    username: str
    password: str

    def userinfo(self) -> str:
        """`user:password`, each percent-encoded (FFmpeg decodes them before authenticating)."""
        return f"{quote(self.username, safe='')}:{quote(self.password, safe='')}"

    def secrets(self) -> list[str]:
        """What the redactor must mask: the password, and the Basic header's value (FFmpeg logs its
        requests at debug level)."""
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return [s for s in (self.password, self.userinfo(), basic) if s]


class CredentialsUnreadable(ValueError):
    """The mounted Secret's files are missing, empty or unusable (the message names no value)."""


def read_credentials(config: IngestConfig) -> PullCredentials | None:
    """The mounted user name and password, read again at every attempt (a changed Secret reaches the
    next one); None when the stream has none."""
    if not config.pull_username_file or not config.pull_password_file:
        return None
    try:
        username = Path(config.pull_username_file).read_text().strip("\r\n")
        password = Path(config.pull_password_file).read_text().strip("\r\n")
    except (OSError, UnicodeDecodeError) as e:
        what = "missing" if isinstance(e, FileNotFoundError) else "unreadable"
        raise CredentialsUnreadable(
            f"the RTSP credentials' Secret is {what} in the ingest Pod (source.pull.credentialsSecretRef: does the "
            "Secret exist with both keys?)"
        ) from None
    credentials = PullCredentials(username, password)
    if not username or any(c in username + password for c in "\0\r\n"):
        raise CredentialsUnreadable("the RTSP user name is empty, or the user name or password holds a line break")
    if len(credentials.userinfo()) > USERINFO_MAX:
        raise CredentialsUnreadable(
            f"the RTSP user name and password are too long for FFmpeg ({USERINFO_MAX} bytes once percent-encoded)"
        )
    return credentials


def credentialed_url(url: str, credentials: PullCredentials | None) -> str:
    """`url` with the userinfo FFmpeg authenticates with; rtsp(s) URLs only, the others as they are."""
    if credentials is None or not is_rtsp(url):
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{credentials.userinfo()}@{rest}"


def input_through_args_file(argv: Sequence[str], url: str, args_file: Path) -> tuple[list[str], list[str]]:
    """`argv` with its `-i url` replaced by `-args_file <args_file>`, and the arguments the worker
    writes into that FIFO (`-i url`): our FFmpeg splices them back in place, so it acts on the same
    command line while /proc/<pid>/cmdline shows only the FIFO's path. The input's other options
    (allow-list, transport, timeouts) stay in sight."""
    out = list(argv)
    at = next(i for i in range(len(out) - 1) if out[i] == "-i" and out[i + 1] == url)
    assert ARGS_FILE_OPTION not in out, "our FFmpeg splices one -args_file"
    return [*out[:at], ARGS_FILE_OPTION, str(args_file), *out[at + 2 :]], ["-i", url]


def untrusted_origin(url: str, why: str) -> str:
    """The clear message for an rtmps://, https:// or rtsps:// origin whose certificate FFmpeg refused
    (after the TLS handshake, before any byte of RTMP, HTTP or RTSP: neither the URL's path, a request
    nor a camera's credentials were sent), naming its host:port, which is the spec's (never a credential)."""
    parts = urlsplit(url)
    default = 322 if parts.scheme == "rtsps" else 443  # FFmpeg's port for rtsps, and for rtmps and https
    host = parts.netloc if parts.port is not None else f"{parts.netloc}:{default}"
    return (
        f"the certificate of the origin {host} is not trusted ({why}): nothing was sent to it and nothing pulled; "
        "set source.pull.tls.caSecretRef to the CA that signed it (or source.pull.tls.insecureSkipVerify, which "
        "pulls from whoever answers at that address)"
    )


def failure(index: int, url: str, lines: Iterable[str], last_error: str, credentialed: bool) -> PullFailure:
    """What one attempt that gave no media says, from FFmpeg's (redacted) stderr lines. An RTSP 401
    comes as "method DESCRIBE failed: 401 Unauthorized" (FFmpeg 7.1, with or without userinfo)."""
    text = "\n".join(lines)
    kind: PullFailureKind = "failed"
    message = last_error or "no media"
    untrusted = untrusted_certificate_reason(text.splitlines())
    if untrusted is not None:
        message = untrusted_origin(url, untrusted)
    elif is_rtsp(url) and "401 Unauthorized" in text:
        kind = "credentials-refused"
        message = (
            f"{REFUSED} of source.pull.credentialsSecretRef (401 Unauthorized)"
            if credentialed
            else "the RTSP server asks for credentials (401 Unauthorized): set source.pull.credentialsSecretRef"
        )
    return PullFailure(url_index=index, url=url, kind=kind, message=message[:1024])
