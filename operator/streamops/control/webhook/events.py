"""The events an object's status change means (pure). Each object of a stream has notable facts, read
from its status; the outbox keeps the facts last notified, and the events are the difference
between those and the facts observed now. So an event missed while the operator was down (or
before the outbox was written) comes out of the next comparison: nothing is lost, and nothing is
sent twice for one change (docs/design/webhooks.md, "Why a diff of facts")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Facts = dict[str, Any]  # JSON-able: kept in the outbox
STREAM = "stream"

# Upload problems a Recording's Uploaded condition reports (recording/reasons.py).
UPLOAD_FAILING_REASONS = frozenset(
    ("StorageUnreachable", "StorageAccessDenied", "BucketNotFound", "UploadFailing", "StorageCredentialsMissing")
)
STOPPING = "Stopping"  # a Recording's Recording condition while spec.stopped finalises (recording/reasons.py)
BACKOFF = "Backoff"  # a Restream's Live condition while its target fails (restream/reasons.py)
CONNECTING = "Connecting"  # ... and while its pusher connects


@dataclass(frozen=True)
class Change:
    """One event before it has a sequence number: its type (without dev.streamops.), the object it is
    about (`stream`, `recordings/<name>`, `restreams/<name>`, `clips/<name>`, `broadcasts/<name>`) and
    its data."""

    type: str
    subject: str
    data: dict[str, Any]


def _condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), {})


def subject_of(kind: str, name: str) -> str:
    return STREAM if kind == "LiveStream" else f"{kind.lower()}s/{name}"


def stream_facts(status: Mapping[str, Any]) -> Facts:
    """`onAir`: whose media is served (primary, backup) or None; the stream is active while it is set."""
    on_air = status.get("activeIngest") or ("primary" if status.get("live") else None)
    return {"onAir": on_air, "startedAt": status.get("startedAtPrimary")}


def _video_ready(video: Mapping[str, Any]) -> bool:
    # PVC: listed once finalised; object storage: once verified in the bucket.
    return video.get("upload") in (None, "uploaded") and not video.get("expiredAt")


def recording_facts(status: Mapping[str, Any]) -> Facts:
    uploaded = _condition(status, "Uploaded")
    no_space = _condition(status, "NoSpace")
    videos = status.get("videos") or []
    return {
        "recording": bool(status.get("recording")),
        "ready": [i + 1 for i, v in enumerate(videos) if _video_ready(v)],
        "uploadFailing": uploaded.get("status") == "False" and uploaded.get("reason") in UPLOAD_FAILING_REASONS,
        "noSpace": no_space.get("status") == "True",
    }


def restream_facts(status: Mapping[str, Any]) -> Facts:
    """`failing`: the target failed and the pusher has not reached it since: backing off, or
    connecting again after an error (so a recovery is told apart from a first connection)."""
    reason = _condition(status, "Live").get("reason")
    live = bool(status.get("live"))
    return {
        "live": live,
        "failing": not live and (reason == BACKOFF or (reason == CONNECTING and bool(status.get("lastError")))),
    }


def clip_facts(status: Mapping[str, Any]) -> Facts:
    """`ready`: its video is stored (as a recording's: final on the PVC, verified in the bucket);
    `failed`: refused or failed for good (Succeeded False)."""
    videos = status.get("videos") or []
    return {
        "ready": bool(videos) and _video_ready(videos[0]),
        "failed": _condition(status, "Succeeded").get("status") == "False",
    }


def broadcast_facts(status: Mapping[str, Any]) -> Facts:
    """What viewers of a Broadcast see: its phase, and the stream on air while Live."""
    return {"phase": status.get("phase") or "Pending", "onAir": status.get("onAir")}


FACTS = {
    "LiveStream": stream_facts,
    "Recording": recording_facts,
    "Restream": restream_facts,
    "Clip": clip_facts,
    "Broadcast": broadcast_facts,
}


def facts_of(kind: str, body: Mapping[str, Any]) -> Facts:
    return FACTS[kind](body.get("status") or {})


def _stopping(status: Mapping[str, Any]) -> bool:
    """spec.stopped and the recorder not done yet: status still says `recording` while the recorder
    finalises the last video, which it lists before it says it has stopped."""
    return bool(status.get("recording")) and _condition(status, "Recording").get("reason") == STOPPING


def facts_to_notify(kind: str, body: Mapping[str, Any], old: Facts | None) -> Facts:
    """The facts to compare with those last notified (`old`), and to keep in their place: facts_of,
    except that a stopping Recording's videos that became ready since `old` are held back until the
    observation that sees it stopped. Its `recording.stopped` then comes before their
    `recording.video_ready` (the order of one comparison, changes_between), also when the recorder
    lists its last video first, and across an operator restart: what is held is only what the outbox
    does not have yet."""
    new = facts_of(kind, body)
    if kind != "Recording" or not _stopping(body.get("status") or {}):
        return new
    notified = set(old["ready"]) if old is not None else set()
    return {**new, "ready": [number for number in new["ready"] if number in notified]}


def _stream_changes(old: Facts, new: Facts, status: Mapping[str, Any]) -> list[Change]:
    changes: list[Change] = []
    detail = {
        k: status.get(k)
        for k in ("activeIngest", "startedAtPrimary", "startedAtBackup", "videoCodec", "audioCodec", "videoWidth")
        if status.get(k) is not None
    } | ({"videoHeight": status["videoHeight"]} if status.get("videoHeight") else {})
    was, now = old["onAir"], new["onAir"]
    # A new primary session between two observations (startedAt moved while on air): idle, then active.
    new_session = was == now == "primary" and new["startedAt"] != old["startedAt"]
    if (was and not now) or new_session:
        changes.append(Change("stream.idle", STREAM, {"finishedAtPrimary": status.get("finishedAtPrimary")}))
    if (now and not was) or new_session:
        changes.append(Change("stream.active", STREAM, detail))
    if now == "backup" and was != "backup":
        changes.append(Change("stream.backup_active", STREAM, detail))
    if was == "backup" and now == "primary":
        changes.append(Change("stream.primary_restored", STREAM, detail))
    return changes


def _location(status: Mapping[str, Any], video: Mapping[str, Any]) -> str | None:
    if video.get("url"):
        return str(video["url"])
    claim = ((status.get("storage") or {}).get("pvc") or {}).get("claimName")
    return f"pvc://{claim}/{video['path']}" if claim and video.get("path") else video.get("path")


def _video_data(status: Mapping[str, Any], video: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "title": video.get("title"),
        "location": _location(status, video),
        "durationSeconds": video.get("durationSeconds"),
        "sizeBytes": video.get("sizeBytes"),
        "startedAt": video.get("startedAt"),
        "endedAt": video.get("endedAt"),
    }


def _recording_changes(name: str, old: Facts, new: Facts, status: Mapping[str, Any]) -> list[Change]:
    """Started first, stopped after the problems that stopped it (no_space), the videos that became
    ready last: a video is final after its recording stopped (or split), never before."""
    subject = subject_of("Recording", name)
    changes: list[Change] = []
    if new["recording"] and not old["recording"]:
        changes.append(Change("recording.started", subject, {"startedAt": status.get("startedAt")}))
    if new["uploadFailing"] and not old["uploadFailing"]:
        uploaded = _condition(status, "Uploaded")
        changes.append(
            Change(
                "recording.upload_failing",
                subject,
                {"reason": uploaded.get("reason"), "message": uploaded.get("message")},
            )
        )
    if new["noSpace"] and not old["noSpace"]:
        condition = _condition(status, "NoSpace")
        changes.append(
            Change(
                "recording.no_space", subject, {"reason": condition.get("reason"), "message": condition.get("message")}
            )
        )
    videos = status.get("videos") or []
    if old["recording"] and not new["recording"]:
        changes.append(
            Change(
                "recording.stopped",
                subject,
                {"endedAt": status.get("endedAt"), "duration": status.get("duration"), "videos": len(videos)},
            )
        )
    for number in sorted(set(new["ready"]) - set(old["ready"])):
        video = videos[number - 1]
        changes.append(
            Change(
                "recording.video_ready",
                subject,
                {
                    "number": number,
                    **_video_data(status, video),
                    # What `kubectl streamops video url` / `streamops video url` takes for a download link.
                    "download": {"recording": name, "number": number},
                },
            )
        )
    return changes


def _restream_changes(name: str, old: Facts, new: Facts, status: Mapping[str, Any]) -> list[Change]:
    subject = subject_of("Restream", name)
    if new["live"] and not old["live"]:
        kind = "restream.recovered" if old["failing"] else "restream.connected"
        return [Change(kind, subject, {"startedAt": status.get("startedAt")})]
    if new["failing"] and not old["failing"]:
        return [
            Change(
                "restream.failing",
                subject,
                {"lastError": status.get("lastError"), "reconnects": status.get("reconnects")},
            )
        ]
    return []


def _clip_changes(name: str, old: Facts, new: Facts, status: Mapping[str, Any]) -> list[Change]:
    subject = subject_of("Clip", name)
    if new["ready"] and not old["ready"]:
        # `download`: what `streamops video url --clip` takes for a download link.
        return [Change("clip.ready", subject, {**_video_data(status, status["videos"][0]), "download": {"clip": name}})]
    if new["failed"] and not old["failed"]:
        succeeded = _condition(status, "Succeeded")
        return [
            Change("clip.failed", subject, {"reason": succeeded.get("reason"), "message": succeeded.get("message")})
        ]
    return []


def _broadcast_changes(name: str, old: Facts, new: Facts, status: Mapping[str, Any]) -> list[Change]:
    """broadcast.<phase> when its phase changes (live, paused, finished, pending), broadcast.switched when
    another of its streams goes on air while it stays live."""
    subject = subject_of("Broadcast", name)
    data = {"phase": new["phase"], "onAir": new["onAir"], "previousPhase": old["phase"]}
    if new["phase"] != old["phase"]:
        extra = {"liveSince": status.get("liveSince")} if new["phase"] == "Live" else {}
        return [Change(f"broadcast.{str(new['phase']).lower()}", subject, data | extra)]
    if new["phase"] == "Live" and new["onAir"] != old["onAir"]:
        return [Change("broadcast.switched", subject, {"onAir": new["onAir"], "previous": old["onAir"]})]
    return []


def changes_between(kind: str, name: str, old: Facts | None, new: Facts, status: Mapping[str, Any]) -> list[Change]:
    """The events from `old` facts to `new` ones. An object seen for the first time (`old` None) is
    compared with its kind's quiet facts: a Recording that starts, a Restream that connects."""
    base = old if old is not None else facts_of(kind, {})
    if kind == "LiveStream":
        return _stream_changes(base, new, status)
    if kind == "Recording":
        return _recording_changes(name, base, new, status)
    if kind == "Clip":
        return _clip_changes(name, base, new, status)
    if kind == "Broadcast":
        return _broadcast_changes(name, base, new, status)
    return _restream_changes(name, base, new, status)
