"""The playback verbs of both command lines (docs/design/playback.md): `streamops playback url <stream>`
and `kubectl streamops url|play` print (or play) a stream's status.playback URL, signed when its
playback is: `t/<token>/` inserted after its path prefix (at the root for a URL without one), the
token signed with the namespace's key Secret streamops-playback-keys; with `--broadcast`, a
Broadcast's page, its signed streams' tokens in its fragment (docs/design/broadcasts.md). `streamops playback
rotate-key` and `kubectl streamops rotate-key --playback`: previous := current, a new current, the
rotated-at annotation (the Secret is created when missing). The caller's kubeconfig must be allowed
to read (and, to rotate, write) that Secret.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from streamops.api.broadcast import stream_names
from streamops.cli.command_error import CommandError
from streamops.cli.kube_connection import get_stream
from streamops.contract.ingest import (
    BROADCASTS_PATH,
    DASH_MANIFEST,
    HLS_CMAF_PLAYLIST,
    HLS_MPEGTS_PLAYLIST,
    PLAYER_PAGE,
    SCREENSHOT_PATH,
    WHEP_PATH,
)
from streamops.contract.playback_token import (
    CURRENT_KEY,
    KEY_BYTES,
    KEY_PROPAGATION_SECONDS,
    KEYS_SECRET,
    PREVIOUS_KEY,
    ROTATED_AT_ANNOTATION,
    TOKEN_SEGMENT,
    key_id,
    sign,
)
from streamops.control.livestream.playback_keys import playback_keys_secret

if TYPE_CHECKING:
    from streamops.kube.client import KubeApi

Manifest = dict[str, Any]
Format = Literal["player", "hls", "llhls", "dash", "whep", "srt", "rtsp"]
FORMATS: tuple[Format, ...] = ("player", "hls", "llhls", "dash", "whep", "srt", "rtsp")
# The readers' URLs carry the token in their query (docs/design/readers.md), not in the path.
READER_FORMATS = ("srt", "rtsp")
DEFAULT_EXPIRES = "1h"
MAX_EXPIRES_SECONDS = 366 * 24 * 3600
# What each status.playback URL ends with: the rest is the stream's path prefix (maybe none).
SUFFIXES = (HLS_CMAF_PLAYLIST, HLS_MPEGTS_PLAYLIST, DASH_MANIFEST, SCREENSHOT_PATH, WHEP_PATH, PLAYER_PAGE)
_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_expires(text: str) -> int:
    """Seconds from "90", "90s", "30m", "1h", "7d"."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise CommandError(f"--expires {text!r}: a number of seconds, or with s, m, h or d (e.g. 1h)")
    seconds = int(match[1]) * _UNIT_SECONDS[match[2]]
    if not 0 < seconds <= MAX_EXPIRES_SECONDS:
        raise CommandError(f"--expires {text!r}: between 1 s and 366 days")
    return seconds


def viewer_address(text: str | None) -> str:
    """The --ip restriction as the verifiers compare it (the canonical text of the address)."""
    if not text:
        return ""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise CommandError(f"--ip {text!r} is not an IPv4 or IPv6 address") from None


def reader_with_token(url: str, token: str) -> str:
    """A status.playback srtUrl or rtspUrl with the token where the readers' component takes it: SRT's
    stream id (a caller), RTSP's ?token=."""
    parts = urlsplit(url)
    query = f"mode=caller&streamid={token}" if parts.scheme == "srt" else f"token={token}"
    return urlunsplit(parts._replace(query=query))


def with_token(url: str, token: str) -> str:
    """`url` (a status.playback URL) with the token segment after the stream's path prefix."""
    parts = urlsplit(url)
    suffix = next((s for s in SUFFIXES if parts.path.endswith(s)), None)
    if suffix is None:
        raise CommandError(f"{url} is not a playback URL this command knows (it ends with none of {SUFFIXES})")
    prefix = parts.path[: -len(suffix)]
    return urlunsplit(parts._replace(path=f"{prefix}/{TOKEN_SEGMENT}/{token}{suffix}"))


def playback_url(stream: Mapping[str, Any], fmt: Format) -> str:
    """The stream's status.playback URL for `fmt` (llhls: the CMAF playlist of a low-latency stream)."""
    name = stream.get("metadata", {}).get("name", "?")
    playback = (stream.get("status") or {}).get("playback") or {}
    if fmt == "llhls" and ((stream.get("spec") or {}).get("hls") or {}).get("latencyMode") != "low":
        raise CommandError(f"livestream {name} does not serve LL-HLS (spec.hls.latencyMode is not low)")
    fields = {
        "player": ("playerUrl",),
        "hls": ("hlsCmafUrl", "hlsMpegtsUrl"),
        "llhls": ("hlsCmafUrl",),
        "dash": ("dashUrl",),
        "whep": ("whepUrl",),
        "srt": ("srtUrl",),
        "rtsp": ("rtspUrl",),
    }[fmt]
    url = next((playback[f] for f in fields if playback.get(f)), None)
    if url is None:
        raise CommandError(
            f"livestream {name} has no {fmt} URL in status.playback ({' or '.join(fields)}): the format is off, or "
            "the operator has not reported the stream yet"
        )
    return str(url)


@dataclass(frozen=True)
class Keys:
    current: bytes
    previous: bytes | None
    rotated_at: datetime | None


def secret_keys(secret: Mapping[str, Any]) -> Keys:
    data = secret.get("data") or {}
    if not data.get(CURRENT_KEY):
        raise CommandError(f"secret {KEYS_SECRET} has no key {CURRENT_KEY!r}: run `streamops playback rotate-key`")
    previous = base64.b64decode(data[PREVIOUS_KEY]) if data.get(PREVIOUS_KEY) else None
    stamp = ((secret.get("metadata") or {}).get("annotations") or {}).get(ROTATED_AT_ANNOTATION)
    return Keys(base64.b64decode(data[CURRENT_KEY]), previous, _parse_time(stamp))


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def signing_key(keys: Keys, now: datetime) -> bytes:
    """`previous` while `current` is younger than KEY_PROPAGATION_SECONDS (mounted copies may not
    have it yet), else `current`; `current` when there is no previous (the first key)."""
    if keys.previous is None or keys.rotated_at is None:
        return keys.current
    young = (now - keys.rotated_at).total_seconds() < KEY_PROPAGATION_SECONDS
    return keys.previous if young else keys.current


def signed_url(
    stream: Mapping[str, Any], secret: Mapping[str, Any], fmt: Format, expires: int, ip: str, now: datetime
) -> str:
    """The signed URL of `fmt`, valid `expires` seconds from `now`, for any viewer or only `ip`."""
    meta = stream.get("metadata") or {}
    identity = f"{meta.get('namespace')}/{meta.get('name')}"
    key = signing_key(secret_keys(secret), now)
    token = sign(key, identity, int(now.timestamp()) + expires, ip)
    if fmt in READER_FORMATS:
        return reader_with_token(playback_url(stream, fmt), token)
    return with_token(playback_url(stream, fmt), token)


def stream_access(stream: Mapping[str, Any]) -> str | None:
    """spec.playback.access: public, signed, or None (the operator's default decides)."""
    return (((stream.get("spec") or {}).get("playback")) or {}).get("access")


def rotated(secret: Manifest, now: datetime, new_key: bytes | None = None) -> Manifest:
    """The Secret after a rotation: previous := current, current := a new key, rotated-at := now."""
    data = dict(secret.get("data") or {})
    if data.get(CURRENT_KEY):
        data[PREVIOUS_KEY] = data[CURRENT_KEY]
    data[CURRENT_KEY] = base64.b64encode(new_key or secrets.token_bytes(KEY_BYTES)).decode()
    meta = dict(secret.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), ROTATED_AT_ANNOTATION: rfc3339(now)}
    return {**secret, "metadata": meta, "data": data}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def too_soon(secret: Mapping[str, Any], now: datetime) -> float | None:
    """Seconds to wait before another rotation keeps every signed token valid (None: none): signers
    still use `previous`, which a rotation now would drop."""
    keys = secret_keys(secret)
    if keys.previous is None or keys.rotated_at is None:
        return None
    left = KEY_PROPAGATION_SECONDS - (now - keys.rotated_at).total_seconds()
    return left if left > 0 else None


def describe(secret: Mapping[str, Any]) -> str:
    """The keys by id (a hash prefix, not key material)."""
    keys = secret_keys(secret)
    previous = f", previous {key_id(keys.previous)}" if keys.previous else ""
    return f"current {key_id(keys.current)}{previous}"


def keys_missing(namespace: str) -> CommandError:
    """A signed URL asked for where the namespace has no signing keys."""
    return CommandError(
        f"namespace {namespace} has no secret {KEYS_SECRET} (the operator creates it for a signed stream; "
        "`streamops playback rotate-key` creates one)"
    )


@dataclass(frozen=True)
class StreamUrl:
    url: str
    note: str | None = None  # for stderr: why the URL carries no token


def stream_url(api: KubeApi, stream: Mapping[str, Any], fmt: Format, expires: int, ip: str, now: datetime) -> StreamUrl:
    """The URL a viewer of `stream` uses for `fmt`: signed with the namespace's key Secret when the
    stream's playback is signed (or left to the operator's default and the Secret exists), plain
    when it is public."""
    meta = stream.get("metadata") or {}
    name, namespace = meta.get("name", "?"), meta.get("namespace", "?")
    access = stream_access(stream)
    if access == "public":
        note = f"livestream {name} is public (spec.playback.access): the URL needs no token"
        return StreamUrl(playback_url(stream, fmt), note)
    secret = api.get("Secret", namespace, KEYS_SECRET)
    if secret is None:
        if access is None:  # the operator's default decides; it creates the Secret for a signed stream
            note = (
                f"livestream {name} leaves spec.playback.access to the operator's default and namespace "
                f"{namespace} has no secret {KEYS_SECRET}: the stream is public, the URL needs no token"
            )
            return StreamUrl(playback_url(stream, fmt), note)
        raise keys_missing(namespace)
    return StreamUrl(signed_url(stream, secret, fmt, expires, ip, now))


def livestream_url(
    api: KubeApi, namespace: str, name: str, fmt: Format, expires: int, ip: str, now: datetime
) -> StreamUrl:
    """The URL of the LiveStream `name` for `fmt` (stream_url()): what `streamops playback url` and
    `kubectl streamops url|play` print or play, the arguments parsed (parse_expires(), viewer_address())
    where each command line checks them."""
    return stream_url(api, get_stream(api, namespace, name), fmt, expires, ip, now)


def broadcast_page_url(
    broadcast: Mapping[str, Any],
    streams: Mapping[str, Mapping[str, Any] | None],
    secret: Mapping[str, Any] | None,
    expires: int,
    ip: str,
    now: datetime,
) -> StreamUrl:
    """A Broadcast's page (status.playerUrl) for a viewer: the token of the stream that serves it in its
    path, every signed stream's token in its fragment (`#t=<stream>:<token>,...`: the page reads it,
    browsers never send it), each valid `expires` seconds and for `ip` (docs/design/broadcasts.md)."""
    meta = broadcast.get("metadata") or {}
    name, namespace = meta.get("name", "?"), meta.get("namespace", "?")
    page = (broadcast.get("status") or {}).get("playerUrl")
    if not page:
        raise CommandError(
            f"broadcast {name} has no status.playerUrl yet: none of its streams has a playback URL (or the operator "
            "has not reported it)"
        )
    parts = urlsplit(str(page))
    tail = f"{BROADCASTS_PATH}/{name}{PLAYER_PAGE}"
    if not parts.path.endswith(tail):
        raise CommandError(f"{page} is not a broadcast page this command knows (it does not end with {tail})")
    prefix = parts.path[: -len(tail)]
    members = stream_names(broadcast.get("spec") or {})
    # A stream left to the operator's default is signed when the namespace has keys: a token is harmless
    # to a public stream (it ignores one), missing to a signed one.
    signed = [
        m for m in members if (s := streams.get(m)) is not None
        and (stream_access(s) == "signed" or (stream_access(s) is None and secret is not None))
    ]  # fmt: skip
    if not signed:
        return StreamUrl(str(page), f"broadcast {name}'s streams are public: the URL needs no token")
    if secret is None:
        raise keys_missing(namespace)
    key = signing_key(secret_keys(secret), now)
    tokens = {m: sign(key, f"{namespace}/{m}", int(now.timestamp()) + expires, ip) for m in signed}
    # The stream whose ingest serves the page: the one whose player page shares its prefix.
    host = next(
        (m for m in signed if ((streams[m] or {}).get("status") or {}).get("playback", {}).get("playerUrl")
         == urlunsplit(parts._replace(path=prefix + PLAYER_PAGE, query="", fragment=""))),
        None,
    )  # fmt: skip
    path = f"{prefix}/{TOKEN_SEGMENT}/{tokens[host]}{tail}" if host else parts.path
    fragment = "t=" + ",".join(f"{m}:{token}" for m, token in tokens.items())
    return StreamUrl(urlunsplit(parts._replace(path=path, fragment=fragment)))


def broadcast_url(api: KubeApi, namespace: str, name: str, expires: int, ip: str, now: datetime) -> StreamUrl:
    """broadcast_page_url() of the Broadcast `name`, its streams and the namespace's keys read from the cluster."""
    from streamops.api import BROADCAST, LIVESTREAM

    broadcast = api.get_custom(BROADCAST, namespace, name)
    if broadcast is None:
        raise CommandError(f"broadcast {name} not found in namespace {namespace}")
    streams = {m: api.get_custom(LIVESTREAM, namespace, m) for m in stream_names(broadcast.get("spec") or {})}
    return broadcast_page_url(broadcast, streams, api.get("Secret", namespace, KEYS_SECRET), expires, ip, now)


def rotate_playback_key(api: KubeApi, namespace: str, force: bool, now: datetime) -> str:
    """Rotate (or create) the namespace's playback signing keys; what was done, in words."""
    secret = api.get("Secret", namespace, KEYS_SECRET)
    if secret is None:
        created = api.create(playback_keys_secret(namespace, now))
        if created is None:
            raise CommandError(f"secret {KEYS_SECRET} was created meanwhile: run the command again")
        return f"created secret {KEYS_SECRET} in namespace {namespace}: {describe(created)}"
    wait = too_soon(secret, now)
    if wait is not None and not force:
        raise CommandError(
            f"the last rotation is less than {KEY_PROPAGATION_SECONDS} s old: URLs signed since then use the "
            f"previous key, which another rotation now would drop; wait {wait:.0f} s (or --force)"
        )
    written = api.replace(rotated(secret, now))
    if written is None:
        raise CommandError(f"secret {KEYS_SECRET} changed meanwhile: run the command again")
    return (
        f"rotated the playback signing key of namespace {namespace}: {describe(written)}; new URLs are signed "
        f"with the new key from {KEY_PROPAGATION_SECONDS} s on, URLs signed before stay valid until they expire"
    )
