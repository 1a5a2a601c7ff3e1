"""Recorder worker: records a stream's live feed into MP4 videos.

    streamops worker record        (config: env STREAMOPS_RECORDER_CONFIG or --config FILE, JSON)

The feed (offered by the ingest) is an MPEG-TS stream over HTTP: 200 while live, starting on a
keyframe; 503 while not live; the response ends when the publisher's session ends. Each stretch
of feed is copied (never transcoded) into a *part*: a fragmented MP4, so a killed FFmpeg or a
killed recorder keeps everything but the last fragment. A *video* is one or more parts:

- a source gap shorter than `reconnectWindowSeconds` continues the same video (next part);
  a longer one closes it, and a resumed source opens a new video;
- a video is full at `maxSegmentSeconds`: its part runs with `-t` = the time left, then the next
  video starts at once;
- closing a video finalises it in the background: parts joined by the concat demuxer into
  `<outputDir>/<name>.mp4` with faststart (moov first), a JSON sidecar `<name>.json`, parts
  deleted; a video shorter than `minDurationSeconds` is discarded instead (reason kept).

`<outputDir>/.recorder-state.json` (written atomically) holds the video in progress, the videos
being finalised and what was done, so a recorder killed with SIGKILL and started again picks up
its parts: it continues the same video if the feed is back within the window, else finalises.

With object storage (`upload` set) the output directory is scratch space (an emptyDir): each
finished video goes to the bucket by multipart upload, resumable (the state file keeps the upload
id and the acknowledged parts), verified (size and the multipart ETag) before its JSON sidecar goes
up and the local copy is deleted. Failures are classified (StorageUnreachable, StorageAccessDenied,
BucketNotFound, UploadFailing), reported with credentials redacted and retried with backoff while
recording goes on. `stopped` waits for every upload after `POST /stop`; after SIGTERM only for a
grace period (the state file keeps the rest for the next start).

The disk never fills mid-video: on every progress report the free space is compared with what
finalising needs (the parts are copied by the join) plus `minFreeBytes`; below it the video is
closed cleanly (`noSpace`) and none starts until there is room again. A join that fails with ENOSPC
anyway keeps its parts and is retried once there is room.

Facts this relies on (FFmpeg 5.1): FFmpeg exits 0 when its input ends, so an exit is a drop
unless the part reached its `-t`; a part cut short by SIGKILL ends in a partial fragment that
makes the concat demuxer stop early *with exit code 0* (so joined durations are checked) and
that a `-fflags +discardcorrupt -c copy` remux repairs.

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
