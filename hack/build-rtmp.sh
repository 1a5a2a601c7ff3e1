#!/usr/bin/env bash
# Build streamops-rtmp (components/rtmp: the RTMP/RTMPS front of the ingest worker, which checks the
# stream key and hands the media to FFmpeg on a FIFO) into the cache, keyed by its sources
# (hack/build-component.sh).
#   hack/build-rtmp.sh               build unless built
#   hack/build-rtmp.sh --print-path  print where the binary is (built or not)
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/build-component.sh" rtmp streamops-rtmp "$@"
