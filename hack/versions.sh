# Pinned versions and the cache they are built into (sourced by hack/*.sh and the Makefile).
KUBE_VERSION="${KUBE_VERSION:-v1.33.13}"
STREAMOPS_CACHE="${STREAMOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/streamops}"
KUBE_BIN_DIR="$STREAMOPS_CACHE/kube-$KUBE_VERSION/bin"
# Helm, built from its Go module (hack/build-helm.sh) into the same cache.
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
HELM_BIN="$STREAMOPS_CACHE/helm-$HELM_VERSION/bin/helm"
