"""The operator ↔ worker contract: what the operator hands each worker (its configuration, as JSON
in an environment variable, or in `POST /start` for a warm recorder) and what each worker answers
on `GET /status`. Builders in `streamops.control` construct these models, the workers in
`streamops.media` parse them, and the status functions read the typed answers: every field name,
port, path and default of the conversation is defined here once.

- `worker`: what every worker shares (HTTP port and paths, config loading, time format).
- `ingest`, `recorder`, `pusher`: one module per worker: its configuration and its `/status`.
- `standby`, `recordings_claim`, `storage_credentials`, `upload_target`: what a worker needs of the
  recorder's contract without building the models it does not use (docs/design/lean-workers.md).
"""
