"""HTML overlays (docs/design/overlays.md): the renderer sidecar (`streamops worker overlay`) keeps
each overlay's page open in a confined headless Chromium and writes its pixels as a PNG that the
ingest's FFmpeg composites onto the source before the renditions are encoded."""
