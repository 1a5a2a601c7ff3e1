#!/usr/bin/env bash
# The Gateway API CRDs (standard channel) of the pinned version, taken from the
# sigs.k8s.io/gateway-api Go module (config/crd/standard/*.yaml) and copied into the cache keyed
# by version. GATEWAY_API_VERSION is the one Traefik's go.mod requires (v3.7.13: v1.6.1), so the
# CRDs match what its kubernetesGateway provider speaks. Later runs: no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
[ -f "$GATEWAY_API_CRDS/.complete" ] && exit 0
command -v go >/dev/null || { echo "Go is needed to download the Gateway API module" >&2; exit 1; }
dir=$(GOFLAGS= go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
[ -d "$dir/config/crd/standard" ] || { echo "no config/crd/standard in sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" >&2; exit 1; }
rm -rf "$GATEWAY_API_CRDS.tmp"
mkdir -p "$GATEWAY_API_CRDS.tmp"
cp "$dir"/config/crd/standard/*.yaml "$GATEWAY_API_CRDS.tmp/"
chmod u+w "$GATEWAY_API_CRDS.tmp"/*.yaml   # the module cache is read-only
touch "$GATEWAY_API_CRDS.tmp/.complete"
rm -rf "$GATEWAY_API_CRDS"
mv "$GATEWAY_API_CRDS.tmp" "$GATEWAY_API_CRDS"
