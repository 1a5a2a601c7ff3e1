#!/usr/bin/env bash
# The one skeleton for a pinned Go tool built from its module release with `go install pkg@version`
# into the cache outside the repo, keyed by version (helm, versitygw, crane, the Distribution
# registry): a no-op once built, a lock so `make X` and a test session starting at once build it
# once, the binary moved into place only when complete. Sourced by hack/build-<tool>.sh:
#
#   go_install_release NAME BIN VERSION PACKAGE GO_MIN LDFLAGS_FN
#
# NAME: what the messages call it; BIN: the cached binary's path; PACKAGE: the command's package
# (installed @VERSION); GO_MIN: the Go it needs (for the message); LDFLAGS_FN: a function printing
# the -ldflags (run only when a build is due: helm's reads its go.mod). Each tool's go.mod has no
# replace directives, which `go install pkg@version` would ignore.

go_install_release() {
  local name=$1 bin=$2 version=$3 package=$4 go_min=$5 ldflags_fn=$6
  [ -x "$bin" ] && return 0
  mkdir -p "$STREAMOPS_CACHE"
  exec 9>"$STREAMOPS_CACHE/.$(basename "$bin")-$version-build.lock"
  flock 9  # the second waits, then finds it built
  [ -x "$bin" ] && return 0
  command -v go >/dev/null || { echo "Go (>= $go_min) is needed to build $name from its module" >&2; return 1; }
  local out start ldflags
  out=$(dirname "$bin")
  mkdir -p "$out"
  echo "building $name $version (first run on this machine only)..." >&2
  start=$(date +%s)
  ldflags=$("$ldflags_fn")
  rm -rf "$out.tmp"
  GOBIN="$out.tmp" CGO_ENABLED=0 GOFLAGS= go install -trimpath -ldflags "-s -w $ldflags" "$package@$version"
  mv "$out.tmp/$(basename "$package")" "$bin"
  rmdir "$out.tmp"
  echo "built $name in $(( $(date +%s) - start ))s" >&2
}
