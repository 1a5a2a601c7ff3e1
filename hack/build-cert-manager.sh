#!/usr/bin/env bash
# Build the pinned cert-manager (hack/versions.sh's GO_TOOLS row `cert-manager`: controller, webhook,
# cainjector) from its Go module into the cache: hack/go-tool.sh, how=source (a copy of the core
# module), each binary stamped with the hash of this script and hack/cert-manager/ (editing them
# rebuilds); and copy the module's Helm chart beside the binaries. Later runs: no-op.
#   usage: hack/build-cert-manager.sh [--print-path] [binary...]
#          (default: controller webhook cainjector)
#
# Why not `go build github.com/cert-manager/cert-manager/cmd/controller`: since v1.12 each binary is
# a Go module of its own (cmd/controller/go.mod is `module .../controller-binary`, with
# `replace github.com/cert-manager/cert-manager => ../../`; design/20230302.gomod.md in the module:
# "It's OK if people can't import our binaries as go modules"). Those modules are never published:
# the module proxy answers 404 for github.com/cert-manager/cert-manager/cmd/controller at any
# version, and the core module's zip leaves the nested modules (all of cmd/) out. Everything the
# binaries run is in the core module, though: the controllers (pkg/controller/...), the issuers
# (pkg/issuer/...), the webhook server (internal/webhook), the injectors (pkg/controller/cainjector)
# and the configuration API with its defaults and validation (internal/apis/config/...). So this
# script copies the core module (internal/ packages are importable only from inside it), adds the
# three small mains of hack/cert-manager/ as its streamops/ directory, and builds them with the core
# module's own go.mod and go.sum: the dependency versions are exactly the release's.
#
# One fallback for a module proxy that lacks a dependency, a no-op where the proxy has everything:
# the Venafi issuer's SDK github.com/Venafi/vcert/v5 (the proxy here answers 403 "not available" for
# the zip of v5.13.7, which v1.21.2 requires, and serves no later 5.13; v5.12.2 lacks the
# pkg/venafi/ngts package cert-manager uses). The Venafi issuer and its two controllers are then left
# out: the configuration defaults name those controllers through their packages, which the copy's
# defaults.go gets as plain names instead, and the controller is built with -tags
# streamops_novenafi (hack/cert-manager/controller/venafi.go). A Venafi Issuer then never turns
# Ready; every other issuer (self-signed, CA, ACME, Vault) is there.
#
# The chart (deploy/charts/cert-manager in the module, what the release's cert-manager.yaml is
# rendered from) gets the version in Chart.yaml that upstream's release tooling writes there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-tool.sh
source "$here/go-tool.sh"
print=()
[ "${1:-}" = "--print-path" ] && { print=(--print-path); shift; }
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(controller webhook cainjector)
go_tool_stamp() { (cat "$0"; find "$here/cert-manager" -type f -name '*.go' | sort | xargs cat) | sha256sum | cut -c1-16; }
# In the copy of the core module.
go_tool_prepare() {
  local needed vcert=github.com/Venafi/vcert/v5 vcert_version defaults n
  for needed in internal/webhook/webhook.go pkg/controller/cainjector/setup.go internal/apis/config/controller/v1alpha1/defaults.go deploy/charts/cert-manager/Chart.yaml; do
    [ -f "$needed" ] || { echo "cert-manager $CERT_MANAGER_VERSION has no $needed: hack/cert-manager/ needs updating" >&2; return 1; }
  done
  mkdir -p streamops
  cp -r "$here/cert-manager/." streamops/
  vcert_version=$(sed -n "s|^[[:space:]]*$vcert \(v[^ ]*\)\$|\1|p" go.mod | head -1)
  if [ -n "$vcert_version" ] && ! GOFLAGS='' go mod download "$vcert@$vcert_version" 2>/dev/null; then
    echo "warning: $vcert@$vcert_version is not served by $(go env GOPROXY): cert-manager is built without the Venafi issuer" >&2
    defaults=internal/apis/config/controller/v1alpha1/defaults.go
    n=$(grep -cE '^\s*c?s?r?venaficontroller "github.com/cert-manager/cert-manager/pkg/controller/certificate(signing)?requests/venafi"$' "$defaults" || true)
    [ "$n" = 2 ] || { echo "$defaults: the Venafi controller imports are not where this script expects them" >&2; return 1; }
    sed -i -E '/^\s*c?s?r?venaficontroller "github.com\/cert-manager\/cert-manager\/pkg\/controller\/certificate(signing)?requests\/venafi"$/d' "$defaults"
    cat > internal/apis/config/controller/v1alpha1/zz_streamops_novenafi.go <<'GO'
// Written by streamops' hack/build-cert-manager.sh: the Venafi controllers' names without their
// packages (built without the Venafi issuer: its SDK is not served by the module proxy in use).
package v1alpha1

var (
	crvenaficontroller  = struct{ CRControllerName string }{"certificaterequests-issuer-venafi"}
	csrvenaficontroller = struct{ CSRControllerName string }{"certificatesigningrequests-issuer-venafi"}
)
GO
  fi
  # The chart, with the version in Chart.yaml that upstream's release tooling writes there.
  rm -rf "$CERT_MANAGER_DIR/chart.tmp"
  mkdir -p "$CERT_MANAGER_DIR"
  cp -r deploy/charts/cert-manager "$CERT_MANAGER_DIR/chart.tmp"
  chmod -R u+w "$CERT_MANAGER_DIR/chart.tmp"
  sed -i -e "s/^version: .*/version: $CERT_MANAGER_VERSION/" -e "s/^appVersion: .*/appVersion: $CERT_MANAGER_VERSION/" \
    "$CERT_MANAGER_DIR/chart.tmp/Chart.yaml"
  rm -rf "$CERT_MANAGER_DIR/chart"
  mv "$CERT_MANAGER_DIR/chart.tmp" "$CERT_MANAGER_DIR/chart"
}
# The Venafi fallback above, seen in the copy.
go_tool_tags() { [ ! -f internal/apis/config/controller/v1alpha1/zz_streamops_novenafi.go ] || echo streamops_novenafi; }
GO_TOOL_NO_INLINING=1  # its speed does not matter: issues a few certificates in one test
go_tool_build cert-manager "${print[@]}" "${bins[@]}"
