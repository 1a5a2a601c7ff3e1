#!/usr/bin/env bash
# Build the pinned versitygw (the S3-compatible server of the tests and the demo) from its Go module
# (github.com/versity/versitygw/cmd/versitygw) into the cache outside the repo, keyed by version like
# the Kubernetes binaries (hack/build-kube.sh). Later runs: no-op. ≈2 min on 2 cores the first time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
[ -x "$VERSITYGW_BIN" ] && exit 0
mkdir -p "$STREAMOPS_CACHE"
exec 9>"$STREAMOPS_CACHE/.versitygw-build.lock"
flock 9  # `make s3server` and a test session may start at once: the second waits, then finds it built
[ -x "$VERSITYGW_BIN" ] && exit 0
command -v go >/dev/null || { echo "Go (>= 1.25) is needed to build versitygw from its module" >&2; exit 1; }
out=$(dirname "$VERSITYGW_BIN")
mkdir -p "$out"
mod=github.com/versity/versitygw
echo "building versitygw $VERSITYGW_VERSION (first run on this machine only)..." >&2
start=$(date +%s)
# versitygw's Makefile stamps main.Version (and the git commit and build time, which a module build
# does not know): stamp the version, so `versitygw --version` says which release this is.
# go install pkg@version: a module-aware build of exactly that release (its go.mod has no replace
# directives).
GOBIN="$out.tmp" CGO_ENABLED=0 GOFLAGS= go install -trimpath -ldflags "-s -w -X main.Version=$VERSITYGW_VERSION" \
  "$mod/cmd/versitygw@$VERSITYGW_VERSION"
mv "$out.tmp/versitygw" "$VERSITYGW_BIN"
rmdir "$out.tmp"
echo "built versitygw in $(( $(date +%s) - start ))s" >&2
