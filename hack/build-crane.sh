#!/usr/bin/env bash
# Build the pinned crane (go-containerregistry's registry client, the module
# github.com/google/go-containerregistry, cmd/crane) into the cache outside the repo, keyed by version
# (hack/go-install-release.sh). `make push-images` pushes the OCI image layouts of `make images`
# with it (devtools/devtools/publish.py). Later runs: no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-install-release.sh
source "$here/go-install-release.sh"
if [ "${1:-}" = "--print-path" ]; then echo "$CRANE_BIN"; exit 0; fi
mod=github.com/google/go-containerregistry
# Upstream's release (goreleaser) stamps cmd.Version: do the same, so `crane version` says which
# release this is.
ldflags() { echo "-X $mod/cmd/crane/cmd.Version=$CRANE_VERSION"; }
go_install_release crane "$CRANE_BIN" "$CRANE_VERSION" "$mod/cmd/crane" 1.25 ldflags
