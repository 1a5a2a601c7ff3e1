#!/usr/bin/env bash
# Build streamops-webrtc (components/webrtc: WHIP ingest and WHEP playback on pion, a child process of
# the ingest worker like FFmpeg) into the cache outside the repo, keyed by a hash of its sources
# (go.mod, go.sum, the non-test *.go of the command) and the Go version. Later runs: no-op.
# Static (CGO_ENABLED=0), -trimpath, stripped. ≈40 s on 2 quiet cores the first time (components/webrtc/README.md).
#   hack/build-webrtc.sh               build unless built
#   hack/build-webrtc.sh --print-path  print where the binary is (built or not)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
src="$here/../components/webrtc"
command -v go >/dev/null || { echo "Go (>= 1.25) is needed to build streamops-webrtc" >&2; exit 1; }
# Sorted names so the key does not depend on the directory order; test files do not change the binary.
key=$( { go env GOVERSION; cd "$src" && find . -maxdepth 1 \( -name go.mod -o -name go.sum -o -name '*.go' \) ! -name '*_test.go' \
  | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-12)
bin="$STREAMOPS_CACHE/webrtc-$key/bin/streamops-webrtc"
if [ "${1:-}" = "--print-path" ]; then echo "$bin"; exit 0; fi
[ -x "$bin" ] && exit 0
mkdir -p "$STREAMOPS_CACHE"
exec 9>"$STREAMOPS_CACHE/.webrtc-build.lock"
flock 9  # `make` and a test session may start at once: the second waits, then finds it built
[ -x "$bin" ] && exit 0
echo "building streamops-webrtc $key (once per source change)..." >&2
start=$(date +%s)
mkdir -p "$(dirname "$bin")"
# -mod=readonly: build exactly what go.sum pins; -buildvcs=false: the key, not the git state, names
# the build.
(cd "$src" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags "-s -w" \
  -o "$bin.tmp" .)
mv "$bin.tmp" "$bin"
echo "built streamops-webrtc in $(( $(date +%s) - start ))s: $bin" >&2
