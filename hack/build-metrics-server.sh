#!/usr/bin/env bash
# Build the pinned metrics-server (sigs.k8s.io/metrics-server, cmd/metrics-server) into the cache outside
# the repo, keyed by version like Prometheus (hack/build-prometheus.sh): upstream's go.mod renamed into
# a scratch module that requires metrics-server itself, so the build uses exactly the dependency
# versions upstream pins. Later runs: no-op.
#
# The version: v0.8.x supports Kubernetes 1.31+ (the README's compatibility matrix), which covers the
# local cluster's v1.33 (hack/versions.sh, KUBE_VERSION); the module proxy also serves v0.9.0, which
# is for 1.34+. The multi-node tier runs it with the kubelets' CA and a client certificate of its own
# (devtools/devtools/cluster/metrics_server.py), never --kubelet-insecure-tls.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
bin="$METRICS_SERVER_BIN"
if [ "${1:-}" = "--print-path" ]; then echo "$bin"; exit 0; fi
[ -x "$bin" ] && exit 0
mkdir -p "$STREAMOPS_CACHE"
exec 9>"$STREAMOPS_CACHE/.metrics-server-build.lock"
flock 9  # `make metrics-server` and a test session may start at once: the second waits, then finds it built
[ -x "$bin" ] && exit 0
command -v go >/dev/null || { echo "Go (>= 1.24) is needed to build metrics-server from its module" >&2; exit 1; }
mkdir -p "$(dirname "$bin")"
work="$STREAMOPS_CACHE/metrics-server-build-$METRICS_SERVER_VERSION"
mkdir -p "$work"
mod=sigs.k8s.io/metrics-server
if [ ! -f "$work/go.mod" ]; then
  upstream_mod=$(GOFLAGS= go mod download -json "$mod@$METRICS_SERVER_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  [ -n "$upstream_mod" ] || { echo "go mod download $mod@$METRICS_SERVER_VERSION failed" >&2; exit 1; }
  sed -e "s|^module $mod\$|module streamops.dev/metricsserverbuild|" "$upstream_mod" > "$work/go.mod.tmp"
  printf '\nrequire %s %s\n' "$mod" "$METRICS_SERVER_VERSION" >> "$work/go.mod.tmp"
  mv "$work/go.mod.tmp" "$work/go.mod"
fi
cd "$work"
echo "building metrics-server $METRICS_SERVER_VERSION (first run on this machine only)..." >&2
start=$(date +%s)
# The version variables upstream's Makefile sets (client-go's, which the server reports at /version).
pkg=k8s.io/client-go/pkg/version
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w \
    -X $pkg.gitVersion=$METRICS_SERVER_VERSION -X $pkg.gitTreeState=clean \
    -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -o "$bin.tmp" "$mod/cmd/metrics-server"
mv "$bin.tmp" "$bin"
echo "built metrics-server in $(( $(date +%s) - start ))s" >&2
