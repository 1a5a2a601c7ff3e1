#!/usr/bin/env bash
# Build the pinned crane (go-containerregistry's registry client, the module
# github.com/google/go-containerregistry, cmd/crane) into the cache outside the repo, keyed by version
# like helm (hack/build-helm.sh). `make push-images` pushes the OCI image layouts of `make images`
# with it (devtools/devtools/publish.py). Later runs: no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
if [ "${1:-}" = "--print-path" ]; then echo "$CRANE_BIN"; exit 0; fi
[ -x "$CRANE_BIN" ] && exit 0
mkdir -p "$STREAMOPS_CACHE"
exec 9>"$STREAMOPS_CACHE/.crane-build.lock"
flock 9  # `make crane` and a test session may start at once: the second waits, then finds it built
[ -x "$CRANE_BIN" ] && exit 0
command -v go >/dev/null || { echo "Go (>= 1.25) is needed to build crane from its module" >&2; exit 1; }
out=$(dirname "$CRANE_BIN")
mkdir -p "$out"
mod=github.com/google/go-containerregistry
echo "building crane $CRANE_VERSION (first run on this machine only)..." >&2
start=$(date +%s)
# Upstream's release (goreleaser) stamps cmd.Version: do the same, so `crane version` says which
# release this is. go install pkg@version: a module-aware build of exactly that release (its go.mod
# has no replace directives).
rm -rf "$out.tmp"
GOBIN="$out.tmp" CGO_ENABLED=0 GOFLAGS= go install -trimpath \
  -ldflags "-s -w -X $mod/cmd/crane/cmd.Version=$CRANE_VERSION" "$mod/cmd/crane@$CRANE_VERSION"
mv "$out.tmp/crane" "$CRANE_BIN"
rmdir "$out.tmp"
echo "built crane in $(( $(date +%s) - start ))s" >&2
