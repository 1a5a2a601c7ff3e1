#!/usr/bin/env bash
# Build the pinned Traefik (hack/versions.sh's GO_TOOLS row `traefik`) into the cache:
# hack/go-tool.sh, upstream's go.mod renamed into a scratch module that requires Traefik itself (its
# replace directives, the containous forks, only take effect in the main module). Later runs: no-op.
# `--print-path` prints where it is.
#
# Two things the module zip lacks, both harmless for an ingress controller without a dashboard:
# - pkg/config/dynamic/ext is a nested module (its own go.mod), so Go leaves it out of the zip;
#   upstream's go.mod replaces it with that local path. It is an extension point of two empty
#   structs (ext.HTTP, ext.Router: all that v3.7.13 uses); the same stub is written here.
# - webui/static holds only a placeholder: the dashboard's assets are built with yarn in Docker
#   by upstream's release. `go:embed static` compiles with the placeholder; the local cluster runs
#   Traefik without --api.dashboard, so nothing serves them.
#
# A fallback for a Go module proxy that lacks some of Traefik's dependencies (the one here answers
# 403 "not available" for 16 of them, measured with v3.7.13), a no-op where the proxy has
# everything: the basic/digest auth middlewares' fork github.com/containous/go-http-auth; when the
# pinned pseudo-version is missing, the fork's 2020 commit (Traefik v2's, the same API: BasicAuth,
# DigestAuth, CheckSecret, NewDigestAuthenticator) replaces it.
#
# No ACME DNS-01 provider: lego's providers/dns registry compiles in 206 of them, each with its
# cloud's SDK, and the local cluster uses no ACME at all. A local copy of the lego module (go mod
# download) has a registry without any (picking one fails with "unrecognized DNS provider"), and
# the binary's path says so (TRAEFIK_BIN, -nodns). docs/design/local-cluster.md, "A first run", has
# what it saves.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-tool.sh
source "$here/go-tool.sh"
go_tool_gomod() { sed -e "s|=> ./pkg/config/dynamic/ext\$|=> ./ext|"; }
# In the scratch module's directory.
go_tool_prepare() {
  mkdir -p ext
  printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.24.0\n' > ext/go.mod
  local auth_fork=github.com/containous/go-http-auth auth_pinned auth_fallback
  auth_pinned=$(sed -n "s|^[[:space:]]*github.com/abbot/go-http-auth => $auth_fork \(v[^ ]*\)\$|\1|p" go.mod)
  if [ -n "$auth_pinned" ] && ! GOFLAGS= go mod download "$auth_fork@$auth_pinned" 2>/dev/null; then
    auth_fallback=v0.4.1-0.20200324110947-a37a7636d23e
    echo "warning: $auth_fork@$auth_pinned is not served by $(go env GOPROXY): using $auth_fallback" >&2
    go mod edit -replace "github.com/abbot/go-http-auth=$auth_fork@$auth_fallback"
  fi
  cat > ext/ext.go <<'GO'
// Package ext: Traefik's dynamic configuration extension point (empty upstream), written by
// hack/build-traefik.sh because Go module zips leave nested modules out.
package ext

// HTTP is a dynamic.HTTP extension.
type HTTP struct{}

// Router is a dynamic.Router extension.
type Router struct{}
GO
  local lego=github.com/go-acme/lego/v5 lego_version lego_dir
  lego_version=$(sed -n "s|^[[:space:]]*$lego \(v[^ ]*\)\$|\1|p" go.mod | head -1)
  if [ ! -d lego ]; then
    lego_dir=$(GOFLAGS= go mod download -json "$lego@$lego_version" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
    cp -r "$lego_dir" lego.tmp && chmod -R u+w lego.tmp && mv lego.tmp lego
    go mod edit -replace "$lego=./lego"
  fi
  # Every provider package out of the registry: its imports and its case (idempotent).
  python3 - lego/providers/dns/zz_gen_dns_providers.go <<'PY'
import re, sys
path = sys.argv[1]
src = open(path).read()
src = re.sub(r'\n\t"github.com/go-acme/lego/v5/providers/dns/[a-z0-9]+"', "", src)
# Each case is `case "name"[, "alias"]:` followed by one `return pkg.NewDNSProvider...` line.
src = re.sub(r'\n\tcase [^\n]*:\n\t\treturn [a-z0-9]+\.[^\n]*', "", src)
open(path, "w").write(src)
PY
}
go_tool_ldflags() { echo "-X 'github.com/traefik/traefik/v3/pkg/version.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)'"; }
go_tool_build traefik "$@"
