#!/usr/bin/env bash
# Build the pinned helm (hack/versions.sh's GO_TOOLS row `helm`) into the cache: hack/go-tool.sh.
# Later runs: no-op. `--print-path` prints where it is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-tool.sh
source "$here/go-tool.sh"
# Helm's own release build also stamps the Kubernetes version its client libraries speak (the
# default .Capabilities.KubeVersion of `helm template`/`helm lint`): do the same, reading it from
# helm's go.mod (k8s.io/client-go v0.MINOR.x -> 1.MINOR).
go_tool_ldflags() {
  local pkg=helm.sh/helm/v3 gomod k8s_minor
  gomod=$(GOFLAGS= go mod download -json "$pkg@$HELM_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  k8s_minor=$(sed -n 's|^[[:space:]]*k8s.io/client-go v0\.\([0-9]*\)\..*|\1|p' "$gomod")
  [ -n "$k8s_minor" ] || { echo "cannot read the k8s.io/client-go version from $gomod" >&2; return 1; }
  echo "-X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$k8s_minor" \
    "-X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$k8s_minor"
}
GO_TOOL_NO_INLINING=1  # its speed does not matter: a command run for seconds
go_tool_build helm "$@"
