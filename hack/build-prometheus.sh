#!/usr/bin/env bash
# Build the pinned Prometheus (hack/versions.sh's GO_TOOLS row `prometheus`) into the cache:
# hack/go-tool.sh, upstream's go.mod in a scratch module. Later runs: no-op (the first: ≈2.5 min).
# `--print-path` prints where it is.
#
# Why not Debian's package: its Prometheus (2.42) is built without Kubernetes service discovery
# ("removed, due to the insane amount of dependencies in their client library", NEWS.Debian), and
# the multinode tier's point is kubernetes_sd finding what the chart's ServiceMonitors select.
# Upstream's build tags (the table's) keep only that discovery (remove_all_sd + enable_kubernetes_sd:
# no cloud SDKs), and no web UI assets (they are built with npm; the HTTP API needs none). Debian's
# promtool stays for the rule unit tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-tool.sh
source "$here/go-tool.sh"
go_tool_ldflags() { echo "-X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"; }
GO_TOOL_NO_INLINING=1  # its speed does not matter: scrapes a handful of targets in one test
go_tool_build prometheus "$@"
