#!/usr/bin/env bash
# Build the pinned CNCF Distribution registry (the module github.com/distribution/distribution/v3,
# cmd/registry) into the cache outside the repo, keyed by version like helm (hack/build-helm.sh):
# the OCI registry the publishing tests push images and the chart to, on 127.0.0.1
# (devtools/devtools/registry.py). Later runs: no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
if [ "${1:-}" = "--print-path" ]; then echo "$REGISTRY_BIN"; exit 0; fi
[ -x "$REGISTRY_BIN" ] && exit 0
mkdir -p "$STREAMOPS_CACHE"
exec 9>"$STREAMOPS_CACHE/.registry-build.lock"
flock 9  # `make registry` and a test session may start at once: the second waits, then finds it built
[ -x "$REGISTRY_BIN" ] && exit 0
command -v go >/dev/null || { echo "Go (>= 1.26) is needed to build the Distribution registry from its module" >&2; exit 1; }
out=$(dirname "$REGISTRY_BIN")
mkdir -p "$out"
mod=github.com/distribution/distribution/v3
echo "building the Distribution registry $DISTRIBUTION_VERSION (first run on this machine only)..." >&2
start=$(date +%s)
# Upstream's Makefile stamps version.version, version.revision and version.mainpkg: stamp the
# version (a module build knows no git revision), so `registry --version` says which release this
# is. No build tags: upstream's default set of storage drivers (filesystem, inmemory, s3-aws, gcs,
# azure). go install pkg@version: a module-aware build of exactly that release (its go.mod has no
# replace directives).
rm -rf "$out.tmp"
GOBIN="$out.tmp" CGO_ENABLED=0 GOFLAGS= go install -trimpath \
  -ldflags "-s -w -X $mod/version.version=$DISTRIBUTION_VERSION -X $mod/version.mainpkg=$mod" \
  "$mod/cmd/registry@$DISTRIBUTION_VERSION"
mv "$out.tmp/registry" "$REGISTRY_BIN"
rmdir "$out.tmp"
echo "built the Distribution registry in $(( $(date +%s) - start ))s" >&2
