#!/usr/bin/env bash
# Build the pinned crane (go-containerregistry's registry client; hack/versions.sh's GO_TOOLS row
# `crane`) into the cache: hack/go-tool.sh. `make push-images` pushes the OCI image layouts of
# `make images` with it (devtools/devtools/publish.py). Its version is stamped as upstream's
# release (goreleaser) does, so `crane version` says which release this is. Later runs: no-op.
# `--print-path` prints where it is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-tool.sh
source "$here/go-tool.sh"
GO_TOOL_NO_INLINING=1  # its speed does not matter: a command run for seconds
go_tool_build crane "$@"
