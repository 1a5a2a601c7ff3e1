"""What the workers that make videos (the recorder, the clipper) share about a finished video: its
probe, its JSON sidecar, and its way to a bucket. A worker folder imports no other worker folder
(devtools/import_rules.py): what they share lives here, and this folder imports no worker.

| module | what |
|---|---|
| `probe` | the ffprobe of a file: its duration, the codecs a sidecar names |
| `sidecar` | the JSON sidecar: beside the MP4 on the claim, and the one that goes to the bucket |
| `upload_state` | an upload's saved state (multipart upload id, acknowledged parts), for a resumed upload |
| `upload_plan` | pure decisions of an upload: parts, the expected ETag, backoff, failure meaning, metadata |
| `bucket` | the S3 calls an upload makes (boto3, imported on first use), failures as `StorageFailure` |
| `upload` | the `Uploader`: finished videos to the bucket in order, resumed, verified, retried |
"""
