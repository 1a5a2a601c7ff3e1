#!/usr/bin/env bash
# Build the pinned cert-manager (controller, webhook, cainjector) from its Go module into the cache
# outside the repo, keyed by version and by the sources below (a stamp holds their hash: editing them
# rebuilds), and copy the module's Helm chart beside the binaries. Later runs: no-op.
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
out="$CERT_MANAGER_DIR"
binaries=(controller webhook cainjector)
stamp="$out/.script-sha256"
want=$( (cat "$0"; find "$here/cert-manager" -type f -name '*.go' | sort | xargs cat) | sha256sum | cut -c1-16)
if [ "${1:-}" = "--print-dir" ]; then echo "$out"; exit 0; fi
built() {
  for b in "${binaries[@]}"; do [ -x "$out/bin/$b" ] || return 1; done
  [ -f "$out/chart/Chart.yaml" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]
}
built && exit 0
mkdir -p "$STREAMOPS_CACHE"
exec 9>"$STREAMOPS_CACHE/.cert-manager-build.lock"
flock 9  # `make cert-manager` and a test session may start at once: the second waits
built && exit 0
command -v go >/dev/null || { echo "Go (>= 1.26) is needed to build cert-manager from its module" >&2; exit 1; }
mod=github.com/cert-manager/cert-manager
src=$(GOFLAGS= go mod download -json "$mod@$CERT_MANAGER_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
[ -n "$src" ] && [ -d "$src" ] || { echo "go mod download $mod@$CERT_MANAGER_VERSION failed" >&2; exit 1; }
for needed in internal/webhook/webhook.go pkg/controller/cainjector/setup.go internal/apis/config/controller/v1alpha1/defaults.go deploy/charts/cert-manager/Chart.yaml; do
  [ -f "$src/$needed" ] || { echo "$mod@$CERT_MANAGER_VERSION has no $needed: hack/cert-manager/ needs updating" >&2; exit 1; }
done
work="$STREAMOPS_CACHE/cert-manager-build-$CERT_MANAGER_VERSION"
rm -rf "$work"
cp -r "$src" "$work"
chmod -R u+w "$work"
mkdir -p "$work/streamops"
cp -r "$here/cert-manager/." "$work/streamops/"
mkdir -p "$out/bin"
cd "$work"
tags=
vcert=github.com/Venafi/vcert/v5
vcert_version=$(sed -n "s|^[[:space:]]*$vcert \(v[^ ]*\)\$|\1|p" go.mod | head -1)
if [ -n "$vcert_version" ] && ! GOFLAGS= go mod download "$vcert@$vcert_version" 2>/dev/null; then
  echo "warning: $vcert@$vcert_version is not served by $(go env GOPROXY): cert-manager is built without the Venafi issuer" >&2
  defaults=internal/apis/config/controller/v1alpha1/defaults.go
  n=$(grep -cE '^\s*c?s?r?venaficontroller "github.com/cert-manager/cert-manager/pkg/controller/certificate(signing)?requests/venafi"$' "$defaults" || true)
  [ "$n" = 2 ] || { echo "$defaults: the Venafi controller imports are not where this script expects them" >&2; exit 1; }
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
  tags=streamops_novenafi
fi
echo "building cert-manager $CERT_MANAGER_VERSION (first run on this machine only, several minutes)..." >&2
start=$(date +%s)
util=$mod/pkg/util
for b in "${binaries[@]}"; do
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags "$tags" \
    -ldflags "-s -w -X $util.AppVersion=$CERT_MANAGER_VERSION -X $util.AppGitState=clean" \
    -o "$out/bin/$b.tmp" "./streamops/$b"
  mv "$out/bin/$b.tmp" "$out/bin/$b"
done
rm -rf "$out/chart.tmp"
cp -r "$src/deploy/charts/cert-manager" "$out/chart.tmp"
chmod -R u+w "$out/chart.tmp"
sed -i -e "s/^version: .*/version: $CERT_MANAGER_VERSION/" -e "s/^appVersion: .*/appVersion: $CERT_MANAGER_VERSION/" \
  "$out/chart.tmp/Chart.yaml"
rm -rf "$out/chart"
mv "$out/chart.tmp" "$out/chart"
echo "$want" > "$stamp"
echo "built cert-manager in $(( $(date +%s) - start ))s" >&2
