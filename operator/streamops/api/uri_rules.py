"""The URLs a user may hand to FFmpeg, checked in Python: the schemes, no credentials in the URL, SRT
only as a caller. api.common builds the CEL twins of these checks from the same patterns and
messages and re-exports these names; a module of its own (no model in it), so the workers that
check a URL again import no custom resource's model (docs/design/lean-workers.md)."""

from __future__ import annotations

import re

# Schemes a user may hand to FFmpeg. Everything else (file:, concat:, subfile:, data:, pipe:...)
# could read the worker's own files, so it is refused here and again by the worker.
PUSH_TARGET_SCHEMES = ("rtmp", "rtmps", "srt")
USERINFO_PATTERN = "^[a-z]+://[^/?#]*@"
USERINFO_RE = re.compile(USERINFO_PATTERN)
# What `\s` means in a CEL rule's matches() (RE2): these five; Python's \s also takes \v and Unicode spaces.
RE2_SPACE = "\t\n\f\r "
SRT_CALLER_ONLY = "srt:// URLs support only mode=caller (streamops dials out); remove mode= or set mode=caller"
NO_USERINFO = "credentials in the URL are not allowed: put the key in a Secret and reference it"


def re2(pattern: str) -> re.Pattern[str]:
    """A CEL matches() pattern as Python's re, `\\s` meaning what it means to RE2 (used inside [...] only)."""
    return re.compile(pattern.replace("\\s", RE2_SPACE))


def srt_mode_is_caller(uri: str) -> bool:
    """SRT URIs may only dial out (mode=caller, FFmpeg's default when absent)."""
    if not uri.startswith("srt://"):
        return True
    _, _, query = uri.partition("?")
    return all(p == "mode=caller" for p in query.split("&") if p.startswith("mode="))


def uri_pattern(schemes: tuple[str, ...]) -> str:
    """A URL of one of `schemes` with something after `://` and no spaces (a regex for RE2 and, via re2(), re)."""
    return f"^({'|'.join(schemes)})://[^\\s]+$"


def scheme_message(schemes: tuple[str, ...], what: str) -> str:
    return f"{what} must be a {', '.join(s + '://' for s in schemes)} URL without spaces"


def check_uri(uri: str, schemes: tuple[str, ...], what: str) -> str:
    """Python twin of api.common's scheme_rule/SRT_CALLER_RULE/NO_USERINFO_RULE (operator-side parsing)."""
    if not re2(uri_pattern(schemes)).match(uri):
        raise ValueError(scheme_message(schemes, what))
    if not srt_mode_is_caller(uri):
        raise ValueError(SRT_CALLER_ONLY)
    if USERINFO_RE.match(uri):
        raise ValueError(NO_USERINFO)
    return uri
