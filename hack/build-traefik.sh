#!/usr/bin/env bash
# Build the pinned Traefik from its Go module (github.com/traefik/traefik/v3, cmd/traefik) into the
# cache outside the repo, keyed by version like the Kubernetes binaries (hack/build-kube.sh), the
# same way: upstream's go.mod renamed into a scratch module that requires Traefik itself (its
# replace directives, the containous forks, only take effect in the main module). Later runs: no-op.
#
# Two things the module zip lacks, both harmless for an ingress controller without a dashboard:
# - pkg/config/dynamic/ext is a nested module (its own go.mod), so Go leaves it out of the zip;
#   upstream's go.mod replaces it with that local path. It is an extension point of two empty
#   structs (ext.HTTP, ext.Router: all that v3.7.13 uses); the same stub is written here.
# - webui/static holds only a placeholder: the dashboard's assets are built with yarn in Docker
#   by upstream's release. `go:embed static` compiles with the placeholder; the local cluster runs
#   Traefik without --api.dashboard, so nothing serves them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
[ -x "$TRAEFIK_BIN" ] && exit 0
command -v go >/dev/null || { echo "Go (>= 1.26) is needed to build Traefik from its module" >&2; exit 1; }
out=$(dirname "$TRAEFIK_BIN")
mkdir -p "$out"
work="$STREAMOPS_CACHE/traefik-build-$TRAEFIK_VERSION"
mkdir -p "$work/ext"
mod=github.com/traefik/traefik/v3
if [ ! -f "$work/go.mod" ]; then
  upstream_mod=$(GOFLAGS= go mod download -json "$mod@$TRAEFIK_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  [ -n "$upstream_mod" ] || { echo "go mod download $mod@$TRAEFIK_VERSION failed" >&2; exit 1; }
  sed -e "s|^module $mod\$|module streamops.dev/traefikbuild|" \
      -e "s|=> ./pkg/config/dynamic/ext\$|=> ./ext|" \
      "$upstream_mod" > "$work/go.mod.tmp"
  printf '\nrequire %s %s\n' "$mod" "$TRAEFIK_VERSION" >> "$work/go.mod.tmp"
  mv "$work/go.mod.tmp" "$work/go.mod"
fi
printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.24.0\n' > "$work/ext/go.mod"
cat > "$work/ext/ext.go" <<'GO'
// Package ext: Traefik's dynamic configuration extension point (empty upstream), written by
// hack/build-traefik.sh because Go module zips leave nested modules out.
package ext

// HTTP is a dynamic.HTTP extension.
type HTTP struct{}

// Router is a dynamic.Router extension.
type Router struct{}
GO
cd "$work"
echo "building traefik $TRAEFIK_VERSION (first run on this machine only, several minutes)..." >&2
start=$(date +%s)
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w \
    -X $mod/pkg/version.Version=$TRAEFIK_VERSION \
    -X $mod/pkg/version.Codename=streamops \
    -X '$mod/pkg/version.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)'" \
  -o "$TRAEFIK_BIN.tmp" "$mod/cmd/traefik"
mv "$TRAEFIK_BIN.tmp" "$TRAEFIK_BIN"
echo "built traefik in $(( $(date +%s) - start ))s" >&2
