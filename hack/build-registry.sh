#!/usr/bin/env bash
# Build the pinned CNCF Distribution registry (hack/versions.sh's GO_TOOLS row `registry`) into the
# cache: hack/go-tool.sh. The OCI registry the publishing tests push images and the chart to, on
# 127.0.0.1 (devtools/devtools/registry.py). Its version is stamped as upstream's Makefile does (a
# module build knows no git revision); no build tags: upstream's default storage drivers
# (filesystem, inmemory, s3-aws, gcs, azure). Later runs: no-op. `--print-path` prints where it is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-tool.sh
source "$here/go-tool.sh"
go_tool_build registry "$@"
