"""The stream key, as both halves treat it: the operator generates one (or reads a referenced
Secret's), the ingest worker reads it from the mounted file, and over SRT the key is the
passphrase, which SRT accepts only between 10 and 79 bytes long (libsrt refuses the socket
option otherwise: FFmpeg's listener exits at once), and which the worker passes on as printable
text. The operator says so in the LiveStream's status, and the worker does not start its SRT
listener with such a key (the same rule here)."""

from __future__ import annotations

import secrets

SRT_PASSPHRASE_MIN = 10
SRT_PASSPHRASE_MAX = 79
# token_urlsafe(24): 32 characters of [A-Za-z0-9_-] (192 random bits). Within SRT's passphrase
# length, and nothing that would need escaping in an RTMP stream name or an SRT URL's query.
GENERATED_KEY_BYTES = 24


def generate_stream_key() -> str:
    """A new random stream key (the generated <stream>-stream-key Secret's)."""
    return secrets.token_urlsafe(GENERATED_KEY_BYTES)


def stream_key_bytes(raw: bytes) -> bytes:
    """The key as the worker uses it: the Secret's value without surrounding whitespace (a key
    written with `echo` into a file, then `kubectl create secret --from-file`, ends in a newline)."""
    return raw.strip()


def srt_passphrase_problem(key: bytes) -> str | None:
    """Why SRT cannot use `key` (see stream_key_bytes) as its passphrase, or None when it can. Says
    how it is wrong, never what it is: the text goes to status and Events. SRT counts bytes."""
    if len(key) < SRT_PASSPHRASE_MIN:
        return f"the stream key is shorter than {SRT_PASSPHRASE_MIN} characters"
    if len(key) > SRT_PASSPHRASE_MAX:
        return f"the stream key is longer than {SRT_PASSPHRASE_MAX} characters"
    # The worker hands the passphrase to FFmpeg as text (a line of a script): bytes that are not
    # UTF-8, or a control character, would not arrive as they are.
    try:
        text = key.decode()
    except UnicodeDecodeError:
        return "the stream key is not UTF-8 text"
    if not text.isprintable():
        return "the stream key contains characters that are not printable text"
    return None
