#!/usr/bin/env bash
# Build the pinned helm from its Go module (helm.sh/helm/v3/cmd/helm) into the cache outside the
# repo, keyed by version (hack/go-install-release.sh). Later runs: no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-install-release.sh
source "$here/go-install-release.sh"
pkg=helm.sh/helm/v3
# Helm's own release build stamps its version and the Kubernetes version its client libraries
# speak (the default .Capabilities.KubeVersion of `helm template`/`helm lint`): do the same,
# reading the latter from helm's go.mod (k8s.io/client-go v0.MINOR.x -> 1.MINOR).
ldflags() {
  local gomod k8s_minor
  gomod=$(GOFLAGS= go mod download -json "$pkg@$HELM_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  k8s_minor=$(sed -n 's|^[[:space:]]*k8s.io/client-go v0\.\([0-9]*\)\..*|\1|p' "$gomod")
  [ -n "$k8s_minor" ] || { echo "cannot read the k8s.io/client-go version from $gomod" >&2; return 1; }
  echo "-X $pkg/internal/version.version=$HELM_VERSION" \
    "-X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$k8s_minor" \
    "-X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$k8s_minor"
}
go_install_release helm "$HELM_BIN" "$HELM_VERSION" "$pkg/cmd/helm" 1.24 ldflags
