"""Statuses as the operator writes them, for tests and benchmarks that stand in for it (the status
subresource patched by the harness, where no operator or no worker runs): tests/cluster/
test_kubectl_plugin.py, bench/kubectl_status.py. Every field the LiveStream status has while live,
so a reader of them (the kubectl plugin) is measured against full-size objects."""

from __future__ import annotations

from typing import Any

NOW = "2026-11-25T04:10:00Z"


def _condition(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": NOW}


def live_stream_status(
    namespace: str,
    name: str,
    live: bool = True,
    host: str | None = None,
    viewers: int = 12,
    bitrate: int = 4_520_000,
    recording: bool = False,
) -> dict[str, Any]:
    """A push stream's status on a ClusterIP Service (the URLs its cluster DNS name), live or not."""
    host = host or f"{name}-ingest.{namespace}.svc.cluster.local"
    http = f"http://{host}:8080"
    status: dict[str, Any] = {
        "observedGeneration": 1,
        "conditions": [
            _condition(
                "Ready",
                "True",
                "IngestRunning",
                f"ingest Pod {name}-ingest accepts publishers; Service {name}-ingest has a ready endpoint for it",
            ),
            _condition("Live", "True", "MediaFlowing", "the primary ingest receives media")
            if live
            else _condition("Live", "False", "NoMedia", "no media is arriving"),
            _condition("Recording", "True", "Recording", f"Recording {name}-rec is recording")
            if recording
            else _condition("Recording", "False", "NotRecording", "no Recording is running"),
            _condition("BrowserPlayable", "True", "H264", "H.264 High, yuv420p: common browsers play it")
            if live
            else _condition("BrowserPlayable", "Unknown", "NotLive", "not live"),
        ],
        "live": live,
        "backupLive": False,
        "active": True,
        "ingest": {
            "pushUrl": f"rtmp://{host}:1935/live",
            "pushUrlSrt": f"srt://{host}:9998",
            "exposure": "ClusterIP",
            "reachableFrom": "inside the cluster only",
            "streamKeySecret": f"{name}-stream-key",
        },
        "playback": {
            "hlsCmafUrl": f"{http}/hls/cmaf/index.m3u8",
            "hlsMpegtsUrl": f"{http}/hls/ts/index.m3u8",
            "screenshotUrl": f"{http}/screenshot.jpg",
            "playerUrl": f"{http}/player",
            "whepUrl": f"{http}/whep",
            "exposure": "ClusterIP",
            "reachableFrom": "inside the cluster only",
        },
        "viewers": {"total": viewers, "hls": viewers // 2, "llhls": viewers - viewers // 2, "windowSeconds": 30},
        "finishedAtPrimary": "2026-11-25T03:00:00Z",
        "recording": recording,
    }
    if live:
        status |= {
            "activeIngest": "primary",
            "startedAtPrimary": NOW,
            "transcodingSpeed": 1.0,
            "frameRate": 30.0,
            "videoWidth": 1280,
            "videoHeight": 720,
            "videoCodec": "h264",
            "videoProfile": "High",
            "pixelFormat": "yuv420p",
            "bitDepth": 8,
            "audioCodec": "aac",
            "protocol": "rtmp",
            "bitrate": bitrate,
        }
        if recording:
            status["recordingDuration"] = 312.0
    return status


def restream_status(
    live: bool, bytes_sent: int = 0, reconnects: int = 0, last_error: str | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": 1,
        "conditions": [
            _condition("Ready", "True", "Pushing", "the target receives the stream")
            if live
            else _condition("Ready", "False", "Backoff", "the target failed: retrying with backoff"),
            _condition("Live", "True" if live else "False", "Pushing" if live else "Backoff", ""),
        ],
        "live": live,
        "bytesSent": bytes_sent,
        "reconnects": reconnects,
    }
    if live:
        status["startedAt"] = NOW
    if last_error:
        status["lastError"] = last_error
    return status
