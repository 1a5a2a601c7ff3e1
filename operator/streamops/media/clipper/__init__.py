"""Clipper worker: cuts one Clip out of a stream's DVR window into an MP4 video.

    streamops worker clip        (config: env STREAMOPS_CLIPPER_CONFIG or --config FILE, JSON)

Contract (contract/clipper.py): reads the ingest's HLS media playlist (EXT-X-PROGRAM-DATE-TIME on
every segment) over HTTP, fetches the segments covering [start, end], cuts them (keyframe: stream
copy from the keyframe at or before start; exact: frame-exact, re-encoded), writes `<file>.mp4`
(faststart) and its JSON sidecar into the Clip's directory or uploads both with the Uploader it
shares with the recorder (media/videos/), and reports `ClipperStatus` at `/status`. Design:
docs/design/clips.md.

| module | what |
|---|---|
| `playlist` | pure: a media playlist's wall-clock segments, the ones a range needs, the window checks |
| `commands` | FFmpeg command lines of both cuts, the ffprobe of keyframe times |
| `clipper` | the `Clipper`: wait for the range, join, cut, store, report |
| `process` | `streamops worker clip` and `python -m streamops.media.clipper` |
"""
