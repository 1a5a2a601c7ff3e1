"""Recorder worker: records a stream's live feed into MP4 videos.

    streamops worker record        (config: env STREAMOPS_RECORDER_CONFIG or --config FILE, JSON)

Contract: reads the ingest's feed (MPEG-TS over HTTP, 200 while live, 503 while not), writes each
video as `<outputDir>/<name>.mp4` with a JSON sidecar (or uploads both to a bucket), reports
`RecorderStatus` at `/status`; `POST /stop` finalises everything.

How parts, videos, the state file, uploads and a full disk work, and the FFmpeg facts it relies
on: docs/design/recorder.md.

Modules, one job each:

| module | what |
|---|---|
| `state` | the on-disk state (parts, videos in progress and being finalised, results, uploads), written atomically |
| `plan` | pure decisions: gaps, splits, discards, titles and file names, the concat list, disk space |
| `commands` | FFmpeg command lines (part, repair, join) and the ffprobe of a file's duration and codecs |
| `recording` | the `Recorder`: feed probe, record/reconnect/split loop, finalisation, disk space, HTTP face |
| `upload_plan` | pure decisions of an upload: parts, the expected ETag, backoff, failure meaning, metadata, sidecar |
| `bucket` | the S3 calls an upload makes (boto3, imported on first use), failures as `StorageFailure` |
| `upload` | the `Uploader`: finished videos to the bucket in order, resumed, verified, retried |
| `standby` | a warm recorder: HTTP at once, recording from `POST /start` |
| `process` | `streamops worker record` and `python -m streamops.media.recorder` |
"""
