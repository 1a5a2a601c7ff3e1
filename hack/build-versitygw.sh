#!/usr/bin/env bash
# Build the pinned versitygw (the S3-compatible server of the tests and the demo; hack/versions.sh's
# GO_TOOLS row `versitygw`) into the cache: hack/go-tool.sh. Its version is stamped as versitygw's
# Makefile does (not the git commit and build time, which a module build does not know). Later
# runs: no-op; ≈2 min on 2 cores the first time. `--print-path` prints where it is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-tool.sh
source "$here/go-tool.sh"
GO_TOOL_NO_INLINING=1  # its speed does not matter: the tests' uploads, a few MB/s of hashing (assembly) and disk
go_tool_build versitygw "$@"
