#!/usr/bin/env bash
# The Prometheus Operator's CRDs the chart's monitoring objects need (ServiceMonitor, PodMonitor,
# PrometheusRule), taken from the github.com/prometheus-operator/prometheus-operator Go module
# (example/prometheus-operator-crd/, a 4 MB module zip) and copied into the cache keyed by version.
# The multinode tier applies them so that `helm install` with the monitoring values on is validated
# against the real schemas (devtools/devtools/cluster/prometheus.py). Later runs: no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
[ -f "$PROMETHEUS_OPERATOR_CRDS/.complete" ] && exit 0
command -v go >/dev/null || { echo "Go is needed to download the Prometheus Operator module" >&2; exit 1; }
module="github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION"
dir=$(GOFLAGS= go mod download -json "$module" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
src="$dir/example/prometheus-operator-crd"
[ -d "$src" ] || { echo "no example/prometheus-operator-crd in $module" >&2; exit 1; }
rm -rf "$PROMETHEUS_OPERATOR_CRDS.tmp"
mkdir -p "$PROMETHEUS_OPERATOR_CRDS.tmp"
for kind in servicemonitors podmonitors prometheusrules; do
  cp "$src/monitoring.coreos.com_$kind.yaml" "$PROMETHEUS_OPERATOR_CRDS.tmp/"
done
chmod u+w "$PROMETHEUS_OPERATOR_CRDS.tmp"/*.yaml   # the module cache is read-only
touch "$PROMETHEUS_OPERATOR_CRDS.tmp/.complete"
rm -rf "$PROMETHEUS_OPERATOR_CRDS"
mv "$PROMETHEUS_OPERATOR_CRDS.tmp" "$PROMETHEUS_OPERATOR_CRDS"
