#!/usr/bin/env bash
# Build the pinned helm from its Go module (helm.sh/helm/v3/cmd/helm) into the cache outside the
# repo, keyed by version like the Kubernetes binaries (hack/build-kube.sh). Later runs: no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
[ -x "$HELM_BIN" ] && exit 0
command -v go >/dev/null || { echo "Go (>= 1.24) is needed to build helm from its module" >&2; exit 1; }
out=$(dirname "$HELM_BIN")
mkdir -p "$out"
echo "building helm $HELM_VERSION (first run on this machine only)..." >&2
start=$(date +%s)
# Helm's own release build stamps its version and the Kubernetes version its client libraries
# speak (the default .Capabilities.KubeVersion of `helm template`/`helm lint`): do the same,
# reading the latter from helm's go.mod (k8s.io/client-go v0.MINOR.x -> 1.MINOR).
gomod=$(GOFLAGS= go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
k8s_minor=$(sed -n 's|^[[:space:]]*k8s.io/client-go v0\.\([0-9]*\)\..*|\1|p' "$gomod")
[ -n "$k8s_minor" ] || { echo "cannot read the k8s.io/client-go version from $gomod" >&2; exit 1; }
pkg=helm.sh/helm/v3
# go install pkg@version: a module-aware build of exactly that release (helm's go.mod has no
# replace directives).
GOBIN="$out.tmp" CGO_ENABLED=0 GOFLAGS= go install -trimpath \
  -ldflags "-s -w -X $pkg/internal/version.version=$HELM_VERSION \
    -X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$k8s_minor \
    -X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$k8s_minor" \
  "$pkg/cmd/helm@$HELM_VERSION"
mv "$out.tmp/helm" "$HELM_BIN"
rmdir "$out.tmp"
echo "built helm in $(( $(date +%s) - start ))s" >&2
