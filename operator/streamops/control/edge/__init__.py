"""The namespace's edge tier as a controller of its own (docs/design/playback.md, "The edge")."""
