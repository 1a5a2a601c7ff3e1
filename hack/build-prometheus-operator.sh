#!/usr/bin/env bash
# Build the pinned Prometheus Operator (github.com/prometheus-operator/prometheus-operator: cmd/operator
# and cmd/prometheus-config-reloader, the sidecar it puts beside every Prometheus it runs) into the
# cache outside the repo, keyed by version like Prometheus (hack/build-prometheus.sh): upstream's go.mod
# renamed into a scratch module that requires the operator itself. Later runs: no-op.
#
# PROMETHEUS_OPERATOR_VERSION is the one whose CRDs the multinode tier already applies
# (hack/fetch-prometheus-operator-crds.sh). Upstream's go.mod replaces its two nested modules
# (pkg/apis/monitoring, pkg/client) with their directories, which a module zip leaves out; the scratch
# module drops those replace lines and takes both at the same version from the module proxy, which
# serves them (they are tagged with the operator's releases).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
out="$PROMETHEUS_OPERATOR_BIN_DIR"
binaries=(operator prometheus-config-reloader)
if [ "${1:-}" = "--print-dir" ]; then echo "$out"; exit 0; fi
built() { for b in "${binaries[@]}"; do [ -x "$out/$b" ] || return 1; done; }
built && exit 0
mkdir -p "$STREAMOPS_CACHE"
exec 9>"$STREAMOPS_CACHE/.prometheus-operator-build.lock"
flock 9  # `make prometheus-operator` and a test session may start at once: the second waits
built && exit 0
command -v go >/dev/null || { echo "Go (>= 1.24) is needed to build the Prometheus Operator from its module" >&2; exit 1; }
mkdir -p "$out"
work="$STREAMOPS_CACHE/prometheus-operator-build-$PROMETHEUS_OPERATOR_VERSION"
mkdir -p "$work"
mod=github.com/prometheus-operator/prometheus-operator
if [ ! -f "$work/go.mod" ]; then
  upstream_mod=$(GOFLAGS= go mod download -json "$mod@$PROMETHEUS_OPERATOR_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  [ -n "$upstream_mod" ] || { echo "go mod download $mod@$PROMETHEUS_OPERATOR_VERSION failed" >&2; exit 1; }
  # The module line renamed; the replace block (its two `=> ./pkg/...` lines) dropped.
  sed -e "s|^module $mod\$|module streamops.dev/prometheusoperatorbuild|" \
      -e '/^replace (/,/^)/d' "$upstream_mod" > "$work/go.mod.tmp"
  if grep -q '=> \./' "$work/go.mod.tmp"; then
    echo "$mod@$PROMETHEUS_OPERATOR_VERSION: a local replace directive this script does not expect" >&2; exit 1
  fi
  printf '\nrequire %s %s\n' "$mod" "$PROMETHEUS_OPERATOR_VERSION" >> "$work/go.mod.tmp"
  mv "$work/go.mod.tmp" "$work/go.mod"
fi
cd "$work"
echo "building the Prometheus Operator $PROMETHEUS_OPERATOR_VERSION (first run on this machine only)..." >&2
start=$(date +%s)
common=github.com/prometheus/common/version
# The version the operator reports (upstream's VERSION file: no leading v).
ldflags="-s -w -X $common.Version=${PROMETHEUS_OPERATOR_VERSION#v} -X $common.Branch=streamops \
  -X $common.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"
for b in "${binaries[@]}"; do
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$out/$b.tmp" "$mod/cmd/$b"
  mv "$out/$b.tmp" "$out/$b"
done
echo "built the Prometheus Operator in $(( $(date +%s) - start ))s" >&2
