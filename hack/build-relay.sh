#!/usr/bin/env bash
# Build streamops-relay (components/relay: the shared pusher's media relay, which reads each ingest
# feed once and writes it to every RTMP/RTMPS target) into the cache, keyed by its sources
# (hack/build-component.sh).
#   hack/build-relay.sh               build unless built
#   hack/build-relay.sh --print-path  print where the binary is (built or not)
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/build-component.sh" relay streamops-relay "$@"
