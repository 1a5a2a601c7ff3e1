#!/usr/bin/env bash
# Build the pinned Prometheus Operator (hack/versions.sh's GO_TOOLS row `prometheus-operator`:
# cmd/operator and cmd/prometheus-config-reloader, the sidecar it puts beside every Prometheus it
# runs) into the cache: hack/go-tool.sh, upstream's go.mod renamed into a scratch module that requires
# the operator itself. Later runs: no-op.
#   usage: hack/build-prometheus-operator.sh [--print-path] [binary...]
#          (default: operator prometheus-config-reloader)
#
# PROMETHEUS_OPERATOR_VERSION is the one whose CRDs the multinode tier already applies
# (hack/fetch-prometheus-operator-crds.sh). Upstream's go.mod replaces its two nested modules
# (pkg/apis/monitoring, pkg/client) with their directories, which a module zip leaves out; the scratch
# module drops those replace lines and takes both at the same version from the module proxy, which
# serves them (they are tagged with the operator's releases). The row's version has no leading v
# (upstream's VERSION file).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-tool.sh
source "$here/go-tool.sh"
print=()
[ "${1:-}" = "--print-path" ] && { print=(--print-path); shift; }
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(operator prometheus-config-reloader)
# The module line is renamed by go-tool.sh; the replace block (its two `=> ./pkg/...` lines) dropped.
go_tool_gomod() { sed -e '/^replace (/,/^)/d'; }
go_tool_prepare() {
  if grep -q '=> \./' go.mod; then
    echo "prometheus-operator $PROMETHEUS_OPERATOR_VERSION: a local replace directive this script does not expect" >&2
    return 1
  fi
}
go_tool_ldflags() { echo "-X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"; }
GO_TOOL_NO_INLINING=1  # its speed does not matter: reconciles a handful of objects in one test
go_tool_build prometheus-operator "${print[@]}" "${bins[@]}"
