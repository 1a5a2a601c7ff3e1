"""`kubectl streamops record start|stop`: Recordings as the hosted API's start_recording /
stop_recording (a Recording object; spec.stopped)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from streamops.cli.command_error import CommandError
from streamops.cli.kube_connection import Manifest, get_stream, list_custom

if TYPE_CHECKING:
    from streamops.kube.client import KubeApi

NAME_STEM_MAX = 40  # <stream>-<yyyymmdd-hhmmss>: the recorder Pod's name adds "-recorder"


def stream_ref(recording: Manifest) -> str:
    return str(((recording.get("spec") or {}).get("streamRef") or {}).get("name") or "")


def unstopped(recordings: list[Manifest], stream: str) -> list[Manifest]:
    """The stream's Recordings not stopped: recording now, or waiting for the stream to go live."""
    return [
        r
        for r in recordings
        if stream_ref(r) == stream
        and not (r.get("spec") or {}).get("stopped")
        and not (r.get("metadata") or {}).get("deletionTimestamp")
    ]


def default_name(stream: str, now: datetime) -> str:
    return f"{stream[:NAME_STEM_MAX].rstrip('-.')}-{now:%Y%m%d-%H%M%S}"


def record_start(api: KubeApi, namespace: str, stream_name: str, name: str | None) -> str:
    from streamops.api import API_VERSION, RECORDING

    stream = get_stream(api, namespace, stream_name)
    running = unstopped(list_custom(api, RECORDING, namespace), stream_name)
    if running:
        names = ", ".join(r["metadata"]["name"] for r in running)
        raise CommandError(
            f"livestream {stream_name} already has a recording that is not stopped ({names}): stop it first with "
            f"`kubectl streamops record stop {running[0]['metadata']['name']} -n {namespace}`"
        )
    recording_name = name or default_name(stream_name, datetime.now(UTC))
    recording: Manifest = {
        "apiVersion": API_VERSION,
        "kind": "Recording",
        "metadata": {"name": recording_name, "namespace": namespace},
        "spec": {"streamRef": {"name": stream_name}},
    }
    created = api.create_custom(RECORDING, recording)
    if created is None:
        raise CommandError(f"recording {recording_name} already exists in namespace {namespace}")
    live = bool((stream.get("status") or {}).get("live"))
    when = "it records now" if live else "the stream is not live: it starts recording when the stream goes live"
    return (
        f"recording {created['metadata']['name']} created for livestream {stream_name} ({when}); "
        f"stop it with `kubectl streamops record stop {stream_name} -n {namespace}`"
    )


def record_stop(api: KubeApi, namespace: str, name: str) -> str:
    """Stop the Recording `name`, else every unstopped Recording of the LiveStream `name`."""
    from streamops.api import LIVESTREAM, RECORDING

    recording = api.get_custom(RECORDING, namespace, name)
    if recording is not None:
        targets = [recording]
        if (recording.get("spec") or {}).get("stopped"):
            return f"recording {name} is stopped already"
    else:
        stream = api.get_custom(LIVESTREAM, namespace, name)
        if stream is None:
            raise CommandError(f"no recording and no livestream named {name} in namespace {namespace}")
        targets = unstopped(list_custom(api, RECORDING, namespace), name)
        if not targets:
            raise CommandError(f"livestream {name} has no recording to stop")
    said = []
    for r in targets:
        owner = _auto_recording_of(api, namespace, r)
        if owner is not None:
            raise CommandError(
                f"recording {r['metadata']['name']} is livestream {owner}'s automatic recording "
                f"(spec.recording.auto): the operator starts it again; set spec.recording.auto false to stop it"
            )
        api.patch_custom(RECORDING, namespace, r["metadata"]["name"], {"spec": {"stopped": True}})
        said.append(r["metadata"]["name"])
    return (
        f"stopping recording {', '.join(said)}: the recorder finalises the video in progress "
        "(status.videos lists it when done)"
    )


def _auto_recording_of(api: KubeApi, namespace: str, recording: Manifest) -> str | None:
    """The stream whose spec.recording.auto keeps this Recording (the operator's <stream>-auto), or None."""
    from streamops.control.livestream.specs.auto_recording import auto_recording_name

    stream_name = stream_ref(recording)
    if recording["metadata"]["name"] != auto_recording_name(stream_name):
        return None
    owners = (recording.get("metadata") or {}).get("ownerReferences") or []
    if not any(o.get("kind") == "LiveStream" and o.get("name") == stream_name for o in owners):
        return None
    stream = get_stream(api, namespace, stream_name)
    return stream_name if ((stream.get("spec") or {}).get("recording") or {}).get("auto") else None
