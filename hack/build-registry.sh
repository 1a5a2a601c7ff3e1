#!/usr/bin/env bash
# Build the pinned CNCF Distribution registry (the module github.com/distribution/distribution/v3,
# cmd/registry) into the cache outside the repo, keyed by version (hack/go-install-release.sh): the
# OCI registry the publishing tests push images and the chart to, on 127.0.0.1
# (devtools/devtools/registry.py). Later runs: no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-install-release.sh
source "$here/go-install-release.sh"
if [ "${1:-}" = "--print-path" ]; then echo "$REGISTRY_BIN"; exit 0; fi
mod=github.com/distribution/distribution/v3
# Upstream's Makefile stamps version.version, version.revision and version.mainpkg: stamp the
# version (a module build knows no git revision), so `registry --version` says which release this
# is. No build tags: upstream's default set of storage drivers (filesystem, inmemory, s3-aws, gcs,
# azure).
ldflags() { echo "-X $mod/version.version=$DISTRIBUTION_VERSION -X $mod/version.mainpkg=$mod"; }
go_install_release "the Distribution registry" "$REGISTRY_BIN" "$DISTRIBUTION_VERSION" "$mod/cmd/registry" 1.26 ldflags
