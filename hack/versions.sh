# Pinned versions and the cache they are built into (sourced by hack/*.sh and the Makefile).
KUBE_VERSION="${KUBE_VERSION:-v1.33.13}"
STREAMOPS_CACHE="${STREAMOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/streamops}"
KUBE_BIN_DIR="$STREAMOPS_CACHE/kube-$KUBE_VERSION/bin"
