#!/usr/bin/env bash
# Build the pinned Prometheus from its Go module (github.com/prometheus/prometheus, cmd/prometheus)
# into the cache outside the repo, keyed by version like Traefik (hack/build-traefik.sh): upstream's
# go.mod renamed into a scratch module that requires Prometheus itself. Later runs: no-op.
#
# Why not Debian's package: its Prometheus (2.42) is built without Kubernetes service discovery
# ("removed, due to the insane amount of dependencies in their client library", NEWS.Debian), and
# the multinode tier's point is kubernetes_sd finding what the chart's ServiceMonitors select.
# Upstream's build tags keep only that discovery (remove_all_sd + enable_kubernetes_sd: no cloud
# SDKs), and no web UI assets (they are built with npm; the HTTP API needs none). Debian's promtool
# stays for the rule unit tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
[ -x "$PROMETHEUS_BIN" ] && exit 0
mkdir -p "$STREAMOPS_CACHE"
exec 9>"$STREAMOPS_CACHE/.prometheus-build.lock"
flock 9  # `make prometheus` and a test session may start at once: the second waits, then finds it built
[ -x "$PROMETHEUS_BIN" ] && exit 0
command -v go >/dev/null || { echo "Go (>= 1.26) is needed to build Prometheus from its module" >&2; exit 1; }
out=$(dirname "$PROMETHEUS_BIN")
mkdir -p "$out"
work="$STREAMOPS_CACHE/prometheus-build-$PROMETHEUS_VERSION"
mkdir -p "$work"
mod=github.com/prometheus/prometheus
if [ ! -f "$work/go.mod" ]; then
  upstream_mod=$(GOFLAGS= go mod download -json "$mod@$PROMETHEUS_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  [ -n "$upstream_mod" ] || { echo "go mod download $mod@$PROMETHEUS_VERSION failed" >&2; exit 1; }
  sed -e "s|^module $mod\$|module streamops.dev/prometheusbuild|" "$upstream_mod" > "$work/go.mod.tmp"
  printf '\nrequire %s %s\n' "$mod" "$PROMETHEUS_VERSION" >> "$work/go.mod.tmp"
  mv "$work/go.mod.tmp" "$work/go.mod"
fi
cd "$work"
echo "building prometheus $PROMETHEUS_VERSION (first run on this machine only, ≈2.5 min)..." >&2
start=$(date +%s)
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags remove_all_sd,enable_kubernetes_sd -ldflags "-s -w \
    -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION \
    -X github.com/prometheus/common/version.Branch=streamops \
    -X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)" \
  -o "$PROMETHEUS_BIN.tmp" "$mod/cmd/prometheus"
mv "$PROMETHEUS_BIN.tmp" "$PROMETHEUS_BIN"
echo "built prometheus in $(( $(date +%s) - start ))s" >&2
