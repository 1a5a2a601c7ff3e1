#!/usr/bin/env bash
# Build hlsload (components/hlsload: the LL-HLS/HLS load client of `make bench-playback`, stdlib
# only) into the cache, keyed by its sources (hack/build-component.sh).
#   hack/build-hlsload.sh               build unless built
#   hack/build-hlsload.sh --print-path  print where the binary is (built or not)
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/build-component.sh" hlsload hlsload "$@"
