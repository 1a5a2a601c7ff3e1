#!/usr/bin/env bash
# Build pinned Kubernetes binaries from the Kubernetes Go modules into a cache outside the repo.
# Only the first run on a machine pays the build; later runs find the binaries keyed by version.
#   usage: hack/build-kube.sh [binary...]   (default: kube-apiserver kube-controller-manager kubectl)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"

bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(kube-apiserver kube-controller-manager kubectl)
out="$KUBE_BIN_DIR"
mkdir -p "$out"

missing=()
for b in "${bins[@]}"; do [ -x "$out/$b" ] || missing+=("$b"); done
[ ${#missing[@]} -gt 0 ] || exit 0

work="$STREAMOPS_CACHE/kube-build-$KUBE_VERSION"
mkdir -p "$work"
staging_version="v0${KUBE_VERSION#v1}"   # v1.33.13 -> v0.33.13
if [ ! -f "$work/go.mod" ]; then
  go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" > "$work/download.json"
  upstream_mod=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["GoMod"])' "$work/download.json")
  # Upstream's go.mod, renamed, requiring k8s.io/kubernetes itself, staging modules replaced by releases.
  sed -e "s|^module k8s.io/kubernetes|module streamops.dev/kubebuild|" \
      -e "s|=> ./staging/src/\(k8s.io/[a-z-]*\)|=> \1 $staging_version|" \
      "$upstream_mod" > "$work/go.mod.tmp"
  printf '\nrequire k8s.io/kubernetes %s\n' "$KUBE_VERSION" >> "$work/go.mod.tmp"
  mv "$work/go.mod.tmp" "$work/go.mod"
fi
cd "$work"
for b in "${missing[@]}"; do
  echo "building $b $KUBE_VERSION (first run on this machine only)..." >&2
  start=$(date +%s)
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=33" \
    -o "$out/$b.tmp" "k8s.io/kubernetes/cmd/$b"
  mv "$out/$b.tmp" "$out/$b"
  echo "built $b in $(( $(date +%s) - start ))s" >&2
done
