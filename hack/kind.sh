#!/usr/bin/env bash
# The kind path, for machines with a Docker engine (it cannot run where there is none):
#   hack/kind.sh up     create the kind cluster `streamops` (kind built from its Go module, cached)
#   hack/kind.sh e2e    build the images, `kind load` them, `helm install` the chart, wait for the
#                       operator, run the end-to-end tests of an installed chart (tests/e2e; not
#                       tests/e2e/node, which brings its own local node) against that cluster
#   hack/kind.sh down   delete the cluster
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
cluster=${KIND_CLUSTER:-streamops}
kubeconfig="$repo/.kind/kubeconfig"
namespace=streamops-system
tag=$(sed -n 's/^appVersion: "\(.*\)"/\1/p' "$repo/charts/streamops/Chart.yaml")

need_docker() {
  docker info >/dev/null 2>&1 || { echo "kind needs a running Docker engine (docker info failed)" >&2; exit 1; }
}

build_kind() {
  [ -x "$KIND_BIN" ] && return 0
  mkdir -p "$(dirname "$KIND_BIN")"
  echo "building kind $KIND_VERSION (first run on this machine only)..." >&2
  GOBIN="$(dirname "$KIND_BIN")" CGO_ENABLED=0 GOFLAGS= go install "sigs.k8s.io/kind@$KIND_VERSION"
}

up() {
  need_docker
  build_kind
  mkdir -p "$(dirname "$kubeconfig")"
  if ! "$KIND_BIN" get clusters | grep -qx "$cluster"; then
    "$KIND_BIN" create cluster --name "$cluster" --image "$KIND_NODE_IMAGE" --kubeconfig "$kubeconfig" --wait 120s
  fi
  "$KIND_BIN" export kubeconfig --name "$cluster" --kubeconfig "$kubeconfig"
  echo "kind cluster $cluster is up: export KUBECONFIG=$kubeconfig"
}

e2e() {
  up
  bash "$here/build-helm.sh"
  bash "$here/build-kube.sh" kubectl
  kubectl="$KUBE_BIN_DIR/kubectl --kubeconfig $kubeconfig"
  for image in streamops-operator streamops-worker; do
    "$KIND_BIN" load docker-image --name "$cluster" "$image:$tag"
  done
  # Images were loaded into the nodes: never pull them. Worker Pods without hostNetwork, so the
  # namespace of a test may enforce PodSecurity `restricted`.
  "$HELM_BIN" upgrade --install streamops "$repo/charts/streamops" --kubeconfig "$kubeconfig" \
    --namespace "$namespace" --create-namespace --wait --timeout 5m \
    --set image.pullPolicy=Never --set worker.image.pullPolicy=Never
  $kubectl -n "$namespace" rollout status deployment/streamops --timeout=180s
  STREAMOPS_E2E_KUBECONFIG="$kubeconfig" STREAMOPS_E2E_KUBECTL="$KUBE_BIN_DIR/kubectl" \
    "$repo/.venv/bin/python" -m pytest "$repo/tests/e2e" --ignore="$repo/tests/e2e/node" ${PYTEST_ARGS:-}
}

down() {
  build_kind
  "$KIND_BIN" delete cluster --name "$cluster"
  rm -f "$kubeconfig"
}

case "${1:-}" in
  up) up ;;
  e2e) e2e ;;
  down) down ;;
  *) echo "usage: $0 up|e2e|down" >&2; exit 2 ;;
esac
