#!/usr/bin/env bash
# The kind path, for machines with a Docker engine (it cannot run where there is none):
#   hack/kind.sh up     create the kind cluster `streamops` (kind built from its Go module, cached)
#   hack/kind.sh e2e    `kind load` the images `make images` built, `helm install` the chart, wait for the
#                       operator, run the end-to-end tests of an installed chart (tests/e2e; not
#                       tests/e2e/node, which brings its own local node) against that cluster
#   hack/kind.sh down   delete the cluster
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-tool.sh
source "$here/go-tool.sh"
cluster=${KIND_CLUSTER:-streamops}
kubeconfig="$repo/.kind/kubeconfig"
namespace=streamops-system

need_docker() {
  docker info >/dev/null 2>&1 || { echo "kind needs a running Docker engine (docker info failed)" >&2; exit 1; }
}

# kind from its Go module into the cache (hack/versions.sh's GO_TOOLS row `kind`), once.
build_kind() { go_tool_build kind; }

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
  # The images `make images` built without Docker: each one's docker-archive loaded into the nodes
  # under its content-hash tag (dist/images.json lists them), and the chart told so.
  sets=()
  while read -r name repository tag archive; do
    "$KIND_BIN" load image-archive --name "$cluster" "$archive"
    case $name in
      operator) key=image ;;
      worker) key=worker.image ;;
      overlay) key=worker.overlayImage ;;
      edge) key=edge.image ;;
      *) continue ;;
    esac
    sets+=(--set "$key.repository=$repository" --set "$key.tag=$tag" --set "$key.pullPolicy=Never")
  done < <("$repo/.venv/bin/python" -c 'import json, sys
for i in json.load(open(sys.argv[1])): print(i["name"], i["repository"], i["tags"][-1], i["archive"])' "$repo/dist/images.json")
  # Images were loaded into the nodes: never pull them. Worker Pods without hostNetwork, so the
  # namespace of a test may enforce PodSecurity `restricted`.
  "$HELM_BIN" upgrade --install streamops "$repo/charts/streamops" --kubeconfig "$kubeconfig" \
    --namespace "$namespace" --create-namespace --wait --timeout 5m "${sets[@]}"
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
