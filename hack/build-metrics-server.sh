#!/usr/bin/env bash
# Build the pinned metrics-server (hack/versions.sh's GO_TOOLS row `metrics-server`, cmd/metrics-server)
# into the cache: hack/go-tool.sh, upstream's go.mod renamed into a scratch module that requires
# metrics-server itself, so the build uses exactly the dependency versions upstream pins. Later runs:
# no-op. `--print-path` prints where it is.
#
# The version: v0.8.x supports Kubernetes 1.31+ (the README's compatibility matrix), which covers the
# local cluster's v1.33 (hack/versions.sh, KUBE_VERSION); the module proxy also serves v0.9.0, which
# is for 1.34+. The multi-node tier runs it with the kubelets' CA and a client certificate of its own
# (devtools/devtools/cluster/metrics_server.py), never --kubelet-insecure-tls.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-tool.sh
source "$here/go-tool.sh"
# The version variables upstream's Makefile sets (client-go's, which the server reports at /version):
# the row has the version, this the date.
go_tool_ldflags() { echo "-X k8s.io/client-go/pkg/version.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; }
GO_TOOL_NO_INLINING=1  # its speed does not matter: scrapes two kubelets every 15 s
go_tool_build metrics-server "$@"
