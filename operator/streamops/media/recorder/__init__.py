"""Recorder worker: records a stream's live feed into MP4 videos.

    streamops worker record        (config: env STREAMOPS_RECORDER_CONFIG or --config FILE, JSON)

Contract: reads the ingest's feed (MPEG-TS over HTTP, 200 while live, 503 while not), writes each
video as `<outputDir>/<name>.mp4` with a JSON sidecar (or uploads both to a bucket), reports
`RecorderStatus` at `/status`; `POST /stop` finalises everything.

How parts, videos, the state file, uploads and a full disk work, and the FFmpeg facts it relies
on: docs/design/recorder.md. What it shares with the clipper about a finished video (its probe,
its JSON sidecar, its upload to a bucket) is media/videos/.

Modules, one job each (where one part calls another it names what it needs in a small Protocol of
its own: `CaptureOwner`, `VideoCloser`, `FinaliseOwner`, `JoinSpace`, `DiskOwner`, ...):

| module | what |
|---|---|
| `state` | the on-disk state (parts, videos in progress and being finalised, results, uploads), written atomically |
| `plan` | pure decisions: gaps, splits, discards, titles and file names, the concat list, disk space |
| `commands` | FFmpeg command lines (part, repair, join) and the feed start a part's FFmpeg reports |
| `capture` | the feed probe and the record/reconnect/split loop of FFmpeg parts; picking up a killed run's video |
| `finalise` | parts joined into videos (cut, repaired), renditions, sidecar, handed to the uploader, forgotten |
| `disk` | free space, what parts take, waiting for room, `OutOfSpace`, uploaded copies dropped, partial boxes |
| `renditions` | a transcoded recording's other renditions, derived from each video (pure command line) |
| `recording` | the `Recorder`: composes the above and the uploader; state file, status, routes, lifecycle |
| `standby` | a warm recorder: HTTP at once, recording from `POST /start` |
| `process` | `streamops worker record` and `python -m streamops.media.recorder` |
"""
