#!/usr/bin/env bash
# Install what `make test` / `make demo` need on a fresh Debian machine, idempotently: Debian packages
# (only when missing), Node.js and npm for the player's libraries and Go for every build (each only
# when its command is missing), and, when the Go found is older than the newest `go` line of GO_TOOLS
# and components/*/go.mod, the pinned Go toolchain (GO_TOOLCHAIN).
#
#   bash hack/deps.sh          everything (`make deps`; FFmpeg's and the image layers' recipes)
#   bash hack/deps.sh tools    only what the first builds of `make demo` / `make test` start with:
#                              Go, python3-venv (uv's installer), Node.js and npm
#   bash hack/deps.sh --list   what it installs or checks, one per line, and does nothing
#                              (tests/unit/hack/test_deps.py holds the commands of the demo and
#                              test paths against it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
mode=${1:-all}
# etcd for the control plane; FFmpeg for the workers; nginx-rtmp and srt-tools as real peers in tests.
# lua5.4 runs the Argo CD health checks (docs/gitops/argocd/health/*.lua) in the chart tests.
# The local nodes (devtools/devtools/cluster/node.py): containerd + runc run the worker Pods; the CNI bridge,
# host-local, portmap and loopback plugins give them the pod network; iptables + conntrack serve kube-proxy and the
# nodes' egress rule (all inside the cluster's own network namespaces, devtools/devtools/cluster/network.py);
# debootstrap builds the images' root filesystems, gcc + a static libc the pause binary.
# nasm, pkg-config and the -dev packages: hack/build-ffmpeg.sh builds the workers' FFmpeg against
# Debian's libx264, libsrt, libopus, dav1d and GnuTLS (Debian's ffmpeg stays: the tests' publishers and probes use it).
# chromium: the browser tier (tests/browser) plays the player page headless and measures glass-to-glass latency;
# Debian's build plays H.264 + AAC through Media Source Extensions (devtools/devtools/media/browser.py).
# janus: the reference WebRTC server of the fan-out benchmark (bench/webrtc_fanout.py runs its own, from a private
# config, in a network namespace of its own: devtools/devtools/media/janus.py); its system service is never started.
# libnginx-mod-http-lua (LuaJIT, lua-resty-core): the edge tier (operator/streamops/media/edge), run on the host by the
# media tests (devtools/devtools/media/edge.py); nghttp2-client: h2load, the edge's token-check benchmark.
# coturn: the TURN relay the browser tier plays through (tests/browser/test_webrtc_ingest.py; 127.0.0.1 only, in the
# test's network namespace, no configuration file: devtools/devtools/media/turn_server.py); its service never starts.
# prometheus: promtool checks and unit-tests the chart's alerts (tests/chart/test_prometheus_rules.py); its service
# never starts (policy-rc.d below).
# nftables: `nft` reads the NetworkPolicy engine's table in each node's namespace (tests/multinode/test_network_policy.py).
# GStreamer's RTSP server through PyGObject (gir1.2-gst-rtsp-server-1.0, python3-gi for the system python3): the IP
# camera of the RTSP pull tests (devtools/devtools/media/rtsp_camera.py); x264enc (ugly), rtph264pay and rtpmp4gpay
# (good), videotestsrc/audiotestsrc (base), avenc_aac (libav: cameras send AAC). Nothing of it is a service.
# iproute2 (ip, ss) and procps (pgrep, sysctl, uptime): the harness's, absent from Debian's slim images.
# libmaxminddb0: the edge's GeoIP lookups (edge_rules.lua, LuaJIT's FFI); libmaxmind-db-writer-perl: MaxMind's own
# writer, which builds the tests' GeoIP databases (devtools/devtools/media/geoip.py).
packages=(etcd-server openssl ca-certificates ffmpeg nginx-light libnginx-mod-rtmp srt-tools curl lua5.4
          containerd runc containernetworking-plugins debootstrap gcc libc6-dev iptables conntrack chromium
          make nasm pkg-config libx264-dev libsrt-gnutls-dev libgnutls28-dev zlib1g-dev xz-utils libopus-dev libdav1d-dev janus
          coturn libnginx-mod-http-lua nghttp2-client prometheus nftables
          gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
          gstreamer1.0-plugins-ugly gstreamer1.0-libav iproute2 procps libmaxminddb0 libmaxmind-db-writer-perl)
# What the builds start with (`tools`): python3-venv gives python3 -m venv its ensurepip (hack/install-uv.sh).
# Node.js and npm (`make player`: npm ci of player/package-lock.json; Debian 12's nodejs 18.20 + npm 9.2
# install it, its engines ">=20" notwithstanding: docs/design/local-cluster.md) and Go only when their
# commands are missing: a Node.js or Go installed otherwise (NodeSource, go.dev) is kept.
tool_packages=(python3-venv)
# The Go every build needs: the newest `go` line of GO_TOOLS and of our components' go.mod.
go_need=$( { awk -F'|' '!/^[[:space:]]*(#|$)/ && NF >= 7 { gsub(/[[:space:]]/, "", $7); print $7 }' <<< "$GO_TOOLS"
             sed -n 's/^go \([0-9.]*\)$/\1/p' "$here"/../components/*/go.mod; } | sort -V | tail -1)
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]; }
go_version() { GOTOOLCHAIN=local go env GOVERSION 2>/dev/null | sed 's/^go//'; }
go_ok() { command -v go >/dev/null && version_ge "$(go_version)" "$go_need"; }
if [ "$mode" = --list ]; then
  printf 'package %s\n' "${packages[@]}" "${tool_packages[@]}" nodejs npm golang-go
  printf 'command %s\n' node npm "go >= $go_need (else $GO_TOOLCHAIN)"
  exit 0
fi
version_ge "${GO_TOOLCHAIN#go}" "$go_need" || { echo "hack/versions.sh: GO_TOOLCHAIN $GO_TOOLCHAIN < go $go_need" >&2; exit 2; }
[ "$mode" = all ] || [ "$mode" = tools ] || { echo "usage: hack/deps.sh [tools|--list]" >&2; exit 2; }
[ "$mode" = all ] || packages=()
packages+=("${tool_packages[@]}")
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
command -v go >/dev/null || packages+=(golang-go)

# Two goals of one `make -j` (FFmpeg's and the image layers') may run this at once: the second
# waits, then finds nothing missing (two apt-gets at once: one fails on dpkg's lock).
mkdir -p "$STREAMOPS_CACHE"
exec 9>"$STREAMOPS_CACHE/.deps.lock"
flock 9
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  # Packages like nginx, etcd and janus would start system services listening beyond loopback: forbid
  # service starts while installing (policy-rc.d exit 101), unless a policy is already in place.
  policy=/usr/sbin/policy-rc.d
  own_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod +x "$policy"
    own_policy=true
  fi
  installed=true
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || installed=false
  if $own_policy; then "${sudo_cmd[@]}" rm -f "$policy"; fi
  $installed || { echo "apt-get could not install: ${missing[*]} (Debian 12 and 13 have them all); install them, then run make deps again" >&2; exit 1; }
fi
go_ok && exit 0
# Debian 12's golang-go is Go 1.19, Debian 13's 1.24: older than the builds need, and 1.19 cannot fetch
# a newer toolchain itself (GOTOOLCHAIN came with 1.21). So the Go found downloads GO_TOOLCHAIN as the
# module golang.org/toolchain from the Go module proxy, checked against sum.golang.org (what
# GOTOOLCHAIN=$GO_TOOLCHAIN does), into the cache; /usr/local/bin/go and gofmt point at it (found
# before /usr/bin on Debian's PATH).
found="$(command -v go || echo none) $(go_version || true)"
toolchain="$STREAMOPS_CACHE/$GO_TOOLCHAIN"
if [ ! -x "$toolchain/bin/go" ]; then
  command -v go >/dev/null || { echo "Go >= $go_need is needed: install golang-go, or $GO_TOOLCHAIN from https://go.dev/dl/" >&2; exit 1; }
  echo "installing Go $GO_TOOLCHAIN into $toolchain (found: $found; the builds need go >= $go_need)" >&2
  scratch=$(mktemp -d "$STREAMOPS_CACHE/.go-toolchain.XXXXXX")
  module="golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.$(go env GOOS)-$(go env GOARCH)"
  src=$(env GOTOOLCHAIN=local GOFLAGS= GOPATH="$scratch/gopath" GOMODCACHE="$scratch/mod" \
        go mod download -json "$module" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p') || true
  if [ -z "$src" ] || [ ! -f "$src/bin/go" ]; then
    chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"
    echo "could not download $module: install Go >= $go_need ($GO_TOOLCHAIN: https://go.dev/dl/) and put it first on PATH" >&2
    exit 1
  fi
  rm -rf "$toolchain.tmp"
  cp -r "$src" "$toolchain.tmp"
  chmod -R u+w "$toolchain.tmp" "$scratch"
  # Module zips keep no file modes: the commands made executable again, as Go's own switch does.
  chmod +x "$toolchain.tmp"/bin/* "$toolchain.tmp"/pkg/tool/*/*
  rm -rf "$scratch"
  mv "$toolchain.tmp" "$toolchain"
fi
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" ln -sfn "$toolchain/bin/go" /usr/local/bin/go
"${sudo_cmd[@]}" ln -sfn "$toolchain/bin/gofmt" /usr/local/bin/gofmt
hash -r
go_ok || { echo "Go >= $go_need is needed: $GO_TOOLCHAIN is in $toolchain/bin, but \`go\` on PATH is $(command -v go) ($(go_version)): put $toolchain/bin first on PATH" >&2; exit 1; }
echo "Go $(go_version) at $(command -v go) -> $toolchain" >&2
