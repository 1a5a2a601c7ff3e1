#!/usr/bin/env bash
# Build hlsload (components/hlsload: the LL-HLS/HLS load client of `make bench-playback`, stdlib
# only) into the cache outside the repo, keyed by a hash of its sources (go.mod, the non-test *.go)
# and the Go version, as hack/build-webrtc.sh does. Later runs: no-op. Static, -trimpath, stripped.
#   hack/build-hlsload.sh               build unless built
#   hack/build-hlsload.sh --print-path  print where the binary is (built or not)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
src="$here/../components/hlsload"
command -v go >/dev/null || { echo "Go (>= 1.25) is needed to build hlsload" >&2; exit 1; }
# Sorted names so the key does not depend on the directory order; test files do not change the binary.
key=$( { go env GOVERSION; cd "$src" && find . -maxdepth 1 \( -name go.mod -o -name go.sum -o -name '*.go' \) ! -name '*_test.go' \
  | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-12)
bin="$STREAMOPS_CACHE/hlsload-$key/bin/hlsload"
if [ "${1:-}" = "--print-path" ]; then echo "$bin"; exit 0; fi
[ -x "$bin" ] && exit 0
mkdir -p "$STREAMOPS_CACHE"
exec 9>"$STREAMOPS_CACHE/.hlsload-build.lock"
flock 9  # `make` and a bench may start at once: the second waits, then finds it built
[ -x "$bin" ] && exit 0
echo "building hlsload $key (once per source change)..." >&2
start=$(date +%s)
mkdir -p "$(dirname "$bin")"
(cd "$src" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags "-s -w" \
  -o "$bin.tmp" .)
mv "$bin.tmp" "$bin"
echo "built hlsload in $(( $(date +%s) - start ))s: $bin" >&2
