#!/usr/bin/env bash
# The one build of a pinned Go tool of hack/versions.sh's GO_TOOLS table into the cache outside the
# repo: a no-op once its binaries are there, a lock so that `make X` and a test session starting at
# once build it once, each binary moved into place only when complete, static (CGO_ENABLED=0),
# -trimpath, stripped. Sourced by hack/build-<name>.sh (after hack/versions.sh), which may define,
# before calling it, the steps only its tool has (each run only when a build is due):
#
#   go_tool_gomod      a sed-like filter of upstream's go.mod into the scratch module (how=module)
#   go_tool_prepare    run in the work directory before `go build` (write a main package, patch)
#   go_tool_ldflags    print -ldflags known only at build time (a date, a version read from go.mod)
#   go_tool_tags       print build tags known only once prepared (run in the work directory)
#   go_tool_stamp      print the hash a how=source binary is stamped with (default: the wrapper's;
#                      a wrapper with source files of its own hashes them too)
#
# and may set GO_TOOL_NO_INLINING=1: compiled without inlining (-gcflags -l), for a tool whose speed
# at run time does not matter (a command run for seconds, a server of a few requests a second in
# the local cluster). It compiles with about a quarter less CPU (docs/design/local-cluster.md, "A
# first run"); the Kubernetes components, Traefik and the NetworkPolicy engine, which carry
# the tests' load, keep it.
#
#   go_tool_build NAME [--print-path] [BINARY...]
#
# BINARY...: for a tool whose binary column has {bin} (kube), the binaries to build; --print-path
# prints where the binaries are (built or not). Our own components have hack/build-component.sh.

# One row of GO_TOOLS as the variables go_tool_build uses (fields trimmed); fails for an unknown name.
go_tool_row() {
  local want=$1 line
  local -a f
  while IFS= read -r line; do
    [[ -z "${line//[[:space:]]/}" || $line =~ ^[[:space:]]*# ]] && continue
    IFS='|' read -r -a f <<< "$line"
    [ "$(_go_tool_trim "${f[0]}")" = "$want" ] || continue
    tool_how=$(_go_tool_trim "${f[1]}")
    tool_module=$(_go_tool_trim "${f[2]}")
    tool_package=$(_go_tool_trim "${f[3]}")
    tool_version=$(_go_tool_trim "${f[4]}")
    tool_binary=$(_go_tool_trim "${f[5]}")
    tool_go=$(_go_tool_trim "${f[6]}")
    tool_tags=$(_go_tool_trim "${f[7]:-}")
    tool_ldflags=$(_go_tool_trim "${f[8]:-}")
    return 0
  done <<< "$GO_TOOLS"
  echo "no Go tool $want in hack/versions.sh's GO_TOOLS" >&2
  return 2
}

_go_tool_trim() {
  local s=$1
  s=${s#"${s%%[![:space:]]*}"}
  printf '%s' "${s%"${s##*[![:space:]]}"}"
}

go_tool_build() {
  local name=$1 print_path=
  shift
  [ "${1:-}" = "--print-path" ] && { print_path=1; shift; }
  local tool_how tool_module tool_package tool_version tool_binary tool_go tool_tags tool_ldflags
  go_tool_row "$name" || return
  local -a bins=("$@") paths=() missing=()
  [[ $tool_binary == *"{bin}"* ]] || bins=("$(basename "$tool_binary")")
  [ ${#bins[@]} -gt 0 ] || { echo "go_tool_build $name: name the binaries to build" >&2; return 2; }
  local b
  for b in "${bins[@]}"; do paths+=("${tool_binary//\{bin\}/$b}"); done
  if [ -n "$print_path" ]; then printf '%s\n' "${paths[@]}"; return 0; fi
  # A patched copy (how=source) is stamped with the wrapper's hash: editing the patches rebuilds.
  local want=
  if [ "$tool_how" = source ]; then
    if declare -F go_tool_stamp >/dev/null; then want=$(go_tool_stamp); else want=$(sha256sum "$0" | cut -c1-16); fi
  fi
  _go_tool_missing || return 0
  mkdir -p "$STREAMOPS_CACHE"
  exec 9>"$STREAMOPS_CACHE/.$name-build.lock"
  flock 9  # the second waits, then finds it built
  _go_tool_missing || return 0
  command -v go >/dev/null || { echo "Go (>= $tool_go) is needed to build $name from its module" >&2; return 1; }
  local work="$STREAMOPS_CACHE/$name-build-$tool_version" target
  case $tool_how in
    install) ;;
    module)
      mkdir -p "$work"
      if [ ! -f "$work/go.mod" ]; then
        local upstream_mod
        upstream_mod=$(GOFLAGS='' go mod download -json "$tool_module@$tool_version" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
        [ -n "$upstream_mod" ] || { echo "go mod download $tool_module@$tool_version failed" >&2; return 1; }
        # Upstream's go.mod (its exact dependency versions), renamed, requiring the tool itself.
        sed -e "s|^module $tool_module\$|module streamops.dev/${name//-/}build|" "$upstream_mod" \
          | _go_tool_gomod > "$work/go.mod.tmp"
        printf '\nrequire %s %s\n' "$tool_module" "$tool_version" >> "$work/go.mod.tmp"
        mv "$work/go.mod.tmp" "$work/go.mod"
      fi
      ;;
    source)
      local src
      rm -rf "$work"  # a fresh copy: patches apply to upstream's files, not to last build's
      src=$(GOFLAGS='' go mod download -json "$tool_module@$tool_version" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
      if [ -z "$src" ] || [ ! -d "$src" ]; then echo "go mod download $tool_module@$tool_version failed" >&2; return 1; fi
      cp -r "$src" "$work"
      chmod -R u+w "$work"
      ;;
    *) echo "GO_TOOLS: $name: unknown how '$tool_how'" >&2; return 2 ;;
  esac
  # Not in an `||` list: the wrapper's `set -e` must stop a failing step of its own.
  if [ "$tool_how" != install ] && declare -F go_tool_prepare >/dev/null; then (cd "$work" && go_tool_prepare); fi
  local ldflags="-s -w $tool_ldflags" extra start i
  if declare -F go_tool_ldflags >/dev/null; then
    extra=$(go_tool_ldflags)
    ldflags+=" $extra"
  fi
  local -a tags=()
  if [ "$tool_how" != install ] && declare -F go_tool_tags >/dev/null; then
    extra=$(cd "$work" && go_tool_tags)
    [ -z "$extra" ] || tool_tags=${tool_tags:+$tool_tags,}$extra
  fi
  [ -z "$tool_tags" ] || tags=(-tags "$tool_tags")
  # No DWARF from the compiler: the binaries are stripped (-s -w) anyway, and a first run's builds
  # are most of its time (see gcflags' measurement in docs/design/local-cluster.md).
  local -a gcflags=(-gcflags=all=-dwarf=false)
  [ -z "${GO_TOOL_NO_INLINING:-}" ] || gcflags=("-gcflags=all=-dwarf=false -l")
  local package pkg_dir="$work/.bin.tmp"
  local -a packages=() targets=() names=()
  for i in "${!bins[@]}"; do
    b=${bins[$i]}
    [[ " ${missing[*]} " == *" $b "* ]] || continue
    package=${tool_package//\{bin\}/$b}
    [ "$package" = . ] && package=$tool_module || package="$tool_module/$package"
    packages+=("$package"); targets+=("${paths[$i]}"); names+=("$b")
    mkdir -p "$(dirname "${paths[$i]}")"
  done
  echo "building ${names[*]} $tool_version (first run on this machine only)..." >&2
  start=$(date +%s)
  case $tool_how in
    install)
      for i in "${!packages[@]}"; do
        local gobin="${targets[$i]}.gobin"
        rm -rf "$gobin"
        env $GO_BUILD_GC GOBIN="$gobin" CGO_ENABLED=0 GOFLAGS='' go install -trimpath "${gcflags[@]}" "${tags[@]}" \
          -ldflags "$ldflags" "${packages[$i]}@$tool_version"
        mv "$gobin/$(basename "${packages[$i]}")" "${targets[$i]}"
        rmdir "$gobin"
      done
      ;;
    module|source)
      # The packages as `go build` names them in the work directory: module = the tool's import
      # paths ("." for a main package the wrapper wrote, coredns), source = ./relative paths.
      local -a args=()
      for package in "${packages[@]}"; do
        if [ "$tool_how" = source ]; then args+=("./${package#"$tool_module"/}")
        elif [ "$package" = "$tool_module" ]; then args+=(.)
        else args+=("$package"); fi
      done
      if [ ${#args[@]} -eq 1 ]; then
        (cd "$work" && env $GO_BUILD_GC CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath "${gcflags[@]}" "${tags[@]}" \
          -ldflags "$ldflags" -o "${targets[0]}.tmp" "${args[0]}")
        mv "${targets[0]}.tmp" "${targets[0]}"
      else
        # Several binaries of one tool (kube's six) in one `go build`: one load of the package graph,
        # their compiles and links side by side. Each is written as its package's last element.
        rm -rf "$pkg_dir" && mkdir -p "$pkg_dir"
        (cd "$work" && env $GO_BUILD_GC CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath "${gcflags[@]}" "${tags[@]}" \
          -ldflags "$ldflags" -o "$pkg_dir/" "${args[@]}")
        for i in "${!packages[@]}"; do mv "$pkg_dir/$(basename "${packages[$i]}")" "${targets[$i]}"; done
        rmdir "$pkg_dir"
      fi
      ;;
  esac
  if [ -n "$want" ]; then
    for target in "${targets[@]}"; do echo "$want" > "$target.script-sha256"; done
  fi
  echo "built ${names[*]} in $(( $(date +%s) - start ))s" >&2
}

# Sets go_tool_build's `missing` to the binaries of its `bins` not built (or built from other
# patches); fails when there are none.
_go_tool_missing() {
  missing=()
  local i
  for i in "${!paths[@]}"; do
    if [ ! -x "${paths[$i]}" ] || { [ -n "$want" ] && ! _go_tool_stamped "${paths[$i]}"; }; then
      missing+=("${bins[$i]}")
    fi
  done
  [ ${#missing[@]} -gt 0 ]
}

# The wrapper's go.mod filter, or none.
_go_tool_gomod() {
  if declare -F go_tool_gomod >/dev/null; then go_tool_gomod; else cat; fi
}

# The binary carries the wrapper's stamp, or one the wrapper declares the same patches as
# (go_tool_same_patches: hashes of its earlier versions). Only read: another worktree's older copy
# of the wrapper checks the stamp too, and would rebuild under a test run if it changed.
_go_tool_stamped() {
  local bin=$1 have
  have=$(cat "$bin.script-sha256" 2>/dev/null) || return 1
  [ "$have" = "$want" ] || [[ " ${go_tool_same_patches:-} " == *" $have "* ]]
}
