#!/usr/bin/env bash
# Build a Go component (components/NAME) into the cache outside the repo, keyed by a hash of the Go
# version and its sources (go.mod, go.sum if any, the non-test *.go at the component's top level and
# in its packages below it, as components/rtmp/mux; not cmd/, other binaries, nor testdata/).
# Later runs: no-op. Static (CGO_ENABLED=0), exactly what go.sum pins, -trimpath, stripped.
#   hack/build-component.sh NAME BINARY               build unless built
#   hack/build-component.sh NAME BINARY --print-path  print where the binary is (built or not)
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 NAME BINARY [--print-path]" >&2; exit 2; }
name=$1 binary=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
src="$here/../components/$name"
[ -f "$src/go.mod" ] || { echo "no Go component at components/$name" >&2; exit 2; }
command -v go >/dev/null || { echo "Go (>= 1.25) is needed to build $binary" >&2; exit 1; }
# Sorted names so the key does not depend on the directory order; test files do not change the binary.
key=$( { go env GOVERSION; cd "$src" && { find . -maxdepth 1 \( -name go.mod -o -name go.sum -o -name '*.go' \) ! -name '*_test.go'
  find . -mindepth 2 -name '*.go' ! -name '*_test.go' ! -path './cmd/*' ! -path '*/testdata/*'; } \
  | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-12)
bin="$STREAMOPS_CACHE/$name-$key/bin/$binary"
if [ "${1:-}" = "--print-path" ]; then echo "$bin"; exit 0; fi
[ -x "$bin" ] && exit 0
mkdir -p "$STREAMOPS_CACHE"
exec 9>"$STREAMOPS_CACHE/.$name-build.lock"
flock 9  # `make` and a test session may start at once: the second waits, then finds it built
[ -x "$bin" ] && exit 0
echo "building $binary $key (once per source change)..." >&2
start=$(date +%s)
mkdir -p "$(dirname "$bin")"
# -mod=readonly: build exactly what go.sum pins; -buildvcs=false: the key, not the git state, names
# the build.
(cd "$src" && env $GO_BUILD_GC CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags "-s -w" \
  -o "$bin.tmp" .)
mv "$bin.tmp" "$bin"
echo "built $binary in $(( $(date +%s) - start ))s: $bin" >&2
