#!/usr/bin/env bash
# Build the pinned versitygw (the S3-compatible server of the tests and the demo) from its Go module
# (github.com/versity/versitygw/cmd/versitygw) into the cache outside the repo, keyed by version
# (hack/go-install-release.sh). Later runs: no-op. ≈2 min on 2 cores the first time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
# shellcheck source=hack/go-install-release.sh
source "$here/go-install-release.sh"
# versitygw's Makefile stamps main.Version (and the git commit and build time, which a module build
# does not know): stamp the version, so `versitygw --version` says which release this is.
ldflags() { echo "-X main.Version=$VERSITYGW_VERSION"; }
go_install_release versitygw "$VERSITYGW_BIN" "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw 1.25 ldflags
