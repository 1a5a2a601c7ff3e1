"""What `kubectl streamops` prints, as pure functions: objects as the API server gave them (read
through the API models) in, text out. No API call, no clock read here (`now` is an argument), so
every line is unit-tested (tests/unit/cli/test_render.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import quote

from streamops.api.common import Condition
from streamops.api.kinds import LiveStream, Recording, Restream
from streamops.api.livestream import PublishSession

PushProtocol = Literal["rtmp", "rtmps", "srt", "whip"]
MASK = "********"  # where a key goes when it was not asked for
DASH = "-"
# Conditions that say something is wrong when True (the others: when False).
ABNORMAL_WHEN_TRUE = frozenset({"Reconciling", "Stalled", "NoSpace", "StorageAlmostFull"})
# Conditions that describe what is happening rather than whether it is healthy: shown as state.
STATE_CONDITIONS = frozenset({"Live", "BackupLive", "Recording"})
# A Restream's Ready reasons, as one word in the status screen (others are shown as they are).
RESTREAM_STATES = {
    "Pushing": "live",
    "Backoff": "backoff",
    "Connecting": "connecting",
    "StreamNotLive": "waiting",
    "Inactive": "off",
    "PusherStarting": "starting",
    "PusherPending": "pending",
    "StreamKeySecretNotFound": "no key",
    "CodecNotAccepted": "codec not taken",  # its Stalled line says what to set
}


# ------------------------------------------------------------------------------------ numbers


def bitrate(bits_per_second: int | None) -> str:
    if bits_per_second is None:
        return DASH
    if bits_per_second >= 1_000_000:
        return f"{bits_per_second / 1e6:.2f} Mb/s"
    return f"{bits_per_second / 1e3:.0f} kb/s"


def size(n: int | None) -> str:
    if n is None:
        return DASH
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600}h"


def fps(value: float | None) -> str:
    return DASH if value is None else f"{value:g}"


def resolution(stream: LiveStream) -> str:
    status = stream.status
    if status is None or not status.video_width or not status.video_height:
        return DASH
    return f"{status.video_width}x{status.video_height}"


# --------------------------------------------------------------------------------- conditions


def not_ok(conditions: Iterable[Condition]) -> list[Condition]:
    """The conditions that say something is wrong (or still being done): Ready/BrowserPlayable/... that
    is not True (Unknown is "cannot tell yet" except for Ready), Stalled/Reconciling/NoSpace/... True."""
    found = []
    for c in conditions:
        if c.type in STATE_CONDITIONS:
            continue
        if c.type in ABNORMAL_WHEN_TRUE:
            bad = c.status == "True"
        else:
            bad = c.status == "False" or (c.type == "Ready" and c.status != "True")
        if bad:
            found.append(c)
    return found


def condition_line(c: Condition) -> str:
    message = f": {c.message}" if c.message else ""
    return f"{c.type}={c.status} {c.reason}{message}"


# ------------------------------------------------------------------------------ object states


def live_word(stream: LiveStream) -> str:
    status = stream.status
    if not stream.spec.active or (status is not None and status.active is False):
        return "off"
    if status is None:
        return "?"
    return "yes" if status.live else "no"


def on_air(stream: LiveStream) -> str:
    return (stream.status.active_ingest if stream.status else None) or DASH


def source(stream: LiveStream) -> str:
    """The protocol on air while live; else what the stream accepts."""
    if stream.status is not None and stream.status.protocol and stream.status.active_ingest:
        return stream.status.protocol
    push = stream.spec.source.push
    return ",".join(push.protocols) if push is not None else "pull"


def viewers_total(stream: LiveStream) -> str:
    viewers = stream.status.viewers if stream.status else None
    return DASH if viewers is None else str(viewers.total)


def restream_state(restream: Restream) -> str:
    if not restream.spec.active:
        return "off"
    status = restream.status
    if status is None:
        return "?"
    if status.live:
        return "live"
    ready = status.condition("Ready")
    if ready is None:
        return "?"
    return RESTREAM_STATES.get(ready.reason, ready.reason)


def recording_state(recording: Recording) -> str:
    status = recording.status
    if status is None:
        return "stopping" if recording.spec.stopped else "?"
    if status.recording:
        return "recording"
    succeeded = status.condition("Succeeded")
    if succeeded is not None and succeeded.status == "True":
        return "finished"
    no_space = status.condition("NoSpace")
    if no_space is not None and no_space.status == "True":
        return "no space"
    if recording.spec.stopped:
        return "stopping"
    waiting = status.condition("Recording") or status.condition("Ready")
    if waiting is not None and waiting.reason == "StreamNotLive":
        return "waiting (stream not live)"
    return waiting.reason if waiting is not None else "?"


def restreams_cell(restreams: Sequence[Restream]) -> str:
    """'2/3 live' (live of all), or '-' without any."""
    if not restreams:
        return DASH
    live = sum(1 for r in restreams if r.status is not None and r.status.live)
    return f"{live}/{len(restreams)} live"


def problems_cell(stream: LiveStream) -> str:
    if stream.status is None:
        return "no status yet"
    bad = not_ok(stream.status.conditions)
    if not bad:
        return DASH
    first = f"{bad[0].type}={bad[0].status}:{bad[0].reason}"
    return first if len(bad) == 1 else f"{first} +{len(bad) - 1}"


# ------------------------------------------------------------------------------------- status


@dataclass(frozen=True)
class Unreadable:
    """An object the models could not read (a newer operator's status, a hand-edited object)."""

    namespace: str
    name: str
    error: str


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows with their columns left-aligned, three spaces apart, as `kubectl get` prints them."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return "\n".join(aligned([header, *rows]))


STATUS_HEADER = ("NAME", "LIVE", "ON-AIR", "SOURCE", "BITRATE", "FPS", "RESOLUTION", "VIEWERS", "REC", "RESTREAMS")


def status_table(
    streams: Sequence[LiveStream | Unreadable],
    restreams: dict[tuple[str, str], list[Restream]],
    all_namespaces: bool,
) -> str:
    """One line per stream: `kubectl streamops status -A` (or without a name). `restreams` by
    (namespace, stream name)."""
    header = [*(("NAMESPACE",) if all_namespaces else ()), *STATUS_HEADER, "NOT OK"]
    rows = []
    for s in sorted(streams, key=_key):
        if isinstance(s, Unreadable):
            cells = [s.name, "?", *([DASH] * (len(STATUS_HEADER) - 2)), f"unreadable: {s.error}"]
        else:
            status = s.status
            key = (s.metadata.namespace or "", s.metadata.name)
            cells = [
                s.metadata.name,
                live_word(s),
                on_air(s),
                source(s),
                bitrate(status.bitrate if status else None),
                fps(status.frame_rate if status else None),
                resolution(s),
                viewers_total(s),
                "yes" if status is not None and status.recording else DASH,
                restreams_cell(restreams.get(key, [])),
                problems_cell(s),
            ]
        rows.append([*((_namespace(s),) if all_namespaces else ()), *cells])
    if not rows:
        return ""
    return table(header, rows)


def _namespace(s: LiveStream | Unreadable) -> str:
    return s.namespace if isinstance(s, Unreadable) else s.metadata.namespace or ""


def _key(s: LiveStream | Unreadable) -> tuple[str, str]:
    return (_namespace(s), s.name if isinstance(s, Unreadable) else s.metadata.name)


def _since(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return ""
    return f" since {moment:%Y-%m-%d %H:%M:%S} UTC ({duration((now - moment).total_seconds())})"


def status_screen(  # noqa: C901 (listed in ruff.toml: split it when next changed)
    stream: LiveStream, recordings: Sequence[Recording], restreams: Sequence[Restream], now: datetime
) -> str:
    """Everything about one stream on one screen: `kubectl streamops status NAME`."""
    status = stream.status
    title = f'  "{stream.spec.title}"' if stream.spec.title else ""
    lines = [f"livestream {stream.metadata.namespace}/{stream.metadata.name}{title}"]

    def field(label: str, value: str) -> None:
        lines.append(f"  {label + ':':<12}{value}")

    live = live_word(stream)
    if status is None:
        field("Live", "? (the operator has not reported the stream yet)")
    elif live == "off":
        why = "spec.active false" if not stream.spec.active else "deactivated (no data from any pull URL)"
        field("Live", f"off ({why})")
    elif status.live or status.active_ingest:
        field("Live", f"{live}, on air: {status.active_ingest or 'primary'}{_since(status.started_at_primary, now)}")
    else:
        ended = f", last ended {status.finished_at_primary:%Y-%m-%d %H:%M:%S} UTC" if status.finished_at_primary else ""
        field("Live", f"no{ended}")
    push = stream.spec.source.push
    if push is not None and push.backup:
        if status is not None and status.backup_live:
            field("Backup", f"live{_since(status.started_at_backup, now)}")
        else:
            field("Backup", "not live")
    if push is not None:
        now_on = f", live over {status.protocol}" if status is not None and status.protocol else ""
        field("Ingest", f"push, accepts {', '.join(push.protocols)}{now_on}")
    else:
        pull = stream.spec.source.pull
        field("Ingest", f"pull from {len(pull.urls) if pull else 0} URL(s), round-robin")
    if status is not None and (status.video_codec or status.audio_codec):
        profile = f" {status.video_profile}" if status.video_profile else ""
        pixels = f", {status.pixel_format}" if status.pixel_format else ""
        codec = f"{status.video_codec or '?'}{profile}"
        field("Video", f"{resolution(stream)} {codec}, {fps(status.frame_rate)} fps{pixels}")
        field("Audio", status.audio_codec or "none")
        speed = f" (speed {status.transcoding_speed:.2f}x)" if status.transcoding_speed is not None else ""
        field("Bitrate", f"{bitrate(status.bitrate)}{speed}")
    if status is not None and status.transcoded_qualities:
        field("Qualities", ", ".join(status.transcoded_qualities))
    for i, session in enumerate(((status.sessions or []) if status else [])[-SESSIONS_SHOWN:][::-1]):
        lines.append(f"  {'Sessions:' if i == 0 else '':<12}{session_line(session, now)}")
    viewers = status.viewers if status else None
    if viewers is not None:
        by_protocol = (
            ("hls", viewers.hls),
            ("llhls", viewers.llhls),
            ("dash", viewers.dash),
            ("webrtc", viewers.webrtc),
        )
        parts = ", ".join(f"{p} {n}" for p, n in by_protocol if n)
        field("Viewers", f"{viewers.total} ({parts})" if parts else str(viewers.total))
    if recordings:
        for i, r in enumerate(sorted(recordings, key=_newest_first)):
            videos = len(r.status.videos) if r.status else 0
            took = f" {duration(r.status.duration)}" if r.status and r.status.duration is not None else ""
            text = f"{r.metadata.name} {recording_state(r)}{took}, {videos} video{'s' if videos != 1 else ''}"
            lines.append(f"  {'Recordings:' if i == 0 else '':<12}{text}")
    else:
        auto = " (spec.recording.auto: one starts when the stream goes live)" if stream.spec.recording.auto else ""
        field("Recordings", f"none{auto}")
    ordered = sorted(restreams, key=lambda t: t.metadata.name)
    rows = [
        [
            t.metadata.name,
            restream_state(t),
            f"{size(t.status.bytes_sent if t.status else None)} sent",
            f"{(t.status.reconnects if t.status else None) or 0} reconnects",
            t.spec.uri,
        ]
        for t in ordered
    ]
    for i, (target, line) in enumerate(zip(ordered, aligned(rows), strict=True)):
        lines.append(f"  {'Restreams:' if i == 0 else '':<12}{line}")
        if target.status is not None and not target.status.live and target.status.last_error:
            lines.append(f"  {'':<12}  last error: {target.status.last_error}")
    if not restreams:
        field("Restreams", "none")
    problems = [condition_line(c) for c in not_ok(status.conditions)] if status else []
    for kind, objects in (("recording", recordings), ("restream", restreams)):
        for o in objects:
            conditions = o.status.conditions if o.status else []
            problems += [f"{kind} {o.metadata.name}: {condition_line(c)}" for c in _abnormal(conditions)]
    for i, text in enumerate(problems):
        lines.append(f"  {'Not OK:' if i == 0 else '':<12}{text}")
    if status is not None and not problems:
        field("Not OK", "nothing")
    return "\n".join(lines)


SESSIONS_SHOWN = 3  # of status.sessions (up to 20), newest first: `kubectl get lst -o yaml` has them all


def session_line(session: PublishSession, now: datetime) -> str:
    """One publish session: when and how long, over what, what arrived."""
    end = session.ended_at or now
    on = "" if session.ended_at else ", on air"
    size = f"{session.width}x{session.height}" if session.width and session.height else "?"
    codecs = "/".join(c for c in (session.video_codec, session.audio_codec) if c) or "?"
    return (
        f"{session.started_at:%Y-%m-%d %H:%M:%S} {duration((end - session.started_at).total_seconds())}{on}, "
        f"{session.ingest} {session.protocol or '?'}, {size} {codecs} {fps(session.frame_rate)} fps, "
        f"avg {bitrate(session.average_bitrate)}, peak {bitrate(session.peak_bitrate)}"
    )


def _abnormal(conditions: Iterable[Condition]) -> list[Condition]:
    """A Recording's or Restream's conditions worth a line of their own (their state has one)."""
    return [
        c
        for c in conditions
        if (c.type in ABNORMAL_WHEN_TRUE and c.status == "True") or (c.type == "Uploaded" and c.status == "False")
    ]


def _newest_first(r: Recording) -> tuple[int, str]:
    started = r.status.started_at if r.status else None
    return (-(int(started.timestamp()) if started else 0), r.metadata.name)


# ----------------------------------------------------------------------------------- push URLs


def push_url(server: str, protocol: PushProtocol, key: str | None) -> str:
    """The URL an encoder pushes to, the key where the ingest expects it (MASK for None): RTMP(S)
    the stream name after the server URL's /live, SRT the passphrase (caller mode), WHIP none (the
    key is its bearer token, never in the URL)."""
    shown = MASK if key is None else key
    if protocol in ("rtmp", "rtmps"):
        return f"{server.rstrip('/')}/{shown}"
    if protocol == "srt":
        separator = "&" if "?" in server else "?"
        passphrase = MASK if key is None else quote(key, safe="")
        return f"{server}{separator}mode=caller&passphrase={passphrase}"
    return server


def push_lines(server: str, protocol: PushProtocol, key: str | None, obs: bool) -> list[str]:
    """What `push-url` prints on stdout: the URL (WHIP: and its Authorization header), or with
    `obs` the two fields of OBS's Stream settings to fill in (obs_service() names the Service)."""
    shown = MASK if key is None else key
    if protocol == "whip":
        if obs:
            return [f"Server: {server}", f"Bearer Token: {shown}"]
        return [server, f"Authorization: Bearer {shown}"]
    if obs:
        if protocol == "srt":  # OBS takes SRT as one URL; its Stream Key field stays empty
            return [f"Server: {push_url(server, protocol, key)}", "Stream Key:"]
        return [f"Server: {server}", f"Stream Key: {shown}"]
    return [push_url(server, protocol, key)]


def obs_service(protocol: PushProtocol) -> str:
    """Where the fields go, said on stderr."""
    service = "WHIP" if protocol == "whip" else "Custom..."
    return f"OBS: Settings → Stream → Service: {service}, then these fields"
