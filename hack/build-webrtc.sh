#!/usr/bin/env bash
# Build streamops-webrtc (components/webrtc: WHIP ingest and WHEP playback on pion, a child process of
# the ingest worker like FFmpeg) into the cache, keyed by its sources (hack/build-component.sh).
# ≈40 s on 2 quiet cores the first time (components/webrtc/README.md).
#   hack/build-webrtc.sh               build unless built
#   hack/build-webrtc.sh --print-path  print where the binary is (built or not)
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/build-component.sh" webrtc streamops-webrtc "$@"
