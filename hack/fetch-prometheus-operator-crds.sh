#!/usr/bin/env bash
# The Prometheus Operator's CRDs, taken from the github.com/prometheus-operator/prometheus-operator Go
# module (example/prometheus-operator-crd/, a 4 MB module zip) and copied into the cache keyed by version:
# - crds/: the ones the chart's monitoring objects need (ServiceMonitor, PodMonitor, PrometheusRule),
#   what `helm install` with the monitoring values on is validated against
#   (devtools/devtools/cluster/prometheus.py);
# - crds-all/: every CRD of that release (Prometheus, Alertmanager, ScrapeConfig, ...), what the
#   operator itself runs with (devtools/devtools/cluster/prometheus_operator.py; several are over
#   256 KiB, so they are applied server-side);
# - rbac/: upstream's ClusterRoles of the operator and of a Prometheus (example/rbac/).
# Later runs: no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
done_all() {
  [ -f "$PROMETHEUS_OPERATOR_CRDS/.complete" ] && [ -f "$PROMETHEUS_OPERATOR_ALL_CRDS/.complete" ] \
    && [ -f "$PROMETHEUS_OPERATOR_RBAC/.complete" ]
}
done_all && exit 0
mkdir -p "$STREAMOPS_CACHE"
exec 9>"$STREAMOPS_CACHE/.prometheus-operator-crds.lock"
flock 9  # `make prometheus` and `make prometheus-operator` may run at once (make -j): one copies
done_all && exit 0
command -v go >/dev/null || { echo "Go is needed to download the Prometheus Operator module" >&2; exit 1; }
module="github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION"
dir=$(GOFLAGS= go mod download -json "$module" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
src="$dir/example/prometheus-operator-crd"
[ -d "$src" ] || { echo "no example/prometheus-operator-crd in $module" >&2; exit 1; }

# install DEST FILE...: the files, writable (the module cache is read-only), then the stamp.
install() {
  local dest=$1; shift
  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp"
  cp "$@" "$dest.tmp/"
  chmod u+w "$dest.tmp"/*.yaml
  touch "$dest.tmp/.complete"
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
}
[ -f "$PROMETHEUS_OPERATOR_CRDS/.complete" ] || install "$PROMETHEUS_OPERATOR_CRDS" \
  "$src/monitoring.coreos.com_servicemonitors.yaml" "$src/monitoring.coreos.com_podmonitors.yaml" \
  "$src/monitoring.coreos.com_prometheusrules.yaml"
[ -f "$PROMETHEUS_OPERATOR_ALL_CRDS/.complete" ] || install "$PROMETHEUS_OPERATOR_ALL_CRDS" "$src"/*.yaml
rbac="$dir/example/rbac"
[ -f "$PROMETHEUS_OPERATOR_RBAC/.complete" ] || install "$PROMETHEUS_OPERATOR_RBAC" \
  "$rbac/prometheus-operator/prometheus-operator-cluster-role.yaml" "$rbac/prometheus/prometheus-cluster-role.yaml"
