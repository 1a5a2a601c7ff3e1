#!/usr/bin/env bash
# Build streamops-readers (components/readers: the live stream for SRT callers and RTSP/RTSPS
# clients, playback tokens checked) into the cache, keyed by its sources (hack/build-component.sh).
#   hack/build-readers.sh               build unless built
#   hack/build-readers.sh --print-path  print where the binary is (built or not)
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/build-component.sh" readers streamops-readers "$@"
