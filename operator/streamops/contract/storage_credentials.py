"""How an upload target's credentials reach a worker: as these environment variables (from the
Recording's credentials Secret by secretKeyRef), never in its JSON configuration. A module of its
own so FFmpeg's command builder (media/ffmpeg.py, which every FFmpeg worker imports) keeps them out
of its children without importing the recorder's models; contract.recorder re-exports them."""

ACCESS_KEY_ENV = "AWS_ACCESS_KEY_ID"
SECRET_KEY_ENV = "AWS_SECRET_ACCESS_KEY"
