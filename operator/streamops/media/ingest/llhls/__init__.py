"""LL-HLS of the ingest's sessions: fragments.py reads FFmpeg's fragmented MP4, packager.py makes
parts and segments of it, playlist.py renders the media playlist (docs/design/low-latency.md)."""
