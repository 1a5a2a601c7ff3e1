"""Data plane: worker supervisors around FFmpeg (ingest, recorder, pusher)."""
