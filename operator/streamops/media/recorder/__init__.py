"""Recorder worker: records a stream's live feed into MP4 videos.

    streamops worker record        (config: env STREAMOPS_RECORDER_CONFIG or --config FILE, JSON)

Contract: reads the ingest's feed (MPEG-TS over HTTP, 200 while live, 503 while not), writes each
video as `<outputDir>/<name>.mp4` with a JSON sidecar (or uploads both to a bucket), reports
`RecorderStatus` at `/status`; `POST /stop` finalises everything.

How parts, videos, the state file, uploads and a full disk work, and the FFmpeg facts it relies
on: docs/design/recorder.md. What it shares with the clipper about a finished video (its probe,
its JSON sidecar, its upload to a bucket) is media/videos/.

Modules, one job each:

| module | what |
|---|---|
| `state` | the on-disk state (parts, videos in progress and being finalised, results, uploads), written atomically |
| `plan` | pure decisions: gaps, splits, discards, titles and file names, the concat list, disk space |
| `commands` | FFmpeg command lines (part, repair, join) and the feed start a part's FFmpeg reports |
| `recording` | the `Recorder`: feed probe, record/reconnect/split loop, finalisation, disk space, HTTP face |
| `standby` | a warm recorder: HTTP at once, recording from `POST /start` |
| `process` | `streamops worker record` and `python -m streamops.media.recorder` |
"""
