#!/usr/bin/env bash
# Build pinned Kubernetes binaries (hack/versions.sh's GO_TOOLS row `kube`) into the cache:
# hack/go-tool.sh, upstream's go.mod in a scratch module. Only the first run on a machine pays the
# build; later runs find the binaries keyed by version.
#   usage: hack/build-kube.sh [--print-path] [binary...]
#          (default: kube-apiserver kube-controller-manager kubectl)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-tool.sh
source "$here/go-tool.sh"
print=()
[ "${1:-}" = "--print-path" ] && { print=(--print-path); shift; }
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(kube-apiserver kube-controller-manager kubectl)
# The staging modules (k8s.io/api, client-go, …) are replaced by their releases: v1.33.13 -> v0.33.13.
go_tool_gomod() { sed -e "s|=> ./staging/src/\(k8s.io/[a-z-]*\)|=> \1 v0${KUBE_VERSION#v1}|"; }
go_tool_ldflags() {
  local minor=${KUBE_VERSION#v1.}
  echo "-X k8s.io/component-base/version.gitMinor=${minor%%.*}"
}
go_tool_build kube "${print[@]}" "${bins[@]}"
